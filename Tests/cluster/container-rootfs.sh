#!/bin/sh
# Minimal Debian root file systems for the container tests, cached as tar.zst.
#
#   container-rootfs.sh have SUITE      exit 0 when SUITE's root file system is cached
#   container-rootfs.sh ensure SUITE    build SUITE (bookworm, bullseye, …) with debootstrap --variant=minbase once
#                                       and cache it; prints the cached tar.zst (scripts/install-deps.sh
#                                       --test does this; the tests only unpack)
#   container-rootfs.sh unpack SUITE DIR  unpack the cached SUITE into DIR (created; must not exist)
#
# Cache: ${HILBERT_TEST_CACHE:-/var/cache/hilbert-test}/rootfs-SUITE.tar.zst. Building needs root
# and a Debian mirror (${HILBERT_TEST_MIRROR:-http://deb.debian.org/debian}); a rerun takes seconds.
set -eu

cache=${HILBERT_TEST_CACHE:-/var/cache/hilbert-test}
mirror=${HILBERT_TEST_MIRROR:-http://deb.debian.org/debian}

die() { echo "container-rootfs: $*" >&2; exit 1; }

have() { [ -s "$cache/rootfs-$1.tar.zst" ]; }

ensure() {
    suite=$1
    tarball="$cache/rootfs-$suite.tar.zst"
    [ -s "$tarball" ] && { echo "$tarball"; return 0; }
    [ "$(id -u)" = 0 ] || die "no cached $tarball and building one needs root"
    command -v debootstrap >/dev/null 2>&1 || die "debootstrap is not installed (make test-deps)"
    mkdir -p "$cache"
    # one builder per suite; a second caller waits for it and then finds the tarball
    exec 9>"$cache/.lock-$suite"
    flock 9
    [ -s "$tarball" ] && { echo "$tarball"; return 0; }
    work=$(mktemp -d "$cache/.build-$suite.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    debootstrap --variant=minbase "$suite" "$work/root" "$mirror" >"$work/log" 2>&1 ||
        { tail -n 20 "$work/log" >&2; die "debootstrap $suite failed"; }
    # the tests need none of these; the tarball shrinks by about half
    rm -rf "$work/root/usr/share/doc" "$work/root/usr/share/man" "$work/root/usr/share/locale" \
        "$work/root/usr/share/info" "$work/root/var/cache/apt" "$work/root/var/lib/apt/lists" "$work/root/dev"
    mkdir -p "$work/root/dev"
    tar -C "$work/root" --numeric-owner -cf - . | zstd -q -T0 -3 -o "$work/out.tar.zst"
    mv -f "$work/out.tar.zst" "$tarball"
    echo "$tarball"
}

unpack() {
    suite=$1 dir=$2
    tarball="$cache/rootfs-$suite.tar.zst"
    [ -s "$tarball" ] || die "no cached $tarball (make test-deps builds it)"
    [ -e "$dir" ] && die "$dir exists"
    mkdir -p "$dir"
    zstd -q -dc "$tarball" | tar -C "$dir" --numeric-owner -xf -
}

case ${1:-} in
    have) [ $# = 2 ] || die "usage: have SUITE"; have "$2" ;;
    ensure) [ $# = 2 ] || die "usage: ensure SUITE"; ensure "$2" ;;
    unpack) [ $# = 3 ] || die "usage: unpack SUITE DIR"; unpack "$2" "$3" ;;
    *) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; [ "${1:-}" = -h ] || [ "${1:-}" = --help ] ;;
esac

# modules.sh — Lmod and Environment Modules for tests. Sourced.
#
# Debian's lmod and environment-modules packages conflict, so Lmod is Debian's package and
# Environment Modules is unpacked from its .deb into the test cache and run with tclsh (its
# init script is pointed at the unpacked modulecmd.tcl). Both are installed by
# scripts/install-deps.sh --test (make test-deps), never by a test.
#
#   cluster_lmod_init     prints Lmod's bash init script, or fails naming what is missing
#   cluster_em_init       prints the unpacked Environment Modules' bash init script, or fails
#   cluster_em_install    unpacks Environment Modules (root; install-deps.sh only)
#
# HILBERT_TEST_CACHE: where Environment Modules is unpacked (default /var/cache/hilbert-test).

_cluster_em_dir() { echo "${HILBERT_TEST_CACHE:-/var/cache/hilbert-test}/environment-modules"; }

cluster_lmod_init() {
    local init=/usr/share/lmod/lmod/init/bash
    [ -f "$init" ] || { echo "modules.sh: Lmod is not installed ($init missing; make test-deps installs lmod)" >&2; return 1; }
    echo "$init"
}

cluster_em_init() {
    local dir init
    dir=$(_cluster_em_dir); init="$dir/usr/share/modules/init/bash"
    command -v tclsh8.6 >/dev/null || { echo "modules.sh: tclsh8.6 is not installed (make test-deps installs tcl8.6)" >&2; return 1; }
    [ -f "$dir/.ready" ] || { echo "modules.sh: Environment Modules is not unpacked in $dir (make test-deps)" >&2; return 1; }
    grep -q "$dir/usr/lib" "$init" || { echo "modules.sh: $init does not use the unpacked modulecmd.tcl" >&2; return 1; }
    echo "$init"
}

cluster_em_install() {
    local dir deb tcl
    dir=$(_cluster_em_dir)
    [ -f "$dir/.ready" ] && return 0
    [ "$(id -u)" = 0 ] || { echo "modules.sh: not root, cannot unpack environment-modules into $dir" >&2; return 1; }
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp" || return 1
    ( cd "$dir.tmp" && apt-get -o Acquire::Retries=3 download environment-modules >/dev/null 2>&1 ) ||
        { echo "modules.sh: apt-get download environment-modules failed" >&2; return 1; }
    deb=$(ls "$dir.tmp"/environment-modules_*.deb 2>/dev/null | head -1)
    dpkg-deb -x "$deb" "$dir.tmp/root" || { echo "modules.sh: cannot unpack $deb" >&2; return 1; }
    tcl=$(cd "$dir.tmp/root" && find usr/lib -name modulecmd.tcl -type f | head -1)
    [ -n "$tcl" ] || { echo "modules.sh: no modulecmd.tcl in $deb" >&2; return 1; }
    sed -i "s|'/usr/lib/[^']*modulecmd.tcl'|'$dir/$tcl'|" "$dir.tmp/root/usr/share/modules/init/bash"
    rm -rf "$dir" && mv "$dir.tmp/root" "$dir" && rm -rf "$dir.tmp" && chmod -R a+rX "$dir" && touch "$dir/.ready"
}

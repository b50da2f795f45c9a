# modules.sh — sourced by tests: Lmod and Environment Modules, installed when missing.
#
# Debian's lmod and environment-modules packages conflict, so Lmod is installed with apt
# and Environment Modules is unpacked from its .deb into a cache directory and run with
# tclsh (its init script is pointed at the unpacked modulecmd.tcl).
#
#   cluster_lmod_init   prints Lmod's bash init script (installs lmod when root)
#   cluster_em_init     prints the unpacked Environment Modules' bash init script
#
# HL_CLUSTER_CACHE: where Environment Modules is unpacked (default /var/cache/hilbert-tests).

: "${HL_CLUSTER_CACHE:=/var/cache/hilbert-tests}"

_cluster_apt() {   # _cluster_apt PACKAGE… — install when root and missing
    [ "$(id -u)" = 0 ] || { echo "modules.sh: not root, cannot install $*" >&2; return 1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1; }
}

cluster_lmod_init() {
    local init=/usr/share/lmod/lmod/init/bash
    [ -f "$init" ] || _cluster_apt lmod || { echo "modules.sh: cannot install lmod" >&2; return 1; }
    [ -f "$init" ] || { echo "modules.sh: $init missing after installing lmod" >&2; return 1; }
    echo "$init"
}

cluster_em_init() {
    local dir="$HL_CLUSTER_CACHE/environment-modules" deb tcl
    local init="$dir/usr/share/modules/init/bash"
    command -v tclsh8.6 >/dev/null || _cluster_apt tcl8.6 || { echo "modules.sh: cannot install tcl8.6" >&2; return 1; }
    if [ ! -f "$dir/.ready" ]; then
        [ "$(id -u)" = 0 ] || { echo "modules.sh: not root, cannot unpack environment-modules into $dir" >&2; return 1; }
        rm -rf "$dir.tmp" && mkdir -p "$dir.tmp" || return 1
        ( cd "$dir.tmp" && { apt-get download environment-modules >/dev/null 2>&1 ||
            { apt-get update -q >/dev/null 2>&1 && apt-get download environment-modules >/dev/null 2>&1; }; } ) ||
            { echo "modules.sh: apt-get download environment-modules failed" >&2; return 1; }
        deb=$(ls "$dir.tmp"/environment-modules_*.deb 2>/dev/null | head -1)
        dpkg-deb -x "$deb" "$dir.tmp/root" || { echo "modules.sh: cannot unpack $deb" >&2; return 1; }
        tcl=$(cd "$dir.tmp/root" && find usr/lib -name modulecmd.tcl -type f | head -1)
        [ -n "$tcl" ] || { echo "modules.sh: no modulecmd.tcl in $deb" >&2; return 1; }
        sed -i "s|'/usr/lib/[^']*modulecmd.tcl'|'$dir/$tcl'|" "$dir.tmp/root/usr/share/modules/init/bash"
        rm -rf "$dir" && mv "$dir.tmp/root" "$dir" && rm -rf "$dir.tmp" && chmod -R a+rX "$dir" && touch "$dir/.ready"
    fi
    grep -q "$dir/usr/lib" "$init" || { echo "modules.sh: $init does not use the unpacked modulecmd.tcl" >&2; return 1; }
    echo "$init"
}

#!/bin/sh
# Fails when the shim exports a function that libc.so.6 exports in several versions, but not
# every one of those versions (with the same default, @@). A missing old version would send
# binaries linked against it straight to libc, past the shim. `check-versions.sh SO [LIBC]`.
so=$1
libc=${2:-$(${CC:-cc} -print-file-name=libc.so.6 2>/dev/null)}
[ -f "$libc" ] || libc=/lib/x86_64-linux-gnu/libc.so.6
[ -f "$libc" ] || { echo "check-versions: no libc.so.6 found" >&2; exit 1; }
# "name version" for each defined symbol; version is "@@V", "@V" or "-" (unversioned).
defs() {
    readelf --dyn-syms -W "$1" | awk '$7 != "UND" && ($4 == "FUNC" || $4 == "IFUNC") {
        n = $8; v = "-"; i = index(n, "@")
        if (i) { v = substr(n, i); n = substr(n, 1, i - 1) }
        print n, v }' | sort -u
}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
defs "$libc" >"$tmp/libc"
defs "$so" >"$tmp/shim"
awk '{ c[$1]++ } END { for (n in c) if (c[n] > 1) print n }' "$tmp/libc" | sort >"$tmp/multi"
cut -d' ' -f1 "$tmp/shim" | sort -u | comm -12 - "$tmp/multi" >"$tmp/wrapped"
bad=$(while read -r n; do
        grep "^$n " "$tmp/libc" | while read -r _ v; do
            grep -qx "$n $v" "$tmp/shim" || echo "$n$v"
        done
    done <"$tmp/wrapped")
if [ -n "$bad" ]; then echo "check-versions: $so lacks libc's" $bad >&2; exit 1; fi
[ -n "$VERBOSE" ] && echo "check-versions: $(tr '\n' ' ' <"$tmp/wrapped")"
exit 0

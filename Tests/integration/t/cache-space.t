#!/usr/bin/env bash
# A small cache directory (a 64 MiB tmpfs) makes room instead of failing (SEMANTICS.md, "The
# cache directory"): read copies are evicted, least recently used first, before a read copy
# or a write runs out of space; a file larger than the whole cache is read through a partial
# copy whose blocks behind the reader are evicted (reads fetch what they read), and only a call
# that needs the whole file at once (mmap) fails, with ENOSPC and one line saying why.
# Files are written through a large cache ("another node") and read through the small one.
. "$(dirname "$0")/../lib.sh"
hl_setup
[ "$(id -u)" = 0 ] || { skip "needs root to mount a tmpfs"; done_testing; }
small="$HL_TMP/small"; mkdir -p "$small"
mount -t tmpfs -o size=64m,mode=700 tmpfs "$small" || bail "mount a 64 MiB tmpfs"
at_cleanup "umount -l '$small'"
S() { hlc "$small" "$@"; }

for f in a30:30 b40:40 c200:200; do
    head -c "${f#*:}M" /dev/urandom >"$HL_TMP/${f%%:*}"
    hl cp "$HL_TMP/${f%%:*}" "/hilbert/${f%%:*}" || bail "write ${f%%:*} through the large cache"
done

ok "a 30 MiB file is read through the 64 MiB cache" S cmp /hilbert/a30 "$HL_TMP/a30"
out=$(for i in 1 2 3 4 5; do S cmp /hilbert/b40 "$HL_TMP/b40" && echo same; done 2>&1)
is "$out" $'same\nsame\nsame\nsame\nsame' "then a 40 MiB file, five times: older read copies make room"
S cmp /hilbert/a30 "$HL_TMP/a30" >/dev/null
out=$(S sh -c "cp '$HL_TMP/b40' /hilbert/w40 && echo written" 2>&1)
is "$out" "written" "writing 40 MiB through the cache after reading 30 MiB: the read copies do not take its room"
ok "… and another node reads what was written" hl cmp /hilbert/w40 "$HL_TMP/b40"

is "$(S head -c 1048576 /hilbert/c200 | cmp - <(head -c 1048576 "$HL_TMP/c200") && echo same)" "same" \
    "head -c 1M of a 200 MiB file through the 64 MiB cache"
ok "… and the whole file reads right (blocks behind the reader evicted)" S cmp /hilbert/c200 "$HL_TMP/c200"
ok "… with no memory for a copy either" hlc "$small" env HILBERT_MEMORY_COPY_MAX=1048576 cmp /hilbert/c200 "$HL_TMP/c200"
is "$(S sh -c "tail -c 3000000 /hilbert/c200 | md5sum")" "$(tail -c 3000000 "$HL_TMP/c200" | md5sum)" "tail -c of it"
out=$(S "$HL_PY" -c 'import mmap, sys; f = open("/hilbert/c200", "rb"); mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)' 2>&1); rc=$?
isnt "$rc" 0 "mmap of a file larger than the cache cannot be served"
like "$out" "No space left on device" "… with ENOSPC"
like "$out" "^hilbert: .*a whole copy of 200 MiB does not fit the cache directory $small" "… and one line saying why"
is "$(find "$small" -path "$small/*/tmp/*" -type f -printf '%f %s\n')" "" "no partial copy is left in the cache"
done_testing

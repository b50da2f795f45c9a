#!/usr/bin/env bash
# Whether a staging file is committed never depends on timestamps a program can set, nor on
# their granularity (SEMANTICS.md, "Consistency model"): cp -p of a same-size file dated 2020,
# os.utime on the fd or the path while a writer has the file open (resetting the mtime to the
# committed one), and a rewrite within the same clock tick as an fsync, for small (inline)
# and large (block) files. Every case is read back through another cache directory, which
# sees only what was committed. A close right after fsync does not read the file again.
. "$(dirname "$0")/../lib.sh"
hl_setup
need python3

for kind in small:100 large:300000; do
    name=${kind%%:*} n=${kind#*:}
    python3 -c 'import sys; sys.stdout.write("A" * int(sys.argv[1]))' "$n" >"$HL_TMP/$name.A"
    python3 -c 'import sys; sys.stdout.write("B" * int(sys.argv[1]))' "$n" >"$HL_TMP/$name.B"
    touch -d 2020-01-02T03:04:05 "$HL_TMP/$name.B"

    out=$(hl sh -c "cp '$HL_TMP/$name.A' /hilbert/cp-$name && cp -p '$HL_TMP/$name.B' /hilbert/cp-$name && echo done" 2>&1)
    is "$out" "done" "$name: cp, then cp -p of a same-size file dated 2020"
    ok "$name: … another node reads the cp -p content" hlc "$HL_TMP/c-cp-$name" cmp /hilbert/cp-$name "$HL_TMP/$name.B"
    is "$(hlc "$HL_TMP/c-cp-$name" stat -c %y /hilbert/cp-$name)" "2020-01-02 03:04:05.000000000 +0000" "$name: … with the 2020 mtime"

    for how in fd path; do
        hl cp "$HL_TMP/$name.A" /hilbert/ut-$how-$name || bail "prepare"
        out=$(hl python3 - "$how" "/hilbert/ut-$how-$name" "$n" <<'PY' 2>&1
import os, sys
how, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
before = os.stat(path)
fd = os.open(path, os.O_WRONLY)
os.pwrite(fd, b"C" * n, 0)
# put the committed mtime back while the writer has the file open
if how == "fd":
    os.utime(fd, ns=(before.st_atime_ns, before.st_mtime_ns))
else:
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
os.close(fd)
print("mtime kept" if os.stat(path).st_mtime_ns == before.st_mtime_ns else "mtime changed")
PY
)
        is "$out" "mtime kept" "$name: os.utime($how) resets the mtime while a writer has the file open"
        is "$(hlc "$HL_TMP/c-ut-$how-$name" python3 -c 'import sys; d = open(sys.argv[1], "rb").read(); print(len(d), set(d) == {ord("C")})' /hilbert/ut-$how-$name)" \
            "$n True" "$name: … another node reads the new bytes"
    done

    hl cp "$HL_TMP/$name.A" /hilbert/tick-$name || bail "prepare"
    out=$(hl python3 - "/hilbert/tick-$name" "$n" <<'PY' 2>&1
import os, sys
path, n = sys.argv[1], int(sys.argv[2])
fd = os.open(path, os.O_RDWR)
for i, c in enumerate(b"DEFGH"):
    os.pwrite(fd, bytes([c]) * n, 0)
    os.fsync(fd)                       # commit, then rewrite at once (same clock tick)
os.pwrite(fd, b"Z" * n, 0)
os.close(fd)
print("ok")
PY
)
    is "$out" "ok" "$name: rewrites right after fsync (within one clock tick)"
    is "$(hlc "$HL_TMP/c-tick-$name" python3 -c 'import sys; d = open(sys.argv[1], "rb").read(); print(len(d), set(d) == {ord("Z")})' /hilbert/tick-$name)" \
        "$n True" "$name: … another node reads the last bytes written"
done
# close right after fsync does not read the file again: the fsync commit remembered its
# size, mtime and ctime (the clock had moved past that ctime, so a later write changes it)
out=$(hl python3 - <<'PY' 2>&1
import os
def rchar():
    return int(next(l for l in open("/proc/self/io") if l.startswith("rchar:")).split()[1])
fd = os.open("/hilbert/fsynced", os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, os.urandom(64 << 20))
os.fsync(fd)
before = rchar()
os.close(fd)
print("read MiB at close:", (rchar() - before) >> 20)
PY
)
like "$out" "^read MiB at close: [0-9]$" "close right after fsync of 64 MiB reads (almost) nothing"
done_testing

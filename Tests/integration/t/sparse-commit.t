#!/usr/bin/env bash
# Committing a sparse file reads only its data, not its holes (SEEK_DATA): a 3 GiB file with
# 2 MiB of data is committed by a process that reads (rchar, /proc/self/io) a few MiB, and
# reads back right on another node, holes as zeros.
. "$(dirname "$0")/../lib.sh"
hl_setup
need python3
out=$(hl python3 - <<'PY' 2>&1
import os
def rchar():
    return int(next(l for l in open("/proc/self/io") if l.startswith("rchar:")).split()[1])
fd = os.open("/hilbert/sparse", os.O_WRONLY | os.O_CREAT, 0o644)
os.ftruncate(fd, 3 << 30)
os.pwrite(fd, b"x" * (1 << 20), 1 << 30)
os.pwrite(fd, b"y" * (1 << 20), (3 << 30) - (1 << 20))
before = rchar()
os.close(fd)                                   # the commit
print("read MiB at close:", (rchar() - before) >> 20)
PY
)
like "$out" "^read MiB at close: ([0-9]|1[0-9])$" "committing a 3 GiB file with 2 MiB of data reads under 20 MiB"
out=$(hlnode "$HL_TMP/other" python3 -c '
f = open("/hilbert/sparse", "rb")
f.seek((1 << 30) - 4); a = f.read(8)
f.seek((3 << 30) - 4); b = f.read(8)
f.seek(2 << 30); c = f.read(4)
import os; print(os.fstat(f.fileno()).st_size, a, b, c)' 2>&1)
is "$out" "3221225472 b'\\x00\\x00\\x00\\x00xxxx' b'yyyy' b'\\x00\\x00\\x00\\x00'" "another node reads the data and the holes"
out=$(hl python3 - <<'PY' 2>&1
import os
def rchar():
    return int(next(l for l in open("/proc/self/io") if l.startswith("rchar:")).split()[1])
fd = os.open("/hilbert/sparse", os.O_RDWR)
before = rchar()
os.close(fd)                                   # unchanged: compared with the committed version
print("read MiB at close:", (rchar() - before) >> 20)
PY
)
like "$out" "^read MiB at close: ([0-9]|1[0-9])$" "closing it unchanged compares its data, not its holes"
done_testing

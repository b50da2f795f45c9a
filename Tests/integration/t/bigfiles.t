#!/usr/bin/env bash
# Big files read and changed in part by real programs (issue 13, §6), each checked against the
# same work done natively: `tail -c` of a large file from a cold cache (another node's cache),
# `>>` onto a large file, `rsync --inplace` of a changed big file, an HDF5 dataset slice read
# through h5py from a cold cache, and an SQLite database of HL_BIG_DB_MIB (default 1024) MiB
# updated in place and checked from a cold cache. Content is compared by SHA-256.
# timeout: 900
. "$(dirname "$0")/../lib.sh"
hl_setup
need rsync:rsync sqlite3:sqlite3 sha256sum:coreutils
PY=/usr/bin/python3
"$PY" -c 'import numpy, h5py' 2>/dev/null || bail "$PY cannot import numpy and h5py (Debian packages python3-numpy python3-h5py: make test-deps)"
BIG_MIB=${HL_BIG_MIB:-160}
DB_MIB=${HL_BIG_DB_MIB:-1024}
N=$HL_TMP/native
mkdir -p "$N"
cold() { rm -rf "$HL_TMP/cold"; hlc "$HL_TMP/cold" "$@"; }
sha() { sha256sum | cut -d' ' -f1; }

# A file of BIG_MIB MiB whose every 4 KiB differs (incompressible: blocks are stored as written).
"$PY" - "$N/big" "$BIG_MIB" <<'EOF'
import hashlib, sys
path, mib = sys.argv[1], int(sys.argv[2])
seed = hashlib.sha256(b"hilbert").digest()
with open(path, "wb") as f:
    for i in range(mib * 256):
        block = hashlib.sha256(seed + i.to_bytes(8, "little")).digest() * 128
        f.write(block)
EOF
ok "copy a ${BIG_MIB} MiB file in" hl cp "$N/big" /hilbert/big
is "$(hl sha256sum /hilbert/big | cut -d' ' -f1)" "$(sha < "$N/big")" "its content, read back on the writer's node"

# tail -c seeks to the end: from a cold cache.
is "$(cold tail -c 100000 /hilbert/big | sha)" "$(tail -c 100000 "$N/big" | sha)" "tail -c 100000 from a cold cache"
is "$(cold tail -c 1 /hilbert/big | od -An -tx1)" "$(tail -c 1 "$N/big" | od -An -tx1)" "tail -c 1 from a cold cache"
is "$(cold dd if=/hilbert/big bs=1M skip=$((BIG_MIB / 2)) count=3 status=none | sha)" \
   "$(dd if="$N/big" bs=1M skip=$((BIG_MIB / 2)) count=3 status=none | sha)" "dd of 3 MiB in the middle from a cold cache"

# Reads fetch what they read (partial read copies): 1 MiB at an offset fetches at most 2 blocks.
cold sh -c "dd if=/hilbert/big bs=1M skip=$((BIG_MIB / 3)) count=1 status=none | md5sum; find '$HL_TMP/cold' -name '*.part' -printf '%b\n'" > "$HL_TMP/part.out"
is "$(head -1 "$HL_TMP/part.out")" "$(dd if="$N/big" bs=1M skip=$((BIG_MIB / 3)) count=1 status=none | md5sum)" "1 MiB at an offset, cold"
held=$(( $(sed -n 2p "$HL_TMP/part.out") * 512 ))
ok "… fetched at most 2 blocks ($held bytes in the cache)" test "$held" -gt 0 -a "$held" -le $((2 * 4 << 20))
# Calls the shim cannot follow get the whole file: mmap, a descriptor kept across exec, stdio.
is "$(cold "$PY" -c 'import mmap, hashlib; f = open("/hilbert/big", "rb"); print(hashlib.sha256(mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)).hexdigest())')" \
   "$(sha < "$N/big")" "mmap of a cold file"
is "$(cold sh -c 'sha256sum < /hilbert/big' | cut -d' ' -f1)" "$(sha < "$N/big")" "a cold file on stdin of an exec'd program"
is "$(cold "$PY" -c 'import hashlib; f = open("/hilbert/big", "rb", buffering=1 << 16); h = hashlib.sha256()
for b in iter(lambda: f.read(300000), b""): h.update(b)
print(h.hexdigest())')" "$(sha < "$N/big")" "buffered reads of odd sizes from a cold cache"
# A reader keeps the version it opened while a writer replaces the file, or it is removed.
READER='
import hashlib, os, sys, time
f = open(sys.argv[1], "rb", buffering=0)
first = f.read(1 << 20)
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[3]): time.sleep(0.05)
h = hashlib.sha256(first)
for b in iter(lambda: f.read(1 << 20), b""): h.update(b)
print(h.hexdigest())'
cp "$N/big" "$N/keep"
for change in "replaced" "removed"; do
    hl cp "$N/keep" /hilbert/keep || bail "copy a file to $change"
    rm -f "$HL_TMP/r.ready" "$HL_TMP/r.go"
    cold "$PY" -c "$READER" /hilbert/keep "$HL_TMP/r.ready" "$HL_TMP/r.go" > "$HL_TMP/r.out" 2>&1 &
    reader=$!
    for _ in $(seq 200); do [ -e "$HL_TMP/r.ready" ] && break; sleep 0.05; done
    if [ "$change" = replaced ]; then hl sh -c "head -c $((BIG_MIB << 20)) /dev/zero > /hilbert/keep"; else hl rm /hilbert/keep; fi
    touch "$HL_TMP/r.go"; wait $reader
    is "$(cat "$HL_TMP/r.out")" "$(sha < "$N/keep")" "a cold reader of a file $change meanwhile reads the version it opened"
done

# >> onto the big file, twice, from two caches; the rest of the file is unchanged.
ok ">> a line from a cold cache" cold bash -c 'echo "appended one" >> /hilbert/big'
ok ">> a line from the writer's cache" hl bash -c 'echo "appended two" >> /hilbert/big'
printf 'appended one\nappended two\n' >> "$N/big"
is "$(hl stat -c %s /hilbert/big)" "$(stat -c %s "$N/big")" "size after two appends"
is "$(cold sha256sum /hilbert/big | cut -d' ' -f1)" "$(sha < "$N/big")" "content after two appends, from a cold cache"
is "$(cold tail -n 2 /hilbert/big | tail -c 26)" $'appended one\nappended two' "the appended lines"

# Writes store what changed (sparse staging files): >> from a cold cache fetches and uploads
# the last block only; 4 KiB rewritten in the middle, the block it touches.
nobj() { find "$HL_OBJECTS" -type f | wc -l; }
n0=$(nobj)
ok ">> a third line from a cold cache" cold bash -c 'echo "appended three" >> /hilbert/big'
echo "appended three" >> "$N/big"
is "$(( $(nobj) - n0 ))" "1" "… uploaded one block"
ok "… and kept no copy of the rest in that cache" test "$(du -sk "$HL_TMP/cold" | cut -f1)" -lt 10000
n0=$(nobj)
ok "4 KiB rewritten in the middle from a cold cache" cold "$PY" -c 'import os, sys
fd = os.open("/hilbert/big", os.O_RDWR); os.pwrite(fd, b"M" * 4096, int(sys.argv[1])); os.close(fd)' $((BIG_MIB << 19))
"$PY" -c 'import os, sys
fd = os.open(sys.argv[2], os.O_RDWR); os.pwrite(fd, b"M" * 4096, int(sys.argv[1])); os.close(fd)' $((BIG_MIB << 19)) "$N/big"
is "$(( $(nobj) - n0 ))" "1" "… uploaded one block"
is "$(cold sha256sum /hilbert/big | cut -d' ' -f1)" "$(sha < "$N/big")" "content after both, from a cold cache"

# rsync --inplace of a copy changed in three places (start, middle, end): rsync reads the old
# file as its basis and rewrites only what differs, in the file itself.
cp "$N/big" "$N/big2"
"$PY" - "$N/big2" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
size = os.fstat(fd).st_size
for off in (10, size // 2, size - 5000):
    os.pwrite(fd, b"CHANGED BY RSYNC TEST", off)
os.close(fd)
EOF
# -I: sizes are equal and the mtimes may fall in the same second (rsync's quick check would skip).
ok "rsync --inplace --no-whole-file the changed copy over it" hl rsync -I --inplace --no-whole-file "$N/big2" /hilbert/big
is "$(cold sha256sum /hilbert/big | cut -d' ' -f1)" "$(sha < "$N/big2")" "content after rsync --inplace, from a cold cache"
ok "rsync --inplace again: nothing to change" hl rsync --inplace --no-whole-file -c "$N/big2" /hilbert/big
is "$(hl sha256sum /hilbert/big | cut -d' ' -f1)" "$(sha < "$N/big2")" "content unchanged by the no-op rsync"

# HDF5: a chunked 2-D dataset (about 128 MiB) written through h5py, a slice read from a cold cache.
H5W='
import sys, numpy as np, h5py
with h5py.File(sys.argv[1], "w") as f:
    d = f.create_dataset("x", shape=(4096, 8192), dtype="f4", chunks=(256, 512))
    for r in range(0, 4096, 256):
        d[r:r + 256] = np.arange(r * 8192, (r + 256) * 8192, dtype="f8").reshape(256, 8192).astype("f4")
'
H5R='
import sys, hashlib, numpy as np, h5py
with h5py.File(sys.argv[1], "r") as f:
    s = f["x"][1000:1010, 4000:4100]
    print(s.shape, hashlib.sha256(s.tobytes()).hexdigest(), float(s[3, 7]))
'
ok "h5py writes a 128 MiB chunked dataset" hl "$PY" -c "$H5W" /hilbert/data.h5
"$PY" -c "$H5W" "$N/data.h5"
want=$("$PY" -c "$H5R" "$N/data.h5")
is "$(cold "$PY" -c "$H5R" /hilbert/data.h5 2>&1)" "$want" "h5py reads a slice from a cold cache"

# SQLite: a database of DB_MIB MiB (1 MiB rows), updated in place, checked from a cold cache.
rows=$DB_MIB
DBSQL="PRAGMA page_size=65536; CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER, b BLOB);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $rows)
INSERT INTO t SELECT i, i, zeroblob(0) FROM c;
UPDATE t SET b = randomblob(1048000);"
ok "sqlite3 builds a ${DB_MIB} MiB database" hl sqlite3 /hilbert/big.db "$DBSQL"
size=$(hl stat -c %s /hilbert/big.db)
ok "the database is at least ${DB_MIB} MiB ($size bytes)" test "$size" -ge $((DB_MIB * 1000000))
ok "update rows in place" hl sqlite3 /hilbert/big.db "BEGIN; UPDATE t SET n = -n WHERE id IN (1, $((rows / 2)), $rows); UPDATE t SET b = zeroblob(10) WHERE id = 7; COMMIT;"
is "$(cold sqlite3 /hilbert/big.db 'PRAGMA integrity_check; SELECT count(*), sum(n), length(b) FROM t WHERE id = 7;' 2>&1)" \
   $'ok\n1|7|10' "integrity_check and the changed row, from a cold cache"
is "$(cold sqlite3 /hilbert/big.db 'SELECT count(*), sum(n) FROM t;' 2>&1)" \
   "$rows|$(( rows * (rows + 1) / 2 - 2 * (1 + rows / 2 + rows) ))" "every row, three of them negated"
done_testing

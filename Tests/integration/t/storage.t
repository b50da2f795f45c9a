#!/usr/bin/env bash
# Storage behaviour seen from outside: blocks are freed when files are rewritten or removed
# (at once with HILBERT_KEEP_REPLACED=0; after that many seconds otherwise, for the readers of
# the old version: deferred deletion), `hilbert status` agrees with the contents, two nodes
# (two cache dirs) never serve stale data, compression and inline thresholds.
# timeout: 240
. "$(dirname "$0")/../lib.sh"
hl_setup
nobj() { find "$HL_OBJECTS" -type f | wc -l; }

# Deferred deletion: the objects of a replaced or removed file of several blocks stay until
# their due time (HILBERT_KEEP_REPLACED seconds), then `hilbert flush` (the end of every
# `hilbert run`) deletes them; a one-block file's go at once.
HILBERT_KEEP_REPLACED=3 hl "$HL_PY" -c 'import os; open("/hilbert/big", "wb").write(os.urandom(9 << 20))'
is "$(nobj)" "3" "a 9 MiB file: three block objects"
HILBERT_KEEP_REPLACED=3 hl "$HL_PY" -c 'import os; open("/hilbert/big", "wb").write(os.urandom(9 << 20))'
is "$(nobj)" "6" "rewritten: the three old objects stay for readers of the old version"
like "$("$HILBERT" status "$HL_URL" 2>&1)" "pending: +3 objects, .*3 kept until" "status: three deletions deferred"
HILBERT_KEEP_REPLACED=3 hl rm /hilbert/big
is "$(nobj)" "6" "removed: its objects stay too"
sleep 4
ok "hilbert flush after the due time" "$HILBERT" flush --mount "/hilbert=$HL_URL" --cache "$HL_CACHE"
is "$(nobj)" "0" "… deletes all six"
export HILBERT_KEEP_REPLACED=0

for i in 1 2 3 4 5 6; do hl "$HL_PY" -c 'import os; open("/hilbert/big", "wb").write(os.urandom(9 << 20))'; done
n=$(nobj)
if [ "$n" -le 6 ]; then pass "rewriting a 9 MiB file 6 times leaves no garbage blocks ($n objects)"; else fail "rewriting a 9 MiB file 6 times leaves no garbage blocks" "$n objects (3 are live)"; fi
hl rm /hilbert/big
is "$(nobj)" "0" "removing the file frees its blocks"
hl "$HL_PY" -c 'import os; open("/hilbert/small", "wb").write(os.urandom(16000)); open("/hilbert/mid", "wb").write(os.urandom(17000))'
is "$(nobj)" "1" "a 16000-byte file is stored inline, a 17000-byte file in one block object"
out=$("$HILBERT" status "$HL_URL" 2>&1)
like "$out" "inodes: +3" "status counts the root and two files"
like "$out" "logical bytes: +33000" "status reports the logical bytes"
like "$out" "objects: +1" "status reports the object count"
hl bash -c 'yes "compressible text line" | head -c 20000000 > /hilbert/text'
sz=$(du -sb "$HL_OBJECTS" | cut -f1)
if [ "$sz" -lt 2000000 ]; then pass "20 MB of repetitive text is stored compressed ($sz bytes)"; else fail "20 MB of repetitive text is stored compressed" "$sz bytes in objects"; fi
is "$(hlc "$HL_TMP/cx" md5sum < /dev/null >/dev/null; hlc "$HL_TMP/cx" cat /hilbert/text | md5sum)" "$(yes "compressible text line" | head -c 20000000 | md5sum)" "and reads back identically on another node"
hl rm /hilbert/text /hilbert/mid /hilbert/small

# two nodes: A writes, B reads, A rewrites (same size), B must see the new version
A="$HL_TMP/nodeA" B="$HL_TMP/nodeB"
for v in 1 2 3; do
    hlc "$A" "$HL_PY" -c "import sys; open('/hilbert/shared', 'wb').write(bytes([$v]) * 100000); open('/hilbert/bigshared', 'wb').write(bytes([$v]) * (9 << 20))"
    out=$(hlc "$B" "$HL_PY" -c 'd = open("/hilbert/shared", "rb").read(); e = open("/hilbert/bigshared", "rb").read(); print(len(d), set(d), len(e), set(e))' 2>&1)
    is "$out" "100000 {$v} 9437184 {$v}" "node B sees version $v written by node A (no stale cache)"
done

# written data stays in the writer's cache as the read copy of the version committed
ncopies() { find "$1" -path '*/files/*' -type f | wc -l; }
is "$(ncopies "$A")" "2" "node A keeps one read copy per file it wrote (older versions dropped)"
hlc "$A" "$HL_PY" -c "open('/hilbert/ab', 'wb').write(b'A' * 100000)"
hlc "$B" "$HL_PY" -c "open('/hilbert/ab', 'wb').write(b'B' * 100000)"
is "$(hlc "$A" "$HL_PY" -c 'd = open("/hilbert/ab", "rb").read(); print(len(d), set(d))')" "100000 {66}" \
    "node A reads node B's rewrite, not the copy of its own older version"
hl rm /hilbert/ab
for v in 4 5 6; do
    hl "$HL_PY" -c "open('/hilbert/local', 'wb').write(b'$v' * 5000)"
    is "$(hl cat /hilbert/local | head -c 3)" "$v$v$v" "a rewrite on the same node is read back (version $v)"
done
ino=$(hl stat -c %i /hilbert/local)
is "$(find "$HL_CACHE" -path '*/files/*' -name "$ino.*" | wc -l)" "1" "the same-node rewrites leave one read copy"
hl rm /hilbert/local
is "$(find "$HL_CACHE" -path '*/files/*' -name "$ino.*" | wc -l)" "0" "removing the file removes its read copy"

# AF_UNIX sockets: the kernel socket lives in the cache; a cache path longer than sun_path
# (108 bytes) is reached through /proc/self/fd of its directory
long="$HL_TMP/$(printf 'c%.0s' $(seq 1 100))"
out=$(hlc "$long" "$HL_PY" -c '
import socket
s = socket.socket(socket.AF_UNIX); s.bind("/hilbert/longsock"); s.listen(1)
c = socket.socket(socket.AF_UNIX); c.connect("/hilbert/longsock"); a, _ = s.accept()
c.sendall(b"via a long cache path"); print(a.recv(100).decode())' 2>&1)
is "$out" "via a long cache path" "AF_UNIX bind/connect under the prefix with a cache path longer than sun_path"
hl rm /hilbert/longsock
hlc "$A" "$HL_PY" -c '
with open("/hilbert/bigshared", "r+b") as f:
    f.seek(5 << 20); f.write(b"X" * 10)'
out=$(hlc "$B" "$HL_PY" -c 'e = open("/hilbert/bigshared", "rb").read(); print(e[(5 << 20) - 1:(5 << 20) + 11])' 2>&1)
is "$out" "b'\\x03XXXXXXXXXX\\x03'" "node B sees a 10-byte in-place change in the middle of a 9 MiB file"
out=$(hlc "$B" "$HL_PY" -c '
import os, subprocess, sys
f = open("/hilbert/shared", "rb")
first = f.read(10)
subprocess.run(sys.argv[1:] + [sys.executable, "-c", "open(\"/hilbert/shared\", \"wb\").write(bytes([9]) * 5000)"], check=True)
rest = f.read()
print(len(first + rest), set(first + rest), len(open("/hilbert/shared", "rb").read()))' "$HILBERT" run --mount "/hilbert=$HL_URL" --cache "$A" -- 2>&1)
is "$out" "100000 {3} 5000" "an open reader on node B keeps its version while node A replaces the file"

# mmap writes become visible to other processes after close
hl "$HL_PY" -c '
import mmap, os
open("/hilbert/mm", "wb").write(b"." * 200000)
with open("/hilbert/mm", "r+b") as f:
    m = mmap.mmap(f.fileno(), 0); m[100000:100005] = b"MMAP!"; m.close()'
is "$(hlc "$B" "$HL_PY" -c 'print(open("/hilbert/mm","rb").read()[99999:100006])' 2>&1)" "b'.MMAP!.'" "a MAP_SHARED write is visible to another process on another node after close"

# A staging row belongs to the cache directory that made it: a process with another cache
# (another node, another HILBERT_CACHE) must not drop it because the file is missing there.
hl bash -c 'echo old > /hilbert/two-caches.txt'
rm -f "$HL_TMP/writer.ready" "$HL_TMP/writer.go"
hl python3 -c '
import os, time, sys
f = open("/hilbert/two-caches.txt", "w"); f.write("new\n"); f.flush()
open(sys.argv[1], "w").close()
while not os.path.exists(sys.argv[2]): time.sleep(0.05)
f.close()' "$HL_TMP/writer.ready" "$HL_TMP/writer.go" &
wpid=$!
for _ in $(seq 100); do [ -e "$HL_TMP/writer.ready" ] && break; sleep 0.05; done
is "$(hlc "$HL_TMP/other-cache" cat /hilbert/two-caches.txt)" "old" "another cache directory reads the committed version while a writer is open"
touch "$HL_TMP/writer.go"; wait $wpid
is "$(hlc "$HL_TMP/third-cache" cat /hilbert/two-caches.txt)" "new" "  and the writer's bytes are committed when it closes (its staging row was left alone)"
done_testing

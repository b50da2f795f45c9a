#!/usr/bin/env bash
# The SQLite engine's write path under real programs. A process creating thousands of small
# files leaves the checkpoints of the volume's WAL (with their syncs) to a thread of its own
# (strace: the program's thread syncs the metadata a few times, the other thread most of
# them), keeps the WAL bounded, forks children while that thread works (none hangs, each
# writes through the volume), and leaves a database SQLite finds intact, also when it is
# killed in the middle. Processes that change
# the same directory in turn (create, rename, O_EXCL, chmod, utime, unlink) see each other's
# changes at once, whatever their own caches held. A transaction's WAL frames reach the file in
# one write. SQLite volumes only (the checkpoints and the database are SQLite's).
# timeout: 600
. "$(dirname "$0")/../lib.sh"
hl_on_pg && bail "a SQLite volume" "meta-writes.t checks SQLite's checkpoints and database; it has no @pg variant"
hl_setup
need "$HL_PY" strace:strace sqlite3:sqlite3

cat >"$HL_TMP/storm.py" <<'PY'
# N files of 4 KiB, 100 per directory; every 50 files a child that writes one file and reads
# one back, then leaves with _exit (no exit-time work of its own).
import os, sys
n, wal = int(sys.argv[1]), sys.argv[2]
biggest = 0
for i in range(n):
    d = "/hilbert/storm/d%03d" % (i // 100)
    if i % 100 == 0:
        os.makedirs(d)
    data = (b"%08d" % i) * 512
    fd = os.open("%s/f%03d" % (d, i % 100), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, data)
    os.close(fd)
    if i % 50 == 49:
        pid = os.fork()
        if pid == 0:
            with open("/hilbert/storm/child%05d" % i, "wb") as f:
                f.write(b"child %d" % i)
            with open("%s/f%03d" % (d, i % 100), "rb") as f:
                ok = f.read() == data
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        if status != 0:
            sys.exit("child after file %d: status %d" % (i, status))
    if os.path.exists(wal):
        biggest = max(biggest, os.stat(wal).st_size)
print("done", n, "biggest WAL", biggest, "pid", os.getpid())
PY
out=$(hl strace -f --seccomp-bpf -e trace=fdatasync -y -o "$HL_TMP/syncs" "$HL_PY" "$HL_TMP/storm.py" 3000 "$HL_META-wal" 2>&1)
rc=$?
is "$rc" "0" "3,000 creates with 60 forked children in between complete"
like "$out" "^done 3000 biggest WAL [0-9]+ pid [0-9]+$" "the program ran to its end"
biggest=$(printf '%s\n' "$out" | sed -n 's/^done 3000 biggest WAL \([0-9]*\) .*/\1/p')
pid=$(printf '%s\n' "$out" | sed -n 's/^done .* pid //p')
# 4,000 frames of 4 KiB + 24 bytes, and the transaction that crossed them (moving 1,024 files
# into a pack writes ~1,300); without a bound it would be ~40,000.
ok "the WAL stayed under 6,000 frames ($biggest bytes)" test "${biggest:-99999999}" -le $((6000 * 4120))

# Who synced the metadata: the program's thread (pid = tid) and the others of its process.
read -r main other < <("$HL_PY" - "$HL_TMP/syncs" "${pid:-0}" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
prog = int(sys.argv[2])
meta = [int(l.split()[0]) for l in lines if re.search(r"fdatasync\(\d+<[^>]*meta\.db(-wal)?>", l)]
print(sum(1 for t in meta if t == prog), sum(1 for t in meta if t != prog))
PY
)
diag "metadata syncs: program thread $main, other threads $other"
# SQLite's own checkpoints ran in the program's commits: 3 syncs per 1,000 frames (~40,000 frames
# here: 133 syncs measured). Now: one per WAL restart (at most one per 1,000 frames, after the
# thread caught up) and the checkpoints a commit makes when the thread cannot catch up with a
# writer that never pauses (3 per 4,000 frames); 22-37 measured.
ok "the program's own thread synced the metadata at most 60 times ($main)" test "${main:-999}" -le 60
ok "the checkpoint thread synced it too ($other)" test "${other:-0}" -ge 10

is "$(hl bash -c 'ls /hilbert/storm/d0* | grep -c "^f"')" "3000" "all 3,000 files listed from a new process"
is "$(hl bash -c 'ls /hilbert/storm | grep -c "^child"')" "60" "all 60 children's files listed"
is "$(hl cat /hilbert/storm/d017/f042)" "$("$HL_PY" -c 'print((b"%08d" % 1742 * 512).decode(), end="")')" "a file reads back"
is "$(sqlite3 "$HL_META" 'PRAGMA integrity_check')" "ok" "SQLite finds the metadata database intact"

# A writer killed (SIGKILL) while its checkpoint thread works: the database stays intact, what
# it closed is there, and the volume takes new files.
hl bash -c '"$0" "$1" 100000 /nonexistent >/dev/null 2>&1 & echo $! >"$2"; wait' "$HL_PY" "$HL_TMP/storm2.py" "$HL_TMP/storm2.pid" &
runner=$!
sed 's#/hilbert/storm#/hilbert/killed#g' "$HL_TMP/storm.py" >"$HL_TMP/storm2.py"
for _ in $(seq 1 100); do
    hl test -d /hilbert/killed/d006 && break
    sleep 0.2
done
ok "the writer got to its 7th directory (600+ files) before the kill" hl test -d /hilbert/killed/d006
kill -9 "$(cat "$HL_TMP/storm2.pid")"
wait "$runner"
is "$(sqlite3 "$HL_META" 'PRAGMA integrity_check')" "ok" "after the kill, SQLite finds the database intact"
is "$(hl cat /hilbert/killed/d005/f007)" "$("$HL_PY" -c 'print((b"%08d" % 507 * 512).decode(), end="")')" "a file it closed reads back"
ok "the volume takes a new file" hl bash -c 'echo after >/hilbert/killed/after && [ "$(cat /hilbert/killed/after)" = after ]'

# Turns between two processes on one directory, each answering from its own caches where it
# may: every step sees the other's last change.
out=$(hl "$HL_PY" - <<'PY' 2>&1
import errno, os, sys
d = "/hilbert/turns"
os.mkdir(d)
a_r, b_w = os.pipe()
b_r, a_w = os.pipe()
def turn(w, r):                        # hand over, wait to be handed back
    os.write(w, b"x")
    if os.read(r, 1) != b"x":
        raise SystemExit("the other side left")
def fail(what):
    print("FAIL", what, flush=True)
    os._exit(1)
pid = os.fork()
if pid == 0:                           # B
    os.read(b_r, 1)
    for i in range(200):
        os.rename("%s/x%d" % (d, i), "%s/y%d" % (d, i))          # A created x
        os.chmod("%s/y%d" % (d, i), 0o600)
        turn(b_w, b_r)
        os.unlink("%s/x%d" % (d, i))                               # A made x again
        os.utime("%s/y%d" % (d, i), (1000 + i, 2000 + i))
        turn(b_w, b_r)
    os._exit(0)
for i in range(200):                   # A
    with open("%s/x%d" % (d, i), "w") as f:
        f.write("first %d" % i)
    os.stat("%s/x%d" % (d, i))
    turn(a_w, a_r)
    if os.path.exists("%s/x%d" % (d, i)):
        fail("x%d still there after B renamed it" % i)
    st = os.stat("%s/y%d" % (d, i))
    if st.st_mode & 0o777 != 0o600:
        fail("y%d mode %o after B's chmod" % (i, st.st_mode & 0o777))
    fd = os.open("%s/x%d" % (d, i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, b"second")
    os.close(fd)
    turn(a_w, a_r)
    try:
        os.open("%s/x%d" % (d, i), os.O_RDONLY)
        fail("x%d still there after B unlinked it" % i)
    except FileNotFoundError:
        pass
    st = os.stat("%s/y%d" % (d, i))
    if (int(st.st_atime), int(st.st_mtime)) != (1000 + i, 2000 + i):
        fail("y%d times %s after B's utime" % (i, (st.st_atime, st.st_mtime)))
    try:
        os.rename("%s/y%d" % (d, i), "%s/x%d" % (d, i))            # the name B freed
    except OSError as e:
        fail("rename y%d onto the freed x%d: %s" % (i, i, e))
    if open("%s/x%d" % (d, i)).read() != "first %d" % i:
        fail("x%d content" % i)
    os.rename("%s/x%d" % (d, i), "%s/z%d" % (d, i))
os.write(a_w, b"x")
_, status = os.waitpid(pid, 0)
print("turns", status, len(os.listdir(d)))
PY
)
is "$out" "turns 0 200" "200 rounds of create/rename/chmod/O_EXCL/unlink/utime between two processes see each other"
is "$(hl bash -c 'ls /hilbert/turns | sort -V | head -3 | tr "\n" " "')" "z0 z1 z2 " "and the names are what they did"

# A transaction's WAL frames go to the file in one write (Sources/CSQLiteWAL): SQLite alone
# writes each frame's header and page apart, 36 pwrites for a create and its commit (9 frames
# each). Four processes create 500 files each at once; then the database is intact and every
# file holds what its writer wrote.
cat >"$HL_TMP/walw.py" <<'PY'
import os, sys
k = int(sys.argv[1])
os.makedirs("/hilbert/walw/p%d" % k, exist_ok=True)
for i in range(500):
    with open("/hilbert/walw/p%d/f%d" % (k, i), "wb") as f:
        f.write(b"%d-%d " % (k, i) * 400)
PY
hl strace -f --seccomp-bpf -e trace=pwrite64 -y -o "$HL_TMP/walw.trace" "$HL_PY" "$HL_TMP/walw.py" 0 >/dev/null 2>&1
walw=$(grep -c -- '-wal>' "$HL_TMP/walw.trace")
ok "500 creates wrote the WAL in at most 4 pwrites each ($walw in all)" test "${walw:-99999}" -gt 0 -a "${walw:-99999}" -le 2000
for k in 1 2 3 4; do hl "$HL_PY" "$HL_TMP/walw.py" "$k" & done
wait
is "$(sqlite3 "$HL_META" 'PRAGMA integrity_check')" "ok" "after 4 processes created 2,000 files at once, SQLite finds the database intact"
out=$(hl "$HL_PY" - <<'PY'
bad = [(k, i) for k in range(5) for i in range(500)
       if open("/hilbert/walw/p%d/f%d" % (k, i), "rb").read() != b"%d-%d " % (k, i) * 400]
print("bad", len(bad), bad[:3])
PY
)
is "$out" "bad 0 []" "and every file holds what its writer wrote"

done_testing

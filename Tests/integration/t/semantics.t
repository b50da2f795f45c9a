#!/usr/bin/env bash
# File-system semantics across processes: close-to-open, O_EXCL races, atomic rename, hard
# links, symlinks (inside, into, out of the prefix), O_APPEND, O_TRUNC, permissions as a
# non-root user, fsync, SIGKILLed writers, EFAULT, lazy engine loading.
# timeout: 300
. "$(dirname "$0")/../lib.sh"
hl_setup
hl mkdir -p /hilbert/s

# ---------------------------------------------------------------- close-to-open
hl_pytap <<'PY'
import os, subprocess, sys
from hltest import case
W = r'''
import sys
data = bytes([int(sys.argv[2])]) * int(sys.argv[3])
with open(sys.argv[1], "wb") as f:
    for i in range(0, len(data), 65536):
        f.write(data[i:i + 65536])
'''
def writer(path, byte, n):
    subprocess.run([sys.executable, "-c", W, path, str(byte), str(n)], check=True)

@case("close-to-open: another process writes 3 MiB and closes; a later open sees all bytes")
def _():
    writer("/hilbert/s/c2o", 7, 3 << 20)
    d = open("/hilbert/s/c2o", "rb").read()
    assert len(d) == 3 << 20 and d.count(7) == len(d), (len(d), d.count(7))

@case("a reader opened before a rewrite (O_TRUNC by another process) keeps reading the old content")
def _():
    writer("/hilbert/s/snap", 1, 300000)
    with open("/hilbert/s/snap", "rb") as r:
        first = r.read(1000)
        writer("/hilbert/s/snap", 2, 200000)
        rest = r.read()
    old = first + rest
    assert len(old) == 300000 and old.count(1) == 300000, (len(old), old[:5], old[-5:])
    new = open("/hilbert/s/snap", "rb").read()
    assert len(new) == 200000 and new.count(2) == 200000, (len(new), new[:5])

@case("fstat on the old reader still shows the old size")
def _():
    writer("/hilbert/s/snap2", 3, 100000)
    with open("/hilbert/s/snap2", "rb") as r:
        writer("/hilbert/s/snap2", 4, 50000)
        assert os.fstat(r.fileno()).st_size == 100000
    assert os.stat("/hilbert/s/snap2").st_size == 50000
PY

# two separate `hilbert run`s: a writer and a reader
hl "$HL_PY" -c '
import os
for v in range(1, 41):
    with open("/hilbert/s/versions.tmp", "wb") as f:
        f.write(b"%06d" % v + bytes([v]) * 100000)
    os.rename("/hilbert/s/versions.tmp", "/hilbert/s/versions")
' && pass "writer run: 40 versions via rename" || fail "writer run: 40 versions via rename"
is "$(hl "$HL_PY" -c 'd=open("/hilbert/s/versions","rb").read(); print(d[:6].decode(), len(d), d[6:].count(40))' 2>&1)" "000040 100006 100000" "a later run sees the last version complete"

# a log writer that fsyncs every line while a reader in another run polls the file
rm -f "$HL_TMP/logdone"
hl "$HL_PY" -c '
import os, sys, json
done = sys.argv[1]
last = 0; reads = 0; problems = []
while True:
    fin = os.path.exists(done)
    try: d = open("/hilbert/s/log", "rb").read()
    except FileNotFoundError: d = b""
    lines = d.split(b"\n")
    if lines[-1] != b"": problems.append("partial last line %r" % lines[-1][:20])
    nums = [int(x) for x in lines[:-1]]
    if nums != list(range(1, len(nums) + 1)): problems.append("not 1..k: %r" % nums[:5])
    if len(nums) < last: problems.append("went back from %d to %d" % (last, len(nums)))
    last = max(last, len(nums)); reads += 1
    if fin: break
print(json.dumps({"reads": reads, "last": last, "problems": problems[:3]}))' "$HL_TMP/logdone" >"$HL_TMP/logreader" 2>&1 &
lpid=$!
hl "$HL_PY" -c '
import os, time
fd = os.open("/hilbert/s/log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
for i in range(1, 201):
    os.write(fd, b"%d\n" % i); os.fsync(fd)
os.close(fd)'
touch "$HL_TMP/logdone"; wait $lpid
like "$(cat "$HL_TMP/logreader")" '"last": 200, "problems": \[\]' "a reader polling a file written line by line with fsync sees only whole, growing versions"
diag "log reader: $(cat "$HL_TMP/logreader")"

# ---------------------------------------------------------------- O_CREAT|O_EXCL races
hl_pytap <<'PY'
import os, time
from hltest import case
@case("O_CREAT|O_EXCL between 4 forked processes, 20 rounds: exactly one winner each round")
def _():
    bad = []
    for rnd in range(20):
        path = "/hilbert/s/excl-%d" % rnd
        r, w = os.pipe()
        kids = []
        for k in range(4):
            pid = os.fork()
            if pid == 0:
                os.close(w)
                os.read(r, 1)                      # barrier: released all at once
                try:
                    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                    os.write(fd, b"%d" % k); os.close(fd)
                    os._exit(0)
                except FileExistsError:
                    os._exit(1)
                except BaseException:
                    os._exit(2)
            kids.append(pid)
        os.close(r); time.sleep(0.02); os.close(w)
        codes = [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in kids]
        won = [k for k, c in enumerate(codes) if c == 0]
        if sorted(codes) != [0, 1, 1, 1] or open(path).read() != str(won[0] if won else "?"):
            bad.append((rnd, codes))
    assert not bad, bad
PY
rm -f "$HL_TMP"/go.*
for k in 1 2 3 4; do
    hl "$HL_PY" -c '
import os, sys, time
k, tmp = sys.argv[1], sys.argv[2]
for rnd in range(5):
    while not os.path.exists("%s/go.%d" % (tmp, rnd)): time.sleep(0.001)
    try:
        fd = os.open("/hilbert/s/xrun-%d" % rnd, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        os.write(fd, k.encode()); os.close(fd); print(rnd, "won", k)
    except FileExistsError:
        print(rnd, "lost", k)
' "$k" "$HL_TMP" >"$HL_TMP/xrun.$k" 2>&1 &
done
sleep 3; for r in 0 1 2 3 4; do touch "$HL_TMP/go.$r"; sleep 0.5; done; wait
winners=$(cat "$HL_TMP"/xrun.* | awk '$2 == "won" {print $1}' | sort | uniq -c | awk '{print $1}' | tr '\n' ' ')
losers=$(cat "$HL_TMP"/xrun.* | grep -c ' lost ')
is "$winners/$losers" "1 1 1 1 1 /15" "O_EXCL between 4 separate hilbert runs, 5 rounds: exactly one winner each"
[ "$winners/$losers" = "1 1 1 1 1 /15" ] || diag "$(cat "$HL_TMP"/xrun.*)"
is "$(for r in 0 1 2 3 4; do w=$(awk -v r=$r '$1 == r && $2 == "won" {print $3}' "$HL_TMP"/xrun.*); c=$(hl cat /hilbert/s/xrun-$r 2>&1); [ "$w" = "$c" ] || echo "round $r: winner $w content $c"; done)" "" "each file holds its winner's id"

# ---------------------------------------------------------------- atomic rename under a reader
rm -f "$HL_TMP/stop"
hl "$HL_PY" -c 'open("/hilbert/s/target", "wb").write(b"@" * 65536)'
hl "$HL_PY" -c '
import os, sys, json
stop = sys.argv[1]
good = bad = enoent = 0; seen = set()
while not os.path.exists(stop) or good < 5:
    try:
        d = open("/hilbert/s/target", "rb").read()
    except FileNotFoundError:
        enoent += 1; continue
    if len(d) == 65536 and d.count(d[:1]) == 65536: good += 1; seen.add(d[:1])
    else: bad += 1
print(json.dumps({"good": good, "bad": bad, "enoent": enoent, "versions": len(seen)}))
' "$HL_TMP/stop" >"$HL_TMP/reader.out" 2>&1 &
rpid=$!
hl "$HL_PY" -c '
import os
for i in range(300):
    with open("/hilbert/s/target.tmp", "wb") as f:
        f.write(bytes([65 + i % 26]) * 65536)
    os.rename("/hilbert/s/target.tmp", "/hilbert/s/target")
' ; wrc=$?
touch "$HL_TMP/stop"; wait $rpid
is "$wrc" "0" "writer renamed 300 new versions over the target"
r=$(cat "$HL_TMP/reader.out")
like "$r" '"bad": 0, "enoent": 0' "a concurrent reader (another hilbert run) never saw a partial or missing file"
like "$r" '"good": [1-9]' "the reader read the file"
diag "rename reader: $r"

# ---------------------------------------------------------------- locks, shared directories
hl bash -c ': > /hilbert/s/counter; : > /hilbert/s/lock'
for k in 1 2 3; do
    hl bash -c 'for i in $(seq 1 30); do flock /hilbert/s/lock bash -c "n=\$(wc -l < /hilbert/s/counter); echo \$((n + 1)) >> /hilbert/s/counter"; done' >"$HL_TMP/flock.$k" 2>&1 &
done
wait
is "$(cat "$HL_TMP"/flock.*)" "" "3 runs x 30 flock-protected read-modify-write cycles: no errors"
is "$(hl bash -c 'wc -l < /hilbert/s/counter; sort -n /hilbert/s/counter | uniq | wc -l; tail -1 /hilbert/s/counter' 2>&1 | tr '\n' ' ')" "90 90 90 " "flock serialised them: 90 distinct increasing lines"
out=$(hl "$HL_PY" -c '
import fcntl, os, time
fd = os.open("/hilbert/s/lock", os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX)
pid = os.fork()
if pid == 0:
    fd2 = os.open("/hilbert/s/lock", os.O_RDWR)
    try: fcntl.lockf(fd2, fcntl.LOCK_EX | fcntl.LOCK_NB); print("child got the lock")
    except OSError as e: print("child blocked", e.errno in (11, 13))
    os._exit(0)
os.waitpid(pid, 0)
fcntl.lockf(fd, fcntl.LOCK_UN)' 2>&1)
is "$out" "child blocked True" "fcntl (POSIX) lock on a prefix file excludes another process"
mkdir -p "$HL_TMP/mk"
for k in 1 2 3 4; do
    hl "$HL_PY" -c '
import os, sys
k = sys.argv[1]
os.makedirs("/hilbert/s/shared", exist_ok=True)
for i in range(150):
    with open("/hilbert/s/shared/%s-%03d" % (k, i), "w") as f: f.write("%s %d\n" % (k, i))
print("ok")' "$k" >"$HL_TMP/mk/$k" 2>&1 &
done
wait
is "$(cat "$HL_TMP"/mk/* | tr '\n' ' ')" "ok ok ok ok " "4 concurrent runs create 150 files each in one directory"
is "$(hl bash -c 'ls /hilbert/s/shared | wc -l; cat /hilbert/s/shared/* | sort | md5sum' 2>&1)" "600"$'\n'"$(for k in 1 2 3 4; do for i in $(seq 0 149); do echo "$k $i"; done; done | sort | md5sum)" "all 600 entries listed with the right content"

# ---------------------------------------------------------------- hard links
hl_pytap <<'PY'
import os
from hltest import case
@case("hard links share content, inode and nlink")
def _():
    open("/hilbert/s/h1", "w").write("shared")
    os.link("/hilbert/s/h1", "/hilbert/s/h2")
    os.mkdir("/hilbert/s/hd"); os.link("/hilbert/s/h2", "/hilbert/s/hd/h3")
    a, b, c = (os.stat(p) for p in ("/hilbert/s/h1", "/hilbert/s/h2", "/hilbert/s/hd/h3"))
    assert a.st_ino == b.st_ino == c.st_ino and a.st_nlink == b.st_nlink == c.st_nlink == 3, (a, b, c)
    with open("/hilbert/s/h2", "a") as f: f.write(" and appended")
    assert open("/hilbert/s/hd/h3").read() == "shared and appended"
    with open("/hilbert/s/hd/h3", "w") as f: f.write("rewritten")
    assert open("/hilbert/s/h1").read() == "rewritten"
    os.chmod("/hilbert/s/h1", 0o600)
    assert os.stat("/hilbert/s/h2").st_mode & 0o777 == 0o600
@case("unlinking one name keeps the others; nlink drops")
def _():
    os.unlink("/hilbert/s/h1")
    assert os.stat("/hilbert/s/h2").st_nlink == 2 and open("/hilbert/s/hd/h3").read() == "rewritten"
    os.rename("/hilbert/s/hd/h3", "/hilbert/s/h3")
    assert os.stat("/hilbert/s/h3").st_nlink == 2
@case("link to a dir is EPERM; link onto an existing name is EEXIST")
def _():
    try: os.link("/hilbert/s/hd", "/hilbert/s/hd2"); assert False
    except PermissionError: pass
    try: os.link("/hilbert/s/h2", "/hilbert/s/h3"); assert False
    except FileExistsError: pass
@case("rename onto a hard link of the same inode is a no-op")
def _():
    os.rename("/hilbert/s/h2", "/hilbert/s/h3")
    assert os.path.exists("/hilbert/s/h2") and os.stat("/hilbert/s/h3").st_nlink == 2
PY

# ---------------------------------------------------------------- symlinks
hl_raw true 2>/dev/null
hl mkdir -p /hilbert/s/ld/sub
hl bash -c 'echo target > /hilbert/s/ld/sub/file'
ln -s /hilbert/s/ld "$HL_TMP/host-to-prefix"
ln -s /hilbert/s/ld/sub/file "$HL_TMP/host-to-file"
out=$(hlsh 'cd /hilbert/s && ln -s ld/sub/file rel && ln -s /hilbert/s/ld/sub abs && ln -s ../ld/sub/file ld/up && cat rel abs/file ld/up && readlink rel abs && ls abs/ && cd abs && pwd && pwd -P' 2>&1)
is "$out" $'target\ntarget\ntarget\nld/sub/file\n/hilbert/s/ld/sub\nfile\n/hilbert/s/abs\n/hilbert/s/ld/sub' "symlinks inside the prefix: relative, absolute, through dirs, cd, pwd -P"
out=$(hl cat "$HL_TMP/host-to-file" 2>&1); is "$out" "target" "a host symlink into the prefix (file) is followed"
out=$(hl ls "$HL_TMP/host-to-prefix/sub" 2>&1); is "$out" "file" "a host symlink into the prefix (dir) is followed"
out=$(hlsh "echo via-host > $HL_TMP/host-to-prefix/new; cat /hilbert/s/ld/new" 2>&1); is "$out" "via-host" "create a file through a host symlink into the prefix"
out=$(hl readlink -f "$HL_TMP/host-to-file" 2>&1); is "$out" "/hilbert/s/ld/sub/file" "readlink -f of a host symlink into the prefix"
out=$(hlsh 'ln -s /etc/hostname /hilbert/s/out && cat /hilbert/s/out && readlink /hilbert/s/out && ln -s /etc /hilbert/s/etcdir && ls /hilbert/s/etcdir/hostname' 2>&1)
is "$out" "$(cat /etc/hostname)"$'\n/etc/hostname\n/hilbert/s/etcdir/hostname' "symlinks out of the prefix (file and dir) are followed to the host"
out=$(hl "$HL_PY" -c 'import os; print(os.path.realpath("/hilbert/s/out"), os.stat("/hilbert/s/out").st_ino == os.stat("/etc/hostname").st_ino, os.lstat("/hilbert/s/out").st_ino != os.stat("/etc/hostname").st_ino)' 2>&1)
is "$out" "/etc/hostname True True" "stat follows out of the prefix, lstat does not"
out=$(hlsh 'cd /hilbert/s && ln -s loop2 loop1 && ln -s loop1 loop2; cat loop1' 2>&1); like "$out" "Too many levels of symbolic links" "symlink loops give ELOOP"
out=$(hl "$HL_PY" -c '
import os
try: os.open("/hilbert/s/rel", os.O_RDONLY | os.O_NOFOLLOW); print("opened")
except OSError as e: print(e.errno == 40)' 2>&1); is "$out" "True" "O_NOFOLLOW on a symlink gives ELOOP"

# ---------------------------------------------------------------- O_APPEND, O_TRUNC
hl_pytap <<'PY'
import os, time
from hltest import case
@case("O_APPEND: every write lands at the end, even after lseek(0)")
def _():
    open("/hilbert/s/app", "w").write("0123")
    fd = os.open("/hilbert/s/app", os.O_WRONLY | os.O_APPEND)
    os.lseek(fd, 0, os.SEEK_SET); os.write(fd, b"AB")
    os.lseek(fd, 1, os.SEEK_SET); os.write(fd, b"CD")
    os.close(fd)
    assert open("/hilbert/s/app").read() == "0123ABCD", open("/hilbert/s/app").read()
@case("O_APPEND from 4 processes at once: all lines intact")
def _():
    kids = []
    for k in range(4):
        pid = os.fork()
        if pid == 0:
            fd = os.open("/hilbert/s/app4", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            for i in range(250):
                os.write(fd, b"%d:%04d:%s\n" % (k, i, b"x" * 50))
            os.close(fd); os._exit(0)
        kids.append(pid)
    for p in kids: os.waitpid(p, 0)
    lines = open("/hilbert/s/app4", "rb").read().split(b"\n")[:-1]
    assert len(lines) == 1000, len(lines)
    assert all(len(l) == 57 for l in lines), [l for l in lines if len(l) != 57][:3]
    for k in range(4):
        mine = [int(l.split(b":")[1]) for l in lines if l.startswith(b"%d:" % k)]
        assert mine == list(range(250)), (k, mine[:10])
@case("4 processes hold one existing file open with O_APPEND at once, each appends: nothing lost (10 rounds)")
def _():
    bad = []
    for rnd in range(10):
        p = "/hilbert/s/app-held-%d" % rnd
        open(p, "w").write("start\n")
        ready_r, ready_w = os.pipe(); go_r, go_w = os.pipe(); kids = []
        for k in range(4):
            pid = os.fork()
            if pid == 0:
                os.close(go_w); os.close(ready_r)
                fd = os.open(p, os.O_WRONLY | os.O_APPEND)
                os.write(ready_w, b"x"); os.read(go_r, 1)
                os.write(fd, b"writer %d\n" % k); os.close(fd); os._exit(0)
            kids.append(pid)
        for _ in range(4): os.read(ready_r, 1)       # all four have it open
        os.close(go_w)
        for pid in kids: os.waitpid(pid, 0)
        for f in (ready_r, ready_w, go_r): os.close(f)
        lines = sorted(open(p).read().splitlines())
        if lines != ["start"] + ["writer %d" % k for k in range(4)]: bad.append((rnd, lines))
    assert not bad, bad[:3]
@case("4 processes each open+append+close one existing file concurrently: nothing lost (100 rounds)")
def _():
    bad = []
    for rnd in range(100):
        p = "/hilbert/s/app-race-%d" % rnd
        open(p, "w").close()
        r, w = os.pipe(); kids = []
        for k in range(4):
            pid = os.fork()
            if pid == 0:
                os.close(w); os.read(r, 1)
                fd = os.open(p, os.O_WRONLY | os.O_APPEND)
                os.write(fd, b"%d\n" % k); os.close(fd); os._exit(0)
            kids.append(pid)
        os.close(r); time.sleep(0.01); os.close(w)
        for pid in kids: os.waitpid(pid, 0)
        lines = sorted(open(p).read().splitlines())
        if lines != ["0", "1", "2", "3"]: bad.append((rnd, lines))
    assert not bad, "%d of 100 rounds lost appends, e.g. %r" % (len(bad), bad[:3])
@case("O_TRUNC empties the file; the new content replaces it")
def _():
    open("/hilbert/s/tr", "w").write("a long old content\n" * 1000)
    fd = os.open("/hilbert/s/tr", os.O_WRONLY | os.O_TRUNC)
    assert os.fstat(fd).st_size == 0
    os.write(fd, b"new"); os.close(fd)
    assert open("/hilbert/s/tr").read() == "new" and os.stat("/hilbert/s/tr").st_size == 3
@case("truncate(path) shrinks and extends with zeros")
def _():
    os.truncate("/hilbert/s/tr", 1); assert open("/hilbert/s/tr", "rb").read() == b"n"
    os.truncate("/hilbert/s/tr", 5); assert open("/hilbert/s/tr", "rb").read() == b"n\0\0\0\0"
@case("O_CREAT without O_TRUNC keeps content; O_RDWR|O_CREAT on a new file gives mode & ~umask")
def _():
    fd = os.open("/hilbert/s/tr", os.O_WRONLY | os.O_CREAT, 0o600); os.close(fd)
    assert os.stat("/hilbert/s/tr").st_size == 5
    old = os.umask(0o027)
    fd = os.open("/hilbert/s/um", os.O_RDWR | os.O_CREAT, 0o666); os.close(fd)
    os.umask(old)
    assert os.stat("/hilbert/s/um").st_mode & 0o777 == 0o640, oct(os.stat("/hilbert/s/um").st_mode)
PY

# ---------------------------------------------------------------- permissions as a non-root user
if hl_user; then
    out=$(hlsh 'mkdir -p /hilbert/perm/private /hilbert/perm/pub && echo secret > /hilbert/perm/private/f && chmod 700 /hilbert/perm/private && echo readonly > /hilbert/perm/ro && chmod 444 /hilbert/perm/ro && chmod 1777 /hilbert/perm/pub && echo rootfile > /hilbert/perm/pub/rootfile && echo done' 2>&1)
    is "$out" "done" "root prepares files for the permission tests"
    chmod 755 "$HL_TMP"; chown -R "$HL_UID:$HL_GID" "$HL_VOL"; mkdir -p "$HL_TMP/ucache" "$HL_TMP/uhome"; chown "$HL_UID:$HL_GID" "$HL_TMP/ucache" "$HL_TMP/uhome"
    uhl() { as_user env HOME="$HL_TMP/uhome" XDG_DATA_HOME="$HL_TMP/uhome/d" XDG_CACHE_HOME="$HL_TMP/uhome/c" "$HILBERT" run --mount "/hilbert=$HL_URL" --cache "$HL_TMP/ucache" -- "$@"; }
    is "$(uhl id -u 2>&1)" "$HL_UID" "commands run as $HL_USER"
    is "$(uhl cat /hilbert/perm/ro 2>&1)" "readonly" "non-root can read a 0444 file"
    out=$(uhl bash -c 'echo x >> /hilbert/perm/ro' 2>&1); like "$out" "Permission denied" "non-root writing a 0444 file fails with EACCES"
    out=$(uhl "$HL_PY" -c '
import os
try: os.open("/hilbert/perm/ro", os.O_WRONLY); print("opened")
except OSError as e: print(e.errno)' 2>&1); is "$out" "13" "open(O_WRONLY) of a 0444 file: errno EACCES"
    out=$(uhl ls /hilbert/perm/private 2>&1); like "$out" "Permission denied" "non-root cannot list root's 0700 dir"
    out=$(uhl cat /hilbert/perm/private/f 2>&1); like "$out" "Permission denied" "non-root cannot traverse root's 0700 dir"
    out=$(uhl chmod 666 /hilbert/perm/ro 2>&1); like "$out" "Operation not permitted" "non-root cannot chmod root's file (EPERM)"
    out=$(uhl rm -f /hilbert/perm/pub/rootfile 2>&1); like "$out" "Operation not permitted" "sticky dir: non-root cannot remove root's file"
    out=$(uhl mkdir /hilbert/perm/mine 2>&1); like "$out" "Permission denied" "non-root cannot create in root's 0755 dir"
    out=$(uhl bash -c 'echo mine > /hilbert/perm/pub/u && stat -c "%U %a" /hilbert/perm/pub/u && cat /hilbert/perm/pub/u' 2>&1)
    is "$out" "$HL_USER 644"$'\nmine' "non-root creates a file in a 1777 dir, owned by the user"
    is "$(hl cat /hilbert/perm/private/f /hilbert/perm/ro 2>&1)" $'secret\nreadonly' "root still reads everything; the 0444 file is unchanged"
    out=$(hlsh 'echo rootwrite >> /hilbert/perm/ro && cat /hilbert/perm/ro' 2>&1); is "$out" $'readonly\nrootwrite' "root may write a 0444 file"
else
    fail "create the test user (useradd)"
fi

# ---------------------------------------------------------------- fsync, SIGKILL
hl_raw "$HL_PY" -c '
import os, subprocess
fd = os.open("/hilbert/s/fs", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"durable" * 10000); os.fsync(fd)
r = subprocess.run(["wc", "-c", "/hilbert/s/fs"], capture_output=True, text=True)
print(r.stdout.split()[0] if r.stdout else r.stderr)
os.write(fd, b"more")
os.kill(os.getpid(), 9)' >"$HL_TMP/fsync.out" 2>&1
is "$(head -1 "$HL_TMP/fsync.out")" "70000" "after fsync (fd still open) another process sees the committed bytes"
like "$(hl wc -c /hilbert/s/fs 2>&1)" "^700(00|04) " "the fsynced content survives SIGKILL of the writer"

hl_raw "$HL_PY" -c '
import os
with open("/hilbert/s/killed-after-close", "wb") as f: f.write(b"k" * 200000)
os.kill(os.getpid(), 9)' 2>/dev/null
is "$(hl_raw "$HL_PY" -c 'd=open("/hilbert/s/killed-after-close","rb").read(); print(len(d), d.count(b"k"))' 2>&1)" "200000 200000" "data survives a writer SIGKILLed after write+close"

hl_raw "$HL_PY" -c '
import os
fd = os.open("/hilbert/s/killed-open-a", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"a" * 150000)
os.kill(os.getpid(), 9)' 2>/dev/null
is "$(hl_raw "$HL_PY" -c 'd=open("/hilbert/s/killed-open-a","rb").read(); print(len(d), d.count(b"a"))' 2>&1)" "150000 150000" "killed before close: the next access commits the staged data"

hl_raw "$HL_PY" -c '
import os
fd = os.open("/hilbert/s/killed-open-b", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"b" * 150000)
os.kill(os.getpid(), 9)' 2>/dev/null
out=$(env HILBERT_MOUNTS="/hilbert=$HL_URL" HILBERT_CACHE="$HL_CACHE" "$HILBERT" flush 2>&1); rc=$?
is "$rc" "0" "hilbert flush exits 0"; [ $rc = 0 ] || diag "$out"
is "$(hlc "$HL_TMP/other-cache" "$HL_PY" -c 'd=open("/hilbert/s/killed-open-b","rb").read(); print(len(d), d.count(b"b"))' 2>&1)" "150000 150000" "killed before close: hilbert flush committed it (read from another cache)"

hl "$HL_PY" -c '
import os
fd = os.open("/hilbert/s/killed-open-c", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"c" * 150000)
os.kill(os.getpid(), 9)' 2>/dev/null
is "$(hlc "$HL_TMP/other-cache" "$HL_PY" -c 'd=open("/hilbert/s/killed-open-c","rb").read(); print(len(d), d.count(b"c"))' 2>&1)" "150000 150000" "killed before close under hilbert run: committed when the run ends"

# ---------------------------------------------------------------- EFAULT
for cwd in /tmp /hilbert/s; do
hl_pytap CWD="$cwd" <<'PY'
import ctypes, errno, os
from hltest import eq
os.chdir(os.environ["CWD"])
libc = ctypes.CDLL(None, use_errno=True)
BAD = ctypes.c_void_p(0xdeadc0de)
buf = ctypes.create_string_buffer(512)
calls = {
    "stat(NULL)": lambda: libc.stat(None, buf),
    "stat(bad)": lambda: libc.stat(BAD, buf),
    "lstat(bad)": lambda: libc.lstat(BAD, buf),
    "open(NULL)": lambda: libc.open(None, os.O_RDONLY),
    "open(bad)": lambda: libc.open(BAD, os.O_RDONLY),
    "open(bad, O_CREAT)": lambda: libc.open(BAD, os.O_WRONLY | os.O_CREAT, 0o644),
    "openat(AT_FDCWD, bad)": lambda: libc.openat(-100, BAD, os.O_RDONLY),
    "fstatat(AT_FDCWD, bad)": lambda: libc.fstatat(-100, BAD, buf, 0),
    "access(bad)": lambda: libc.access(BAD, 0),
    "mkdir(bad)": lambda: libc.mkdir(BAD, 0o755),
    "unlink(bad)": lambda: libc.unlink(BAD),
    "rmdir(NULL)": lambda: libc.rmdir(None),
    "chdir(bad)": lambda: libc.chdir(BAD),
    "readlink(bad)": lambda: libc.readlink(BAD, buf, 512),
    "rename(bad, bad)": lambda: libc.rename(BAD, BAD),
    "chmod(bad)": lambda: libc.chmod(BAD, 0o644),
    "truncate(bad)": lambda: libc.truncate(BAD, ctypes.c_long(0)),
    "fopen(bad) == NULL": lambda: -1 if libc.fopen(BAD, b"r") in (0, None) else 0,
}
where = os.getcwd()
for name, fn in calls.items():
    pid = os.fork()
    if pid == 0:
        ctypes.set_errno(0)
        r = fn()
        os._exit(200 if r != -1 else min(ctypes.get_errno(), 199))
    st = os.waitpid(pid, 0)[1]
    res = ("signal %d" % os.WTERMSIG(st)) if os.WIFSIGNALED(st) else ("errno %d" % os.WEXITSTATUS(st) if os.WEXITSTATUS(st) != 200 else "success")
    eq(res, "errno %d" % errno.EFAULT, "%s with cwd %s: EFAULT, no crash" % (name, where))
eq(os.getcwd(), where, "the process is alive and its cwd unchanged (%s)" % where)
PY
done

# ---------------------------------------------------------------- lazy engine loading
is "$(hl bash -c 'cd /tmp; ls / >/dev/null; cat /etc/hostname >/dev/null; [ -e /etc/passwd ]; grep -c HilbertEngine /proc/$$/maps' 2>&1)" "0" "a process that never touches the prefix never loads the engine"
is "$(hl bash -c '[ -d /hilbert ]; grep -q HilbertEngine /proc/$$/maps && echo 1 || echo 0' 2>&1)" "1" "a process that touched /hilbert has the engine loaded"
is "$(hl bash -c 'grep -q libhilbert-preload /proc/$$/maps && echo 1 || echo 0' 2>&1)" "1" "the shim itself is preloaded"

done_testing

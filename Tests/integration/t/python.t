#!/usr/bin/env bash
# python3 under the shim: file I/O, scandir/walk, shutil, pathlib, tempfile, subprocess (vfork),
# fork, threads, mmap, sendfile/copy_file_range, inode numbers.
# timeout: 240
. "$(dirname "$0")/../lib.sh"
hl_setup
mkdir -p "$HL_TMP/host/src/a/b" && for i in 1 2 3; do echo "host $i" > "$HL_TMP/host/src/a/h$i"; done
head -c 200000 /dev/urandom > "$HL_TMP/host/src/a/b/rand.bin"; ln -s h1 "$HL_TMP/host/src/a/lnk"

hl_pytap <<'PY'
import os, io, hashlib, stat
from hltest import case, eq, check
os.makedirs("/hilbert/py", exist_ok=True)

@case("open/write/read text")
def _():
    with open("/hilbert/py/t.txt", "w") as f:
        f.write("héllo\nworld\n")
    with open("/hilbert/py/t.txt") as f:
        assert f.read() == "héllo\nworld\n"
    with open("/hilbert/py/t.txt") as f:
        assert [l for l in f] == ["héllo\n", "world\n"]

@case("binary write of 1 MiB in odd chunks, read back with seek and partial reads")
def _():
    data = os.urandom(1 << 20)
    with open("/hilbert/py/b.bin", "wb") as f:
        for i in range(0, len(data), 12345):
            f.write(data[i:i + 12345])
    with open("/hilbert/py/b.bin", "rb") as f:
        assert f.read(10) == data[:10]
        f.seek(777777); assert f.read(5000) == data[777777:782777]
        f.seek(-3, io.SEEK_END); assert f.read() == data[-3:]
        f.seek(0); assert hashlib.sha256(f.read()).digest() == hashlib.sha256(data).digest()
    assert os.path.getsize("/hilbert/py/b.bin") == len(data)

@case("append mode and r+ mode")
def _():
    with open("/hilbert/py/a.txt", "w") as f: f.write("1\n")
    with open("/hilbert/py/a.txt", "a") as f: f.write("2\n")
    with open("/hilbert/py/a.txt", "a") as f: f.write("3\n")
    with open("/hilbert/py/a.txt", "r+") as f:
        f.seek(2); f.write("X")
    assert open("/hilbert/py/a.txt").read() == "1\nX\n3\n", open("/hilbert/py/a.txt").read()

@case("os.open/os.write/os.pread/os.pwrite/os.lseek/os.ftruncate")
def _():
    fd = os.open("/hilbert/py/low", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o640)
    assert os.write(fd, b"abcdefgh") == 8
    assert os.pwrite(fd, b"XY", 2) == 2
    assert os.pread(fd, 4, 1) == b"bXYe"
    assert os.lseek(fd, 0, os.SEEK_END) == 8
    os.ftruncate(fd, 4); assert os.fstat(fd).st_size == 4
    os.lseek(fd, 0, 0); assert os.read(fd, 100) == b"abXY"
    os.close(fd)
    st = os.stat("/hilbert/py/low")
    assert (st.st_size, stat.S_IMODE(st.st_mode)) == (4, 0o640), (st.st_size, oct(st.st_mode))

@case("opening a missing file raises FileNotFoundError; a dir raises IsADirectoryError")
def _():
    try: open("/hilbert/py/missing"); assert False
    except FileNotFoundError: pass
    try: open("/hilbert/py", "w"); assert False
    except IsADirectoryError: pass
    try: os.mkdir("/hilbert/py"); assert False
    except FileExistsError: pass
PY

hl_pytap <<'PY'
import os, stat
from hltest import case, eq
base = "/hilbert/tree"
for d in ["a", "a/b", "a/b/c", "d"]:
    os.makedirs(os.path.join(base, d), exist_ok=True)
for f in ["a/1", "a/2", "a/b/3", "a/b/c/4", "d/5", "top"]:
    with open(os.path.join(base, f), "w") as fh: fh.write(f)
os.symlink("top", os.path.join(base, "lnk"))

@case("os.scandir: names, types, stat and inode of entries")
def _():
    ents = {e.name: e for e in os.scandir(base)}
    assert sorted(ents) == ["a", "d", "lnk", "top"], sorted(ents)
    assert ents["a"].is_dir() and not ents["a"].is_file()
    assert ents["top"].is_file() and not ents["top"].is_symlink()
    assert ents["lnk"].is_symlink() and ents["lnk"].is_file()
    assert ents["top"].stat().st_size == 3
    assert ents["top"].inode() == os.stat(base + "/top").st_ino
    assert ents["lnk"].inode() == os.lstat(base + "/lnk").st_ino

@case("os.scandir with a relative path inside the virtual cwd, and with an fd")
def _():
    os.chdir(base + "/a")
    assert sorted(e.name for e in os.scandir(".")) == ["1", "2", "b"]
    assert sorted(e.name for e in os.scandir("b")) == ["3", "c"]
    fd = os.open(base + "/a/b", os.O_RDONLY | os.O_DIRECTORY)
    assert sorted(e.name for e in os.scandir(fd)) == ["3", "c"]
    os.close(fd)
    assert os.getcwd() == base + "/a"
    os.chdir("/")

@case("os.walk top-down and bottom-up")
def _():
    top = [(r, sorted(d), sorted(f)) for r, d, f in os.walk(base)]
    assert top[0] == (base, ["a", "d"], ["lnk", "top"]), top[0]
    assert len(top) == 5 and sum(len(f) for _, _, f in top) == 7
    bottom = [r for r, _, _ in os.walk(base, topdown=False)]
    assert bottom[-1] == base and set(bottom) == {r for r, _, _ in top}

@case("os.listdir and os.fwalk agree with os.walk")
def _():
    assert sorted(os.listdir(base + "/a/b")) == ["3", "c"]
    n = sum(len(f) for _, _, f, _ in os.fwalk(base))
    assert n == 7, n
PY

hl_pytap HOSTSRC="$HL_TMP/host/src" HOSTOUT="$HL_TMP/host/out" <<'PY'
import os, shutil, filecmp, hashlib
from hltest import case
src, out = os.environ["HOSTSRC"], os.environ["HOSTOUT"]
def digest(root):
    h = {}
    for r, ds, fs in os.walk(root):
        for f in fs:
            p = os.path.join(r, f)
            h[os.path.relpath(p, root)] = "L:" + os.readlink(p) if os.path.islink(p) else hashlib.md5(open(p, "rb").read()).hexdigest()
    return h

@case("shutil.copytree host → prefix (symlinks=True) is identical")
def _():
    shutil.copytree(src, "/hilbert/ct", symlinks=True)
    assert digest(src) == digest("/hilbert/ct")
    assert os.readlink("/hilbert/ct/a/lnk") == "h1"
    c = filecmp.dircmp(src, "/hilbert/ct")
    assert not c.diff_files and not c.left_only and not c.right_only

@case("shutil.copytree prefix → prefix and prefix → host")
def _():
    shutil.copytree("/hilbert/ct", "/hilbert/ct2", symlinks=True)
    shutil.copytree("/hilbert/ct2", out, symlinks=True)
    assert digest(out) == digest(src)

@case("shutil.copy2 keeps mtime and mode; shutil.move across the boundary")
def _():
    os.chmod("/hilbert/ct/a/h2", 0o604); os.utime("/hilbert/ct/a/h2", (1e9, 1e9))
    shutil.copy2("/hilbert/ct/a/h2", "/hilbert/h2copy")
    st = os.stat("/hilbert/h2copy")
    assert st.st_mtime == 1e9 and (st.st_mode & 0o777) == 0o604, (st.st_mtime, oct(st.st_mode))
    shutil.move("/hilbert/h2copy", out + "/moved")
    assert not os.path.exists("/hilbert/h2copy") and open(out + "/moved").read() == "host 2\n"
    shutil.move(out + "/moved", "/hilbert/moved-back")
    assert open("/hilbert/moved-back").read() == "host 2\n"

@case("shutil.rmtree removes a tree in the prefix")
def _():
    shutil.rmtree("/hilbert/ct2")
    assert not os.path.exists("/hilbert/ct2")
    assert os.path.exists("/hilbert/ct/a/b/rand.bin")
PY

hl_pytap <<'PY'
import os
from pathlib import Path
from hltest import case
p = Path("/hilbert/pl")

@case("pathlib mkdir(parents), write_text/read_text, write_bytes/read_bytes")
def _():
    (p / "x/y").mkdir(parents=True)
    (p / "x/y/n.txt").write_text("text ü")
    assert (p / "x/y/n.txt").read_text() == "text ü"
    (p / "x/b.bin").write_bytes(b"\0\1\2")
    assert (p / "x/b.bin").read_bytes() == b"\0\1\2"
    for i in range(5): (p / f"x/f{i}.txt").write_text(str(i))

@case("pathlib glob and rglob")
def _():
    assert sorted(q.name for q in p.glob("x/*.txt")) == [f"f{i}.txt" for i in range(5)]
    assert sorted(str(q.relative_to(p)) for q in p.rglob("*.txt")) == [f"x/f{i}.txt" for i in range(5)] + ["x/y/n.txt"]
    assert sorted(q.name for q in p.glob("**/")) == ["pl", "x", "y"]

@case("pathlib rename, replace, exists, is_file, is_dir, iterdir, unlink, rmdir, stat")
def _():
    (p / "x/f0.txt").rename(p / "x/renamed.txt")
    assert not (p / "x/f0.txt").exists() and (p / "x/renamed.txt").read_text() == "0"
    (p / "x/f1.txt").replace(p / "x/renamed.txt")
    assert (p / "x/renamed.txt").read_text() == "1"
    assert (p / "x").is_dir() and (p / "x/renamed.txt").is_file()
    assert sorted(q.name for q in (p / "x").iterdir()) == ["b.bin", "f2.txt", "f3.txt", "f4.txt", "renamed.txt", "y"]
    (p / "x/y/n.txt").unlink(); (p / "x/y").rmdir()
    assert not (p / "x/y").exists()
    assert (p / "x/b.bin").stat().st_size == 3
    assert Path("/hilbert/pl/x/../x/./f2.txt").resolve() == p / "x/f2.txt"
PY

hl mkdir -p /hilbert/tmp
hl_pytap TMPDIR=/hilbert/tmp <<'PY'
import os, tempfile
from hltest import case
@case("tempfile.gettempdir() honours TMPDIR=/hilbert/tmp")
def _():
    assert tempfile.gettempdir() == "/hilbert/tmp", tempfile.gettempdir()

@case("NamedTemporaryFile: write, reopen by name, deleted on close")
def _():
    with tempfile.NamedTemporaryFile("w+") as f:
        assert f.name.startswith("/hilbert/tmp/"), f.name
        f.write("named"); f.flush(); f.seek(0)
        assert f.read() == "named"
        name = f.name
        assert os.path.exists(name)
    assert not os.path.exists(name)

@case("mkstemp: mode 0600, fd usable, file persists")
def _():
    fd, name = tempfile.mkstemp(suffix=".x")
    assert name.startswith("/hilbert/tmp/") and name.endswith(".x")
    assert os.stat(name).st_mode & 0o777 == 0o600
    os.write(fd, b"mk"); os.close(fd)
    assert open(name).read() == "mk"
    os.unlink(name)

@case("TemporaryDirectory: created 0700, populated, cleaned up")
def _():
    with tempfile.TemporaryDirectory() as d:
        assert d.startswith("/hilbert/tmp/") and os.stat(d).st_mode & 0o777 == 0o700
        for i in range(10):
            open(os.path.join(d, str(i)), "w").write("x")
        os.mkdir(os.path.join(d, "sub")); open(os.path.join(d, "sub/f"), "w").write("y")
    assert not os.path.exists(d)
    assert os.listdir("/hilbert/tmp") == []

@case("SpooledTemporaryFile rolled over to disk")
def _():
    with tempfile.SpooledTemporaryFile(max_size=10) as f:
        f.write(b"x" * 100); f.seek(0); assert f.read() == b"x" * 100
PY

hl_pytap <<'PY'
import os, subprocess, sys, threading, time
from hltest import case
os.makedirs("/hilbert/proc", exist_ok=True)

@case("subprocess.run: a child reads the prefix (stdout captured)")
def _():
    open("/hilbert/proc/in.txt", "w").write("to child\n")
    r = subprocess.run(["cat", "/hilbert/proc/in.txt"], capture_output=True)
    assert r.returncode == 0 and r.stdout == b"to child\n", r

@case("subprocess.run: a child writes the prefix, the parent reads it after wait")
def _():
    subprocess.run(["sh", "-c", "seq 1 1000 > /hilbert/proc/seq.txt"], check=True)
    assert open("/hilbert/proc/seq.txt").read().split() == [str(i) for i in range(1, 1001)]

@case("subprocess.run with cwd= inside the prefix (chdir in the vfork child)")
def _():
    r = subprocess.run(["sh", "-c", "pwd; cat in.txt; echo made > made.txt"], cwd="/hilbert/proc", capture_output=True, text=True)
    assert r.stdout == "/hilbert/proc\nto child\n", (r.stdout, r.stderr)
    assert open("/hilbert/proc/made.txt").read() == "made\n"

@case("subprocess with stdout= a file object in the prefix, stdin= a prefix file")
def _():
    with open("/hilbert/proc/in.txt") as i, open("/hilbert/proc/out.txt", "w") as o:
        subprocess.run(["tr", "a-z", "A-Z"], stdin=i, stdout=o, check=True)
    assert open("/hilbert/proc/out.txt").read() == "TO CHILD\n"

@case("subprocess: executable stored in the prefix")
def _():
    open("/hilbert/proc/tool", "w").write("#!/bin/sh\necho tool $1\n"); os.chmod("/hilbert/proc/tool", 0o755)
    assert subprocess.run(["/hilbert/proc/tool", "x"], capture_output=True, text=True).stdout == "tool x\n"

@case("os.posix_spawn file actions open prefix paths (absolute, relative to the cwd, failing)")
def _():
    os.chdir("/hilbert/proc")
    acts = [(os.POSIX_SPAWN_OPEN, 1, "spawned.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
            (os.POSIX_SPAWN_OPEN, 0, "/hilbert/proc/in.txt", os.O_RDONLY, 0)]
    pid = os.posix_spawn("/bin/sh", ["sh", "-c", "tr a-z A-Z; echo done"], os.environ, file_actions=acts)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    assert open("/hilbert/proc/spawned.txt").read() == "TO CHILD\ndone\n", open("/hilbert/proc/spawned.txt").read()
    assert os.stat("/hilbert/proc/spawned.txt").st_mode & 0o777 == 0o600
    try:
        os.posix_spawnp("true", ["true"], os.environ, file_actions=[(os.POSIX_SPAWN_OPEN, 0, "missing", os.O_RDONLY, 0)])
        assert False, "spawned with a missing file"
    except FileNotFoundError: pass
    os.chdir("/")
    r, w = os.pipe()   # an absolute prefix path read-only, from a host working directory
    pid = os.posix_spawn("/bin/cat", ["cat"], os.environ,
                         file_actions=[(os.POSIX_SPAWN_OPEN, 0, "/hilbert/proc/in.txt", os.O_RDONLY, 0),
                                       (os.POSIX_SPAWN_DUP2, w, 1)])
    os.close(w)
    got = b"".join(iter(lambda: os.read(r, 4096), b"")); os.close(r)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0 and got == b"to child\n", got

@case("a write leaves ctime == mtime after the commit (not the later commit time)")
def _():
    p = "/hilbert/proc/ct"
    open(p, "wb").write(b"foo")
    time.sleep(0.01)
    with open(p, "ab", 0) as f:
        f.write(b"bar"); time.sleep(0.05)
    st = os.stat(p)
    assert st.st_ctime_ns == st.st_mtime_ns, (st.st_ctime_ns, st.st_mtime_ns)
    os.chmod(p, 0o644)
    assert os.stat(p).st_ctime_ns > st.st_mtime_ns

@case("os.fork: the child writes a file, the parent reads it after waitpid")
def _():
    pid = os.fork()
    if pid == 0:
        try:
            with open("/hilbert/proc/forked.txt", "w") as f: f.write("from child %d" % os.getpid())
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, st = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(st) == 0
    assert open("/hilbert/proc/forked.txt").read() == "from child %d" % pid

@case("os.fork: the child inherits an open write fd; both write through it")
def _():
    fd = os.open("/hilbert/proc/shared-fd", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, b"parent1\n")
    pid = os.fork()
    if pid == 0:
        os.write(fd, b"child\n"); os.close(fd); os._exit(0)
    os.waitpid(pid, 0)
    os.write(fd, b"parent2\n"); os.close(fd)
    assert open("/hilbert/proc/shared-fd").read() == "parent1\nchild\nparent2\n", open("/hilbert/proc/shared-fd").read()

@case("8 threads each write 25 files concurrently; all intact")
def _():
    os.makedirs("/hilbert/proc/thr")
    errs = []
    def work(t):
        try:
            for i in range(25):
                with open(f"/hilbert/proc/thr/{t}-{i}", "wb") as f:
                    f.write(bytes([t]) * (1000 + 997 * i))
        except BaseException as e:
            errs.append(repr(e))
    ts = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    [t.start() for t in ts]; [t.join() for t in ts]
    assert not errs, errs
    assert len(os.listdir("/hilbert/proc/thr")) == 200
    for t in range(8):
        for i in range(25):
            assert open(f"/hilbert/proc/thr/{t}-{i}", "rb").read() == bytes([t]) * (1000 + 997 * i), (t, i)

@case("fork while other threads are busy in the prefix: children never deadlock (40 forks)")
def _():
    import warnings; warnings.simplefilter("ignore", DeprecationWarning)   # fork with threads
    os.makedirs("/hilbert/proc/fk", exist_ok=True)
    stop = []
    def busy(t):
        i = 0
        while not stop:
            p = "/hilbert/proc/fk/t%d-%d" % (t, i % 20)
            with open(p, "w") as f: f.write("x" * 100)
            os.stat(p); os.listdir("/hilbert/proc/fk"); i += 1
    ts = [threading.Thread(target=busy, args=(t,)) for t in range(3)]
    [t.start() for t in ts]
    hung = failed = 0
    try:
        for k in range(40):
            pid = os.fork()
            if pid == 0:
                try:
                    with open("/hilbert/proc/fk/child-%d" % k, "w") as f: f.write("child")
                    os.stat("/hilbert/proc/fk"); os._exit(0)
                except BaseException as e:
                    with open(os.environ["HL_TMP"] + "/fork-child-error", "a") as f: f.write("%d: %r\n" % (k, e))
                    os._exit(1)
            deadline = time.time() + 10
            while True:
                r, st = os.waitpid(pid, os.WNOHANG)
                if r: failed += os.waitstatus_to_exitcode(st) != 0; break
                if time.time() > deadline:
                    os.kill(pid, 9); os.waitpid(pid, 0); hung += 1; break
                time.sleep(0.005)
            if hung >= 2: break
    finally:
        stop.append(1); [t.join() for t in ts]
    errs = open(os.environ["HL_TMP"] + "/fork-child-error").read() if failed else ""
    assert hung == 0 and failed == 0, "hung %d (stops at 2), failed %d, of %d forks\n%s" % (hung, failed, k + 1, errs[:600])
    assert len([n for n in os.listdir("/hilbert/proc/fk") if n.startswith("child-")]) == 40

@case("threads reading the same file concurrently")
def _():
    data = os.urandom(300000)
    open("/hilbert/proc/shared.bin", "wb").write(data)
    bad = []
    def rd():
        for _ in range(10):
            if open("/hilbert/proc/shared.bin", "rb").read() != data: bad.append(1)
    ts = [threading.Thread(target=rd) for _ in range(4)]
    [t.start() for t in ts]; [t.join() for t in ts]
    assert not bad
PY
is "$(hl cat /hilbert/proc/forked.txt 2>&1 | cut -c1-10)" "from child" "the forked child's file persisted"

hl_pytap HOSTDIR="$HL_TMP/host" <<'PY'
import os, mmap
from hltest import case
host = os.environ["HOSTDIR"]
os.makedirs("/hilbert/mm", exist_ok=True)
payload = bytes(range(256)) * 400          # 100 KiB: above the inline limit

@case("mmap MAP_SHARED read-only of a committed file")
def _():
    open("/hilbert/mm/ro", "wb").write(payload)
    with open("/hilbert/mm/ro", "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        assert len(m) == len(payload) and m[:] == payload and m[1000:1010] == payload[1000:1010]

@case("mmap MAP_SHARED writable: changes reach the file (same process, after close)")
def _():
    open("/hilbert/mm/rw", "wb").write(payload)
    with open("/hilbert/mm/rw", "r+b") as f:
        m = mmap.mmap(f.fileno(), 0)
        m[0:5] = b"HELLO"; m[-5:] = b"WORLD"; m.flush(); m.close()
    d = open("/hilbert/mm/rw", "rb").read()
    assert d[:5] == b"HELLO" and d[-5:] == b"WORLD" and d[5:-5] == payload[5:-5]

@case("mmap MAP_PRIVATE: copy-on-write changes never reach the file")
def _():
    open("/hilbert/mm/priv", "wb").write(payload)
    with open("/hilbert/mm/priv", "r+b") as f:
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
        m[0:4] = b"PRIV"; assert m[0:4] == b"PRIV"; m.close()
    assert open("/hilbert/mm/priv", "rb").read() == payload

@case("mmap of a file grown with ftruncate, written through the map")
def _():
    fd = os.open("/hilbert/mm/grown", os.O_RDWR | os.O_CREAT, 0o644)
    os.ftruncate(fd, 1 << 20)
    m = mmap.mmap(fd, 1 << 20)
    m[(1 << 20) - 3:] = b"end"; m[0:5] = b"start"; m.close(); os.close(fd)
    d = open("/hilbert/mm/grown", "rb").read()
    assert len(d) == 1 << 20 and d[:5] == b"start" and d[-3:] == b"end" and d[5:-3].count(0) == len(d) - 8

@case("os.sendfile host → prefix and prefix → host")
def _():
    src = os.path.join(host, "sf-src"); open(src, "wb").write(payload * 3)
    i = os.open(src, os.O_RDONLY); o = os.open("/hilbert/mm/sf", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    n = 0
    while n < len(payload) * 3:
        k = os.sendfile(o, i, n, len(payload) * 3 - n); assert k > 0; n += k
    os.close(i); os.close(o)
    assert open("/hilbert/mm/sf", "rb").read() == payload * 3
    i = os.open("/hilbert/mm/sf", os.O_RDONLY); o = os.open(os.path.join(host, "sf-back"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    n = 0
    while True:
        k = os.sendfile(o, i, None, 65536)
        if k == 0: break
        n += k
    os.close(i); os.close(o)
    assert open(os.path.join(host, "sf-back"), "rb").read() == payload * 3

@case("os.copy_file_range host → prefix, prefix → host, prefix → prefix")
def _():
    def cfr(a, b):
        i = os.open(a, os.O_RDONLY); o = os.open(b, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        while os.copy_file_range(i, o, 1 << 20) > 0: pass
        os.close(i); os.close(o)
    src = os.path.join(host, "cfr-src"); open(src, "wb").write(payload * 5)
    cfr(src, "/hilbert/mm/cfr"); assert open("/hilbert/mm/cfr", "rb").read() == payload * 5
    cfr("/hilbert/mm/cfr", os.path.join(host, "cfr-back")); assert open(os.path.join(host, "cfr-back"), "rb").read() == payload * 5
    cfr("/hilbert/mm/cfr", "/hilbert/mm/cfr2"); assert open("/hilbert/mm/cfr2", "rb").read() == payload * 5

@case("xattrs: setxattr/getxattr/listxattr/removexattr on a prefix file")
def _():
    p = "/hilbert/mm/xa"; open(p, "w").write("x")
    os.setxattr(p, "user.color", b"blue")
    os.setxattr(p, "user.bin", bytes(range(256)))
    assert os.getxattr(p, "user.color") == b"blue" and os.getxattr(p, "user.bin") == bytes(range(256))
    assert sorted(os.listxattr(p)) == ["user.bin", "user.color"], os.listxattr(p)
    try: os.setxattr(p, "user.color", b"red", os.XATTR_CREATE); assert False
    except FileExistsError: pass
    os.removexattr(p, "user.color")
    assert os.listxattr(p) == ["user.bin"]
    try: os.getxattr(p, "user.color"); assert False
    except OSError as e: assert e.errno == 61, e           # ENODATA
    fd = os.open(p, os.O_RDONLY)
    assert os.getxattr(fd, "user.bin") == bytes(range(256)); os.close(fd)

@case("os.statvfs of the prefix")
def _():
    st = os.statvfs("/hilbert")
    assert st.f_bsize > 0 and st.f_blocks > 0 and st.f_namemax >= 255, st
    assert os.statvfs("/hilbert/mm").f_fsid == st.f_fsid

@case("os.utime with nanoseconds, os.chown to another uid (root), os.access")
def _():
    p = "/hilbert/mm/ut"; open(p, "w").close()
    os.utime(p, ns=(1_000_000_001, 2_000_000_002))
    st = os.stat(p)
    assert (st.st_atime_ns, st.st_mtime_ns) == (1_000_000_001, 2_000_000_002), (st.st_atime_ns, st.st_mtime_ns)
    os.chown(p, 1234, 5678)
    st = os.stat(p)
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    os.chmod(p, 0o400)
    assert os.access(p, os.R_OK) and not os.access(p, os.X_OK)

@case("os.stat ino == os.fstat ino; st_dev equal; inode numbers unique across 300 files")
def _():
    os.makedirs("/hilbert/ino")
    inos = {}
    for i in range(300):
        p = f"/hilbert/ino/{i}"
        with open(p, "w") as f:
            f.write("x" * i)
        fd = os.open(p, os.O_RDONLY)
        a, b = os.stat(p), os.fstat(fd); os.close(fd)
        assert a.st_ino == b.st_ino and a.st_dev == b.st_dev, (p, a, b)
        inos[a.st_ino] = p
    assert len(inos) == 300
    assert os.stat("/hilbert/ino").st_ino not in inos
    fd = os.open("/hilbert/ino/5", os.O_WRONLY | os.O_APPEND)
    assert os.fstat(fd).st_ino == os.stat("/hilbert/ino/5").st_ino; os.close(fd)
    assert os.stat("/hilbert/ino/7").st_ino == [k for k, v in inos.items() if v.endswith("/7")][0]
@case("AF_UNIX sockets under the prefix: bind, listen, connect from another process, stat, EADDRINUSE, ECONNREFUSED, relative bind")
def _():
    import errno, socket, stat, subprocess, sys
    os.makedirs("/hilbert/sock", exist_ok=True)
    p = "/hilbert/sock/srv"
    old = os.umask(0o022)
    srv = socket.socket(socket.AF_UNIX); srv.bind(p); srv.listen(1)
    os.umask(old)
    st = os.stat(p)
    assert stat.S_ISSOCK(st.st_mode) and st.st_mode & 0o777 == 0o755, oct(st.st_mode)
    client = subprocess.Popen([sys.executable, "-c",
        "import socket; c = socket.socket(socket.AF_UNIX); c.connect(%r); c.sendall(b'ping'); print(c.recv(10).decode())" % p],
        stdout=subprocess.PIPE, text=True)
    conn, _ = srv.accept(); conn.sendall(conn.recv(10).upper()); conn.close()
    assert client.communicate(timeout=30)[0].strip() == "PING"
    try:
        socket.socket(socket.AF_UNIX).bind(p); assert False, "bind on an existing name"
    except OSError as e: assert e.errno == errno.EADDRINUSE, e
    assert stat.S_ISSOCK(os.stat(p).st_mode), "a refused bind must leave the existing socket"
    try:
        os.open(p, os.O_RDONLY); assert False, "open of a socket"
    except OSError as e: assert e.errno == errno.ENXIO, e
    srv.close(); os.unlink(p)
    try:
        socket.socket(socket.AF_UNIX).connect(p); assert False, "connect to a removed socket"
    except OSError as e: assert e.errno == errno.ENOENT, e
    open("/hilbert/sock/plain", "w").close()
    try:
        socket.socket(socket.AF_UNIX).connect("/hilbert/sock/plain"); assert False, "connect to a regular file"
    except OSError as e: assert e.errno == errno.ECONNREFUSED, e
    cwd = os.getcwd(); os.chdir("/hilbert/sock")
    try:
        s = socket.socket(socket.AF_UNIX); s.bind("rel"); s.listen(1)
        c = socket.socket(socket.AF_UNIX); c.connect("/hilbert/sock/rel"); c.close(); s.close()
        assert stat.S_ISSOCK(os.lstat("rel").st_mode)
        os.unlink("rel")
    finally:
        os.chdir(cwd)
    cache = os.environ.get("HL_CACHE") or os.path.join(os.environ["HL_TMP"], "cache")
    for n in os.listdir(cache):
        d = os.path.join(cache, n, "sock")
        if os.path.isdir(d):
            assert os.listdir(d) == [], "kernel sockets of removed names remain: %r" % os.listdir(d)
@case("AF_UNIX datagrams to a path under the prefix: sendto and sendmsg from another process, ENOENT, ECONNREFUSED")
def _():
    import errno, socket, subprocess, sys
    os.makedirs("/hilbert/dgram", exist_ok=True)
    p = "/hilbert/dgram/log"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); srv.bind(p); srv.settimeout(30)
    subprocess.run([sys.executable, "-c",
        "import socket; c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); "
        "c.sendto(b'one', %r); c.sendmsg([b'tw', b'o'], [], 0, %r)" % (p, p)], check=True, timeout=30)
    assert srv.recv(10) == b"one" and srv.recv(10) == b"two"
    c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    for name, errno_expected in (("/hilbert/dgram/none", errno.ENOENT),):
        try:
            c.sendto(b"x", name); assert False, "sendto " + name
        except OSError as e: assert e.errno == errno_expected, e
    open("/hilbert/dgram/plain", "w").close()
    try:
        c.sendto(b"x", "/hilbert/dgram/plain"); assert False, "sendto a regular file"
    except OSError as e: assert e.errno == errno.ECONNREFUSED, e
    c.close(); srv.close(); os.unlink(p)
@case("st_dev is a device number like a real one (os.major/minor/makedev round trip), not a host device's")
def _():
    d = os.stat("/hilbert").st_dev
    major, minor = os.major(d), os.minor(d)
    assert os.makedev(major, minor) == d, (hex(d), major, minor)
    assert 4096 <= major < 1 << 31 and minor < 1 << 20, (major, minor)
    assert d != os.stat("/").st_dev and d != os.stat("/tmp").st_dev
PY

done_testing

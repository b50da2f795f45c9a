#!/usr/bin/env bash
# close_range(2), closefrom(3), dup2 and dup3 close descriptors as close() does: a write file is
# committed when its last descriptor goes that way (another node reads it while the writer
# still runs), and the last descriptor of a partial read copy lets the engine's copy (and its
# descriptor on the cache file) go. CLOSE_RANGE_CLOEXEC closes nothing: exec commits such a
# write file, and the new program does not get the descriptor. Runs on PostgreSQL (@pg).
# timeout: 300
. "$(dirname "$0")/../lib.sh"
hl_setup
need "$HL_PY" unshare:util-linux
[ "$(id -u)" = 0 ] || { skip "needs root (a mount namespace stands for another node)"; done_testing; }
H=$HILBERT
META=$HL_META
hl_on_pg && META=

# The writer asks another node (a cache and a mount namespace of its own) what the file holds
# now. A reader on the writer's node would commit a staging file whose writers are gone itself.
hl_pytap H="$H" URL="$HL_URL" NODE2="$HL_TMP/node2" META="$META" <<'PY'
import ctypes, os, sqlite3, subprocess
from hltest import case, eq

libc = ctypes.CDLL(None, use_errno=True)
libc.close_range.argtypes = [ctypes.c_uint, ctypes.c_uint, ctypes.c_int]
libc.closefrom.argtypes = [ctypes.c_int]

def elsewhere(path):
    r = subprocess.run(["env", "-u", "LD_PRELOAD", "-u", "HILBERT_MOUNTS", "unshare", "--mount", os.environ["H"], "run",
                        "--mount", "/hilbert=" + os.environ["URL"], "--cache", os.environ["NODE2"], "--",
                        "cat", path], capture_output=True, text=True)
    return r.stdout + r.stderr

def no_staging_rows():
    """On SQLite: the staging rows are gone (the commit retired them)."""
    if os.environ["META"]:
        with sqlite3.connect(os.environ["META"]) as db:
            eq(db.execute("SELECT count(*) FROM hl_staging").fetchone()[0], 0, "  its staging row is gone")

def is_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False

def create(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, text.encode())
    return fd

@case("os.closerange (close_range) of a write descriptor commits the file: another node reads it at once")
def _():
    fd = create("/hilbert/one", "one\n")
    eq(elsewhere("/hilbert/one"), "", "  not committed while open")
    os.closerange(fd, fd + 1)
    assert not is_open(fd)
    eq(elsewhere("/hilbert/one"), "one\n", "  committed by close_range")
    no_staging_rows()

@case("close_range over a write fd, a dup of it, a read fd, a pipe and a host file: all closed, the file committed once the last goes")
def _():
    os.makedirs("/hilbert/d", exist_ok=True)
    open("/hilbert/d/r", "w").write("r\n")
    w = create("/hilbert/d/w", "two\n")
    w2 = os.dup(w)
    r = os.open("/hilbert/d/r", os.O_RDONLY)
    p0, p1 = os.pipe()
    host = os.open("/dev/null", os.O_RDONLY)
    fds = [w, w2, r, p0, p1, host]
    assert libc.close_range(min(fds), max(fds), 0) == 0, os.strerror(ctypes.get_errno())
    assert not any(is_open(f) for f in fds), [f for f in fds if is_open(f)]
    eq(elsewhere("/hilbert/d/w"), "two\n", "  committed")
    no_staging_rows()
    eq(open("/hilbert/d/r").read(), "r\n", "  the engine works on")

@case("closefrom of a write descriptor commits it")
def _():
    fd = create("/hilbert/three", "three\n")
    high = os.dup2(fd, 900)
    os.close(fd)
    eq(elsewhere("/hilbert/three"), "", "  not committed while fd 900 is open")
    libc.closefrom(high)
    assert not is_open(high)
    eq(elsewhere("/hilbert/three"), "three\n", "  committed by closefrom")
    eq(open("/hilbert/three").read(), "three\n", "  the engine works on (its own descriptors stay)")

@case("dup3 (os.dup2 inheritable=False) onto a write descriptor commits it")
def _():
    fd = create("/hilbert/four", "four\n")
    null = os.open("/dev/null", os.O_WRONLY)
    os.dup2(null, fd, inheritable=False)
    eq(elsewhere("/hilbert/four"), "four\n", "  committed by dup3")
    os.close(fd)
    os.close(null)

@case("CLOSE_RANGE_CLOEXEC keeps a write descriptor open and uncommitted")
def _():
    fd = create("/hilbert/five", "five\n")
    assert libc.close_range(fd, fd, 4) == 0, os.strerror(ctypes.get_errno())
    assert os.get_inheritable(fd) is False
    os.write(fd, b"more\n")
    eq(elsewhere("/hilbert/five"), "", "  not committed")
    os.close(fd)
    eq(elsewhere("/hilbert/five"), "five\nmore\n", "  close commits it")
PY

# exec after CLOSE_RANGE_CLOEXEC: the write fd is committed before the image goes, and the new
# program (here a shell, then another node's cat) does not have it.
out=$(hl "$HL_PY" - "$H" "$HL_URL" "$HL_TMP/node2" <<'PY' 2>&1
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open("/hilbert/six", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.set_inheritable(fd, True)
os.write(fd, b"six\n")
assert libc.close_range(fd, fd, 4) == 0
os.execvp("sh", ["sh", "-c", '[ -e /proc/$$/fd/%d ] && echo "fd %d inherited"; '
                 'exec env -u LD_PRELOAD -u HILBERT_MOUNTS unshare --mount "$0" run --mount "/hilbert=$1" --cache "$2" -- cat /hilbert/six' % (fd, fd)]
          + sys.argv[1:])
PY
)
is "$out" "six" "CLOSE_RANGE_CLOEXEC, then exec: the file is committed before the exec and the fd is not inherited"

# Partial read copies (a file of 3 blocks read from a cold cache): the program's descriptor and
# the engine's own one on the copy (*.part) both go with the program's last descriptor.
hl "$HL_PY" -c 'import os; open("/hilbert/big", "wb").write(os.urandom(12 << 20))' || bail "write a 12 MiB file"
tap hlc "$HL_TMP/cold" env PYTHONPATH="$HL_LIB_DIR" "$HL_PY" - <<'PY'
import ctypes, os
from hltest import case, eq

libc = ctypes.CDLL(None, use_errno=True)
libc.close_range.argtypes = [ctypes.c_uint, ctypes.c_uint, ctypes.c_int]
libc.closefrom.argtypes = [ctypes.c_int]

def part_fds():
    n = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            n += ".part" in os.readlink("/proc/self/fd/" + name)
        except OSError:
            pass
    return n

def partial():
    fd = os.open("/hilbert/big", os.O_RDONLY)
    assert len(os.pread(fd, 100, 5 << 20)) == 100
    eq(part_fds(), 2, "  the program's descriptor on the partial copy and the engine's")
    return fd

def closes(desc, close):
    @case(desc + " of the last descriptor of a partial read copy lets the engine's copy go")
    def _():
        fd = partial()
        close(fd)
        eq(part_fds(), 0, "  no descriptor on the copy left")

null = os.open("/dev/null", os.O_RDONLY)
closes("close", os.close)
closes("dup2", lambda fd: os.dup2(null, fd))
closes("dup3", lambda fd: os.dup2(null, fd, inheritable=False))
closes("close_range", lambda fd: os.closerange(fd, fd + 1))
def closefrom(fd):
    high = os.dup2(fd, 900)
    os.close(fd)
    libc.closefrom(high)
closes("closefrom", closefrom)

@case("dup2 onto one of two descriptors of a partial copy keeps the copy for the other")
def _():
    fd = partial()
    other = os.dup(fd)
    os.dup2(null, fd)
    eq(part_fds(), 2, "  the other descriptor and the engine's stay")
    eq(len(os.pread(other, 100, 9 << 20)), 100, "  and the other reads on")
    os.close(other)
    eq(part_fds(), 0, "  both go with the last")
PY
done_testing

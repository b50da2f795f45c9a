#!/usr/bin/env bash
# Descriptor numbers under the shim. open(2) returns the lowest free number for a file in the
# prefix too, although the engine opens files of its own on the way (a staging file's seed, a
# memfd). And the engine's threads, which open descriptors beside the program and move them
# above its range, never take a number between the program's close(1) and its dup2(fd, 1):
# dash's `echo x > f` does exactly that, and once in a few hundred runs its write failed
# with EBADF and the file was committed empty (preload/src/fdgate.c). Runs on S3 and on
# PostgreSQL too (@s3, @pg: their sockets are the engine's descriptors as well).
# timeout: 300
. "$(dirname "$0")/../lib.sh"
hl_setup
need "$HL_PY" dash:dash

hl_pytap H="$HILBERT" URL="$HL_URL" <<'PY'
import os, subprocess, sys
from hltest import case, eq

os.makedirs("/hilbert/n/dir", exist_ok=True)
with open("/hilbert/n/small", "wb") as f:
    f.write(b"small")
with open("/hilbert/n/big", "wb") as f:
    f.write(os.urandom(9 << 20))
open("/hilbert/n/empty", "wb").close()

def lowest(path, flags, mode=0o644):
    """The number open() gives when 0 is the lowest free one."""
    keep = os.dup(0)
    os.close(0)
    try:
        fd = os.open(path, flags, mode)
        os.close(fd)
        return fd
    finally:
        os.dup2(keep, 0)
        os.close(keep)

for what, path, flags in (
        ("a new file (O_CREAT)", "/hilbert/n/new", os.O_WRONLY | os.O_CREAT),
        ("a new file (O_CREAT|O_EXCL)", "/hilbert/n/excl", os.O_WRONLY | os.O_CREAT | os.O_EXCL),
        ("O_TRUNC of a file", "/hilbert/n/small", os.O_WRONLY | os.O_TRUNC),
        ("O_APPEND of a file", "/hilbert/n/big", os.O_WRONLY | os.O_APPEND),
        ("O_RDWR of a file", "/hilbert/n/new", os.O_RDWR),
        ("O_RDONLY of a small file", "/hilbert/n/new", os.O_RDONLY),
        ("O_RDONLY of an empty file", "/hilbert/n/empty", os.O_RDONLY),
        ("O_RDONLY of a 9 MiB file", "/hilbert/n/big", os.O_RDONLY),
        ("a directory", "/hilbert/n/dir", os.O_RDONLY | os.O_DIRECTORY),
        ("O_PATH", "/hilbert/n/big", os.O_PATH),
        ("O_TMPFILE", "/hilbert/n/dir", os.O_TMPFILE | os.O_WRONLY)):
    @case("open of %s returns the lowest free number" % what)
    def _():
        eq(lowest(path, flags), 0, "  the descriptor")

@case("a cold 9 MiB file (another cache) opens at the lowest free number")
def _():
    r = subprocess.run([os.environ["H"], "run", "--mount", "/hilbert=" + os.environ["URL"], "--cache",
                        os.environ["HL_TMP"] + "/cold-cache", "--", sys.executable, "-c",
                        "import os; os.close(0); print(os.open('/hilbert/n/big', os.O_RDONLY))"],
                       env={k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "HILBERT_MOUNTS")},
                       capture_output=True, text=True)
    eq((r.stdout.strip(), r.stderr), ("0", ""), "  its number and stderr")

@case("a thread waiting in the open of a FIFO does not stop the engine: writes and a cold read go on")
def _():
    import hashlib, threading
    # Written through another cache, so that this process fetches it from the store.
    r = subprocess.run([os.environ["H"], "run", "--mount", "/hilbert=" + os.environ["URL"], "--cache",
                        os.environ["HL_TMP"] + "/other-cache", "--", sys.executable, "-c",
                        "import os, hashlib; b = os.urandom(9 << 20); open('/hilbert/n/big2', 'wb').write(b); "
                        "print(hashlib.md5(b).hexdigest())"],
                       env={k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "HILBERT_MOUNTS")},
                       capture_output=True, text=True)
    eq(r.returncode, 0, "  the file written elsewhere")
    fifo = os.environ["HL_TMP"] + "/waiting.fifo"
    os.mkfifo(fifo)
    opened = []
    t = threading.Thread(target=lambda: opened.append(os.open(fifo, os.O_RDONLY)))
    t.start()
    for i in range(100):
        with open("/hilbert/n/dir/w%d" % i, "wb") as f:
            f.write(b"w%d" % i)
    with open("/hilbert/n/big2", "rb") as f:
        eq(hashlib.md5(f.read()).hexdigest(), r.stdout.strip(), "  the cold file read here")
    eq([open("/hilbert/n/dir/w%d" % i, "rb").read() for i in (0, 99)], [b"w0", b"w99"], "  the files written")
    w = os.open(fifo, os.O_WRONLY)
    t.join()
    os.close(w)
    os.close(opened[0])

@case("2,000 runs of dash -c 'echo x > FILE' into the prefix all succeed")
def _():
    failed = []
    for i in range(2000):
        r = subprocess.run(["dash", "-c", "echo x%d > /hilbert/n/echo" % i], capture_output=True, text=True)
        if r.returncode != 0 or r.stderr:
            failed.append((i, r.returncode, r.stderr.strip()))
    eq(failed[:3], [], "  runs that failed (run, status, stderr)")
    eq(open("/hilbert/n/echo").read(), "x1999\n", "  the file holds the last run's line")
PY

done_testing

"""Running the commands a benchmark times (transfer.py, warmup.py)."""
import os
import subprocess
import sys
import time


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def run(cmd, **kw):
    """CMD's result; the benchmark ends with its output when it fails."""
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if r.returncode != 0:
        sys.exit("%s: %s failed (%d): %s%s" % (os.path.basename(sys.argv[0]), " ".join(cmd[:5]), r.returncode,
                 r.stdout.decode(errors="replace")[-600:], r.stderr.decode(errors="replace")[-800:]))
    return r


def timed(cmd, durable=False, **kw):
    """Seconds CMD took and its result, after a `sync` (untimed) so that it does not pay for
    what ran before. `durable`: a `sync` after CMD is timed too, so that CMD pays for writing
    back what it wrote (and what it left to background writers)."""
    subprocess.run(["sync"])
    t = time.perf_counter()
    r = run(cmd, **kw)
    if durable:
        subprocess.run(["sync"])
    return time.perf_counter() - t, r


def fs_type(path):
    return subprocess.run(["stat", "-f", "-c", "%T", path], stdout=subprocess.PIPE).stdout.decode().strip()

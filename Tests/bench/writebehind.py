#!/usr/bin/env python3
"""Blocks stored while a big file is written (write-behind, issue 13 §4): how long the close of a
freshly written file waits, with write-behind on (the default; HILBERT_WRITE_BEHIND=0 turns it off) and off,
on the local-directory store and, with an S3 server, on S3; a native file on the same disk
(write, then fsync at close) in the same run.

    python3 Tests/bench/writebehind.py [--size 1G] [--rounds 3] [--rate MBPS] [--workdir DIR]
    Tests/s3/with-server.sh python3 Tests/bench/writebehind.py      (adds the S3 rows)

One Python process writes SIZE bytes (8 MiB writes of incompressible bytes) and closes the file;
the time of the writes and of the close are measured inside it. Rounds alternate the sides; the
table gives medians and min–max. Nothing here asserts on timings.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

import s3env

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MiB = 1 << 20

WRITER = r'''
import json, os, sys, time
path, size, native, rate = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", float(sys.argv[4])
block = bytearray(os.urandom(8 << 20))
t0 = time.perf_counter()
f = open(path, "wb", buffering=0)
left, i = size, 0
while left > 0:
    block[0:8] = i.to_bytes(8, "little")      # every write distinct
    k = min(left, len(block))
    f.write(block[:k])
    left -= k; i += 1
    if rate > 0:                             # a program that computes what it writes
        ahead = (size - left) / (rate * 1e6) - (time.perf_counter() - t0)
        if ahead > 0: time.sleep(ahead)
t1 = time.perf_counter()
if native:
    os.fsync(f.fileno())                     # what a close of Hilbert guarantees: stored
f.close()
t2 = time.perf_counter()
print(json.dumps({"write": t1 - t0, "close": t2 - t1}))
'''


def parse_size(s):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(s[-1:].upper(), 1)
    return int(s[:-1] if mult > 1 else s) * mult


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="1G")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rate", type=float, default=0,
                    help="MB/s the writer produces at most (a program computing its output); 0: as fast as it can")
    ap.add_argument("--workdir", help="volumes, caches and the native file (default $TMPDIR)")
    a = ap.parse_args()
    size = parse_size(a.size)
    hilbert = os.path.join(os.environ.get("HILBERT_HOME", os.path.join(REPO, "out")), "bin", "hilbert")
    work = tempfile.mkdtemp(prefix="hilbert-wbbench.", dir=a.workdir)
    stores = ["local"] + (["s3"] if not s3env.load() else [])
    results = {}
    try:
        urls = {}
        for st in stores:
            url = "sqlite://%s/%s/meta.db" % (work, st)
            os.makedirs("%s/%s" % (work, st))
            cmd = [hilbert, "format", url, "--bucket", "%s/%s/objects" % (work, st)]
            if st == "s3":
                cmd = [hilbert, "format", url, "--storage", "s3", "--bucket",
                       "%s/%s/wbbench-%d" % (os.environ["S3_ENDPOINT"], os.environ["S3_BUCKET"], os.getpid())]
            subprocess.run(cmd, check=True, capture_output=True)
            urls[st] = url
        sides = [("native", None, None)] + [(st + (" write-behind" if on else " at close"), st, on)
                                            for st in stores for on in (True, False)]
        for r in range(a.rounds):
            for name, st, on in sides:
                argv = [sys.executable, "-c", WRITER]
                if st is None:
                    path = os.path.join(work, "native-big")
                    argv += [path, str(size), "1", str(a.rate)]
                else:
                    path = "/hilbert/big-%d" % r
                    cache = os.path.join(work, "cache-%s-%s-%d" % (st, on, r))
                    argv = [hilbert, "run", "--mount", "/hilbert=" + urls[st], "--cache", cache, "--"] + argv + [path, str(size), "0", str(a.rate)]
                env = dict(os.environ, HILBERT_WRITE_BEHIND="1" if on is not False else "0")
                out = subprocess.run(argv, check=True, capture_output=True, text=True, env=env)
                x = json.loads(out.stdout.strip().splitlines()[-1])
                results.setdefault(name, []).append(x)
                if st is None:
                    os.unlink(path)
                else:
                    shutil.rmtree(cache, ignore_errors=True)
            print("round %d done" % (r + 1), file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def spread(xs):
        return "%.2f (%.2f–%.2f)" % (statistics.median(xs), min(xs), max(xs))
    print("| %s file, written%s and closed | writes, s | close, s | total, s | MB/s |"
          % (a.size, " at up to %g MB/s" % a.rate if a.rate else ""))
    print("|---|---:|---:|---:|---:|")
    for name, xs in results.items():
        tot = [x["write"] + x["close"] for x in xs]
        print("| %s | %s | %s | %s | %.0f |" % (name, spread([x["write"] for x in xs]), spread([x["close"] for x in xs]),
                                               spread(tot), size / 1e6 / statistics.median(tot)))
    load = os.getloadavg()
    print("\n(%d rounds, medians (min–max); load average %.1f %.1f %.1f; %s)" % (a.rounds, *load, os.uname().release))


if __name__ == "__main__":
    main()

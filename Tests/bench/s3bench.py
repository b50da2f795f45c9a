#!/usr/bin/env python3
"""Hilbert on S3: the same workloads on a native directory, a volume on the local-directory
store and a volume on S3, in one run, plus a plain parallel S3 download (boto3, the same
server) as the yardstick for cold reads.

    Tests/s3/with-server.sh python3 Tests/bench/s3bench.py [--size 1G] [--files 2000] [--repeat 3]
    (or with S3_* variables of a running server in the environment: python3 Tests/bench/s3bench.py)

Workloads (each timed inside the process doing it, under `hilbert run` for the volumes):
  small create   N files of 4 KiB (inline in metadata: the store is not involved)
  small read     read them back (warm)
  256K create    N/4 files of 256 KiB (one object each)
  256K cold read read them back on an empty cache (one GET each)
  seq write      one SIZE file, written and closed (close returns after the upload)
  cold read      read it on an empty cache (the blocks come from the store)
  warm read      read it again on the same cache
Output: a Markdown table of MB/s or files/s and ratios; then --cold-rounds alternating rounds of
the S3 volume's cold read against boto3's download of an object of the same size (the yardstick),
with medians, spread and ratios.
Nothing here asserts on timings.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import s3env

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MiB = 1 << 20

WORKER = r'''
import os, sys, time, json
op, path, arg = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter()
if op == "create":
    count, size = arg, int(sys.argv[4])
    os.makedirs(path, exist_ok=True)
    data = os.urandom(size)
    for i in range(count):
        with open(os.path.join(path, "f%06d" % i), "wb") as f:
            f.write(data)
    n = count
elif op == "readall":
    n = 0
    for name in sorted(os.listdir(path)):
        with open(os.path.join(path, name), "rb") as f:
            while f.read(1 << 20):
                pass
        n += 1
elif op == "write":
    block = os.urandom(8 << 20)
    with open(path, "wb") as f:
        left = arg
        while left > 0:
            k = min(left, len(block))
            f.write(block[:k] if k < len(block) else block)
            left -= k
        f.flush()
        os.fsync(f.fileno())
    n = arg
elif op == "read":
    n = 0
    with open(path, "rb", buffering=0) as f:
        while True:
            b = f.read(8 << 20)
            if not b:
                break
            n += len(b)
print(json.dumps({"n": n, "secs": time.perf_counter() - t0}))
'''


def parse_size(s):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(s[-1:].upper(), 1)
    return int(s[:-1] if mult > 1 else s) * mult


def drop_pages(path):
    """Evict a native file's pages so a 'cold' native read comes from the disk."""
    for root, _, files in os.walk(path) if os.path.isdir(path) else [(os.path.dirname(path), [], [os.path.basename(path)])]:
        for name in files:
            try:
                fd = os.open(os.path.join(root, name), os.O_RDONLY)
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                os.close(fd)
            except OSError:
                pass


class Target:
    def __init__(self, name, hilbert, meta_url=None, workdir=None):
        self.name, self.hilbert, self.meta_url, self.workdir = name, hilbert, meta_url, workdir
        self.caches = 0

    def path(self, rel):
        return ("/hilbert/" + rel) if self.meta_url else os.path.join(self.workdir, rel)

    def new_cache(self):
        self.caches += 1
        return os.path.join(self.workdir, "cache%d" % self.caches)

    def run(self, args, cache=None):
        argv = [sys.executable, "-c", WORKER] + [str(a) for a in args]
        if self.meta_url:
            argv = [self.hilbert, "run", "--mount", "/hilbert=" + self.meta_url, "--cache", cache or self.cache, "--"] + argv
        out = subprocess.run(argv, check=True, capture_output=True, text=True)
        return json.loads(out.stdout.strip().splitlines()[-1])


def measure(t, size, files):
    r = {}
    t.cache = t.new_cache()
    x = t.run(["create", t.path("small"), files, 4096]); r["small create"] = files / x["secs"]
    if not t.meta_url:
        drop_pages(t.path("small"))
    x = t.run(["readall", t.path("small"), 0]); r["small read"] = files / x["secs"]
    n256 = max(1, files // 4)
    x = t.run(["create", t.path("k256"), n256, 256 << 10]); r["256K create"] = n256 / x["secs"]
    if not t.meta_url:
        drop_pages(t.path("k256"))
    x = t.run(["readall", t.path("k256"), 0], cache=t.new_cache()); r["256K cold read"] = n256 / x["secs"]
    x = t.run(["write", t.path("big"), size]); r["seq write"] = size / MiB / x["secs"]
    if not t.meta_url:
        drop_pages(t.path("big"))
    cold = t.new_cache()
    x = t.run(["read", t.path("big"), 0], cache=cold); r["cold read"] = size / MiB / x["secs"]
    x = t.run(["read", t.path("big"), 0], cache=cold); r["warm read"] = size / MiB / x["secs"]
    return r


def boto3_download(size, key, work, runs):
    py = os.environ.get("S3_PYTHON", sys.executable)
    out = subprocess.run([py, os.path.join(HERE, "s3_baseline.py"), "--size", str(size), "--runs", str(runs),
                          "--key", key, "--workdir", work], check=True, capture_output=True, text=True)
    mb = json.loads(out.stdout.strip().splitlines()[-1])["mb_per_s"]
    return None if mb is None else mb * 1e6 / MiB


def cold_read_rounds(t, size, key, work, rounds):
    """Hilbert's cold read of the S3 volume's big file against boto3's download of an object of
    the same size, in alternating rounds, which one goes first alternating too. A single pair
    measures the disk's writeback state more than either client: a read right after 1 GiB was
    written ran at half the speed of the same read a few seconds later, for both clients."""
    boto3_download(size, key, work, 0)  # upload the yardstick's object before any timed round
    hil, boto = [], []
    for i in range(rounds):
        subprocess.run(["sync"])
        steps = ["hilbert", "boto3"] if i % 2 == 0 else ["boto3", "hilbert"]
        for step in steps:
            if step == "hilbert":
                cache = os.path.join(work, "cold-round-cache")  # empty: the other targets' caches hold blocks
                shutil.rmtree(cache, ignore_errors=True)
                x = t.run(["read", t.path("big"), 0], cache=cache)
                hil.append(size / MiB / x["secs"])
                shutil.rmtree(cache, ignore_errors=True)
            else:
                boto.append(boto3_download(size, key, work, 1))
    return {"hilbert": hil, "boto3": boto}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="1G", help="sequential file size (default 1G)")
    ap.add_argument("--files", type=int, default=2000, help="small files (default 2000)")
    ap.add_argument("--repeat", type=int, default=3, help="runs; the median is reported (default 3)")
    ap.add_argument("--cold-rounds", type=int, default=5,
                    help="alternating rounds of S3 cold read against boto3 per run (default 5)")
    ap.add_argument("--workdir", help="where to put volumes and native files (default $TMPDIR)")
    ap.add_argument("--json", help="also write the results here")
    a = ap.parse_args()
    for k in s3env.load():
        sys.exit("s3bench: %s is not set (run through Tests/s3/with-server.sh or source the server's env file)" % k)
    home = os.environ.get("HILBERT_HOME", os.path.join(REPO, "out"))
    hilbert = os.path.join(home, "bin", "hilbert")
    size = parse_size(a.size)
    runs = []
    for rep in range(a.repeat):
        work = tempfile.mkdtemp(prefix="hilbert-s3bench.", dir=a.workdir)
        try:
            tag = "s3bench-%d-%d" % (os.getpid(), rep)
            subprocess.run([hilbert, "format", "sqlite://%s/local/meta.db" % work, "--bucket", work + "/local/objects"],
                           check=True, capture_output=True)
            subprocess.run([hilbert, "format", "sqlite://%s/s3/meta.db" % work, "--storage", "s3", "--bucket",
                            "%s/%s/%s" % (os.environ["S3_ENDPOINT"], os.environ["S3_BUCKET"], tag)],
                           check=True, capture_output=True)
            os.makedirs(work + "/native")
            res = {
                "native": measure(Target("native", hilbert, workdir=work + "/native"), size, a.files),
                "local": measure(Target("local", hilbert, "sqlite://%s/local/meta.db" % work, work), size, a.files),
                "s3": measure(Target("s3", hilbert, "sqlite://%s/s3/meta.db" % work, work), size, a.files),
            }
            res["cold rounds"] = cold_read_rounds(Target("s3", hilbert, "sqlite://%s/s3/meta.db" % work, work),
                                                  size, tag + "-baseline", work, a.cold_rounds)
            subprocess.run([hilbert, "gc", "sqlite://%s/s3/meta.db" % work], capture_output=True)
            runs.append(res)
            print("run %d done" % (rep + 1), file=sys.stderr)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def med(f):
        xs = sorted(f(r) for r in runs)
        return xs[len(xs) // 2]
    rows = list(runs[0]["native"].keys())
    print("| workload | native | local store | S3 | local/native | S3/native | S3/local |")
    print("|---|---|---|---|---|---|---|")
    summary = {}
    for w in rows:
        unit = "MiB/s" if w.endswith("read") and not w.startswith(("small", "256K")) or w == "seq write" else "files/s"
        n, l, s = (med(lambda r, k=k: r[k][w]) for k in ("native", "local", "s3"))
        summary[w] = {"native": n, "local": l, "s3": s}
        print("| %s | %.0f %s | %.0f %s | %.0f %s | %.2f | %.2f | %.2f |" % (w, n, unit, l, unit, s, unit, l / n, s / n, s / l))
    hil = sorted(x for r in runs for x in r["cold rounds"]["hilbert"])
    boto = sorted(x for r in runs for x in r["cold rounds"]["boto3"])
    pairs = sorted(h / b for r in runs for h, b in zip(r["cold rounds"]["hilbert"], r["cold rounds"]["boto3"]))
    summary["cold rounds"] = {"hilbert MiB/s": hil, "boto3 MiB/s": boto}
    print("\ncold sequential read from S3, %d alternating rounds: Hilbert median %.0f MiB/s (%.0f-%.0f); "
          "plain parallel download (boto3, 10 threads, 8 MiB parts) median %.0f MiB/s (%.0f-%.0f)"
          % (len(hil), hil[len(hil) // 2], hil[0], hil[-1], boto[len(boto) // 2], boto[0], boto[-1]))
    print("ratio of the medians %.2f; Hilbert's median against boto3's best round %.2f; per round %.2f-%.2f"
          % (hil[len(hil) // 2] / boto[len(boto) // 2], hil[len(hil) // 2] / boto[-1], pairs[0], pairs[-1]))
    print("(%d runs, medians; size %s, %d small files; %s)" % (len(runs), a.size, a.files, os.uname().release))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"runs": runs, "median": summary}, f, indent=1)


if __name__ == "__main__":
    main()

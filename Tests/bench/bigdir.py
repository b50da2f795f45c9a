#!/usr/bin/env python3
"""Listing a huge directory and walking a huge tree: native ext4, tmpfs and Hilbert, one run.

    python3 Tests/bench/bigdir.py [--entries N] [--rounds R] [--dir DIR] [--keep]

Makes, on each side, one directory of N empty files (`big/`) and a tree of N empty files in
N/1000 directories (`tree/`), then per round times `ls -f big` (entries/s), `os.scandir(big)`
with `is_file()` (entries/s), `du -s tree` (files/s) and `ls -l big` (entries/s), in the order
native, tmpfs, Hilbert (a fresh SQLite volume through `hilbert run`, local store; every round is
a new process, so Hilbert's numbers include its start). Prints the median of each and its spread
(min–max) and the ratio Hilbert/native. Nothing here asserts on timings (issue 13: ≥ 200,000
entries/s listing and ≥ 100,000 files/s for du at N = 1,000,000).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

MAKE = r'''
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
big, tree = os.path.join(root, "big"), os.path.join(root, "tree")
os.makedirs(big); os.makedirs(tree)
flags = os.O_CREAT | os.O_WRONLY | os.O_EXCL
for i in range(n):
    os.close(os.open(os.path.join(big, "f%08d" % i), flags, 0o644))
for d in range(max(1, n // 1000)):
    sub = os.path.join(tree, "d%05d" % d)
    os.mkdir(sub)
    for i in range(min(1000, n)):
        os.close(os.open(os.path.join(sub, "f%04d" % i), flags, 0o644))
'''

# One process per round and side: the timings are taken inside it (bash's clock), so the
# start of `hilbert run` is outside them but the first touch of the volume is inside.
MEASURE = r'''
r=$1; n=$2
t() { date +%s%N; }
a=$(t); c=$(ls -f "$r/big" | wc -l); b=$(t)
[ "$c" -ge "$n" ] || { echo "ls -f saw $c entries, expected $n" >&2; exit 1; }
s=$(python3 -c 'import os,sys,time
t=time.perf_counter(); k=sum(1 for e in os.scandir(sys.argv[1]) if e.is_file()); d=time.perf_counter()-t
assert k == int(sys.argv[2]), k
print(int(d*1e9))' "$r/big" "$n")
c2=$(t); du -s "$r/tree" >/dev/null; d2=$(t)
e=$(t); ls -l "$r/big" >/dev/null; f=$(t)
echo "$((b-a)) $s $((d2-c2)) $((f-e))"
'''


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if r.returncode != 0:
        sys.exit("bigdir.py: %s failed (%d): %s" % (" ".join(cmd[:4]), r.returncode, r.stderr.decode(errors="replace")[-600:]))
    return r.stdout.decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=200000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dir", default=None, help="where the native side and the volume go (default: $TMPDIR)")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    home = os.environ.get("HILBERT_HOME", os.path.join(REPO, "out"))
    hilbert = os.path.join(home, "bin", "hilbert")
    work = tempfile.mkdtemp(prefix="hl-bigdir-", dir=args.dir)
    tmpfs = tempfile.mkdtemp(prefix="hl-bigdir-", dir="/dev/shm")
    try:
        vol = os.path.join(work, "vol")
        os.makedirs(vol)
        meta = "sqlite://" + os.path.join(vol, "meta.db")
        run([hilbert, "format", meta, "--bucket", os.path.join(vol, "objects")])
        # Empty files commit nothing to pack; packing is off so that the volume holds exactly the files.
        env = dict(os.environ, HILBERT_PACK_FILES="0")
        mount = ["--mount", "/bench=" + meta, "--cache", os.path.join(work, "cache")]
        sides = {
            "native": (["bash", "-c"], os.path.join(work, "native")),
            "tmpfs": (["bash", "-c"], os.path.join(tmpfs, "t")),
            "hilbert": ([hilbert, "run"] + mount + ["--", "bash", "-c"], "/bench/t"),
        }
        for name, (pre, root) in sides.items():
            print("making %d + %d entries on %s..." % (args.entries, args.entries, name), file=sys.stderr, flush=True)
            run(pre + ['python3 -c "$1" "$2" "$3"', "make", MAKE, root, str(args.entries)], env=env)
        keys = ["ls -f (entries/s)", "scandir+is_file (entries/s)", "du -s tree (files/s)", "ls -l (entries/s)"]
        rates = {name: {k: [] for k in keys} for name in sides}
        for rnd in range(args.rounds):
            for name, (pre, root) in sides.items():
                out = run(pre + [MEASURE, "measure", root, str(args.entries)], env=env).split()
                for k, ns in zip(keys, out):
                    rates[name][k].append(args.entries / (int(ns) / 1e9))
            print("round %d done" % (rnd + 1), file=sys.stderr, flush=True)
        print("\n%d entries in one directory; du over %d files in %d directories; %d rounds, median (min–max)\n"
              % (args.entries, args.entries, max(1, args.entries // 1000), args.rounds))
        print("| workload | native ext4 | tmpfs | Hilbert | Hilbert / native | Hilbert / tmpfs |")
        print("|---|---:|---:|---:|---:|---:|")

        def cell(v):
            m = statistics.median(v)
            return "%.0f k (%.0f–%.0f k)" % (m / 1e3, min(v) / 1e3, max(v) / 1e3)
        for k in keys:
            n, t, h = (statistics.median(rates[s][k]) for s in ("native", "tmpfs", "hilbert"))
            print("| %s | %s | %s | %s | %.2f× | %.2f× |" % (k, cell(rates["native"][k]), cell(rates["tmpfs"][k]),
                                                          cell(rates["hilbert"][k]), h / n, h / t))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(tmpfs, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""floor.py [--rounds N] [--files N] [--procs N] [--disk DIR] [--tmpfs DIR]

What the contract costs at the least on this machine (floor.c: bare SQLite transactions and
staging files, no engine, no shim, no Python), in rounds that alternate between a tmpfs
directory and a directory on the disk, each round in a fresh directory. Prints, per file
system, the median and range of each measure, and the two quotients issue 13's targets are
about: a create's floor against 15,000 creates/s and against a quarter of tmpfs's native
create, a chmod's floor against native chmod (target 0.3x), and what PROCS processes creating at
once make against one (target 1.5x; the write lock handed over as fast as it can be). A floor
below a target means
that no engine keeping the contract can reach it here (README, "What the contract costs")."""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def build(out_dir):
    exe = os.path.join(out_dir, "floor")
    cmd = [os.environ.get("CC", "cc"), "-O2", "-o", exe, os.path.join(HERE, "floor.c"), "-lsqlite3"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("floor.py: building floor.c failed (libsqlite3-dev?):\n" + r.stderr)
    return exe


def one_round(exe, parent, files, procs):
    d = tempfile.mkdtemp(prefix="floor.", dir=parent)
    try:
        r = subprocess.run([exe, d, str(files), str(procs)], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit("floor.py: floor failed in %s:\n%s" % (d, r.stderr))
        return {name: float(rate) for name, rate, _ in (line.split() for line in r.stdout.splitlines())}
    finally:
        shutil.rmtree(d, ignore_errors=True)


def spread(values):
    return "%8.0f (%.0f-%.0f)" % (statistics.median(values), min(values), max(values))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--procs", type=int, default=4)
    ap.add_argument("--disk", default="/var/tmp")
    ap.add_argument("--tmpfs", default="/dev/shm")
    a = ap.parse_args()
    for d in (a.disk, a.tmpfs):
        if not os.path.isdir(d) or not os.access(d, os.W_OK):
            sys.exit("floor.py: %s is not a directory this user can write" % d)
    work = tempfile.mkdtemp(prefix="floor-build.")
    try:
        exe = build(work)
        places = [("tmpfs", a.tmpfs), ("disk", a.disk)]
        rates = {label: [] for label, _ in places}
        for k in range(a.rounds):
            for label, parent in (places if k % 2 == 0 else places[::-1]):
                rates[label].append(one_round(exe, parent, a.files, a.procs))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    many = "creates-x%d" % a.procs
    names = ["native", "staging", "transaction", "create", "chmod-native", "chmod-transaction"]
    if a.procs > 1:
        names.append(many)
    print("per second, median (min-max) of %d rounds of %d files" % (a.rounds, a.files))
    print("%-18s %24s %24s" % ("", "tmpfs " + a.tmpfs, "disk " + a.disk))
    for n in names:
        print("%-18s %24s %24s" % (n, spread([r[n] for r in rates["tmpfs"]]), spread([r[n] for r in rates["disk"]])))
    tmpfs_native = statistics.median(r["native"] for r in rates["tmpfs"])
    print()
    for label, _ in places:
        rounds = rates[label]
        create = [r["create"] for r in rounds]
        chmod = [r["chmod-transaction"] / r["chmod-native"] for r in rounds]
        print("%s: create floor %.0f/s (%.0f-%.0f) = %.2fx of 15,000/s, %.3fx of tmpfs's native create; "
              "chmod floor %.3fx native (%.3f-%.3f), target 0.3x"
              % (label, statistics.median(create), min(create), max(create), statistics.median(create) / 15000,
                 statistics.median(create) / tmpfs_native, statistics.median(chmod), min(chmod), max(chmod)))
        if a.procs > 1:
            scale = [r[many] / r["create"] for r in rounds]
            print("%s: %d processes creating at once make %.2fx (%.2f-%.2f) of one, target 1.5x"
                  % (label, a.procs, statistics.median(scale), min(scale), max(scale)))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Host-path storms with and without the shim, in one run (issue: calls on host paths from a
process under the shim must cost nothing measurable).

    python3 Tests/bench/hoststorm.py [--files N] [--rounds R] [--dir DIR]

Compiles hoststorm.c, then per round runs it once natively and once under
`hilbert run --mount /hilbert=<a fresh SQLite volume>` (order alternating), each in a fresh
directory under DIR (default $TMPDIR), and prints per call family the median rate of each side,
the spread (min–max) and the ratio shim/native.

Rates of separate processes on this kind of VM swing by ±10 % from run to run, more than the
target (≥ 0.95×) leaves, so a second table measures inside each process: hostcalls.c times
every family through libc against the same system calls made raw (syscall()), in alternating
slices; its libc/raw ratio without the shim is libc's own overhead, under the shim libc's and
the shim's; per round the quotient of the two is the shim's cost, free of the drift between
processes. Nothing here asserts on timings.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, env=None):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if r.returncode != 0:
        sys.exit("hoststorm.py: %s failed (%d): %s" % (" ".join(cmd[:3]), r.returncode, r.stderr.decode(errors="replace")[-400:]))
    return r.stdout.decode()


def rates(out):
    res = {}
    for line in out.splitlines():
        family, _, rate = line.rpartition(" ")
        res[family] = float(rate)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=20000, help="calls per family and run (default 20000)")
    ap.add_argument("--rounds", type=int, default=5, help="runs per side (default 5)")
    ap.add_argument("--dir", default=tempfile.gettempdir(), help="where the storms run (default $TMPDIR)")
    args = ap.parse_args()
    home = os.path.abspath(os.environ.get("HILBERT_HOME") or os.path.join(HERE, "..", "..", "out"))
    hilbert = os.path.join(home, "bin", "hilbert")
    if not os.access(hilbert, os.X_OK):
        sys.exit("hoststorm.py: no %s (make build)" % hilbert)
    work = tempfile.mkdtemp(prefix="hilbert-hoststorm.", dir=args.dir)
    try:
        exe = os.path.join(work, "hoststorm")
        run([os.environ.get("CC", "cc"), "-O2", "-o", exe, os.path.join(HERE, "hoststorm.c")])
        meta = "sqlite://" + os.path.join(work, "vol", "meta.db")
        os.makedirs(os.path.join(work, "vol"))
        run([hilbert, "format", meta, "--bucket", os.path.join(work, "vol", "objects")])
        under = [hilbert, "run", "--mount", "/hilbert=" + meta, "--cache", os.path.join(work, "cache"), "--"]
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}

        def alternate(tag, argv, parse):
            """Per round, the program natively and under the shim (which goes first alternating),
            each in a fresh directory: {"native": [parsed output per round], "shim": [...]}."""
            sides = {"native": [], "shim": []}
            for r in range(args.rounds):
                for side in (("native", "shim") if r % 2 == 0 else ("shim", "native")):
                    d = os.path.join(work, "%s%d-%s" % (tag, r, side))
                    os.mkdir(d)
                    sides[side].append(parse(run(under + argv(d) if side == "shim" else argv(d), env)))
                    shutil.rmtree(d)
                print("%s round %d of %d" % (tag, r + 1, args.rounds), file=sys.stderr)
            return sides

        sides = alternate("storm", lambda d: [exe, d, str(args.files)], rates)
        calls_exe = os.path.join(work, "hostcalls")
        run([os.environ.get("CC", "cc"), "-O2", "-o", calls_exe, os.path.join(HERE, "hostcalls.c")])
        inproc = alternate("calls", lambda d: [calls_exe, d, "20", str(max(1, args.files // 20))],
                           lambda out: {ln.split("\t")[0]: float(ln.split("\t")[1]) for ln in out.splitlines()})
        fs = subprocess.run(["stat", "-f", "-c", "%T", work], stdout=subprocess.PIPE).stdout.decode().strip()
        print("Host-path storms, %d calls per family, %d rounds per side, in %s (%s); median (min–max) calls/s"
              % (args.files, args.rounds, args.dir, fs))
        print()
        print("| call | native | under the shim | shim / native |")
        print("|---|---:|---:|---:|")
        def spread(v, fmt):
            return ("%s (%s–%s)" % (fmt, fmt, fmt)) % (statistics.median(v), min(v), max(v))

        def per_side(results, family):
            return [x[family] for x in results["native"]], [x[family] for x in results["shim"]]

        for family in sides["native"][0]:
            nat, shim = per_side(sides, family)
            print("| %s | %s | %s | %.2f× |" % (family, spread(nat, "%.0f"), spread(shim, "%.0f"),
                                                statistics.median(shim) / statistics.median(nat)))
        print()
        print("Inside each process (hostcalls.c): rate through libc / rate of the raw system calls, median (min–max) "
              "of %d rounds per side; last column, per round, the shim's ratio over the native one" % args.rounds)
        print()
        print("| calls | native: libc / raw | under the shim: libc+shim / raw | shim's cost (shim / native) |")
        print("|---|---:|---:|---:|")
        for family in inproc["native"][0]:
            nat, shim = per_side(inproc, family)
            q = [b / a for a, b in zip(nat, shim)]
            print("| %s | %s | %s | %s |" % (family, spread(nat, "%.3f"), spread(shim, "%.3f"),
                                             spread(q, "%.3f").replace(" (", "× (", 1)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Creates and namespace writes: Hilbert on SQLite against a native directory and tmpfs, in one run.

    python3 Tests/bench/bench.py --drive --writes [--rounds N] [--files N] [--procs P] [--quick]
        [--workdir DIR] [--keep]
    (or python3 Tests/bench/writes.py --drive ... directly)

Systems: a native directory (the work dir's file system: $TMPDIR or --workdir), tmpfs
(/dev/shm) and a fresh Hilbert volume (SQLite metadata, local-directory store, cache in the
work dir) through `hilbert run`. Each round runs every system once, in an order that rotates
from round to round (the disk's writeback state swings over seconds), each in a fresh
directory, in one process:

  create        N files of 4 KiB, open+write+close, 100 files per directory (made beforehand)
  create xP     P processes at once, N files each in directories of their own; the rate is
                all their files over the time from the first one's start to the last one's end
                (each process opens the volume and waits at a barrier before it starts)
  rename        N renames within the directory (f -> f.r)
  chmod         N chmods
  utime         N os.utime(path, (t, t))
  delete        N unlinks

Output: a Markdown table, median (min–max) of the rounds per system, the ratios of the
medians Hilbert/native and Hilbert/tmpfs with the range of the per-round ratios, the
parallel scaling (create xP / create) per system, and the issue's targets. Nothing here
asserts on timings.
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PER_DIR = 100
SIZE = 4096
OPS = ("rename", "chmod", "utime", "delete")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def median(xs):
    xs = sorted(xs)
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2


def fmt_rate(v):
    if v >= 100000:
        return "%.0f k" % (v / 1000)
    if v >= 1000:
        return "%.1f k" % (v / 1000)
    return "%.0f" % v


# ------------------------------------------------------------------ the workloads (a child)
def make_dirs(root, n):
    dirs = [os.path.join(root, "d%05d" % i) for i in range((n + PER_DIR - 1) // PER_DIR)]
    for d in dirs:
        os.makedirs(d)
    return [os.path.join(dirs[i // PER_DIR], "f%03d" % (i % PER_DIR)) for i in range(n)]


def create(paths, payload):
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    t = time.monotonic()
    for p in paths:
        fd = os.open(p, flags, 0o644)
        os.write(fd, payload)
        os.close(fd)
    return t, time.monotonic()


def worker(root, n):
    """One of the parallel creators: ready (volume open, directories made), wait for go."""
    paths = make_dirs(root, n)
    payload = os.urandom(SIZE)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        sys.exit("writes.py worker: no go")
    t0, t1 = create(paths, payload)
    print(json.dumps({"start": t0, "end": t1}), flush=True)


def parallel_create(root, n, procs):
    ws = []
    for i in range(procs):
        ws.append(subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", os.path.join(root, "p%d" % i),
                                    "--files", str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    for w in ws:
        if w.stdout.readline().strip() != "ready":
            raise RuntimeError("a parallel creator did not start")
    for w in ws:
        w.stdin.write("go\n")
        w.stdin.flush()
    times = []
    for w in ws:
        line = w.stdout.readline()
        if w.wait() != 0 or not line:
            raise RuntimeError("a parallel creator failed (status %s)" % w.returncode)
        times.append(json.loads(line))
    return procs * n / (max(t["end"] for t in times) - min(t["start"] for t in times))


def measure(root, n, procs):
    os.makedirs(root)
    res = {}
    paths = make_dirs(os.path.join(root, "one"), n)
    payload = os.urandom(SIZE)
    t0, t1 = create(paths, payload)
    res["create"] = n / (t1 - t0)
    for p in paths[:: max(1, n // 50)]:
        if os.stat(p).st_size != SIZE:
            raise RuntimeError("%s: wrong size after create" % p)

    t = time.monotonic()
    for p in paths:
        os.rename(p, p + ".r")
    res["rename"] = n / (time.monotonic() - t)
    paths = [p + ".r" for p in paths]
    t = time.monotonic()
    for i, p in enumerate(paths):
        os.chmod(p, 0o600 if i & 1 else 0o640)
    res["chmod"] = n / (time.monotonic() - t)
    stamp = time.time() - 3600
    t = time.monotonic()
    for p in paths:
        os.utime(p, (stamp, stamp))
    res["utime"] = n / (time.monotonic() - t)
    if int(os.stat(paths[-1]).st_mtime) != int(stamp) or os.stat(paths[-2]).st_mode & 0o777 != 0o640:
        raise RuntimeError("chmod/utime did not take")
    t = time.monotonic()
    for p in paths:
        os.unlink(p)
    res["delete"] = n / (time.monotonic() - t)
    if any(os.listdir(d) for d in {os.path.dirname(p) for p in paths}):
        raise RuntimeError("files left after delete")
    shutil.rmtree(os.path.join(root, "one"))

    res["createP"] = parallel_create(os.path.join(root, "par"), n, procs)
    shutil.rmtree(root)
    return res


# ------------------------------------------------------------------ the driver
def fs_type(path):
    best, typ = "", "?"
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            mnt = parts[1].replace("\\040", " ")
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                best, typ = mnt, parts[2]
    return typ


def clean_env(work):
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("HILBERT_") and k != "HILBERT_HOME":
            del env[k]
    env.pop("LD_PRELOAD", None)
    env.update(HOME=os.path.join(work, "home"), XDG_DATA_HOME=os.path.join(work, "home/.local/share"),
               XDG_CACHE_HOME=os.path.join(work, "home/.cache"))
    os.makedirs(env["HOME"], exist_ok=True)
    return env


def drive(args):
    home = os.path.abspath(os.environ.get("HILBERT_HOME") or os.path.join(HERE, "..", "..", "out"))
    hilbert = os.path.join(home, "bin", "hilbert")
    if not os.access(hilbert, os.X_OK):
        sys.exit("writes.py: no hilbert at %s (build with make, or set HILBERT_HOME)" % hilbert)
    n = args.files or (300 if args.quick else 5000)
    rounds = args.rounds or (2 if args.quick else 5)
    procs = args.procs
    work = tempfile.mkdtemp(prefix="hilbert-bench-writes.", dir=args.workdir)
    shm = None
    notes = []
    load0 = open("/proc/loadavg").read().split()[:3]
    try:
        for sub in ("bin", "lib"):          # a private copy: a rebuild meanwhile must not crash us
            shutil.copytree(os.path.join(home, sub), os.path.join(work, "build", sub), symlinks=True)
        hilbert = os.path.join(work, "build", "bin", "hilbert")
        env = clean_env(work)
        vol = os.path.join(work, "vol")
        os.makedirs(vol)
        meta = "sqlite://" + os.path.join(vol, "meta.db")
        subprocess.run([hilbert, "format", meta, "--bucket", os.path.join(vol, "objects")], env=env, check=True,
                       stdout=sys.stderr)
        native = os.path.join(work, "native")
        os.makedirs(native)
        me = [sys.executable, os.path.abspath(__file__), "--files", str(n), "--procs", str(procs)]
        systems = [("native", [], native)]
        if os.path.isdir("/dev/shm") and fs_type("/dev/shm") == "tmpfs":
            shm = tempfile.mkdtemp(prefix="hilbert-bench-writes.", dir="/dev/shm")
            systems.append(("tmpfs", [], shm))
        else:
            notes.append("tmpfs left out: /dev/shm is not a tmpfs here")
        systems.append(("Hilbert", [hilbert, "run", "--mount", "/hilbert=" + meta, "--cache",
                                    os.path.join(work, "cache"), "--"], "/hilbert/bench"))
        results = {name: [] for name, _, _ in systems}
        for rnd in range(rounds):
            order = systems[rnd % len(systems):] + systems[:rnd % len(systems)]
            for name, prefix, base in order:
                out = os.path.join(work, "res.json")
                log("round %d of %d: %s" % (rnd + 1, rounds, name))
                r = subprocess.run(prefix + me + ["--measure", os.path.join(base, "r%d" % rnd), "--json", out],
                                   env=env, stdin=subprocess.DEVNULL)
                if r.returncode != 0:
                    sys.exit("writes.py: %s failed in round %d (status %d)" % (name, rnd + 1, r.returncode))
                with open(out) as f:
                    results[name].append(json.load(f))
        load1 = open("/proc/loadavg").read().split()[:3]
        info = [("nproc", str(os.cpu_count())), ("kernel", platform.release()),
                ("native directory", "%s (%s)" % (native, fs_type(os.path.realpath(native)))),
                ("Hilbert", "SQLite metadata, local-directory store and cache directory on the native directory's file system"),
                ("load average at start / end", "%s / %s" % (" ".join(load0), " ".join(load1))),
                ("date", time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))]
        print(render(results, [s[0] for s in systems], n, procs, rounds, info, notes, args.quick))
    finally:
        if shm:
            shutil.rmtree(shm, ignore_errors=True)
        if args.keep:
            log("kept", work)
        else:
            shutil.rmtree(work, ignore_errors=True)


def render(results, systems, n, procs, rounds, info, notes, quick):
    rows = [("create", "4 KiB files: create (open+write+close), 1 process"),
            ("createP", "4 KiB files: create, %d processes at once (all their files / wall time)" % procs),
            ("rename", "rename"), ("chmod", "chmod"), ("utime", "utime"), ("delete", "delete (unlink)")]
    refs = [s for s in systems if s != "Hilbert"]
    out = ["Creates and namespace writes: %d files per process, %d rounds, median (min–max) in ops/s; "
           "ratios: of the medians (per-round ratios min–max)." % (n, rounds), ""]
    out.append("| workload | " + " | ".join(systems) + "".join(" | Hilbert / %s" % r for r in refs) + " |")
    out.append("|---|" + "---:|" * (len(systems) + len(refs)))

    def vals(s, key):
        return [r[key] for r in results[s]]

    def cell(v):
        return "%s (%s–%s)" % (fmt_rate(median(v)), fmt_rate(min(v)), fmt_rate(max(v)))

    def ratio(key, ref):
        h, b = vals("Hilbert", key), vals(ref, key)
        per = [x / y for x, y in zip(h, b)]
        return median(h) / median(b), per

    for key, label in rows:
        cells = [cell(vals(s, key)) for s in systems]
        for r in refs:
            m, per = ratio(key, r)
            cells.append("%.2f (%.2f–%.2f)" % (m, min(per), max(per)))
        out.append("| %s | %s |" % (label, " | ".join(cells)))
    out.append("")
    out.append("Parallel scaling, create x%d / create x1 (median of the per-round ratios, min–max):" % procs)
    for s in systems:
        per = [r["createP"] / r["create"] for r in results[s]]
        out.append("- %s: %.2f (%.2f–%.2f)" % (s, median(per), min(per), max(per)))
    out.append("")
    out.append("Targets (issue 13):")
    c = median(vals("Hilbert", "create"))
    out.append("- create ≥ 15,000/s per process: %s/s (%s)" % (fmt_rate(c), "met" if c >= 15000 else "missed"))
    if "tmpfs" in refs:
        m, _ = ratio("create", "tmpfs")
        out.append("- create ≥ 0.25× tmpfs: %.2f× (%s)" % (m, "met" if m >= 0.25 else "missed"))
    sc = median([r["createP"] / r["create"] for r in results["Hilbert"]])
    out.append("- %d processes ≥ 1.5× one: %.2f× (%s)" % (procs, sc, "met" if sc >= 1.5 else "missed"))
    for key in OPS:
        m, _ = ratio(key, "native")
        out.append("- %s ≥ 0.3× native: %.2f× (%s)" % (key, m, "met" if m >= 0.3 else "missed"))
    out.append("")
    if quick:
        notes.append("--quick sizes")
    for note in notes:
        out.append("- note: " + note)
    out.append("Machine:")
    out.extend("- %s: %s" % (k, v) for k, v in info)
    return "\n".join(out)


def add_arguments(ap):
    ap.add_argument("--rounds", type=int, help="rounds (default 5, --quick 2)")
    ap.add_argument("--files", type=int, help="files per process (default 5000, --quick 300)")
    ap.add_argument("--procs", type=int, default=4, help="processes creating at once (default 4)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--drive", action="store_true", help="set up the systems and run every round")
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    ap.add_argument("--workdir", help="where the work dir goes (default $TMPDIR)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    add_arguments(ap)
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    ap.add_argument("--json", help=argparse.SUPPRESS)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.files)
    if args.measure:
        res = measure(args.measure, args.files, args.procs)
        with open(args.json, "w") as f:
            json.dump(res, f)
        return
    if not args.drive:
        ap.error("--drive runs the benchmark")
    drive(args)


if __name__ == "__main__":
    main()

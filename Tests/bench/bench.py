#!/usr/bin/env python3
"""Hilbert benchmark: the same workloads on a native directory and under the prefix, in one run.

Measure mode (must run under the shim):
    hilbert run [--mount /hilbert=sqlite:///ABS/meta.db] -- \\
        python3 Tests/bench/bench.py --native DIR --virtual /hilbert/bench [--quick]

Driver mode (formats a temp volume, makes a native dir, runs measure mode through
$HILBERT_HOME/bin/hilbert run, prints the table):
    python3 Tests/bench/bench.py --drive [--quick] [--workdir DIR] [--keep]

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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--drive", action="store_true", help="set up a temp volume and run myself under hilbert run")
    ap.add_argument("--native", help="native directory (measure mode)")
    ap.add_argument("--virtual", default="/hilbert/bench", help="directory under the prefix (measure mode)")
    ap.add_argument("--quick", action="store_true", help="small sizes for CI smoke runs")
    ap.add_argument("--json", help="also write the results as JSON to this host path")
    ap.add_argument("--cache-dir", help="measure mode: the run's cache directory (emptied for the cold read)")
    ap.add_argument("--bucket-dir", help="measure mode: the volume's object directory (pages dropped for the cold read)")
    ap.add_argument("--hilbert", help="measure mode: the hilbert command, for the `hilbert run -- /bin/true` row")
    ap.add_argument("--meta", help="measure mode: the volume's metadata URL (for that row, with --cache-dir)")
    ap.add_argument("--workdir", help="driver: where to create the temp dir (default $TMPDIR)")
    ap.add_argument("--keep", action="store_true", help="driver: keep the temp dir")
    ap.add_argument("--repeat", type=int, default=3, help="driver: runs to take the median of (default 3)")
    ap.add_argument("--no-snapshot", action="store_true", help="driver: run $HILBERT_HOME in place, not a copy")
    args = ap.parse_args()
    if args.drive:
        return drive(args)
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

"""Lockstep differential fuzzing: the same random operations on a native dir and a prefix dir.

    python3 fuzz.py data|names NATIVE_DIR VIRTUAL_DIR SEED STEPS

Every operation's outcome (result or errno name) must be identical on both sides, and the
observable state (file contents, the tree) is compared regularly. Prints "ok - …" /
"not ok - …" lines for lib.sh's tap, with the first divergence and the operations leading
to it."""
import errno
import hashlib
import os
import random
import stat
import sys

MiB = 1 << 20


def outcome(fn, *a):
    try:
        r = fn(*a)
        return ("ok", r)
    except OSError as e:
        return ("err", errno.errorcode.get(e.errno, e.errno))


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(MiB)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def report(ok, desc, detail=""):
    print(("ok - " if ok else "not ok - ") + desc)
    if not ok and detail:
        for line in detail.splitlines():
            print("# " + line)
    sys.stdout.flush()


# ------------------------------------------------------------------ data fuzz
def data_fuzz(nat, vir, seed, steps):
    """Random pwrite/truncate/append/read on a few files across 4 MiB block boundaries, with
    close/reopen cycles; contents compared after every close and a reread."""
    rnd = random.Random(seed)
    names = ["a", "b", "c"]
    fds = {}              # name -> (nfd, vfd)
    hist = []
    sizes_max = 14 * MiB

    def opened(name, flags):
        if name in fds:
            return fds[name]
        n = os.open(os.path.join(nat, name), flags, 0o644)
        try:
            v = os.open(os.path.join(vir, name), flags, 0o644)
        except OSError:
            os.close(n)
            raise
        fds[name] = (n, v)
        return fds[name]

    def close(name):
        n, v = fds.pop(name)
        os.close(n)
        os.close(v)

    def compare(name, why):
        pn, pv = os.path.join(nat, name), os.path.join(vir, name)
        en, ev = os.path.exists(pn), os.path.exists(pv)
        if en != ev:
            return "exists native=%s virtual=%s" % (en, ev)
        if not en:
            return None
        sn, sv = os.stat(pn).st_size, os.stat(pv).st_size
        if sn != sv:
            return "%s: size native=%d virtual=%d (%s)" % (name, sn, sv, why)
        dn, dv = digest(pn), digest(pv)
        if dn != dv:
            # find the first differing offset for the report
            with open(pn, "rb") as a, open(pv, "rb") as b:
                off = 0
                while True:
                    x, y = a.read(65536), b.read(65536)
                    if x != y:
                        i = next(i for i in range(min(len(x), len(y))) if x[i] != y[i]) if min(len(x), len(y)) else 0
                        return "%s: content differs at offset %d (%s)" % (name, off + i, why)
                    if not x:
                        break
                    off += len(x)
        return None

    for step in range(steps):
        name = rnd.choice(names)
        op = rnd.choices(["pwrite", "append", "truncate", "read", "close", "reopen_trunc", "unlink", "fsync"],
                         [30, 10, 8, 15, 15, 3, 2, 4])[0]
        try:
            if op in ("pwrite", "read", "truncate", "fsync"):
                n, v = opened(name, os.O_RDWR | os.O_CREAT)
            if op == "pwrite":
                size = rnd.choice([1, 100, 4096, 65536, 300000, 2 * MiB])
                off = rnd.choice([0, rnd.randrange(sizes_max), 4 * MiB - rnd.randrange(1, 5000), 8 * MiB - 7])
                data = rnd.randbytes(size) if rnd.random() < 0.7 else bytes([rnd.randrange(256)]) * size
                r = (os.pwrite(n, data, off), os.pwrite(v, data, off))
                hist.append("pwrite %s off=%d len=%d -> %r" % (name, off, size, r))
            elif op == "append":
                if name in fds:
                    close(name)
                n, v = opened(name, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
                data = rnd.randbytes(rnd.choice([10, 5000, 70000]))
                r = (os.write(n, data), os.write(v, data))
                hist.append("append %s len=%d" % (name, len(data)))
                close(name)
            elif op == "truncate":
                ln = rnd.choice([0, rnd.randrange(sizes_max), 4 * MiB, 4 * MiB + 1, rnd.randrange(100000)])
                os.ftruncate(n, ln)
                os.ftruncate(v, ln)
                hist.append("ftruncate %s %d" % (name, ln))
            elif op == "read":
                ln = rnd.choice([1, 4096, 1 << 20])
                off = rnd.randrange(sizes_max)
                a, b = os.pread(n, ln, off), os.pread(v, ln, off)
                hist.append("pread %s off=%d len=%d" % (name, off, ln))
                if a != b:
                    report(False, "data fuzz seed %d: pread through an open fd agrees" % seed,
                           "step %d: pread %s off=%d len=%d: native %d bytes, virtual %d bytes\n%s"
                           % (step, name, off, ln, len(a), len(b), "\n".join(hist[-12:])))
                    return False
            elif op == "fsync":
                os.fsync(n)
                os.fsync(v)
                hist.append("fsync %s" % name)
            elif op == "close":
                if name in fds:
                    close(name)
                    hist.append("close %s" % name)
                    d = compare(name, "after close")
                    if d:
                        report(False, "data fuzz seed %d: contents agree after every close" % seed,
                               "step %d: %s\n%s" % (step, d, "\n".join(hist[-12:])))
                        return False
            elif op == "reopen_trunc":
                if name in fds:
                    close(name)
                n, v = opened(name, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
                hist.append("open O_TRUNC %s" % name)
            elif op == "unlink":
                if name in fds:
                    close(name)
                a = outcome(os.unlink, os.path.join(nat, name))
                b = outcome(os.unlink, os.path.join(vir, name))
                hist.append("unlink %s -> %r %r" % (name, a, b))
                if a != b:
                    report(False, "data fuzz seed %d: unlink outcomes agree" % seed, "%r vs %r" % (a, b))
                    return False
        except OSError as e:
            report(False, "data fuzz seed %d: no unexpected errors" % seed,
                   "step %d op %s on %s: %s\n%s" % (step, op, name, e, "\n".join(hist[-12:])))
            return False
    for name in list(fds):
        close(name)
    for name in names:
        d = compare(name, "at the end")
        if d:
            report(False, "data fuzz seed %d: contents agree at the end" % seed, d + "\n" + "\n".join(hist[-12:]))
            return False
    report(True, "data fuzz seed %d: %d random pwrite/truncate/append/read/reopen steps agree with native" % (seed, steps))
    return True


# ------------------------------------------------------------------ namespace fuzz
def tree(root):
    out = []
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        rel = os.path.relpath(dirpath, root)
        for d in dirs:
            st = os.lstat(os.path.join(dirpath, d))
            out.append("%s/%s d %o" % (rel, d, stat.S_IMODE(st.st_mode)))
        for f in sorted(files):
            p = os.path.join(dirpath, f)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out.append("%s/%s l %s" % (rel, f, os.readlink(p)))
            else:
                out.append("%s/%s f %o n%d %s" % (rel, f, stat.S_IMODE(st.st_mode), st.st_nlink,
                                                 hashlib.md5(open(p, "rb").read()).hexdigest()[:8]))
    return out


def names_fuzz(nat, vir, seed, steps):
    """Random mkdir/rmdir/rename/link/symlink/unlink/create/chmod/write on a small namespace."""
    rnd = random.Random(seed)
    comps = ["a", "b", "c", "d"]

    def rpath(depth=None):
        depth = depth if depth is not None else rnd.choice([1, 1, 2, 2, 3])
        return "/".join(rnd.choice(comps) for _ in range(depth))

    hist = []
    soft = []            # both failed, with different errnos
    for step in range(steps):
        op = rnd.choices(["mkdir", "rmdir", "rename", "link", "symlink", "unlink", "create", "chmod", "write",
                          "exchange_check"], [14, 6, 16, 6, 6, 8, 16, 6, 10, 2])[0]
        p, q = rpath(), rpath()
        content = ("%d %s\n" % (step, p)).encode() * rnd.choice([1, 3, 2000])

        def do(root):
            P, Q = os.path.join(root, p), os.path.join(root, q)
            if op == "mkdir":
                return outcome(os.mkdir, P, 0o755)
            if op == "rmdir":
                return outcome(os.rmdir, P)
            if op == "rename":
                return outcome(os.rename, P, Q)
            if op == "link":
                return outcome(os.link, P, Q)
            if op == "symlink":
                return outcome(os.symlink, q if rnd_target_rel else Q.replace(root, "@ROOT@"), P)
            if op == "unlink":
                return outcome(os.unlink, P)
            if op == "create":
                return outcome(lambda: os.close(os.open(P, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)))
            if op == "chmod":
                return outcome(os.chmod, P, mode)
            if op == "write":
                def w():
                    fd = os.open(P, os.O_WRONLY | os.O_TRUNC)
                    try:
                        os.write(fd, content)
                    finally:
                        os.close(fd)
                return outcome(w)
            if op == "exchange_check":
                return outcome(lambda: sorted(os.listdir(P)))
        rnd_target_rel = rnd.random() < 0.7
        mode = rnd.choice([0o700, 0o755, 0o644, 0o600])
        a, b = do(nat), do(vir)
        hist.append("%s %s %s -> native %r, virtual %r" % (op, p, q if op in ("rename", "link", "symlink") else "", a, b))
        if a != b and a[0] == b[0] == "err":
            soft.append("step %d: %s" % (step, hist[-1]))
        elif a != b:
            report(False, "names fuzz seed %d: every operation succeeds or fails as natively" % seed,
                   "step %d\n%s" % (step, "\n".join(hist[-15:])))
            return False
        if step % 50 == 49 or step == steps - 1:
            tn, tv = tree(nat), tree(vir)
            if tn != tv:
                import difflib
                d = "\n".join(list(difflib.unified_diff(tn, tv, "native", "virtual", lineterm=""))[:30])
                report(False, "names fuzz seed %d: trees agree" % seed, "after step %d\n%s\n%s" % (step, d, "\n".join(hist[-10:])))
                return False
    report(True, "names fuzz seed %d: %d random namespace operations and the resulting trees agree with native" % (seed, steps))
    report(not soft, "names fuzz seed %d: failing operations give the native errno" % seed,
           "%d mismatches, e.g.\n%s" % (len(soft), "\n".join(soft[:6])))
    return True


def main():
    kind, nat, vir, seed, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    os.makedirs(nat, exist_ok=True)
    os.makedirs(vir, exist_ok=True)
    (data_fuzz if kind == "data" else names_fuzz)(nat, vir, seed, steps)


if __name__ == "__main__":
    main()

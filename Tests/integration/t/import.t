#!/usr/bin/env bash
# hilbert import / hilbert export: a host tree of every kind of entry (files below and above
# the inline and pack limits, big files of several blocks, a sparse one, empty files, odd
# names, hard links, symlinks (dangling too), a FIFO, a socket, a device, setuid/sticky/
# read-only modes, times to the nanosecond, user.* xattrs, a path deeper than PATH_MAX) goes
# into a volume and reads back the same under the shim (a stat listing, sha256 of every
# file, diff -r, getfattr), and comes back out the same (export). Into an existing tree:
# existing names kept, --force replaces them. Killed (kill -9) or interrupted (Ctrl-C)
# mid-way, the volume holds every file whole or not at all, gc deletes what was stored for
# the rest and the same import finishes the job; another writer creating names in the
# destination meanwhile keeps its files. Errors (an unreadable file, a destination that is
# not writable, as a user) are one line each, exit 1, and the rest is imported.
# Runs on S3 (@s3) and PostgreSQL (@pg) too.
# timeout: 600
. "$(dirname "$0")/../lib.sh"
hl_setup --inline-max 4K --block-size 1M
need "$HL_PY" sha256sum:coreutils getfattr:attr setfattr:attr script:bsdutils
H=$HILBERT
imp() { "$H" import --mount "/hilbert=$HL_URL" --cache "$HL_CACHE" "$@"; }
exp() { "$H" export --mount "/hilbert=$HL_URL" --cache "$HL_CACHE" "$@"; }
counter() { "$H" status "$HL_URL" | sed -n "s/^  $1: *\([0-9]*\).*/\1/p"; }

# ---------------------------------------------------------------- the tree
cat >"$HL_TMP/build.py" <<'PY'
import os, random, socket, stat, sys
R = random.Random(13)
t = sys.argv[1].encode()
os.makedirs(t + b"/data")
for d in range(20):                                    # 20 x 50 files around the inline (4K) and pack (256K) limits
    dp = b"%s/data/d%02d" % (t, d)
    os.mkdir(dp)
    for i in range(50):
        with open(b"%s/f%03d" % (dp, i), "wb") as f:
            f.write(R.randbytes(R.choice([0, 1, 100, 4095, 4096, 4097, 20000, 262143, 262144, 262145])))
for n in [1 << 20, 3 * (1 << 20) + 1]:                 # one block, four blocks
    with open(b"%s/data/big-%d" % (t, n), "wb") as f:
        f.write(R.randbytes(n))
with open(t + b"/data/sparse", "wb") as f:             # a hole of 5 MiB, then data
    f.seek(5 << 20); f.write(b"end")
with open(t + b"/data/text", "wb") as f:               # compressible
    f.write(b"hello world\n" * 50000)
os.mkdir(t + b"/odd")
for i, n in enumerate([b"with space", b"new\nline", b"\xff\xfe invalid", b"caf\xc3\xa9", b"\x01ctrl", b"x" * 255,
                       b"-dash", b"back\\slash"]):
    with open(t + b"/odd/" + n, "wb") as f:
        f.write(n * (i + 1))
os.mkdir(t + b"/odd/dir \xff\n")
os.link(t + b"/data/d00/f000", t + b"/hard1")
os.link(t + b"/data/d00/f000", t + b"/odd/hard2")
os.link(t + b"/data/big-3145729", t + b"/data/d01/bighard")
os.symlink(b"data/d00/f001", t + b"/sym-rel")
os.symlink(b"/etc/hostname", t + b"/sym-abs")
os.symlink(b"no/such/target", t + b"/sym-dangling")
os.mkfifo(t + b"/fifo", 0o640)
s = socket.socket(socket.AF_UNIX); s.bind(t + b"/socket"); s.close()
if os.geteuid() == 0:
    os.mknod(t + b"/null", 0o644 | stat.S_IFCHR, os.makedev(1, 3))
os.mkdir(t + b"/empty-dir")
with open(t + b"/empty", "wb"):
    pass
os.chmod(t + b"/data/d02/f002", 0o4755)
os.mkdir(t + b"/sticky"); os.chmod(t + b"/sticky", 0o1777)
with open(t + b"/sticky/in", "wb") as f:
    f.write(b"x")
os.mkdir(t + b"/readonly")
with open(t + b"/readonly/file", "wb") as f:
    f.write(b"under a read-only directory")
os.chmod(t + b"/readonly", 0o555)
os.setxattr(t + b"/data/d00/f003", b"user.color", b"blue")
os.setxattr(t + b"/data/d00/f003", b"user.bin", bytes(range(256)))
os.setxattr(t + b"/data", b"user.dir", b"yes")
if os.geteuid() == 0:
    os.setxattr(t + b"/data/d00/f004", b"trusted.secret", b"not copied")
deep = t + b"/deep"
os.mkdir(deep)
fd = os.open(deep, os.O_RDONLY)
for k in range(40):                                    # 40 x 120 bytes: deeper than PATH_MAX
    os.mkdir(b"n" * 120, dir_fd=fd)
    nfd = os.open(b"n" * 120, os.O_RDONLY, dir_fd=fd); os.close(fd); fd = nfd
leaf = os.open(b"leaf", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd)
os.write(leaf, b"at the bottom"); os.close(leaf); os.close(fd)
for k, (dirpath, dirs, files) in enumerate(os.walk(t + b"/data")):   # times to the nanosecond
    for name in files:
        os.utime(os.path.join(dirpath, name), ns=(1_000_000_000 + k * 7_000_000_011, 1_500_000_000_123_456_789 - k))
os.utime(t + b"/sym-rel", ns=(1_111_111_111_111_111_111, 1_222_222_222_222_222_222), follow_symlinks=False)
PY

# describe ROOT — every entry under ROOT (paths as bytes, escaped), sorted: type and mode, size,
# owner, mtime (ns; atime too for regular files: reading a directory or a symlink moves its own),
# link target, device, user.* xattrs, sha256 of the content, and which names are one file.
cat >"$HL_TMP/describe.py" <<'PY'
import hashlib, os, stat, sys
root = sys.argv[1].encode()
out, inodes = [], {}
def walk(fd, rel):
    for name in sorted(os.fsencode(n) for n in os.listdir(fd)):
        st = os.lstat(name, dir_fd=fd)
        p = rel + b"/" + name
        line = [repr(p), oct(st.st_mode), str(st.st_uid), str(st.st_gid), str(st.st_mtime_ns)]
        if stat.S_ISREG(st.st_mode):
            h = hashlib.sha256()
            f = os.open(name, os.O_RDONLY | os.O_NOATIME, dir_fd=fd)   # the atime stays as it is
            while True:
                b = os.read(f, 1 << 20)
                if not b: break
                h.update(b)
            os.close(f)
            line += [str(st.st_size), str(st.st_atime_ns), h.hexdigest()]
        elif stat.S_ISLNK(st.st_mode):
            line.append(repr(os.readlink(name, dir_fd=fd)))
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            line.append("%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev)))
        if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
            sub = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | (os.O_DIRECTORY if stat.S_ISDIR(st.st_mode) else 0), dir_fd=fd) \
                if st.st_mode & 0o400 or os.geteuid() == 0 else None
            if sub is not None:
                for x in sorted(os.listxattr(sub)):
                    if x.startswith("user."): line.append("%s=%r" % (x, os.getxattr(sub, x)))
                if stat.S_ISDIR(st.st_mode): walk(sub, p)
                else: os.close(sub)
        if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
            inodes.setdefault((st.st_dev, st.st_ino), []).append(p)
            line.append("nlink=%d" % st.st_nlink)
        out.append(" ".join(line))
fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
walk(fd, b"")
for names in sorted(inodes.values()):
    out.append("same file: " + " ".join(repr(n) for n in sorted(names)))
print("\n".join(out))
PY
describe() { "$HL_PY" "$HL_TMP/describe.py" "$1"; }
hldescribe() { hl "$HL_PY" "$HL_TMP/describe.py" "$1"; }

SRC="$HL_TMP/src"
out=$("$HL_PY" "$HL_TMP/build.py" "$SRC" 2>&1) || bail "building the source tree" "$out"
describe "$SRC" >"$HL_TMP/src.txt" || bail "describing the source tree"
dirs=$(find "$SRC" -type d -printf . | wc -c)
nondirs=$(find "$SRC" -mindepth 1 -not -type d -printf . | wc -c)

# ---------------------------------------------------------------- import, read back
out=$(imp "$SRC" /hilbert/dst 2>"$HL_TMP/import.err"); rc=$?
is "$rc" "0" "import of a tree of every kind of entry succeeds"
is "$(cat "$HL_TMP/import.err")" "" "  and says nothing on stderr (not a terminal, under 10 s)"
like "$out" "^import: [0-9]+ files \([0-9.]+ MiB\), $dirs directories, 3 symlinks, 3 hard links, [23] special files in [0-9.]+ s .*; 0 existed and were kept, 0 replaced, 0 skipped, 0 errors$" \
    "  its summary counts what it made: $(printf '%s' "$out" | cut -c1-150)"
hldescribe /hilbert/dst >"$HL_TMP/dst.txt" 2>&1
if cmp -s "$HL_TMP/src.txt" "$HL_TMP/dst.txt"; then pass "read back under the shim: the same modes, owners, times, content, targets, devices, xattrs and links ($(wc -l <"$HL_TMP/src.txt") entries)"
else fail "read back under the shim: the same" "$(diff "$HL_TMP/src.txt" "$HL_TMP/dst.txt" | head -20)"; fi
out=$(hl diff -r "$SRC/data" /hilbert/dst/data 2>&1); rc=$?
is "$rc" "0" "diff -r of the data (1,000 small files, big ones, a sparse one) finds nothing${out:+: $out}"
out=$(hl getfattr -d --absolute-names /hilbert/dst/data/d00/f003 2>&1)
like "$out" 'user.color="blue"' "getfattr shows the user.* attributes"
out=$(hl getfattr -d -m - --absolute-names /hilbert/dst/data/d00/f004 2>&1)
unlike "$out" "trusted" "  other namespaces are not copied"
is "$(hl stat -c %s /hilbert/dst/data/sparse)" "$((5 * 1048576 + 3))" "the sparse file has its size"
if [ "$(hl stat -c %b /hilbert/dst/data/sparse)" -lt 1024 ]; then pass "  and its hole stays a hole"; else fail "  and its hole stays a hole" "$(hl stat -c %b /hilbert/dst/data/sparse) blocks"; fi
packs=$(counter objects)
# 1,000 files of which about 600 small enough for packs, 2 + 4 + 1 (text) + the 262145-byte files' blocks.
if [ "$packs" -lt 200 ]; then pass "small files went into packs: $packs objects for $((dirs + nondirs)) entries"; else fail "small files went into packs" "$packs objects"; fi
if ! hl_on_pg; then
    is "$(sqlite3 "$HL_META" 'SELECT count(*) FROM hl_inline')" "0" "  none is inline in the metadata"
fi
out=$("$H" gc "$HL_URL" 2>/dev/null)
like "$out" "missing: +0 referenced" "gc: every object the import referenced is in the store"
like "$out" "leaked: +0 objects" "gc: none left over"
like "$out" "uploading: +0 objects" "gc: no upload left registered"

# ---------------------------------------------------------------- export, round trip
out=$(exp /hilbert/dst "$HL_TMP/back" 2>&1); rc=$?
is "$rc" "0" "export of the tree succeeds"
like "$out" "^export: [0-9]+ files .*, $dirs directories, 3 symlinks, 3 hard links, [23] special files in .* 0 errors$" "  its summary: $(printf '%s' "$out" | cut -c1-120)"
describe "$HL_TMP/back" >"$HL_TMP/back.txt"
if cmp -s "$HL_TMP/src.txt" "$HL_TMP/back.txt"; then pass "exported, the tree is the source again"
else fail "exported, the tree is the source again" "$(diff "$HL_TMP/src.txt" "$HL_TMP/back.txt" | head -20)"; fi
out=$(exp /hilbert/dst "$HL_TMP/back" 2>&1)
like "$out" " 0 files .* $nondirs existed and were kept, 0 replaced" "export again: every name is kept"
out=$(exp /hilbert/dst/data/big-3145729 "$HL_TMP/one" 2>&1) && cmp -s "$SRC/data/big-3145729" "$HL_TMP/one"
is "$?" "0" "export of one file"
# Paths as typed, relative to the working directory: the deep part of the tree is opened a
# piece at a time from there (it was opened from / and not found).
if out=$(cd "$(dirname "$SRC")" && imp "$(basename "$SRC")" /hilbert/relative 2>&1); then
    pass "import of a relative source path, PATH_MAX deep inside"
else fail "import of a relative source path, PATH_MAX deep inside" "$out"; fi
if out=$(cd "$HL_TMP" && exp /hilbert/relative back-relative 2>&1); then pass "export to a relative destination"
else fail "export to a relative destination" "$out"; fi
describe "$SRC" >"$HL_TMP/src-now.txt"   # diff -r above read the source: its atimes moved
describe "$HL_TMP/back-relative" >"$HL_TMP/back-relative.txt"
if cmp -s "$HL_TMP/src-now.txt" "$HL_TMP/back-relative.txt"; then pass "  the tree is the source again"
else fail "  the tree is the source again" "$(diff "$HL_TMP/src-now.txt" "$HL_TMP/back-relative.txt" | head -20)"; fi

# ---------------------------------------------------------------- into an existing tree
hlsh 'mkdir -p /hilbert/merge/data/d00 && echo theirs > /hilbert/merge/data/d00/f005 && echo other > /hilbert/merge/other' >/dev/null
out=$(imp "$SRC" /hilbert/merge 2>&1); rc=$?
is "$rc" "0" "import into an existing tree succeeds"
like "$out" " 1 existed and were kept, 0 replaced, 0 skipped, 0 errors$" "  the existing file is counted as kept"
is "$(hl cat /hilbert/merge/data/d00/f005 /hilbert/merge/other)" "theirs
other" "  it keeps its content, and the other file is there"
hl cmp -s "$SRC/data/d00/f006" /hilbert/merge/data/d00/f006
is "$?" "0" "  the rest is imported beside them"
out=$(imp --force "$SRC/data" /hilbert/merge/data 2>&1)
like "$out" " [0-9]+ replaced, 0 skipped, 0 errors$" "--force replaces the existing files"
hl cmp -s "$SRC/data/d00/f005" /hilbert/merge/data/d00/f005
is "$?" "0" "  with the source's content"
is "$(hl cat /hilbert/merge/other)" "other" "  and leaves the other file alone"
out=$(imp "$SRC/data/d00/f001" /hilbert/merge/data/d00 2>&1); rc=$?
isnt "$rc" "0" "a file onto a directory is refused"
like "$out" "is a directory" "  and says so"
out=$(imp "$SRC" /hilbert/merge/other 2>&1); rc=$?
isnt "$rc" "0" "a directory onto a file is refused"
like "$out" "exists and is not a directory" "  and says so"
out=$(imp "$SRC" /hilbert/no/such/parent 2>&1); rc=$?
isnt "$rc" "0" "a destination whose parent is missing is refused"
out=$(imp "$SRC" /elsewhere/x 2>&1); rc=$?
isnt "$rc" "0" "a destination under no mounted prefix is refused"
like "$out" "under no mounted prefix" "  and says so"
out=$(imp "$HL_TMP/no-such-source" /hilbert/x 2>&1); rc=$?
isnt "$rc" "0" "a missing source is refused"
like "$out" "no-such-source: No such file or directory" "  and says so"

# ---------------------------------------------------------------- interrupted, killed
# 40,000 files of 4 KiB in directories of 500: more than an import has in flight (what it read
# and has not committed yet), so that a stop comes mid-way.
n=40000
"$HL_PY" - "$HL_TMP/many" "$n" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for k in range(n):
    d = os.path.join(root, "d%03d" % (k // 500))
    if k % 500 == 0: os.makedirs(d)
    with open(os.path.join(d, "f%05d" % k), "wb") as f:
        f.write(os.urandom(4096))
PY
# check DEST — every file of DEST is whole (the source's bytes); prints how many there are
check() {
    hl "$HL_PY" - "$HL_TMP/many" "$1" <<'PY'
import os, sys
src, dst = sys.argv[1], sys.argv[2]
n = 0
for d, _, files in os.walk(dst):
    for f in files:
        p = os.path.join(d, f)
        if open(p, "rb").read() != open(os.path.join(src, os.path.relpath(p, dst)), "rb").read():
            print("HALF", p); sys.exit(1)
        n += 1
print(n)
PY
}
inodes0=$(counter inodes)
# wait_for N — until the volume has N more inodes than before (or 60 s)
wait_for() { local k; for k in $(seq 600); do [ "$(counter inodes)" -ge $((inodes0 + $1)) ] && return 0; sleep 0.1; done; return 1; }
"$H" import --mount "/hilbert=$HL_URL" --cache "$HL_CACHE" "$HL_TMP/many" /hilbert/killed >/dev/null 2>&1 &
pid=$!
wait_for 100; kill -9 "$pid"; wait "$pid" 2>/dev/null
got=$(check /hilbert/killed); rc=$?
is "$rc" "0" "killed mid-way (kill -9), every file in the volume is whole"
if [ "${got:-0}" -gt 0 ] && [ "$got" -lt "$n" ]; then pass "  and some are missing: $got of $n were committed"; else fail "  killed mid-way" "$got of $n"; fi
out=$("$H" gc "$HL_URL" --delete --grace 0 2>/dev/null)
like "$out" "missing: +0 referenced" "gc: nothing the volume references is missing"
out=$("$H" gc "$HL_URL" 2>/dev/null)
like "$out" "leaked: +0 objects" "gc --delete took what the killed import had stored for the rest"
like "$out" "uploading: +0 objects" "  and forgot its uploads"
out=$(imp "$HL_TMP/many" /hilbert/killed 2>&1); rc=$?
is "$rc" "0" "the same import again finishes the job"
like "$out" "^import: $((n - got)) files .* $got existed and were kept" "  keeping the $got files already there"
is "$(check /hilbert/killed)" "$n" "  now all $n files are there, whole"
if ! hl_on_s3; then
    is "$(find "$HL_OBJECTS/chunks" -type f -size +16384k | wc -l)" "0" "no pack is over 16 MiB (what readers keep of a pack whole)"
fi

inodes0=$(counter inodes)
"$H" import --mount "/hilbert=$HL_URL" --cache "$HL_CACHE" "$HL_TMP/many" /hilbert/interrupted >"$HL_TMP/int.out" 2>&1 &
pid=$!
# As soon as its first batch of files is in (the destination directory alone is one inode):
# everything it read by the time it stops is committed, and where the writer is slow
# (PostgreSQL) its walkers are far ahead.
wait_for 2; kill -INT "$pid"; wait "$pid"; rc=$?
is "$rc" "130" "Ctrl-C (SIGINT) stops the import with status 130"
like "$(cat "$HL_TMP/int.out")" "stopped before the end" "  its summary says so"
got=$(check /hilbert/interrupted)
if [ "${got:-0}" -gt 0 ] && [ "$got" -lt "$n" ]; then pass "  what it read is committed, whole: $got of $n"; else fail "  interrupted mid-way" "$got of $n"; fi
imp "$HL_TMP/many" /hilbert/interrupted >/dev/null 2>&1
is "$(check /hilbert/interrupted)" "$n" "  and the same import finishes the job"

# ---------------------------------------------------------------- another writer meanwhile
# While the import runs, a program creates files under the destination with the names the
# import is about to make: theirs stay (whichever came first), the import says nothing.
hlsh 'mkdir -p /hilbert/conc' >/dev/null
hl bash -c 'for d in 000 005 010 015; do mkdir -p /hilbert/conc/d$d; for i in $(seq 0 40); do echo theirs > /hilbert/conc/d$d/f$(printf %05d $((10#$d * 500 + i * 7))); done; done' &
writer=$!
out=$(imp "$HL_TMP/many" /hilbert/conc 2>&1); rc=$?
wait "$writer"
is "$rc" "0" "an import beside another writer of the same names succeeds"
like "$out" "0 errors$" "  with no error"
out=$(hl bash -c 'cat /hilbert/conc/d000/f00007 /hilbert/conc/d015/f07780')
is "$out" "theirs
theirs" "  the other writer's files keep its content"
hl cmp -s "$HL_TMP/many/d000/f00001" /hilbert/conc/d000/f00001
is "$?" "0" "  and the import's files are the source's"
out=$("$H" gc "$HL_URL" 2>/dev/null)
like "$out" "missing: +0 referenced" "gc: nothing missing after all of it"

# ---------------------------------------------------------------- progress on a terminal
out=$(script -qec "$H import --mount /hilbert=$HL_URL --cache $HL_CACHE $HL_TMP/many /hilbert/tty" /dev/null 2>&1)
like "$out" $'\r\e\\[Kimport: [0-9]+ of [0-9]+\\+ entries' "on a terminal the progress is one line rewritten in place"
like "$out" "import: $n files" "  then the summary"

# ---------------------------------------------------------------- errors, as a user
if [ "$(id -u)" = 0 ] && hl_user; then
    chmod 755 "$HL_TMP"; chown -R "$HL_UID:$HL_GID" "$HL_VOL"; mkdir -p "$HL_TMP/ucache" "$HL_TMP/uhome"
    chown "$HL_UID:$HL_GID" "$HL_TMP/ucache" "$HL_TMP/uhome"
    uimp() { as_user env HOME="$HL_TMP/uhome" "$H" import --mount "/hilbert=$HL_URL" --cache "$HL_TMP/ucache" "$@"; }
    mkdir -p "$HL_TMP/usrc/sub"; echo a > "$HL_TMP/usrc/a"; echo secret > "$HL_TMP/usrc/sub/secret"; echo b > "$HL_TMP/usrc/sub/b"
    chmod 000 "$HL_TMP/usrc/sub/secret"; chmod -R a+rX "$HL_TMP/usrc"; chmod 000 "$HL_TMP/usrc/sub/secret"
    hlsh 'mkdir -p /hilbert/mine /hilbert/rootonly && chmod 777 /hilbert/mine && chmod 755 /hilbert/rootonly' >/dev/null
    out=$(uimp "$HL_TMP/usrc" /hilbert/mine/u 2>&1); rc=$?
    is "$rc" "1" "as a user: an unreadable file makes the import exit 1"
    like "$out" "import: cannot read $HL_TMP/usrc/sub/secret: Permission denied" "  one line says which and why"
    like "$out" "^import: 2 files .* 1 errors" "  the rest is imported"
    is "$(hl stat -c '%u %s' /hilbert/mine/u/sub/b)" "$HL_UID 2" "  owned by the user"
    out=$(uimp "$HL_TMP/usrc" /hilbert/rootonly/u 2>&1); rc=$?
    isnt "$rc" "0" "as a user: a destination in a directory not writable is refused"
    like "$out" "Permission denied" "  and says why"
else
    skip "the permission checks need root (useradd, setpriv)"
fi
done_testing

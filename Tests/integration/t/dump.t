#!/usr/bin/env bash
# hilbert dump / hilbert load: a tree of several thousand entries written by real programs
# (every file type, odd names, hard links, xattrs, a sparse file, setuid/sticky modes, owners,
# times from touch -d) moves SQLite → MID → SQLite; both dumps are byte-identical and the
# moved volume reads back identically through the shim (sha256 of every file, a stat listing
# with inode numbers, link targets and xattrs, in listing order). Load refuses an existing
# volume and a truncated or changed dump (leaving nothing usable); dump refuses uncommitted
# data until 'hilbert flush'; dumps taken while a writer renames, links and deletes are
# consistent snapshots (load checks references and counters; the loaded tree's link counts).
#
# MID, the middle engine, is PostgreSQL (through PgBouncer) whenever the suite's server is up
# (Tests/pg/with-server.sh exports HL_PG_SERVER_ENV; make test always starts it), else another
# SQLite volume; HL_DUMP_MID_URL overrides both. Nothing here is engine-specific (the volumes
# are read and checked only through hilbert and the shim).
# timeout: 600
. "$(dirname "$0")/../lib.sh"
hl_setup
need "$HL_PY" sha256sum:coreutils
H=$HILBERT
if [ -z "${HL_DUMP_MID_URL:-}" ] && [ -n "${HL_PG_SERVER_ENV:-}" ]; then
    # shellcheck disable=SC1090
    . "$HL_PG_SERVER_ENV"
    HL_DUMP_MID_URL="$PGB_URL?schema=dump_$(printf '%s' "$HL_TMP" | md5sum | cut -c1-20)"
fi
MID_URL=${HL_DUMP_MID_URL:-sqlite://$HL_TMP/mid/meta.db}
hlv() { local url=$1 cache=$2; shift 2; "$H" run --mount "/hilbert=$url" --cache "$cache" -- "$@"; }

# ---------------------------------------------------------------- the tree
cat >"$HL_TMP/build.py" <<'PY'
import os, random, stat, sys
R = random.Random(42)
t = sys.argv[1].encode()
os.makedirs(t)
root = os.geteuid() == 0
for d in range(40):                                    # 40 x 100 small files, 0 bytes to the inline limit
    dp = b"%s/d%02d" % (t, d)
    os.mkdir(dp)
    for i in range(100):
        with open(b"%s/f%03d" % (dp, i), "wb") as f:
            f.write(R.randbytes(R.choice([0, 1, 7, 100, 1000, 4096, 16384])))
for n in [16383, 16384, 16385, 65536, 4194304, 4194305, 9000000]:   # around the inline limit, 1-3 blocks
    with open(b"%s/size-%d" % (t, n), "wb") as f:
        f.write(R.randbytes(n))
with open(t + b"/sparse", "wb") as f:                  # a hole, then data
    f.seek(10_000_000); f.write(b"end")
with open(t + b"/sparse-tail", "wb") as f:             # data, then a hole to the end
    f.write(b"start"); f.truncate(9_000_000)
os.mkdir(t + b"/odd")
odd = [b"with space", b"new\nline", b"tab\there", b'quote"s', b"apo'strophe", b"back\\slash",
       b"\xff\xfe invalid", b"caf\xc3\xa9", b"\xf0\x9f\x98\x80 emoji", b"-leading-dash", b"x" * 255,
       b"\x01ctrl", b"\x7f", b"\xc0\x80 overlong"]
for i, n in enumerate(odd):
    with open(t + b"/odd/" + n, "wb") as f:
        f.write(n * (i + 1))
os.mkdir(t + b"/odd/dir \xff\n")
os.link(t + b"/d00/f000", t + b"/hard1")
os.link(t + b"/d00/f000", t + b"/odd/hard2")
os.link(t + b"/size-4194305", t + b"/d01/bighard")
os.symlink(b"d00/f001", t + b"/sym-rel")
os.symlink(b"/etc/hostname", t + b"/sym-abs")
os.symlink(b"nowhere", t + b"/sym-dangling")
os.symlink(b"d02", t + b"/sym-dir")
os.symlink(b"\xff\xfe invalid", t + b"/odd/sym-invalid")
os.mkfifo(t + b"/fifo", 0o640)
if root:
    os.mknod(t + b"/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.mknod(t + b"/disk", 0o660 | stat.S_IFBLK, os.makedev(8, 1))
os.setxattr(t + b"/d00/f002", b"user.text", b"hello")
os.setxattr(t + b"/d00/f002", b"user.bin", bytes(range(256)))
os.setxattr(t + b"/d00", b"user.empty", b"")
os.setxattr(t + b"/odd/\xff\xfe invalid", b"user.\xff name", b"\x00\xff\"\\")
os.chmod(t + b"/size-65536", 0o4755)
os.chmod(t + b"/d03", 0o2775)
os.mkdir(t + b"/sticky"); os.chmod(t + b"/sticky", 0o1777)
os.chmod(t + b"/d04/f000", 0o000)
if root:
    os.chown(t + b"/d05/f000", 1234, 5678)
    os.chown(t + b"/d05", 1000, 1000)
    os.lchown(t + b"/sym-rel", 4321, 8765)
os.utime(t + b"/d06/f000", ns=(1_000_000_001, 2_000_000_002))
os.utime(t + b"/d06/f001", ns=(-86_400_000_000_000 + 5, -86_400_000_000_000 + 7))
os.rename(t + b"/d39", t + b"/odd/d39-moved")           # an older entry under a newer directory
PY
out=$(hl "$HL_PY" "$HL_TMP/build.py" /hilbert/tree 2>&1) || bail "building the tree under the shim" "$out"
out=$(hl bash -c 'cd /hilbert/tree && touch -d "2001-02-03 04:05:06.123456789" d07/f000 && touch -h -d "1999-12-31 23:59:59" sym-dir &&
    if command -v setfattr >/dev/null; then setfattr -n user.tool -v "set by setfattr" d07/f001; fi &&
    touch -d @0 d07 && touch -d "2030-01-01 00:00:00.5" . odd' 2>&1) || bail "touch -d under the shim" "$out"

cat >"$HL_TMP/manifest.py" <<'PY'
# One line per entry, in listing order: name, mode, inode, links, owner, size, blocks, mtime and
# ctime in ns, then the sha256 of a file, the target of a symlink, the device of a device, and
# the xattrs of files and directories.
import hashlib, os, stat, sys
def line(p, rel):
    st = os.lstat(p)
    m = st.st_mode
    out = [repr(rel), oct(m), st.st_ino, st.st_nlink, st.st_uid, st.st_gid, st.st_size, st.st_blocks,
           st.st_mtime_ns, st.st_ctime_ns]
    if stat.S_ISREG(m):
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        out.append(h.hexdigest())
    elif stat.S_ISLNK(m):
        out.append(repr(os.readlink(p)))
    elif stat.S_ISCHR(m) or stat.S_ISBLK(m):
        out.append(st.st_rdev)
    if stat.S_ISREG(m) or stat.S_ISDIR(m):
        out.append([(x, os.getxattr(p, x, follow_symlinks=False).hex()) for x in sorted(os.listxattr(p, follow_symlinks=False))])
    print(*out)
    if stat.S_ISDIR(m):
        for n in os.listdir(p):
            line(p + b"/" + n, rel + b"/" + n)
line(sys.argv[1].encode(), b"")
PY
manifest() { hlv "$1" "$2" "$HL_PY" "$HL_TMP/manifest.py" /hilbert; }
manifest "$HL_URL" "$HL_CACHE" >"$HL_TMP/manifest.a" 2>"$HL_TMP/manifest.err" || bail "manifest of the source" "$(cat "$HL_TMP/manifest.err")"
entries=$(wc -l <"$HL_TMP/manifest.a")
if [ "$entries" -gt 4000 ]; then pass "the source tree has $entries entries"; else fail "the source tree has several thousand entries" "$entries"; fi

# The small files went into packs when build.py exited (SmallFilePacker); hilbert compact
# has the rest. Packs move between engines with the rest. To the file system nothing changed
# (same names, inodes, sizes, blocks, times: the manifest).
out=$("$H" compact "$HL_URL" /tree 2>&1)
like "$out" "^compact: [0-9]+ files in [0-9]+ directories; " "hilbert compact of the tree succeeds"
manifest "$HL_URL" "$HL_TMP/cache-packed" >"$HL_TMP/manifest.p" 2>"$HL_TMP/manifest.err"
if cmp -s "$HL_TMP/manifest.a" "$HL_TMP/manifest.p"; then pass "after compaction the tree reads the same, from the packs (fresh cache)"
else fail "after compaction the tree reads the same" "$(diff "$HL_TMP/manifest.a" "$HL_TMP/manifest.p" | head -20)"; fi

# ---------------------------------------------------------------- SQLite → MID → SQLite
"$H" dump "$HL_URL" "$HL_TMP/a.json" 2>"$HL_TMP/dump.err"; rc=$?
is "$rc" "0" "dump of the source volume succeeds"
like "$(cat "$HL_TMP/dump.err")" "^dump: volume 'hilbert' .*: [0-9]+ nodes, [0-9]+ entries, .* bytes written to $HL_TMP/a.json in " "dump prints a summary on stderr"
ok "the dump file is complete (no .partial left) and 0600" test -f "$HL_TMP/a.json" -a ! -e "$HL_TMP/a.json.partial" -a "$(stat -c %a "$HL_TMP/a.json")" = 600
is "$(head -c 16 "$HL_TMP/a.json")" '{"hilbert-dump":' "the dump starts with its format header"
ok "the dump is one JSON document" "$HL_PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["hilbert-dump"] == 2 and len(d["nodes"]) > 4000 and len(d["packs"]) >= 2' "$HL_TMP/a.json"
like "$(grep -c '"name":{"base64":' "$HL_TMP/a.json")" "^[1-9]" "names that are not UTF-8 are written as base64"
is "$(grep -cF '"name":"new\nline"' "$HL_TMP/a.json")" "1" "names that are UTF-8 stay readable (JSON escapes)"
"$H" dump "$HL_URL" >"$HL_TMP/a-stdout.json" 2>/dev/null
ok "dump to standard output gives the same document" cmp -s "$HL_TMP/a.json" "$HL_TMP/a-stdout.json"

out=$("$H" load "$HL_TMP/a.json" "$MID_URL" 2>"$HL_TMP/load.err"); rc=$?
is "$rc" "0" "load into $MID_URL succeeds"
mid_re=$(printf '%s' "$MID_URL" | sed 's/[][\.*^$?+(){}|]/\\&/g')
like "$out" "^Loaded volume 'hilbert' .* into $mid_re: [0-9]+ nodes" "load prints what it loaded"
like "$(cat "$HL_TMP/load.err")" "retire that volume" "load says on stderr that the dumped volume must be retired"
is "$(grep -c . "$HL_TMP/load.err")" "1" "in one line"

"$H" dump "$MID_URL" "$HL_TMP/b.json" 2>/dev/null
ok "dump → load → dump: the two dumps are byte-identical" cmp "$HL_TMP/a.json" "$HL_TMP/b.json"
out=$("$H" load "$HL_TMP/b.json" "sqlite://$HL_TMP/c/meta.db" 2>&1); rc=$?
is "$rc" "0" "the second dump loads into a third (SQLite) volume"
"$H" dump "sqlite://$HL_TMP/c/meta.db" "$HL_TMP/c.json" 2>/dev/null
ok "SQLite → MID → SQLite keeps every row (third dump identical)" cmp "$HL_TMP/a.json" "$HL_TMP/c.json"

manifest "$MID_URL" "$HL_TMP/cache-mid" >"$HL_TMP/manifest.b" 2>"$HL_TMP/manifest.err"
is "$?" "0" "the moved volume is read through the shim (fresh cache: content from inline rows and the store)"
if cmp -s "$HL_TMP/manifest.a" "$HL_TMP/manifest.b"; then pass "every name, inode, mode, owner, size, time, link, xattr and byte is the same ($entries entries)"
else fail "the moved volume reads back identically" "$(diff "$HL_TMP/manifest.a" "$HL_TMP/manifest.b" | head -20)"; fi
is "$(manifest "sqlite://$HL_TMP/c/meta.db" "$HL_TMP/cache-c" 2>&1 | sha256sum)" "$(sha256sum <"$HL_TMP/manifest.a")" "and so is the third volume"
out=$("$H" gc "$MID_URL" 2>/dev/null)
like "$out" "missing: +0 referenced" "gc of the moved volume: every referenced object is in the shared store"
like "$out" "leaked: +0 objects" "and none is unreferenced"
is "$("$H" status "$MID_URL" | grep -E '^  (inodes|logical bytes|stored bytes|objects):')" \
   "$("$H" status "$HL_URL" | grep -E '^  (inodes|logical bytes|stored bytes|objects):')" "status: the same usage counters"

# ---------------------------------------------------------------- refusals
out=$("$H" load "$HL_TMP/a.json" "$HL_URL" 2>&1); rc=$?
isnt "$rc" "0" "load into an existing volume is refused"
like "$out" "already exists" "  and says so"
out=$("$H" load "$HL_TMP/a.json" "$MID_URL" 2>&1)
like "$out" "already exists" "load into the volume it just made is refused too"
ok "the refused loads changed nothing" cmp -s "$HL_TMP/b.json" <("$H" dump "$MID_URL" 2>/dev/null)

size=$(stat -c %s "$HL_TMP/a.json")
head -c $((size * 2 / 3)) "$HL_TMP/a.json" >"$HL_TMP/cut.json"
out=$("$H" load "$HL_TMP/cut.json" "sqlite://$HL_TMP/cut/meta.db" 2>&1); rc=$?
isnt "$rc" "0" "a truncated dump is refused"
like "$out" "cut.json: line [0-9]+, byte [0-9]+ .*the dump is truncated" "  naming the line, the byte and what is wrong"
like "$out" "rm -f $HL_TMP/cut/meta.db " "  and how to remove what it began"
out=$("$H" status "sqlite://$HL_TMP/cut/meta.db" 2>&1); rc=$?
isnt "$rc" "0" "the incomplete volume cannot be opened"
like "$out" "incomplete volume: 'hilbert load' of $HL_TMP/cut.json did not finish" "  and says why"
out=$(hlv "sqlite://$HL_TMP/cut/meta.db" "$HL_TMP/cache-cut" ls /hilbert 2>&1); rc=$?
isnt "$rc" "0" "programs under the shim cannot use it either"
rm -f "$HL_TMP/cut/meta.db"*
ok "after removing it, the whole dump loads there" "$H" load "$HL_TMP/a.json" "sqlite://$HL_TMP/cut/meta.db"

sed '0,/"mode":33188/s//"mode":33261/' "$HL_TMP/a.json" >"$HL_TMP/changed.json"
out=$("$H" load "$HL_TMP/changed.json" "sqlite://$HL_TMP/changed/meta.db" 2>&1); rc=$?
isnt "$rc" "0" "a dump changed after it was written is refused"
like "$out" "CRC-32C" "  by its checksum"
out=$("$H" load "$HL_TMP/nonexistent.json" "sqlite://$HL_TMP/none/meta.db" 2>&1); rc=$?
like "$rc/$out" "^1/Error: load: cannot read $HL_TMP/nonexistent.json" "a missing dump file: one line, status 1"
ok "  and nothing is created" test ! -e "$HL_TMP/none/meta.db"
out=$(printf '{"hilbert-dump":7,' | "$H" load - "sqlite://$HL_TMP/v7/meta.db" 2>&1)
like "$out" "dump format version 7: this hilbert reads versions 1 to 2" "an unknown dump version is refused from standard input"
out=$("$H" dump "sqlite://$HL_TMP/none/meta.db" "$HL_TMP/none.json" 2>&1); rc=$?
like "$rc/$out" "^1/Error: dump: no volume at" "dump of a missing volume: one line, status 1"
ok "  and no file is written" test ! -e "$HL_TMP/none.json" -a ! -e "$HL_TMP/none.json.partial"

# ---------------------------------------------------------------- uncommitted data
hl_raw "$HL_PY" -c 'import os; f = open("/hilbert/tree/staged", "w"); f.write("uncommitted bytes"); f.flush(); os.kill(os.getpid(), 9)' 2>/dev/null
out=$("$H" dump "$HL_URL" "$HL_TMP/staged.json" 2>&1); rc=$?
isnt "$rc" "0" "dump refuses a volume with uncommitted data (a killed writer's staging file)"
like "$out" "1 file has data not yet committed.*/tree/staged \(inode [0-9]+\).*run 'hilbert flush'" "  naming the file and what to do"
ok "  and leaves no file" test ! -e "$HL_TMP/staged.json" -a ! -e "$HL_TMP/staged.json.partial"
out=$("$H" dump "$HL_URL" "$HL_TMP/staged.json" --ignore-staging 2>&1); rc=$?
is "$rc" "0" "--ignore-staging dumps it as last committed"
like "$out" "warning: 1 file\(s\) have uncommitted data that is not in the dump.*/tree/staged" "  and names the file left out"
HILBERT_MOUNTS="/hilbert=$HL_URL" HILBERT_CACHE="$HL_CACHE" "$H" flush >/dev/null 2>&1
"$H" dump "$HL_URL" "$HL_TMP/flushed.json" 2>/dev/null; rc=$?
is "$rc" "0" "after hilbert flush the dump succeeds"
"$H" load "$HL_TMP/flushed.json" "sqlite://$HL_TMP/flushed/meta.db" >/dev/null 2>&1
is "$(hlv "sqlite://$HL_TMP/flushed/meta.db" "$HL_TMP/cache-flushed" cat /hilbert/tree/staged 2>&1)" "uncommitted bytes" \
   "  and holds the flushed bytes"

# ---------------------------------------------------------------- a volume in use
hl_format busy >/dev/null || bail "format the busy volume"
BUSY=$(hl_meta_url busy)    # on PostgreSQL too, when run as dump.t@pg
cat >"$HL_TMP/writer.py" <<'PY'
# Creates, rewrites, renames, links, unlinks files and renames directories until STOP exists.
# Files stay small (inline): the dumps' copies then need no object the writer may delete later.
import os, random, sys
base, seed, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3]
R = random.Random(seed)
dirs = ["%s/w%d" % (base, i) for i in range(6)]
for d in dirs:
    os.makedirs(d + "/sub0", exist_ok=True)
for i in range(3000):
    with open("%s/f%d" % (R.choice(dirs), i), "wb") as f:
        f.write(R.randbytes(R.randrange(2000)))
print("ready", flush=True)
n = 0
while not os.path.exists(stop):
    d, e = R.choice(dirs), R.choice(dirs)
    a, b = "%s/f%d" % (d, R.randrange(3000)), "%s/f%d" % (e, R.randrange(3000))
    op = R.randrange(10)
    try:
        if op < 3:
            with open(a, "wb") as f:
                f.write(R.randbytes(R.randrange(4000)))
        elif op < 5:
            os.rename(a, b)
        elif op < 6:
            os.link(a, "%s/l%d" % (e, R.randrange(3000)))
        elif op < 8:
            os.unlink(a if op == 6 else "%s/l%d" % (d, R.randrange(3000)))
        elif op < 9:
            os.setxattr(a, "user.n", str(n).encode())
        else:
            os.rename("%s/sub%d" % (d, R.randrange(3)), "%s/sub%d" % (e, R.randrange(3)))
    except OSError:
        pass
    n += 1
print("ops", n)
PY
cat >"$HL_TMP/check.py" <<'PY'
# The loaded tree is whole: every entry stats and reads to its size; a file's link count is the
# number of its names, a directory's 2 + its subdirectories.
import collections, os, stat, sys
names, nlink, problems = collections.Counter(), {}, []
for dirpath, dirnames, filenames in os.walk(sys.argv[1].encode()):
    st = os.lstat(dirpath)
    if st.st_nlink != 2 + len(dirnames):
        problems.append("%r: %d links, %d subdirectories" % (dirpath, st.st_nlink, len(dirnames)))
    for n in filenames:
        p = dirpath + b"/" + n
        st = os.lstat(p)
        names[st.st_ino] += 1
        nlink[st.st_ino] = st.st_nlink
        if stat.S_ISREG(st.st_mode):
            with open(p, "rb") as f:
                if len(f.read()) != st.st_size:
                    problems.append("%r: size" % p)
for ino, n in names.items():
    if nlink[ino] != n:
        problems.append("inode %d: %d links, %d names" % (ino, nlink[ino], n))
print("\n".join(problems[:10]) if problems else "OK %d files" % len(names))
PY
hlv "$BUSY" "$HL_TMP/cache-busy" "$HL_PY" -u "$HL_TMP/writer.py" /hilbert/w 1 "$HL_TMP/stop" >"$HL_TMP/writer.out" 2>&1 &
wpid=$!
for i in $(seq 1 300); do grep -q ready "$HL_TMP/writer.out" 2>/dev/null && break; kill -0 $wpid 2>/dev/null || break; sleep 0.2; done
like "$(cat "$HL_TMP/writer.out")" "^ready" "a writer runs on the busy volume"
sleep 1
for i in 1 2 3; do
    # --ignore-staging: the writer always has a file open, so some file is always uncommitted
    out=$("$H" dump "$BUSY" "$HL_TMP/busy$i.json" --ignore-staging 2>&1); rc=$?
    is "$rc" "0" "dump $i of the volume in use succeeds"
    out=$("$H" load "$HL_TMP/busy$i.json" "sqlite://$HL_TMP/busy$i/meta.db" 2>&1); rc=$?
    is "$rc" "0" "  it loads: references, types and counters agree (one snapshot)"
    [ "$rc" = 0 ] || diag "$out"
    like "$(hlv "sqlite://$HL_TMP/busy$i/meta.db" "$HL_TMP/cache-b$i" "$HL_PY" "$HL_TMP/check.py" /hilbert 2>&1)" "^OK [0-9]+ files$" \
        "  the loaded tree is whole (link counts, sizes, contents)"
    sleep 0.5
done
ok "the writer was still running" kill -0 $wpid
touch "$HL_TMP/stop"; wait $wpid
like "$(cat "$HL_TMP/writer.out")" "ops [1-9][0-9]+" "the writer changed the volume while it was dumped"
ok "the three dumps differ (the volume changed between them)" bash -c "! cmp -s '$HL_TMP/busy1.json' '$HL_TMP/busy2.json' && ! cmp -s '$HL_TMP/busy2.json' '$HL_TMP/busy3.json'"
done_testing

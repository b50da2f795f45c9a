#!/usr/bin/env bash
# GNU tar: extract a real tree of ~3000 files into the prefix, re-create an archive from the
# prefix, compare checksums and tar -tv listings (sizes, modes, symlinks, hard links).
# timeout: 300
. "$(dirname "$0")/../lib.sh"
hl_setup

src="$HL_TMP/src/tree"
"$HL_PY" - "$src" <<'PY'
import os, random, sys
root = sys.argv[1]
rnd = random.Random(1234)
os.makedirs(root)
n = 0
for d in range(30):
    dd = os.path.join(root, "dir%02d" % d, "sub%d" % (d % 4))
    os.makedirs(dd, exist_ok=True)
    for f in range(100):
        p = os.path.join(dd, "f%03d.%s" % (f, rnd.choice(["txt", "dat", "c"])))
        size = rnd.choice([0, 1, 17, 100, 511, 512, 513, 4095, 4096, 9000, 20000])
        with open(p, "wb") as fh:
            fh.write(bytes(rnd.getrandbits(8) for _ in range(min(size, 64))) * (size // 64 + 1))
            fh.truncate(size)
        os.chmod(p, rnd.choice([0o644, 0o600, 0o755, 0o444, 0o640]))
        os.utime(p, (1_500_000_000 + n, 1_500_000_000 + n))
        n += 1
big = os.path.join(root, "big")
os.makedirs(big)
for name, size in [("r5m.bin", 5 << 20), ("r17m.bin", 17 << 20 | 12345)]:
    with open(os.path.join(big, name), "wb") as fh:
        fh.write(os.urandom(size))
with open(os.path.join(big, "text20m.txt"), "w") as fh:
    for i in range(1_000_000):
        fh.write("line %d of a compressible file\n" % i)
with open(os.path.join(big, "sparse.img"), "wb") as fh:
    fh.seek(30 << 20); fh.write(b"end")
os.symlink("../dir01/sub1/f001.txt", os.path.join(big, "rel-link"))
os.symlink("/etc/hostname", os.path.join(big, "abs-link"))
os.symlink("nowhere", os.path.join(big, "dangling"))
d0 = os.path.join(root, "dir00/sub0")
os.link(os.path.join(d0, sorted(os.listdir(d0))[0]), os.path.join(big, "cross-dir-hard"))
os.link(os.path.join(big, "r5m.bin"), os.path.join(big, "hard1"))
os.link(os.path.join(big, "r5m.bin"), os.path.join(big, "hard-big"))
os.makedirs(os.path.join(root, "empty/dirs/deep"))
os.chmod(os.path.join(root, "dir03"), 0o750)
os.utime(os.path.join(root, "empty"), (1_400_000_000, 1_400_000_000))
PY
[ $? = 0 ] || bail "generate the source tree"
nfiles=$(find "$src" -type f | wc -l)
diag "source tree: $nfiles files, $(du -sh "$src" | cut -f1)"
(cd "$HL_TMP/src" && tar -cf "$HL_TMP/src.tar" tree) || bail "tar the source tree natively"

sums() { (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum); }
meta() { (cd "$1" && find . -type d -printf '%p %y %m %T@\n' -o -printf '%p %y %m %s %l %T@\n' | sed 's/\.[0-9]* *$//' | LC_ALL=C sort); }   # no dir sizes
listing() { tar -tvf "$1" | awk '{ $4 = ""; $5 = ""; print }' | LC_ALL=C sort; }   # drop date/time columns

ok "tar -xf a $nfiles-file archive into the prefix" hl tar -C /hilbert -xf "$HL_TMP/src.tar"
is "$(hl bash -c "$(declare -f sums); sums /hilbert/tree" 2>&1 | md5sum)" "$(sums "$src" | md5sum)" "sha256sum of every file equal after extraction"
a=$(hl bash -c "$(declare -f meta); meta /hilbert/tree" 2>&1); b=$(meta "$src")
is "$(diff <(echo "$b") <(echo "$a") | head -20)" "" "types, modes, sizes, link targets and mtimes equal after extraction"
is "$(hl stat -c '%h %i' /hilbert/tree/big/hard-big 2>&1 | cut -d' ' -f1)" "3" "hard link group survived extraction (nlink 3)"
is "$(hl stat -c %i /hilbert/tree/big/hard-big 2>&1)" "$(hl stat -c %i /hilbert/tree/big/r5m.bin 2>&1)" "hard links share the inode"

ok "tar -cf from the prefix into the prefix" hl tar -C /hilbert -cf /hilbert/re.tar tree
ok "tar -cf from the prefix to the host" hl tar -C /hilbert -cf "$HL_TMP/re.tar" tree
is "$(diff <(listing "$HL_TMP/src.tar") <(listing "$HL_TMP/re.tar") | head -20)" "" "tar -tvf listings equal (names, modes, owners, sizes, links)"
is "$(hl cmp /hilbert/re.tar "$HL_TMP/re.tar" 2>&1; echo rc=$?)" "rc=0" "archive written into the prefix equals the one written to the host"
is "$(hl tar -tvf /hilbert/re.tar 2>&1 | wc -l)" "$(tar -tvf "$HL_TMP/src.tar" | wc -l)" "tar -tvf reads an archive stored in the prefix"
like "$(hl tar -tvf /hilbert/re.tar tree/big/hard-big tree/big/rel-link 2>&1)" "hard-big link to tree/big/|rel-link -> \.\./dir01/sub1/f001\.txt" "hard links and symlinks recorded as such"
mkdir -p "$HL_TMP/out"
ok "extract the re-created archive natively" tar -C "$HL_TMP/out" -xf "$HL_TMP/re.tar"
is "$(sums "$HL_TMP/out/tree" | md5sum)" "$(sums "$src" | md5sum)" "checksums equal after the full round trip"
is "$(diff <(meta "$src") <(meta "$HL_TMP/out/tree") | head -20)" "" "metadata equal after the full round trip"

ok "tar -czf a compressed archive in the prefix" hl tar -C /hilbert -czf /hilbert/tree.tgz tree/dir05 tree/big/text20m.txt
is "$(hl tar -tzf /hilbert/tree.tgz 2>&1 | wc -l)" "$(tar -C "$HL_TMP/src" -czf - tree/dir05 tree/big/text20m.txt | tar -tzf - | wc -l)" "tar -tzf of the compressed archive"
ok "tar -d (compare) the prefix tree against the archive" hl tar -C /hilbert -df "$HL_TMP/src.tar"
ok "rm -rf the extracted tree" hl rm -rf /hilbert/tree
is "$(hl ls -A /hilbert 2>&1)" $'re.tar\ntree.tgz' "only the archives remain"
ok "extract again over a fresh path (reuses freed names)" hl tar -C /hilbert -xf /hilbert/re.tar
is "$(hl bash -c "$(declare -f sums); sums /hilbert/tree" 2>&1 | md5sum)" "$(sums "$src" | md5sum)" "checksums equal after re-extraction from an archive in the prefix"

done_testing

#!/usr/bin/env bash
# hilbert compact: the content of small files (inline in the metadata, or in objects of their
# own) moves into pack objects, online: a reader re-reading the tree meanwhile sees every byte
# as it was, a fresh cache reads the files back from the packs (a ranged GET each), the loose
# objects are deleted and the inline rows leave the metadata; files rewritten, appended to,
# truncated and removed afterwards keep working, a pack goes when its last file does, and one
# left mostly dead is rewritten by the next compaction.
# Runs on S3 (@s3) and PostgreSQL (@pg) too.
# timeout: 600
. "$(dirname "$0")/../lib.sh"
hl_setup --inline-max 4K --block-size 1M
# Writers that leave their small files as they committed them (inline, or objects of their
# own): packing on close is pack-on-close.t's subject.
export HILBERT_PACK_FILES=0
need "$HL_PY" sha256sum:coreutils tar
H=$HILBERT
counter() { "$H" status "$HL_URL" | sed -n "s/^  $1: *\([0-9]*\).*/\1/p"; }
sums() { hlc "$1" bash -c 'cd /hilbert && find . -type f -print0 | sort -z | xargs -0 sha256sum'; }

# 2,000 files of 1 B to 60 KB (1,000 on S3; about a third inline), 500 of them copied by tar,
# two big files.
dirs=4
hl_on_s3 && dirs=2      # an S3 PUT per file written (packing off): half the tree there
out=$(hl "$HL_PY" - "$dirs" <<'PY' 2>&1
import os, random, sys
R = random.Random(7)
for d in range(int(sys.argv[1])):
    os.makedirs("/hilbert/small/d%d" % d)
    for i in range(500):
        with open("/hilbert/small/d%d/f%04d" % (d, i), "wb") as f:
            f.write(R.randbytes(R.choice([1, 100, 3000, 4096, 5000, 20000, 60000])))
with open("/hilbert/big", "wb") as f:
    f.write(R.randbytes(3 << 20))
with open("/hilbert/medium", "wb") as f:
    f.write(R.randbytes(300 << 10))
os.link("/hilbert/small/d0/f0000", "/hilbert/hardlink")
PY
) || bail "writing the tree" "$out"
out=$(hl bash -c 'mkdir /hilbert/src && tar -C /hilbert/small -cf - d0 | tar -C /hilbert/src -xf -' 2>&1) || bail "tar within the volume" "$out"
files=$(hl find /hilbert -type f | wc -l)     # the hard link twice: compact counts inodes
# Blocks of the files too big to pack (over 256 KiB), by inode: the objects that stay.
stay=$(hl "$HL_PY" -c 'import os, sys
seen, n = set(), 0
for d, _, fs in os.walk("/hilbert"):
    for f in fs:
        st = os.lstat(os.path.join(d, f))
        if st.st_ino not in seen and st.st_size > 256 << 10:
            seen.add(st.st_ino); n += (st.st_size + (1 << 20) - 1) >> 20
print(n)')
sums "$HL_CACHE" >"$HL_TMP/before"
objects_before=$(counter objects)
if [ "$objects_before" -gt $((files / 4)) ]; then pass "before: $objects_before objects for $files files"; else fail "before: many small objects" "$objects_before"; fi

# A reader goes over the whole tree again and again while compact runs.
hl bash -c 'cd /hilbert && while [ ! -e "$0/stop" ]; do find . -type f -print0 | sort -z | xargs -0 sha256sum > "$0/during" 2>>"$0/errors" || echo READ-FAILED >> "$0/errors"; cmp -s "$0/during" "$0/before" || echo DIFFERENT >> "$0/errors"; echo x >> "$0/rounds"; done' "$HL_TMP" &
reader=$!
sleep 1
out=$("$H" compact "$HL_URL" 2>"$HL_TMP/compact.err"); rc=$?
sleep 1
touch "$HL_TMP/stop"; wait "$reader"
is "$rc" "0" "compact of the volume in use succeeds"
like "$out" "^compact: $((files - 1)) files in [0-9]+ directories; [0-9]+ small enough, [0-9]+ packed into [1-9][0-9]* packs" "compact says what it packed: $(printf '%s' "$out" | cut -c1-160)"
packed=$(printf '%s' "$out" | sed -n 's/.* \([0-9]*\) packed into.*/\1/p')
packs=$(printf '%s' "$out" | sed -n 's/.* packed into \([0-9]*\) packs.*/\1/p')
if [ "${packed:-0}" -gt $((files * 9 / 10)) ]; then pass "$packed files packed"; else fail "most files packed" "$out"; fi
ok "the reader ran during the compaction" test "$(wc -l <"$HL_TMP/rounds")" -ge 1
if [ -s "$HL_TMP/errors" ]; then fail "and never failed nor saw a changed byte" "$(sort "$HL_TMP/errors" | uniq -c | head -5)"
else pass "and never failed nor saw a changed byte"; fi

sums "$HL_TMP/cold" >"$HL_TMP/after"
ok "a fresh cache reads every file back, from the packs" cmp "$HL_TMP/before" "$HL_TMP/after"
objects=$(counter objects)
if [ "$objects" -eq $((packs + stay)) ] && [ "$packs" -le $((files / 400 + 2)) ]; then
    pass "after: $objects objects ($packs packs, $stay blocks of files too big to pack) for $files files"
else
    fail "a few objects for $files files" "$objects objects, $packs packs"
fi
out=$("$H" gc "$HL_URL" 2>/dev/null)
like "$out" "missing: +0 referenced" "gc: every pack is in the store"
like "$out" "leaked: +0 objects" "gc: the loose objects were deleted, nothing leaked"
like "$out" "pending: +0 objects" "gc: nothing left to delete"
if ! hl_on_pg; then
    is "$(sqlite3 "$HL_META" 'SELECT count(*) FROM hl_inline')" "0" "the inline rows left the metadata"
    is "$(sqlite3 "$HL_META" 'SELECT count(*) FROM hl_pack')" "$packs" "each pack is recorded once"
fi
if ! hl_on_s3; then
    is "$(cd "$HL_OBJECTS" && find chunks -type f | wc -l)" "$objects" "the store holds exactly the counted objects"
    magic=$(find "$HL_OBJECTS/chunks" -type f | while read -r f; do head -c 8 "$f"; echo; done | grep -c '^HLPACK01$')
    is "$magic" "$packs" "each pack object starts with its magic, no other object does"
fi
out=$("$H" compact "$HL_URL" 2>&1)
like "$out" " 0 packed into 0 packs" "compact again: nothing left to pack"

# Packed files stay ordinary files.
out=$(hl bash -c '
    set -e
    cd /hilbert/small/d1
    echo "rewritten" > f0001; [ "$(cat f0001)" = rewritten ]
    cp f0002 /tmp/f0002.$$; echo tail >> f0002; cat /tmp/f0002.$$ - <<< tail | cmp - f0002; rm /tmp/f0002.$$
    truncate -s 1 f0003; [ "$(stat -c %s f0003)" = 1 ]
    mv f0004 ../moved; [ -f ../moved ]
    ln f0005 ../linked; rm f0005; [ -f ../linked ]
    echo ok' 2>&1)
is "$out" "ok" "a packed file is rewritten, appended to, truncated, renamed and linked"
if cmp -s <(sums "$HL_TMP/cold2" | grep ' ./small/d0/') <(grep ' ./small/d0/' "$HL_TMP/before"); then pass "the others read as before"
else fail "the others read as before"; fi

# Removing every file of the tree takes the packs with them.
hl rm -rf /hilbert/small /hilbert/src /hilbert/hardlink /hilbert/medium
objects=$(counter objects)
is "$objects" "3" "after removing the small files only the big file's 3 blocks are left"
"$H" gc "$HL_URL" --delete --grace 0 >/dev/null 2>&1
out=$("$H" gc "$HL_URL" 2>/dev/null)
like "$out" "referenced: +3 objects" "gc: 3 referenced objects"
like "$out" "leaked: +0 objects" "gc: no pack left behind"
like "$out" "pending: +0 objects" "gc: no pending deletion left"

# A pack whose files were mostly removed is rewritten, and the dead bytes go with it.
out=$(hl "$HL_PY" -c '
import os, random
R = random.Random(3)
os.makedirs("/hilbert/sparse")
for i in range(400):
    with open("/hilbert/sparse/s%03d" % i, "wb") as f: f.write(R.randbytes(20000))' 2>&1) || fail "writing /sparse" "$out"
out=$("$H" compact "$HL_URL" /sparse 2>&1)
like "$out" " 400 packed into 1 packs" "400 files of 20 KB: one pack"
hl bash -c 'cd /hilbert/sparse && for i in $(seq 0 399); do [ $((i % 4)) = 0 ] || rm -f s$(printf %03d $i); done'
sums "$HL_CACHE" | grep ' ./sparse/' >"$HL_TMP/sparse.before"
is "$(wc -l <"$HL_TMP/sparse.before")" "100" "300 of them removed: the pack is three quarters dead"
is "$(counter objects)" "4" "  (and still there: 3 blocks of the big file and the pack)"
store_bytes() { du -sb "$HL_OBJECTS/chunks" | cut -f1; }
hl_on_s3 || before=$(store_bytes)
out=$("$H" compact "$HL_URL" /sparse 2>&1)
like "$out" " 100 packed into 1 packs.* 1 of 1 mostly dead packs rewritten" "compact rewrites the 100 live files into a new pack and frees the old one"
is "$(counter objects)" "4" "  one pack for the other"
if ! hl_on_s3; then
    after=$(store_bytes)
    if [ $((before - after)) -gt 5000000 ]; then pass "the store shrank by $((before - after)) bytes"; else fail "the store shrank" "$before -> $after"; fi
fi
if cmp -s "$HL_TMP/sparse.before" <(sums "$HL_TMP/cold3" | grep ' ./sparse/'); then pass "the 100 files read the same from the new pack (fresh cache)"
else fail "the 100 files read the same from the new pack"; fi
out=$("$H" compact "$HL_URL" /sparse --rewrite-below 0 2>&1)
like "$out" " 0 of 0 mostly dead packs" "--rewrite-below 0 rewrites nothing"
out=$("$H" gc "$HL_URL" 2>/dev/null)
like "$out" "leaked: +0 objects" "gc: the old pack is not left behind"
like "$out" "pending: +0 objects" "gc: nothing pending"

# No pack outgrows what a reader keeps whole (16 MiB): 100 files of just under 256 KiB that
# do not compress are 25 MiB to pack, and 65 of them would be more than 16 MiB.
out=$(hl "$HL_PY" -c '
import os
os.makedirs("/hilbert/large")
for i in range(100):
    with open("/hilbert/large/l%03d" % i, "wb") as f: f.write(os.urandom((256 << 10) - 1024))' 2>&1) || fail "writing /large" "$out"
sums "$HL_CACHE" | grep ' ./large/' >"$HL_TMP/large.before"
out=$("$H" compact "$HL_URL" /large 2>&1)
like "$out" " 100 packed into 2 packs" "100 files of 255 KiB: two packs"
if ! hl_on_s3; then
    is "$(find "$HL_OBJECTS/chunks" -type f -size +16384k | wc -l)" "0" "no object in the store is over 16 MiB"
fi
if ! hl_on_pg; then
    largest=$(sqlite3 "$HL_META" 'SELECT max(size) FROM hl_pack')
    if [ "${largest:-0}" -gt $((15 << 20)) ] && [ "$largest" -le $((16 << 20)) ]; then pass "the largest pack: $largest bytes, at most 16 MiB"
    else fail "the largest pack is at most 16 MiB" "$largest"; fi
fi
if cmp -s "$HL_TMP/large.before" <(sums "$HL_TMP/cold4" | grep ' ./large/'); then pass "the 100 files read back from their packs (fresh cache)"
else fail "the 100 files read back from their packs"; fi
# A pack holds at most --pack-files files (4,096 by default), however small they are.
out=$(hl "$HL_PY" -c '
import os
os.makedirs("/hilbert/tiny")
for i in range(250):
    with open("/hilbert/tiny/t%03d" % i, "wb") as f: f.write(b"%d\n" % i)' 2>&1) || fail "writing /tiny" "$out"
out=$("$H" compact "$HL_URL" /tiny --pack-files 100 2>&1)
like "$out" " 250 packed into 3 packs" "250 files of a few bytes, --pack-files 100: three packs"
if ! hl_on_pg; then
    is "$(sqlite3 "$HL_META" 'SELECT max(pieces) FROM hl_pack')" "100" "  the fullest holds 100 files"
fi
ok "  and they read back" test "$(hl cat /hilbert/tiny/t042 /hilbert/tiny/t249)" = "$(printf '42\n249')"
out=$("$H" compact "$HL_URL" --pack-files 0 2>&1); rc=$?
isnt "$rc" "0" "--pack-files 0 is refused"
like "$out" "pack-files: between 1 and 65536" "  and says why"
out=$("$H" compact "$HL_URL" --pack-size 32M 2>&1); rc=$?
isnt "$rc" "0" "a --pack-size over 16M is refused"
like "$out" "pack-size: between 64K and 16M" "  and says why"

# On PostgreSQL a compaction costs a few round trips per page of a directory and per pack, not
# one per file (it was 4): 2,000 inline files through a proxy that counts them.
if hl_on_pg; then
    out=$(hl "$HL_PY" -c '
import os
os.makedirs("/hilbert/trips")
for i in range(2000):
    with open("/hilbert/trips/t%04d" % i, "wb") as f: f.write(os.urandom(1000))' 2>&1) || fail "writing /trips" "$out"
    hl_pg_proxy 120
    hl_pg_proxy_say zero >/dev/null
    out=$("$H" compact "${HL_URL/:$PGB_PORT\//:$HL_PG_PROXY_PORT/}" /trips 2>&1)
    like "$out" " 2000 packed into 1 packs" "2,000 files of 1,000 bytes compacted through the proxy"
    turns=$(hl_pg_proxy_say stats | sed -n 's/.*"turns": *\([0-9]*\).*/\1/p')
    if [ "${turns:-99999}" -le 100 ]; then pass "in $turns round trips"; else fail "in at most 100 round trips" "$turns"; fi
    is "$(hl cat /hilbert/trips/t0000 | wc -c)" "1000" "  and they read back"
fi

# Errors: one line each.
out=$("$H" compact "$HL_URL" /no/such/dir 2>&1); rc=$?
isnt "$rc" "0" "compact of a missing path fails"
like "$out" "compact: /no/such/dir: no such file or directory in the volume" "  and says so"
out=$("$H" compact "$HL_URL" relative 2>&1); rc=$?
isnt "$rc" "0" "a relative path is refused"
out=$("$H" compact "sqlite://$HL_TMP/none/meta.db" 2>&1); rc=$?
isnt "$rc" "0" "compact of a missing volume fails"
like "$out" "no volume at" "  and says so"
out=$("$H" compact "$HL_URL" --pack-size 1K 2>&1); rc=$?
isnt "$rc" "0" "a silly --pack-size is refused"
out=$("$H" compact "$HL_URL" --rewrite-below 150 2>&1); rc=$?
isnt "$rc" "0" "a --rewrite-below over 100 is refused"
done_testing

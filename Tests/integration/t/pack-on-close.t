#!/usr/bin/env bash
# Small files go into packs as the processes that write them go on: every close commits the
# file (inline, durable), and each 1,024 files a process committed (and what is left when it
# exits, from 64 files on) are stored as one pack object and moved there in one transaction.
# A tree of 4 KiB files then costs about one object per 1,000 files and its bytes leave the
# metadata; the files read back the same from the writer's node and from a fresh cache.
# Processes that wrote a few files, and killed ones, leave theirs inline for hilbert compact.
# HILBERT_PACK_FILES sets the files per pack (0: off). Runs on S3 (@s3) and PostgreSQL (@pg).
# timeout: 600
. "$(dirname "$0")/../lib.sh"
hl_setup
need "$HL_PY" sha256sum:coreutils
H=$HILBERT
counter() { "$H" status "$HL_URL" | sed -n "s/^  $1: *\([0-9]*\).*/\1/p"; }
sums() { hlc "$1" bash -c 'cd /hilbert && find . -type f -print0 | sort -z | xargs -0 sha256sum'; }
inline_rows() { if hl_on_pg; then echo skip; else sqlite3 "$HL_META" 'SELECT count(*) FROM hl_inline'; fi; }
packs() { if hl_on_pg; then echo skip; else sqlite3 "$HL_META" 'SELECT count(*) FROM hl_pack'; fi; }

unset HILBERT_PACK_FILES   # the default, on every engine
# One process writes 3,000 files of 4 KiB: three packs (1,024 + 1,024 + 952 at its exit).
out=$(hl "$HL_PY" - <<'PY' 2>&1
import os
os.makedirs("/hilbert/run1")
for i in range(3000):
    with open("/hilbert/run1/out%05d.dat" % i, "wb") as f:
        f.write(os.urandom(4096))
PY
) || bail "python writes 3,000 files" "$out"
objects=$(counter objects)
is "$objects" "3" "3,000 files of 4 KiB written by one process: 3 objects (packs)"
hl_on_pg || is "$(packs)" "3" "  recorded as packs"
hl_on_pg || is "$(inline_rows)" "0" "  and none of their bytes stayed in the metadata"
sums "$HL_CACHE" >"$HL_TMP/writer"
sums "$HL_TMP/fresh" >"$HL_TMP/fresh.sums"
ok "the files read the same on the writer's node and from a fresh cache (another node)" cmp "$HL_TMP/writer" "$HL_TMP/fresh.sums"
is "$(wc -l <"$HL_TMP/writer")" "3000" "  all 3,000 of them"
out=$(hl bash -c 'cd /hilbert/run1 && stat -c "%s %a" out00000.dat out02999.dat && du -k out00000.dat | cut -f1')
is "$out" $'4096 644\n4096 644\n4' "sizes, modes and du are a regular file's"

# A shell loop (one bash process: echo is a builtin, each file closed by the dup2 that
# restores stdout) packs them before its last command replaces it (exec).
hl bash -c 'mkdir /hilbert/loop && for i in $(seq 1 300); do echo "line $i" > /hilbert/loop/f$i; done; /bin/true'
is "$(counter objects)" "4" "300 files from a bash loop: one more pack"
is "$(hl cat /hilbert/loop/f17 /hilbert/loop/f300)" $'line 17\nline 300' "  read back"

# That dup2 is a close: another node (a cache and a mount namespace of its own) reads the file
# while bash still runs (before, it stayed in bash's staging area until bash exited). A reader
# on bash's node would commit a staging file whose writers are gone itself, dup2 or not.
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
    out=$(hl bash -c 'echo first > /hilbert/dup2-closed; env -u LD_PRELOAD -u HILBERT_MOUNTS unshare --mount "$0" run --mount "/hilbert=$1" --cache "$2" -- cat /hilbert/dup2-closed' "$H" "$HL_URL" "$HL_TMP/node2" 2>&1)
    is "$out" "first" "bash's 'echo > f' is committed when bash restores stdout: another node reads it at once"
else
    skip "bash's 'echo > f' is committed when bash restores stdout: needs root and unshare (util-linux): a mount namespace stands for another node"
fi
if ! hl_on_pg; then
    is "$(hl bash -c 'echo second > /hilbert/dup2-closed; sqlite3 "$0" "SELECT count(*) FROM hl_staging"' "$HL_META")" "0" \
       "  its staging row is gone before bash's next command"
fi
is "$(counter objects)" "4" "  (one file: inline, no pack)"

# Processes that write one file each leave them inline (an object each would be worse).
hl bash -c 'mkdir /hilbert/one; for i in 1 2 3 4 5; do /bin/sh -c "echo one-$i > /hilbert/one/f$i"; done'
is "$(counter objects)" "4" "five processes writing one file each add no object"
hl_on_pg || is "$(inline_rows)" "6" "  their files stay inline (and the one bash wrote above)"
out=$("$H" compact "$HL_URL" /one 2>&1)
like "$out" " 5 packed into 1 packs" "hilbert compact packs them later"
is "$(hl cat /hilbert/one/f3)" "one-3" "  and they read the same"

# A killed writer: what it committed is there, inline; nothing is lost.
hl "$HL_PY" -c '
import os, signal
os.makedirs("/hilbert/killed")
for i in range(500):
    with open("/hilbert/killed/k%03d" % i, "w") as f: f.write("kept %d\n" % i)
os.kill(os.getpid(), signal.SIGKILL)' 2>/dev/null
is "$(hl cat /hilbert/killed/k000 /hilbert/killed/k499 2>&1)" $'kept 0\nkept 499' "a writer killed with SIGKILL: every file it closed reads back"
is "$(hl ls /hilbert/killed | wc -l)" "500" "  all 500 of them"
is "$(counter objects)" "5" "  (its files are inline: no pack of its own; the 5th object is compact's)"

# Forked children: each packs its own files; the parent's stay the parent's.
out=$(hl "$HL_PY" - <<'PY' 2>&1
import os
os.makedirs("/hilbert/forked")
def write(tag, n):
    for i in range(n):
        with open("/hilbert/forked/%s-%04d" % (tag, i), "wb") as f: f.write(tag.encode() * 1000)
write("parent", 100)
kids = []
for k in range(3):
    pid = os.fork()
    if pid == 0:
        write("child%d" % k, 200)
        os._exit(0) if k == 0 else None
        raise SystemExit(0)
    kids.append(pid)
for p in kids: os.waitpid(p, 0)
write("parent2", 100)
PY
) || fail "forked writers" "$out"
# child0 left with _exit (no exit handlers): its 200 files stay inline; the other two packed
# theirs; the parent packed its 200.
is "$(counter objects)" "8" "forked writers: a pack for each child that exited normally and one for the parent"
is "$(hl bash -c 'cat /hilbert/forked/child0-0199 | head -c 12; echo; cat /hilbert/forked/parent2-0099 | head -c 14')" \
   $'child0child0\nparent2parent2' "  every file reads back"

# Packing off, and a smaller pack size.
HILBERT_PACK_FILES=0 hl "$HL_PY" -c '
import os
os.makedirs("/hilbert/off")
for i in range(200):
    open("/hilbert/off/f%d" % i, "w").write("x")'
is "$(counter objects)" "8" "HILBERT_PACK_FILES=0: no pack"
HILBERT_PACK_FILES=100 hl "$HL_PY" -c '
import os
os.makedirs("/hilbert/hundred")
for i in range(250):
    open("/hilbert/hundred/f%d" % i, "w").write("y" * 100)'
is "$(counter objects)" "10" "HILBERT_PACK_FILES=100: 250 files, 2 packs (the 50 left at exit are too few: inline)"

out=$("$H" gc "$HL_URL" 2>/dev/null)
like "$out" "missing: +0 referenced" "gc: every pack is in the store"
like "$out" "leaked: +0 objects" "gc: nothing leaked"
done_testing

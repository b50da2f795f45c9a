#!/usr/bin/env bash
# Maintenance: `hilbert gc` finds leaked objects (and deletes them only with --delete, never
# recent ones, foreign ones only with --delete-foreign), finishes pending deletions and never
# touches live data; `hilbert objbench` on a volume and on a plain directory; `hilbert status`
# reports the store's reachability.
. "$(dirname "$0")/../lib.sh"
hl_setup
# gc's view of objects released at once (deferred deletion is storage.t's subject).
export HILBERT_KEEP_REPLACED=0
need "$HL_PY"
H=$HILBERT
keys() { (cd "$HL_OBJECTS" && find chunks -type f | sort); }

hl bash -c 'head -c 9437184 /dev/urandom > /hilbert/big; head -c 100000 /dev/urandom > /hilbert/mid; mkdir /hilbert/d; seq 1 300000 > /hilbert/d/seq; echo small > /hilbert/small'
sums=$(hl md5sum /hilbert/big /hilbert/mid /hilbert/d/seq /hilbert/small)
live=$(keys)
nlive=$(printf '%s\n' "$live" | wc -l)
out=$("$H" gc "$HL_URL" 2>/dev/null); rc=$?
is "$rc" "0" "gc of a fresh volume succeeds"
like "$out" "referenced: +$nlive objects" "gc counts the $nlive referenced objects"
like "$out" "leaked: +0 objects" "a fresh volume has no leaked objects"
like "$out" "staging: +0 files" "gc reports the staging files"

# Objects of a removed file: their ids were handed out, nothing references them any more.
hl bash -c 'head -c 9000000 /dev/urandom > /hilbert/gone'
freed=$(comm -13 <(printf '%s\n' "$live") <(keys))
hl rm /hilbert/gone
is "$(printf '%s\n' "$freed" | wc -l)" "3" "a 9 MB file took three objects"
is "$(keys)" "$live" "removing the file deleted them"
set -- $freed
leaked=$1 recent=$2 pending=$3
for k in "$leaked" "$recent" "$pending"; do mkdir -p "$HL_OBJECTS/$(dirname "$k")"; head -c 1000 /dev/urandom > "$HL_OBJECTS/$k"; done
mkdir -p "$HL_OBJECTS/chunks/9/9999"
echo foreign > "$HL_OBJECTS/chunks/9/9999/9999999"          # an id never handed out
echo junk > "$HL_OBJECTS/chunks/notes.txt"                   # not an object key
touch -d '3 hours ago' "$HL_OBJECTS/$leaked" "$HL_OBJECTS/$pending" "$HL_OBJECTS/chunks/9/9999/9999999" "$HL_OBJECTS/chunks/notes.txt"
# a pending deletion, as a process that died between its commit and the delete leaves it
pid=${pending##*/}
"$HL_PY" -c "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('INSERT INTO hl_delobj(object_id, stored_len) VALUES(?, 1000)', ($pid,)); c.commit()" "$HL_META"

out=$("$H" status "$HL_URL" 2>&1)
like "$out" "store access: +file://$HL_OBJECTS reachable \([0-9]+ ms\)" "status: the store is reachable"
like "$out" "pending: +1 objects, 1000 bytes to delete" "status: one pending deletion"
like "$out" "objects: +$nlive" "status: objects from the metadata counters"

out=$("$H" gc "$HL_URL" -v 2>"$HL_TMP/gc.err"); rc=$?
is "$rc" "0" "gc report succeeds"
like "$out" "leaked: +1 objects, 1000 bytes" "gc finds the old unreferenced object"
like "$out" "^  leaked $leaked 1000$" "gc -v names it"
like "$out" "recent: +1 objects, 1000 bytes" "an unreferenced object modified within the grace period is recent"
like "$out" "beyond counter: +1 objects" "an id beyond next_object is reported"
like "$out" "foreign: +1 objects" "a key that is not an object key is reported"
like "$out" "pending: +1 objects, 1000 bytes.*1 pending deletions" "the pending deletion is reported, not as leaked"
like "$(cat "$HL_TMP/gc.err")" "gc: listing" "progress goes to stderr"
ok "a report deletes nothing" test -f "$HL_OBJECTS/$leaked" -a -f "$HL_OBJECTS/$pending"

nok "--delete-foreign needs --delete" "$H" gc "$HL_URL" --delete-foreign
nok "a bad --grace is refused" "$H" gc "$HL_URL" --grace soon
out=$("$H" gc "$HL_URL" --delete 2>/dev/null); rc=$?
is "$rc" "0" "gc --delete succeeds"
like "$out" "deleted: +1 objects, 1000 bytes.*1 pending deletions finished" "gc --delete deletes the leaked object and finishes the pending deletion"
ok "the leaked object is gone" test ! -e "$HL_OBJECTS/$leaked"
ok "the pending object is gone" test ! -e "$HL_OBJECTS/$pending"
ok "the recent object stays" test -f "$HL_OBJECTS/$recent"
ok "foreign objects stay" test -f "$HL_OBJECTS/chunks/9/9999/9999999" -a -f "$HL_OBJECTS/chunks/notes.txt"
is "$("$HL_PY" -c "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM hl_delobj').fetchone()[0])" "$HL_META")" "0" "the pending deletion is forgotten"
is "$(hl md5sum /hilbert/big /hilbert/mid /hilbert/d/seq /hilbert/small)" "$sums" "every file reads back identically"

out=$("$H" gc "$HL_URL" --delete --delete-foreign --grace 0 2>/dev/null)
like "$out" "deleted: +3 objects" "--delete-foreign --grace 0 removes the recent and the foreign objects"
is "$(keys)" "$live" "only the live objects are left"
is "$(hlc "$HL_TMP/other-node" md5sum /hilbert/big /hilbert/mid /hilbert/d/seq /hilbert/small)" "$sums" "and they read back identically on another node"
like "$("$H" gc "$HL_URL" 2>/dev/null)" "listed: +$nlive objects" "a second run finds nothing more"
out=$("$H" gc "sqlite://$HL_TMP/none/meta.db" 2>&1); rc=$?
isnt "$rc" "0" "gc of a missing volume fails"
like "$out" "no volume at" "and says why"

# objbench
out=$("$H" objbench "$HL_URL" --small 200 --large 4 --big 8M 2>&1); rc=$?
is "$rc" "0" "objbench on the volume's store passes"
like "$out" "^objbench: [0-9]+ checks passed, 0 failed$" "objbench prints its summary"
like "$out" "^put 4 KiB +200 +819200 " "objbench prints the timing table"
unlike "$out" "^FAIL" "no check fails"
is "$(find "$HL_OBJECTS" -path '*objbench*' -type f | wc -l)" "0" "objbench leaves no objects behind"
is "$(keys)" "$live" "objbench did not touch the volume's objects"
mkdir -p "$HL_TMP/plain"
out=$("$H" objbench --store "file://$HL_TMP/plain" --small 100 --large 2 --big 0 --threads 3 2>&1); rc=$?
is "$rc" "0" "objbench on a plain directory passes"
like "$out" ", 3 threads$" "--threads is used"
is "$(find "$HL_TMP/plain" -type f | wc -l)" "0" "and leaves no files there"
ok "objbench --store with a plain absolute directory" "$H" objbench --store "$HL_TMP/plain" --small 10 --large 1 --big 0
nok "objbench needs a volume or --store" "$H" objbench
nok "objbench refuses a relative directory" "$H" objbench --store plain
out=$("$H" objbench --store "s3://bucket/prefix" 2>&1)
like "$out" "not available|objbench" "an unsupported store scheme is explained"

# leftovers of killed puts in the directory store's .tmp/: removed once old, fresh ones kept
mkdir -p "$HL_OBJECTS/.tmp"
head -c 1048576 /dev/urandom >"$HL_OBJECTS/.tmp/4242-1"; touch -d '2 hours ago' "$HL_OBJECTS/.tmp/4242-1"
head -c 1048576 /dev/urandom >"$HL_OBJECTS/.tmp/4242-2"
out=$("$H" gc "$HL_URL" --delete 2>&1)
like "$out" "temporaries: +1 objects, 1048576 bytes" "gc --delete removes a killed put's leftover in .tmp/"
is "$(ls "$HL_OBJECTS/.tmp")" "4242-2" "  and keeps one modified within the hour (a put may be writing it)"
done_testing

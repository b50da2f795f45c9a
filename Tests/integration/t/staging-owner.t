#!/usr/bin/env bash
# A writer killed with kill -9 leaves a staging row. Another cache directory on the same node
# (another job's HILBERT_CACHE) resolves it when its owner is provably gone (SEMANTICS.md,
# "Object storage": staging belongs to a cache directory): the bytes are committed from the
# dead writer's cache when it is still there; when that directory was removed too (Slurm
# wiping a job's TMPDIR), the row is dropped, the file keeps its last committed version and
# the loss is said once. A writer that is alive is waited for, within a bound (EBUSY).
# A volume of the previous release (metadata schema v1) opens and gets the owner column.
. "$(dirname "$0")/../lib.sh"
hl_setup
need python3 sqlite3:sqlite3 unshare:util-linux
[ "$(id -u)" = 0 ] || { skip "needs root (a mount namespace stands for another node)"; done_testing; }

# killed_writer CACHE FILE TEXT — a process under the shim alone (no hilbert run, which would
# commit after it) appends TEXT to FILE and is killed with SIGKILL before closing
killed_writer() {
    env LD_PRELOAD="$HL_SHIM" HILBERT_MOUNTS="/hilbert=$HL_URL" HILBERT_CACHE="$1" python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
os.write(fd, sys.argv[2].encode())
os.kill(os.getpid(), 9)' "$2" "$3"
}
rows() { sqlite3 "$HL_META" 'SELECT count(*) FROM hl_staging'; }

# the dead writer's cache is still there: its bytes are committed by the next writer elsewhere
hl sh -c 'printf "base\n" > /hilbert/kept' || bail "prepare"
killed_writer "$HL_TMP/jobA" /hilbert/kept $'from-A\n'
is "$(rows)" "1" "a killed writer leaves a staging row"
start=$(date +%s%N)
out=$(hlc "$HL_TMP/jobB" sh -c 'printf "from-B\n" >> /hilbert/kept && cat /hilbert/kept' 2>&1)
ms=$(( ($(date +%s%N) - start) / 1000000 ))
is "$out" $'base\nfrom-A\nfrom-B' "another cache on this node commits the dead writer's bytes, then appends"
ok "… without waiting for the 2 s bound (${ms} ms)" test "$ms" -lt 1500
is "$(hlc "$HL_TMP/jobC" cat /hilbert/kept)" $'base\nfrom-A\nfrom-B' "… and a third cache reads both"

# the dead writer's cache was removed: the row is dropped, the loss said once
hl sh -c 'printf "committed\n" > /hilbert/lost' || bail "prepare"
killed_writer "$HL_TMP/jobD" /hilbert/lost $'never-committed\n'
rm -rf "$HL_TMP/jobD"
out=$(hlc "$HL_TMP/jobE" sh -c 'cat /hilbert/lost; printf "new\n" >> /hilbert/lost && cat /hilbert/lost' 2>&1)
like "$out" "^committed$" "with the dead writer's cache gone, readers see the last committed version"
like "$out" "hilbert: /hilbert inode [0-9]+: uncommitted data staged in $HL_TMP/jobD by process [0-9]+, which is gone with that directory, is lost" \
    "… the loss is said"
like "$out" $'committed\nnew$' "… and writing works again at once"
is "$(printf '%s\n' "$out" | grep -c '^hilbert:')" "1" "… once"
is "$(hlc "$HL_TMP/jobF" sh -c 'printf "again\n" >> /hilbert/lost; cat /hilbert/lost' 2>&1)" $'committed\nnew\nagain' "later writers see nothing of it"
is "$(rows)" "0" "no staging row is left"

# from another node (here: another mount namespace) the dead writer cannot be seen: waited for
hl sh -c 'printf "r0\n" > /hilbert/remote' || bail "prepare"
killed_writer "$HL_TMP/jobJ" /hilbert/remote $'r1\n'
out=$(hlnode "$HL_TMP/jobK" sh -c 'printf "r2\n" >> /hilbert/remote' 2>&1); rc=$?
isnt "$rc" 0 "from another node a dead writer's row is not judged: the write waits, then fails"
like "$out" "Device or resource busy" "… with EBUSY"
is "$(hlnode "$HL_TMP/jobK" cat /hilbert/remote)" "r0" "… and that node reads the last committed version"
is "$(hlc "$HL_TMP/jobL" sh -c 'printf "r2\n" >> /hilbert/remote; cat /hilbert/remote')" $'r0\nr1\nr2' "on the writer's node the row is resolved and nothing is lost"

# a writer that is alive (in another cache) is waited for, not overridden
hl sh -c ': > /hilbert/busy' || bail "prepare"
rm -f "$HL_TMP/hold.go"
env LD_PRELOAD="$HL_SHIM" HILBERT_MOUNTS="/hilbert=$HL_URL" HILBERT_CACHE="$HL_TMP/jobG" python3 -c '
import os, sys, time
f = open("/hilbert/busy", "a"); f.write("held\n"); f.flush()
open(sys.argv[1] + ".ready", "w").close()
while not os.path.exists(sys.argv[1]): time.sleep(0.05)
f.close()' "$HL_TMP/hold.go" &
holder=$!
for _ in $(seq 200); do [ -e "$HL_TMP/hold.go.ready" ] && break; sleep 0.05; done
out=$(hlc "$HL_TMP/jobH" sh -c 'echo other >> /hilbert/busy' 2>&1); rc=$?
isnt "$rc" 0 "a live writer in another cache: a second writer elsewhere fails (EBUSY)"
like "$out" "Device or resource busy" "… with EBUSY"
touch "$HL_TMP/hold.go"; wait $holder
is "$(hlc "$HL_TMP/jobI" cat /hilbert/busy)" "held" "… and the live writer's bytes are committed when it closes"

# a volume of the previous release (schema v1: no owner column) still opens
hl_format old >/dev/null 2>&1 || bail "format a second volume"
sqlite3 "$HL_TMP/old/meta.db" 'ALTER TABLE hl_delobj DROP COLUMN due_s; DROP INDEX hl_block_packed; ALTER TABLE hl_block DROP COLUMN obj_off; DROP TABLE hl_pack; ALTER TABLE hl_staging DROP COLUMN owner; ALTER TABLE hl_inline DROP COLUMN crc; DROP TABLE hl_upload; PRAGMA user_version = 1;' || bail "make it v1"
is "$(sqlite3 "$HL_TMP/old/meta.db" 'PRAGMA user_version')" "1" "a v1 volume"
out=$("$HILBERT" run --mount "/old=sqlite://$HL_TMP/old/meta.db" --cache "$HL_CACHE" -- sh -c 'echo v1 > /old/f && cat /old/f' 2>&1)
is "$out" "v1" "… opens, is written and read"
is "$(sqlite3 "$HL_TMP/old/meta.db" 'PRAGMA user_version')" "$(sqlite3 "$HL_META" 'PRAGMA user_version')" "… and is migrated to the current schema"
like "$(sqlite3 "$HL_TMP/old/meta.db" "SELECT sql FROM sqlite_master WHERE name='hl_staging'")" "owner TEXT" "… with the owner column"
done_testing

#!/usr/bin/env bash
# A write transaction whose connection breaks with its COMMIT in flight goes on running on the
# server (its backend works through what it received), so it may commit after the process has
# asked a new connection whether it did. Commits are held on the server at a gate (an advisory
# lock this test holds, taken by triggers of its own) while the test cuts the connection, and
# released after the process has asked:
#   late    — held after its token went in (at COMMIT): it lands, so the call must succeed;
#   held    — held before its token went in: the process decides it did not land, so it must
#             never land (the call fails with EIO and the file is not there);
#   unknown — held at COMMIT, and the connection that asks is cut too: the outcome is unknown
#             (EIO), so the objects the commit references must stay: a file's blocks, and a
#             pack that small files were moved into.
# pg-faults.t cuts at random moments; "late" is the case it found (a create reported failed
# that landed anyway: the file was left at 0 bytes).
# timeout: 240
. "$(dirname "$0")/../lib.sh"
need psql:postgresql-client-15 pgbouncer:pgbouncer python3
hl_setup
H=$HILBERT
hl_pg_own_server

hl_pg_proxy 200
URL="postgres://hilbert@127.0.0.1:$HL_PG_PROXY_PORT/hilbert?schema=outcome&timeout=20"
out=$("$H" format "$URL" --bucket "$HL_TMP/objects" 2>&1) || bail "format" "$out"
job() { "$H" run --mount "/hilbert=$URL" --cache "$HL_CACHE" -- "$@"; }
sql() { psql -X -w -Atq -v ON_ERROR_STOP=1 "$PG_URL" -c "$1" 2>&1; }

GATE=4242
out=$(sql "
CREATE FUNCTION outcome.test_gate() RETURNS trigger LANGUAGE plpgsql AS \$\$
    BEGIN PERFORM pg_advisory_xact_lock_shared($GATE); RETURN NULL; END \$\$;
CREATE CONSTRAINT TRIGGER test_late AFTER INSERT ON outcome.hl_edge DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.name = 'late'::bytea) EXECUTE FUNCTION outcome.test_gate();
CREATE TRIGGER test_held AFTER INSERT ON outcome.hl_edge
    FOR EACH ROW WHEN (NEW.name = 'held'::bytea) EXECUTE FUNCTION outcome.test_gate();
CREATE CONSTRAINT TRIGGER test_blocks AFTER UPDATE ON outcome.hl_node DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.b0_object IS DISTINCT FROM OLD.b0_object) EXECUTE FUNCTION outcome.test_gate();
CREATE CONSTRAINT TRIGGER test_extents AFTER INSERT ON outcome.hl_extent DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION outcome.test_gate();") || bail "the gate triggers" "$out"

# The gate: a session of psql that holds the advisory lock until told to let go.
coproc GATEKEEPER { psql -X -w -Atq "$PG_URL" >"$HL_TMP/gate.out" 2>&1; }
at_cleanup "kill $GATEKEEPER_PID 2>/dev/null"
gate_locked() { [ -n "$(sql "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = $GATE AND granted AND mode = 'ExclusiveLock'")" ]; }
close_gate() {
    echo "SELECT pg_advisory_lock($GATE);" >&"${GATEKEEPER[1]}"
    for _ in $(seq 100); do gate_locked && return 0; sleep 0.1; done
    bail "the gate did not close" "$(cat "$HL_TMP/gate.out")"
}
open_gate() { echo "SELECT pg_advisory_unlock($GATE);" >&"${GATEKEEPER[1]}"; }

# The backend waiting at the gate (its pid), waited for up to 20 s.
held_backend() {
    local pid
    for _ in $(seq 200); do
        pid=$(sql "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory' LIMIT 1")
        [ -n "$pid" ] && { echo "$pid"; return 0; }
        sleep 0.1
    done
    return 1
}
backend_done() {   # backend_done PID: waits up to 20 s for its transaction to end
    for _ in $(seq 200); do
        [ -z "$(sql "SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND state IS DISTINCT FROM 'idle'")" ] && return 0
        sleep 0.1
    done
    return 1
}

cat >"$HL_TMP/create.py" <<'PY'
import errno, sys
name, out, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    with open("/hilbert/" + name, "w") as f:
        f.write((name * size)[:size])
    result = "ok"
except OSError as e:
    result = "fail " + errno.errorcode.get(e.errno, str(e.errno))
with open(out, "w") as o:
    o.write(result + "\n")
PY
result_of() {   # result_of NAME: the job's outcome line, waited for up to 30 s
    for _ in $(seq 300); do [ -s "$HL_TMP/$1.result" ] && break; sleep 0.1; done
    cat "$HL_TMP/$1.result" 2>/dev/null
}
# "N bytes whole", "N bytes wrong", "absent", or the error reading it; read through a cache
# of its own (another node's view: no read copy left by the writer)
content_of() {
    local cache
    cache=$(mktemp -d "$HL_TMP/reader.XXXXXX")
    "$H" run --mount "/hilbert=$URL" --cache "$cache" -- python3 -c '
import os, sys
name, size = sys.argv[1], int(sys.argv[2])
p = "/hilbert/" + name
if not os.path.exists(p): print("absent"); sys.exit()
got = open(p).read()
print("%d bytes %s" % (len(got), "whole" if got == (name * size)[:size] else "wrong"))' "$1" "$2" 2>&1 | tail -1
}
# waits up to 3 s for the process to ask whether its commit landed (its insert of the token
# waits for the transaction at the gate), or to have given up
asking() {
    for _ in $(seq 30); do
        [ -s "$HL_TMP/$1.result" ] && return 1
        [ -n "$(sql "SELECT 1 FROM pg_stat_activity WHERE wait_event = 'transactionid'")" ] && return 0
        sleep 0.1
    done
    return 1
}

# held_create NAME SIZE DESC [VAR=VALUE…] — with the gate closed, a job (its pid: $w) creates
# NAME with SIZE bytes in the background, its environment with VAR=VALUE…; one assertion (DESC)
# that its commit comes to wait at the gate (the backend's pid: $pid)
held_create() {
    local name=$1 size=$2 desc=$3
    shift 3
    close_gate
    ([ $# = 0 ] || export "$@"; job python3 "$HL_TMP/create.py" "$name" "$HL_TMP/$name.result" "$size" >"$HL_TMP/$name.out" 2>"$HL_TMP/$name.err") &
    w=$!
    pid=$(held_backend)
    is "$?" "0" "$desc"
}

# ---------------------------------------------------------------- late: lands after the cut
held_create late 400 "the create of 'late' waits at the gate, at its COMMIT"
hl_pg_proxy_say cut >/dev/null
asking late
open_gate
is "$(result_of late)" "ok" "the create that landed after the connection broke is reported done"
wait $w
is "$(content_of late 400)" "400 bytes whole" "... and the file is whole"

# ---------------------------------------------------------------- held: held before its token
held_create held 400 "the create of 'held' waits at the gate, before its token"
hl_pg_proxy_say cut >/dev/null
is "$(result_of held)" "fail EIO" "the create whose connection broke before it could land fails with EIO"
open_gate
backend_done "$pid"; is "$?" "0" "its transaction ended on the server once the gate opened"
wait $w
is "$(content_of held 400)" "absent" "... and it never landed: no file"
like "$(cat "$HL_TMP/held.err")" "it was not applied" "... as the process said"

# ---------------------------------------------------------------- unknown: a file's blocks
held_create unknown 300000 "the commit of 'unknown' (300,000 bytes: blocks) waits at the gate, at its COMMIT"
hl_pg_proxy_say cut >/dev/null
asking unknown; is "$?" "0" "... the process asks whether it landed"
hl_pg_proxy_say cut >/dev/null
is "$(result_of unknown)" "fail EIO" "when that connection is cut too, the close fails with EIO"
like "$(cat "$HL_TMP/unknown.err")" "cannot be checked now" "... saying that whether it landed is unknown"
open_gate
backend_done "$pid"
wait $w
is "$(content_of unknown 300000)" "300000 bytes whole" "it landed, and its blocks are there: the file is whole"

# ---------------------------------------------------------------- unknown: a pack
held_create packed 3000 "moving a small file into a pack (HILBERT_PACK_FILES=1) waits at the gate, at its COMMIT" HILBERT_PACK_FILES=1
hl_pg_proxy_say cut >/dev/null
asking packed; is "$?" "0" "... the process asks whether it landed"
hl_pg_proxy_say cut >/dev/null
is "$(result_of packed)" "ok" "when that connection is cut too, the close (committed before) succeeds"
open_gate
backend_done "$pid"
wait $w
is "$(sql "SELECT count(*) FROM outcome.hl_pack")" "1" "the move landed: the volume has a pack"
is "$(content_of packed 3000)" "3000 bytes whole" "... and the pack is there: the file is whole"

st=$("$H" status "$URL" 2>&1)
n=$(job sh -c 'find /hilbert | wc -l')
like "$st" "inodes: +$n\b" "the inode counter agrees with the tree ($n entries)"
sql "DROP TRIGGER test_late ON outcome.hl_edge; DROP TRIGGER test_held ON outcome.hl_edge; DROP TRIGGER test_blocks ON outcome.hl_node; DROP TRIGGER test_extents ON outcome.hl_extent; DROP FUNCTION outcome.test_gate();" >/dev/null
echo '\q' >&"${GATEKEEPER[1]}"

done_testing

#!/usr/bin/env bash
# Faults of the PostgreSQL metadata engine, on a server of this test's own (the suite's is
# shared by tests running in parallel): PostgreSQL restarted during a job, PgBouncer restarted,
# connections cut while commits are in flight (their outcome unknown to the client). Every call
# either succeeds or fails with one hilbert: line and an errno; afterwards the job goes on;
# nothing a call reported as done is lost, and nothing is applied twice or half.
# timeout: 420
. "$(dirname "$0")/../lib.sh"
hl_setup
H=$HILBERT
hl_pg_own_server
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

# The proxy in front of PgBouncer cuts connections on command.
hl_pg_proxy 300
URL="postgres://hilbert@127.0.0.1:$HL_PG_PROXY_PORT/hilbert?schema=faults&timeout=10"
out=$("$H" format "$URL" --bucket "$HL_TMP/fobjects" 2>&1) || bail "format" "$out"
job() { "$H" run --mount "/hilbert=$URL" --cache "$HL_CACHE" -- "$@"; }

# A job that keeps creating and renaming files and records, for each call, what it reported;
# it stops 30 calls after the test leaves a stop file.
cat >"$HL_TMP/work.py" <<'PY'
import errno, os, sys, time
tag, stop = sys.argv[1], sys.argv[2]
os.makedirs("/hilbert/" + tag, exist_ok=True)
log = open(sys.argv[3], "w")
open(stop + ".started", "w").close()
after = None
i = ok = failed = 0
while after is None or i < after + 30:
    if after is None and os.path.exists(stop): after = i
    name = "/hilbert/%s/f%05d" % (tag, i)
    body = ("%s-%d " % (tag, i)) * 50
    try:
        with open(name, "w") as f:
            f.write(body)
        os.rename(name, name + ".done")
        log.write("ok %d\n" % i); ok += 1
    except OSError as e:
        log.write("fail %d %s %.2f\n" % (i, errno.errorcode.get(e.errno, e.errno), time.time())); failed += 1
    log.flush()
    i += 1
    time.sleep(0.005)
print("calls=%d ok=%d failed=%d" % (i, ok, failed))
PY
# After the faults: every call reported done is there, whole; a failed one left either nothing
# or a whole file (never a half-written one); the volume's counters agree with its rows.
cat >"$HL_TMP/verify.py" <<'PY'
import os, sys
tag = sys.argv[1]
lost = half = 0
done = {int(l.split()[1]) for l in open(sys.argv[2]) if l.startswith("ok ")}
names = set(os.listdir("/hilbert/" + tag))
for i in done:
    p = "/hilbert/%s/f%05d.done" % (tag, i)
    if not os.path.exists(p) or open(p).read() != ("%s-%d " % (tag, i)) * 50: lost += 1
for n in names:
    i = int(n[1:6])
    got = open("/hilbert/%s/%s" % (tag, n)).read()
    if got != ("%s-%d " % (tag, i)) * 50:
        half += 1
        print("%s: %d bytes %r" % (n, len(got), got[:40]))
print("reported-done=%d lost=%d half=%d" % (len(done), lost, half))
PY
verify() {   # verify TAG DESC
    local v
    v=$(job python3 "$HL_TMP/verify.py" "$1" "$HL_TMP/$1.log" 2>&1)
    like "$v" "lost=0 half=0" "$2: nothing reported done is lost, nothing is half ($v)"
}

started() { for _ in $(seq 200); do [ -e "$HL_TMP/$1.stop.started" ] && break; sleep 0.05; done; sleep 1; }

# ---------------------------------------------------------------- PostgreSQL restarted
job python3 "$HL_TMP/work.py" restart "$HL_TMP/restart.stop" "$HL_TMP/restart.log" >"$HL_TMP/restart.out" 2>"$HL_TMP/restart.err" &
w=$!
started restart
as_pg "$PG_BIN/pg_ctl" -D "$PG_STATE_DIR/data" -m fast -w restart >/dev/null 2>&1
restarted=$?
touch "$HL_TMP/restart.stop"
wait $w
is "$restarted" "0" "PostgreSQL was restarted during the job"
like "$(cat "$HL_TMP/restart.out")" "calls=[0-9]+ ok=[0-9]+" "the job ran through the restart ($(cat "$HL_TMP/restart.out"))"
is "$(tail -20 "$HL_TMP/restart.log" | grep -c '^ok')" "20" "its last calls, after the restart, succeed"
bad=$(grep -v '^hilbert: ' "$HL_TMP/restart.err" | grep -c .)
is "$bad" "0" "every complaint on stderr is a hilbert: line"
verify restart "PostgreSQL restart"

# ---------------------------------------------------------------- PgBouncer restarted
job python3 "$HL_TMP/work.py" bouncer "$HL_TMP/bouncer.stop" "$HL_TMP/bouncer.log" >"$HL_TMP/bouncer.out" 2>"$HL_TMP/bouncer.err" &
w=$!
started bouncer
pid=$(cat "$PG_STATE_DIR/pgbouncer.pid")
kill -TERM "$pid"; for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
sleep 0.5
as_pg pgbouncer -d -q "$PG_STATE_DIR/pgbouncer.ini"
bounced=$?
touch "$HL_TMP/bouncer.stop"
wait $w
is "$bounced" "0" "PgBouncer was stopped and started again during the job"
is "$(tail -20 "$HL_TMP/bouncer.log" | grep -c '^ok')" "20" "the job's last calls, after PgBouncer came back, succeed ($(cat "$HL_TMP/bouncer.out"))"
verify bouncer "PgBouncer restart"

# ---------------------------------------------------------------- connections cut mid-commit
# The job moves its small files into a pack every 64 (not 1,024): those moves are cut too.
HILBERT_PACK_FILES=64 job python3 "$HL_TMP/work.py" cut "$HL_TMP/cut.stop" "$HL_TMP/cut.log" >"$HL_TMP/cut.out" 2>"$HL_TMP/cut.err" &
w=$!
started cut
for _ in $(seq 40); do sleep 0.15; hl_pg_proxy_say cut >/dev/null; done
touch "$HL_TMP/cut.stop"
wait $w
failed=$(grep -c '^fail' "$HL_TMP/cut.log")
[ "$failed" -gt 0 ]; is "$?" "0" "cutting connections 40 times made calls fail ($(cat "$HL_TMP/cut.out"))"
is "$(grep '^fail' "$HL_TMP/cut.log" | awk '{print $3}' | sort -u | grep -cv -E '^(EIO|ETIMEDOUT|ECONNRESET)$')" "0" "... with EIO (or ETIMEDOUT) only"
is "$(tail -20 "$HL_TMP/cut.log" | grep -c '^ok')" "20" "... and the job goes on"
verify cut "connections cut"
v=$("$H" run --mount "/hilbert=$URL" --cache "$HL_TMP/node2" -- python3 "$HL_TMP/verify.py" cut "$HL_TMP/cut.log" 2>&1)
like "$v" "lost=0 half=0" "... and so for another node, which reads packed files from their packs ($v)"
st=$("$H" status "$URL" 2>&1)
n=$(job sh -c 'find /hilbert | wc -l')
like "$st" "inodes: +$n\b" "the inode counter agrees with the tree after all of it ($n entries): no change applied twice"
like "$st" "objects: +[1-9]" "small files were moved into packs meanwhile"

done_testing

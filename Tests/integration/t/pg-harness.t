#!/usr/bin/env bash
# The PostgreSQL test harness itself (issue 12's real parts): Tests/pg/pgserver.sh starts an
# unprivileged PostgreSQL 15 cluster in a temporary directory and PgBouncer in transaction
# pooling mode in front of it, both on 127.0.0.1; the role's password reaches clients only
# through the pgpass file; both stop cleanly. Needs no Hilbert build.
# timeout: 300
. "$(dirname "$0")/../lib.sh"
need psql:postgresql-client-15 pgbouncer:pgbouncer python3
PGSRV="$HL_REPO/Tests/pg/pgserver.sh"
[ -x /usr/lib/postgresql/15/bin/initdb ] || bail "PostgreSQL 15 is not installed (Debian package postgresql-15: make test-deps)"
PG_STATE_DIR=$(mktemp -d /tmp/hilbert-pg.XXXXXX)
export PG_STATE_DIR
export PG_OWNER_PID=$$
trap '"$PGSRV" down >/dev/null 2>&1' EXIT
trap 'exit 143' TERM INT

out=$("$PGSRV" up 2>&1) || bail "pgserver.sh up" "$out"
envf=$("$PGSRV" env)
is "$envf" "$PG_STATE_DIR/env.sh" "env prints the env file in the state dir"
. "$envf"
like "$("$PGSRV" status)" "^running postgres [0-9]+ pgbouncer [0-9]+$" "status: both running"
like "$PG_URL" '^postgres://hilbert@127\.0\.0\.1:[0-9]+/hilbert$' "PG_URL: loopback, no password in it"
is "$(psql -X -w -Atq "$PG_URL" -c 'show server_version_num' 2>&1 | cut -c1-2)" "15" "PostgreSQL 15 answers directly"
is "$(psql -X -w -Atq "$PGB_URL" -c 'select current_user' 2>&1)" "hilbert" "and through PgBouncer"
is "$(psql -X -w -Atq "${PGB_URL%/*}/pgbouncer" -c 'show config' 2>&1 | awk -F'|' '$1 == "pool_mode" {print $2}')" \
   "transaction" "PgBouncer pools by transaction"
out=$(psql -X -w -Atq "$PGB_URL" 2>&1 <<'SQL'
select count(*) from pg_stat_activity where datname = 'hilbert' and backend_type = 'client backend';
SQL
)
like "$out" '^[0-9]+$' "PgBouncer's server connection is visible in pg_stat_activity"
: >"$HL_TMP/empty"
nok_out=$(PGPASSFILE=$HL_TMP/empty psql -X -w -Atq "$PGB_URL" -c 'select 1' 2>&1; echo "rc=$?")
like "$nok_out" "rc=2" "no password, no connection (authentication is on)"
is "$(stat -c '%a' "$PGPASSFILE")" "600" "the pgpass file is 0600"
pw=$(sed -n 's/.*:hilbert://p' "$PGPASSFILE")
is "$(ps -eo args | PW=$pw python3 -c 'import os, sys; print(sum(os.environ["PW"] in l for l in sys.stdin))')" \
   "0" "the password is on no command line"
# The TCP proxy the PostgreSQL fault tests will stand behind (Tests/pg/tcpproxy.py): latency
# per chunk, round-trip counting, cut connections, a refusing server.
python3 "$HL_REPO/Tests/pg/tcpproxy.py" --upstream "127.0.0.1:$PGB_PORT" --port-file "$HL_TMP/proxy.ports" \
    --idle-exit 120 >"$HL_TMP/proxy.log" 2>&1 &
proxy_pid=$!
for i in $(seq 1 100); do [ -s "$HL_TMP/proxy.ports" ] && break; sleep 0.05; done
pport=$(sed -n 1p "$HL_TMP/proxy.ports"); cport=$(sed -n 2p "$HL_TMP/proxy.ports")
ctl() { python3 -c 'import socket, sys; s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.sendall((sys.argv[2] + "\n").encode()); print(s.makefile().readline().strip())' "$cport" "$1"; }
PURL="postgres://hilbert@127.0.0.1:$pport/hilbert"
is "$(psql -X -w -Atq "$PURL" -c 'select 41 + 1' 2>&1)" "42" "a query through the proxy"
like "$(ctl stats)" '"connections": 1, "turns": [3-9]' "the proxy counts the connection and its round trips (startup, SCRAM, query)"
is "$(ctl 'latency 100')" "ok" "latency set to 100 ms each way"
t0=$(date +%s%N); psql -X -w -Atq "$PURL" -c 'select 1' >/dev/null 2>&1; t1=$(date +%s%N)
ok "a connection and a query now take at least 3 round trips of 200 ms ($(( (t1 - t0) / 1000000 )) ms)" test $(( (t1 - t0) / 1000000 )) -ge 600
ctl 'latency 0' >/dev/null
psql -X -w -Atq "$PURL" -c 'select pg_sleep(30)' >"$HL_TMP/cut.out" 2>&1 & q=$!
for i in $(seq 1 100); do ctl stats | grep -q '"open": 1' && break; sleep 0.05; done
sleep 0.3
is "$(ctl cut)" "ok" "cut every open connection"
for i in $(seq 1 100); do kill -0 $q 2>/dev/null || break; sleep 0.05; done
is "$(kill -0 $q 2>/dev/null && echo running || echo ended)" "ended" "a query in flight ends within 5 s of the cut (not after its 30 s)"
kill $q 2>/dev/null; wait $q; rc=$?
like "$(tr '\n' ' ' <"$HL_TMP/cut.out"; echo "rc=$rc")" "(closed the connection|connection.*lost|reset).*rc=[12]" "... with psql's lost-connection error"
ctl 'refuse on' >/dev/null
like "$(psql -X -w -Atq "$PURL" -c 'select 1' 2>&1; echo "rc=$?")" "rc=2" "refuse on: the server looks down"
ctl 'refuse off' >/dev/null
is "$(psql -X -w -Atq "$PURL" -c 'select 2' 2>&1)" "2" "refuse off: it answers again"
ctl 'hang on' >/dev/null
timeout 2 psql -X -w -Atq "$PURL" -c 'select 3' >/dev/null 2>&1; rc=$?
is "$rc" "124" "hang on: nothing passes, the client waits (stopped by timeout after 2 s)"
ctl 'hang off' >/dev/null
is "$(psql -X -w -Atq "$PURL" -c 'select 4' 2>&1)" "4" "hang off: it answers again"
kill $proxy_pid 2>/dev/null; wait $proxy_pid 2>/dev/null
pids=$("$PGSRV" status | awk '{print $3, $5}')
"$PGSRV" down
left=0
for p in $pids; do [ -d "/proc/$p" ] && [ "$(awk '{print $3}' "/proc/$p/stat")" != Z ] && left=$((left + 1)); done
is "$left" "0" "down stops both servers"
ok "down removes the state dir" test ! -e "$PG_STATE_DIR"
done_testing

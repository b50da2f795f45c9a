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
pids=$("$PGSRV" status | awk '{print $3, $5}')
"$PGSRV" down
left=0
for p in $pids; do [ -d "/proc/$p" ] && [ "$(awk '{print $3}' "/proc/$p/stat")" != Z ] && left=$((left + 1)); done
is "$left" "0" "down stops both servers"
ok "down removes the state dir" test ! -e "$PG_STATE_DIR"
done_testing

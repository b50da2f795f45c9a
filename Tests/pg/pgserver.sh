#!/usr/bin/env bash
# A real PostgreSQL 15 and PgBouncer (transaction pooling) for tests: an unprivileged cluster
# in a temporary directory, both listening on 127.0.0.1 on free ports.
#
#   Tests/pg/pgserver.sh up      initdb, start PostgreSQL, create the role and database, start
#                                PgBouncer; prints the env file's path on stdout
#   Tests/pg/pgserver.sh env     prints the env file's path (source it: . "$(… env)")
#   Tests/pg/pgserver.sh status  "running postgres PID pgbouncer PID" (exit 0) or "not running" (1)
#   Tests/pg/pgserver.sh down    stops both (by their recorded pids) and removes the state dir
#
# Environment:
#   PG_STATE_DIR   where everything lives (data, sockets, logs, configs, env file). Default for
#                  `up`: a new /tmp/hilbert-pg.XXXXXX; `env`, `status` and `down` need it. As
#                  root the servers run as the `postgres` user (PostgreSQL refuses root), so
#                  the directory must be reachable by that user.
#   PG_OWNER_PID   when set, a watchdog stops the servers once that process is gone
#   PG_EXTRA_DBS   more databases (space-separated names, [a-z0-9_]) owned by the role and
#                  reachable through PgBouncer too (Tests/bench: JuiceFS's metadata)
#
# The env file exports PG_STATE_DIR PG_HOST PG_PORT PGB_PORT PG_USER PG_DB PGPASSFILE PG_URL
# PGB_URL. The role's password is random and lives only in the state dir (the pgpass file
# and PgBouncer's auth file, both 0600): it is never on a command line.
set -u
set -o pipefail
SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
ROLE=hilbert
DB=hilbert

die() { echo "pgserver: $*" >&2; exit 1; }

as_server() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

state() { [ -n "${PG_STATE_DIR:-}" ] || die "PG_STATE_DIR is not set (source the env file printed by 'up')"; echo "$PG_STATE_DIR"; }

# pid_of NAME STATE — the recorded pid, if it is still that server on our state dir
pid_of() {
    local name=$1 st=$2 pid
    case $name in
        postgres) [ -f "$st/data/postmaster.pid" ] && pid=$(head -1 "$st/data/postmaster.pid") ;;
        pgbouncer) [ -f "$st/pgbouncer.pid" ] && pid=$(cat "$st/pgbouncer.pid") ;;
    esac
    [ -n "${pid:-}" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$st" || return 1
    echo "$pid"
}

up() {
    [ -x "$PG_BIN/initdb" ] || die "$PG_BIN/initdb missing (apt-get install postgresql-15; make test-deps)"
    command -v pgbouncer >/dev/null || die "pgbouncer missing (apt-get install pgbouncer; make test-deps)"
    command -v psql >/dev/null || die "psql missing (apt-get install postgresql-client-15)"
    local st=${PG_STATE_DIR:-$(mktemp -d /tmp/hilbert-pg.XXXXXX)}
    mkdir -p "$st" && chmod 0755 "$st" || die "cannot create $st"
    export PG_STATE_DIR=$st
    mkdir -p "$st/data" "$st/sock"
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || die "no 'postgres' user to run the servers as (apt-get install postgresql-common)"
        chown postgres: "$st" "$st/data" "$st/sock" || die "cannot hand $st to the postgres user"
        runuser -u postgres -- test -x "$st" || die "$st is not reachable by the postgres user"
    fi
    chmod 0700 "$st/data" "$st/sock"
    local port pgb_port password
    port=$(free_port) && pgb_port=$(free_port) || die "no free port"
    password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
    as_server "$PG_BIN/initdb" -D "$st/data" -U postgres -E UTF8 --auth-local=trust \
        --auth-host=scram-sha-256 --no-instructions >"$st/initdb.log" 2>&1 ||
        { tail -20 "$st/initdb.log" >&2; die "initdb failed"; }
    as_server "$PG_BIN/pg_ctl" -D "$st/data" -l "$st/postgres.log" -w -t 60 start \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $st/sock -c unix_socket_permissions=0700" \
        >/dev/null 2>&1 || { tail -20 "$st/postgres.log" >&2; die "PostgreSQL did not start"; }
    [ -n "${PG_OWNER_PID:-}" ] && watchdog "$PG_OWNER_PID" "$st"
    local extra_sql="" extra_ini="" x
    for x in ${PG_EXTRA_DBS:-}; do
        case $x in *[!a-z0-9_]*|"") die "PG_EXTRA_DBS: bad database name '$x'" ;; esac
        extra_sql="${extra_sql}CREATE DATABASE $x OWNER $ROLE;"$'\n'
        extra_ini="${extra_ini}$x = host=127.0.0.1 port=$port dbname=$x"$'\n'
    done
    { printf "CREATE ROLE %s LOGIN PASSWORD '%s';\nCREATE DATABASE %s OWNER %s;\n" "$ROLE" "$password" "$DB" "$ROLE"
      printf '%s' "$extra_sql"; } |
        as_server psql -q -X -v ON_ERROR_STOP=1 -h "$st/sock" -p "$port" -U postgres -d postgres >/dev/null 2>"$st/setup.err" ||
        { cat "$st/setup.err" >&2; die "cannot create the role and database"; }
    # PgBouncer's auth file holds the role's SCRAM secret as PostgreSQL stores it, not the
    # password (the README's site setup): no password on PgBouncer's disk, and PgBouncer then
    # checks a login without deriving the salted password itself (4,096 PBKDF2 rounds, half of
    # a new connection's 8.5 ms here) and logs in to PostgreSQL with the client's SCRAM keys.
    local secret
    secret=$(as_server psql -X -Atq -h "$st/sock" -p "$port" -U postgres -d postgres \
        -c "SELECT rolpassword FROM pg_authid WHERE rolname = '$ROLE'" 2>>"$st/setup.err") &&
        case $secret in SCRAM-SHA-256\$*) ;; *) false ;; esac ||
        { cat "$st/setup.err" >&2; die "cannot read the role's SCRAM secret"; }
    # PgBouncer: transaction pooling, as a site would run it in front of many job processes.
    (umask 077
     printf '"%s" "%s"\n' "$ROLE" "$secret" >"$st/userlist.txt"
     cat >"$st/pgbouncer.ini" <<INI
[databases]
$DB = host=127.0.0.1 port=$port dbname=$DB
$extra_ini[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $pgb_port
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $st/userlist.txt
admin_users = $ROLE
pool_mode = transaction
max_client_conn = 2000
default_pool_size = 10
# After a failed login to PostgreSQL (a restart), try again in 1 s, not 15 (the README's site setup)
server_login_retry = 1
logfile = $st/pgbouncer.log
pidfile = $st/pgbouncer.pid
INI
     printf '127.0.0.1:*:*:%s:%s\n' "$ROLE" "$password" >"$st/pgpass")
    [ "$(id -u)" = 0 ] && chown postgres: "$st/userlist.txt" "$st/pgbouncer.ini"
    as_server pgbouncer -d -q "$st/pgbouncer.ini" 2>"$st/pgbouncer.err" ||
        { cat "$st/pgbouncer.err" "$st/pgbouncer.log" 2>/dev/null | tail -20 >&2; die "PgBouncer did not start"; }
    local i
    for i in $(seq 1 100); do
        PGPASSFILE=$st/pgpass psql -X -w -Atq -h 127.0.0.1 -p "$pgb_port" -U "$ROLE" -d "$DB" -c 'select 1' >/dev/null 2>&1 && break
        sleep 0.1
    done
    [ "$i" -lt 100 ] || { tail -20 "$st/pgbouncer.log" >&2; die "PgBouncer does not answer"; }
    cat >"$st/env.sh" <<ENV
export PG_STATE_DIR=$st
export PG_HOST=127.0.0.1 PG_PORT=$port PGB_PORT=$pgb_port PG_USER=$ROLE PG_DB=$DB
export PGPASSFILE=$st/pgpass
export PG_URL=postgres://$ROLE@127.0.0.1:$port/$DB
export PGB_URL=postgres://$ROLE@127.0.0.1:$pgb_port/$DB
ENV
    echo "$st/env.sh"
}

watchdog() {
    local owner=$1 st=$2
    setsid bash -c 'while kill -0 "$1" 2>/dev/null && [ -d "$2" ]; do sleep 1; done; PG_STATE_DIR=$2 "$3" down >/dev/null 2>&1' \
        _ "$owner" "$st" "$SELF" </dev/null >/dev/null 2>&1 &
}

down() {
    local st pid i
    st=$(state)
    [ -d "$st" ] || return 0
    if pid=$(pid_of pgbouncer "$st"); then
        kill -TERM "$pid" 2>/dev/null
        for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
    fi
    if pid_of postgres "$st" >/dev/null; then
        as_server "$PG_BIN/pg_ctl" -D "$st/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
            { pid=$(pid_of postgres "$st") && kill -KILL "$pid" 2>/dev/null; }
    fi
    case $st in /tmp/hilbert-pg.*|*/pg) rm -rf "$st" ;; *) rm -rf "$st/data" "$st/sock" ;; esac
}

status() {
    local st a b
    st=$(state)
    a=$(pid_of postgres "$st") && b=$(pid_of pgbouncer "$st") || { echo "not running"; return 1; }
    echo "running postgres $a pgbouncer $b"
}

case ${1:-} in
    up) up ;;
    env) echo "$(state)/env.sh" ;;
    status) status ;;
    down) down ;;
    *) die "usage: pgserver.sh up|env|status|down" ;;
esac

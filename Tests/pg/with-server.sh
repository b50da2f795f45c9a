#!/usr/bin/env bash
# with-server.sh CMD ARGS… — run CMD with PostgreSQL and PgBouncer up (Tests/pg/pgserver.sh)
# and HL_PG_SERVER_ENV pointing at their env file: run.sh runs NAME@pg entries (and
# HL_PG_SUITE) with their volumes' metadata on that server, through PgBouncer (lib.sh:
# hl_format). The servers are stopped afterwards, whatever CMD did; CMD's exit status is
# returned.
set -u
here=$(cd "$(dirname "$0")" && pwd)
export PG_OWNER_PID=$$
st=$(mktemp -d /tmp/hilbert-pg.XXXXXX) || exit 1
export PG_STATE_DIR=$st
trap '"$here/pgserver.sh" down >/dev/null 2>&1' EXIT
trap 'exit 143' TERM INT
if ! out=$("$here/pgserver.sh" up 2>&1); then
    printf '%s\n' "$out" >&2
    echo "with-server.sh: PostgreSQL/PgBouncer did not start" >&2
    exit 1
fi
HL_PG_SERVER_ENV=$st/env.sh
export HL_PG_SERVER_ENV
"$@"

#!/usr/bin/env bash
# with-server.sh CMD ARGS… — run CMD with PostgreSQL and PgBouncer up (Tests/pg/pgserver.sh),
# their env file sourced (PG_URL, PGB_URL, PGPASSFILE…) and exported for CMD:
#   HL_PG_SERVER_ENV  the env file: run.sh runs NAME@pg entries (and HL_PG_SUITE) with their
#                     volumes' metadata on this server, through PgBouncer (lib.sh: hl_format)
#   HL_PG_URL         for the Swift tests that need a server (PGConnectionTests, and the
#                     conformance suite when HL_TEST_META_PG is set from it): PgBouncer in
#                     transaction pooling mode unless HL_PG_URL is set already
# The servers are stopped afterwards, whatever CMD did; CMD's exit status is returned. When
# they cannot start, CMD does not run (exit 1).
set -u
here=$(cd "$(dirname "$0")" && pwd)
PG_STATE_DIR=${PG_STATE_DIR:-$(mktemp -d /tmp/hilbert-pg.XXXXXX)}
export PG_STATE_DIR
export PG_OWNER_PID=$$
trap '"$here/pgserver.sh" down >/dev/null 2>&1' EXIT
trap 'exit 143' TERM INT
if ! out=$("$here/pgserver.sh" up 2>&1); then
    printf '%s\n' "$out" >&2
    echo "with-server.sh: PostgreSQL/PgBouncer did not start" >&2
    exit 1
fi
HL_PG_SERVER_ENV=$("$here/pgserver.sh" env)
# shellcheck disable=SC1090
. "$HL_PG_SERVER_ENV"
export HL_PG_SERVER_ENV
export HL_PG_URL=${HL_PG_URL:-$PGB_URL}
if [ "${HL_TEST_META_PG:-}" = server ]; then export HL_TEST_META_PG=$HL_PG_URL; fi
"$@"

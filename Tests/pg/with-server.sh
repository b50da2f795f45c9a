#!/usr/bin/env bash
# with-server.sh CMD ARGS… — run CMD with PostgreSQL and PgBouncer up (Tests/pg/pgserver.sh),
# their env file sourced (PG_URL, PGB_URL, PGPASSFILE…) and HL_PG_URL set for the Swift tests
# that need a server (Tests/HilbertMetaTests/PGConnectionTests.swift): PgBouncer in transaction
# pooling mode unless HL_PG_URL is set already. The servers are stopped afterwards, whatever
# CMD did; CMD's exit status is returned. When they cannot start, CMD runs without them (its
# PostgreSQL tests are skipped, which counts as failed as root or in CI: tap-judge.sh).
set -u
here=$(cd "$(dirname "$0")" && pwd)
PG_STATE_DIR=${PG_STATE_DIR:-$(mktemp -d /tmp/hilbert-pg.XXXXXX)}
export PG_STATE_DIR
export PG_OWNER_PID=$$
trap '"$here/pgserver.sh" down >/dev/null 2>&1' EXIT
trap 'exit 143' TERM INT
if out=$("$here/pgserver.sh" up 2>&1); then
    # shellcheck disable=SC1090
    . "$("$here/pgserver.sh" env)"
    export HL_PG_URL=${HL_PG_URL:-$PGB_URL}
else
    printf '%s\n' "$out" >&2
    echo "with-server.sh: PostgreSQL did not start; the tests that need it are skipped" >&2
fi
"$@"

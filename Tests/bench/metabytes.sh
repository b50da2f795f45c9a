#!/usr/bin/env bash
# metabytes.sh [FILES] [sqlite|pg] — metadata bytes per small file (issue 13: ≤ 250 on both
# engines). Formats a fresh volume, has one Python process under `hilbert run` write FILES files
# of 4 KiB (1,000 per directory; packing on close as by default), then prints the database's
# size divided by FILES, in all and per table with its indexes. SQLite: meta.db after a
# checkpoint, per table from its dbstat view (sqlite3). PostgreSQL (run inside
# Tests/pg/with-server.sh): each table after VACUUM FULL (dead row versions are autovacuum's
# business, not the layout's), in a schema of its own that is dropped afterwards.
#   bash Tests/bench/metabytes.sh 100000
#   bash Tests/pg/with-server.sh bash Tests/bench/metabytes.sh 20000 pg
set -eu
files=${1:-100000}
engine=${2:-sqlite}
here=$(cd "$(dirname "$0")/../.." && pwd)
H=${HILBERT:-$here/out/bin/hilbert}
[ -x "$H" ] || { echo "metabytes.sh: no $H (make build)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/metabytes.XXXXXX)
schema=
cleanup() {
    [ -n "$schema" ] && psql "$PG_URL" -qAt -c "DROP SCHEMA $schema CASCADE" >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT
case $engine in
    sqlite) url="sqlite://$tmp/meta.db" ;;
    pg)
        : "${PGB_URL:?run inside Tests/pg/with-server.sh}"
        schema="metabytes_$$"
        url="$PGB_URL?schema=$schema" ;;
    *) echo "metabytes.sh: engine is sqlite or pg, not '$engine'" >&2; exit 2 ;;
esac
"$H" format "$url" --bucket "$tmp/objects" >/dev/null
start=$(date +%s.%N)
"$H" run --mount /hilbert="$url" --cache "$tmp/cache" -- python3 -c '
import os, sys
n = int(sys.argv[1])
data = os.urandom(4096)
for i in range(n):
    if i % 1000 == 0:
        d = "/hilbert/d%04d" % (i // 1000)
        os.mkdir(d)
    with open("%s/f%04d" % (d, i % 1000), "wb") as f:
        f.write(data)
' "$files"
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
objects=$(find "$tmp/objects" -type f | wc -l)
echo "$files files of 4 KiB on $engine in $secs s; $objects objects in the store"
if [ "$engine" = sqlite ]; then
    sqlite3 "$tmp/meta.db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
    total=$(stat -c %s "$tmp/meta.db")
    free=$(sqlite3 "$tmp/meta.db" 'SELECT (SELECT freelist_count FROM pragma_freelist_count) * (SELECT page_size FROM pragma_page_size)')
    # Pages freed when a batch of files moved from inline to a pack: reused by the next batch,
    # so they stay about one batch's worth (1,024 × 4 KiB) however many files there are.
    awk -v f="$free" -v n="$files" 'BEGIN { printf "  (free pages      %7.1f bytes per file, reused by later writes)\n", f / n }'
    sqlite3 -separator ' ' "$tmp/meta.db" \
        "SELECT coalesce(m.tbl_name, d.name), sum(d.pgsize) FROM dbstat d LEFT JOIN sqlite_master m ON m.name = d.name GROUP BY 1 ORDER BY 2 DESC" |
        awk -v n="$files" '$2 / n >= 1 { printf "  %-16s %7.1f bytes per file\n", $1, $2 / n }'
else
    for t in $(psql "$PG_URL" -qAt -c "SELECT tablename FROM pg_tables WHERE schemaname = '$schema'"); do
        psql "$PG_URL" -qAt -c "VACUUM FULL $schema.$t" >/dev/null
    done
    total=$(psql "$PG_URL" -qAt -c "SELECT sum(pg_total_relation_size(schemaname || '.' || tablename)) FROM pg_tables WHERE schemaname = '$schema'")
    psql "$PG_URL" -qAt -F ' ' -c "SELECT tablename, pg_relation_size(schemaname || '.' || tablename), pg_indexes_size(schemaname || '.' || tablename) FROM pg_tables WHERE schemaname = '$schema' ORDER BY pg_total_relation_size(schemaname || '.' || tablename) DESC" |
        awk -v n="$files" '($2 + $3) / n >= 1 { printf "  %-16s %7.1f bytes per file (rows %.1f, indexes %.1f)\n", $1, ($2 + $3) / n, $2 / n, $3 / n }'
fi
awk -v t="$total" -v f="${free:-0}" -v n="$files" 'BEGIN { printf "metadata: %.0f bytes per file (%d bytes in all; %.0f per file without free pages)\n", t / n, t, (t - f) / n }'

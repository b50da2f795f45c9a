#!/usr/bin/env bash
# compact-pg.sh [FILES] [ROUNDS] — what `hilbert compact` costs on PostgreSQL: round trips per
# file and files per second. Run it inside Tests/pg/with-server.sh (PgBouncer in transaction
# pooling mode). Each round formats a volume in a fresh schema, writes FILES files of 1,000
# bytes in 10 directories (inline in the metadata: packing on close off), then compacts it
# through Tests/pg/tcpproxy.py in front of PgBouncer, which counts the round trips (turns).
# Prints one line per round and the median and range.
#   bash Tests/pg/with-server.sh bash Tests/bench/compact-pg.sh 3000 5
set -eu
files=${1:-3000}
rounds=${2:-5}
here=$(cd "$(dirname "$0")/../.." && pwd)
H=${HILBERT:-$here/out/bin/hilbert}
[ -x "$H" ] || { echo "compact-pg.sh: no $H (make build)" >&2; exit 1; }
: "${PGB_PORT:?run inside Tests/pg/with-server.sh}"
tmp=$(mktemp -d /tmp/compact-pg.XXXXXX)
proxy=
cleanup() { [ -n "$proxy" ] && kill "$proxy" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
python3 "$here/Tests/pg/tcpproxy.py" --upstream "127.0.0.1:$PGB_PORT" --port-file "$tmp/ports" &
proxy=$!
for _ in $(seq 50); do [ -f "$tmp/ports" ] && [ "$(wc -l <"$tmp/ports")" = 2 ] && break; sleep 0.1; done
port=$(sed -n 1p "$tmp/ports"); control=$(sed -n 2p "$tmp/ports")
say() { python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.sendall((sys.argv[2]+"\n").encode()); print(s.makefile().readline().strip())' "$control" "$1"; }

results=()
for r in $(seq "$rounds"); do
    schema="compactbench_$$_$r"
    direct="$PGB_URL?schema=$schema"
    proxied="postgres://$PG_USER@127.0.0.1:$port/$PG_DB?schema=$schema"
    "$H" format "$direct" --bucket "$tmp/objects$r" >/dev/null
    HILBERT_PACK_FILES=0 "$H" run --mount "/hilbert=$direct" --cache "$tmp/cache$r" -- python3 -c '
import os, sys
n = int(sys.argv[1])
for d in range(10):
    os.makedirs("/hilbert/d%d" % d)
for i in range(n):
    with open("/hilbert/d%d/f%05d" % (i % 10, i), "wb") as f:
        f.write(os.urandom(1000))' "$files"
    say zero >/dev/null
    out=$("$H" compact "$proxied" 2>/dev/null)
    turns=$(say stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["turns"])')
    rate=$(printf '%s' "$out" | sed -n 's/.*(\([0-9]*\) files\/s).*/\1/p')
    packed=$(printf '%s' "$out" | sed -n 's/.* \([0-9]*\) packed into.*/\1/p')
    [ "$packed" = "$files" ] || { echo "round $r: $files files, $packed packed: $out" >&2; exit 1; }
    line=$(python3 -c 'import sys; t, n, r = map(int, sys.argv[1:]); print("%.3f %d %d" % (t / n, r, t))' "$turns" "$files" "$rate")
    echo "round $r: $files files: $turns round trips ($(echo "$line" | cut -d' ' -f1) per file), $rate files/s"
    results+=("$line")
done
printf '%s\n' "${results[@]}" | python3 -c '
import statistics, sys
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
rt = [r[0] for r in rows]; fs = [r[1] for r in rows]
print("median of %d rounds: %.3f round trips per file (%.3f-%.3f), %d files/s (%d-%d)" % (
    len(rows), statistics.median(rt), min(rt), max(rt), statistics.median(fs), min(fs), max(fs)))'

#!/usr/bin/env bash
# bench.py --drive --meta pg at tiny sizes on the suite's server, without JuiceFS (FUSE and a
# download are not for the test suite): it completes, prints its tables and round trips per
# operation, and leaves nothing running. No timing assertions.
# timeout: 240
. "$(dirname "$0")/../lib.sh"
[ -x "$HILBERT" ] || bail "hilbert binary at $HILBERT" "build first: make"
[ -n "${HL_PG_SERVER_ENV:-}" ] || bail "a PostgreSQL server" "run through Tests/pg/with-server.sh (make test does)"
out=$("$HL_PY" "$HL_REPO/Tests/bench/bench.py" --drive --meta pg --pg-env "$HL_PG_SERVER_ENV" --no-juicefs \
      --no-tmpfs --files 40 --big-mib 4 --rounds 1 --latency 0,1 --settle 0 --workdir "$HL_TMP" 2>"$HL_TMP/bench.err"); rc=$?
is "$rc" "0" "bench.py --drive --meta pg completes"
[ $rc = 0 ] || diag "$(tail -20 "$HL_TMP/bench.err")"
is "$(printf '%s\n' "$out" | grep -c '^| workload | native | Hilbert-SQLite | Hilbert-PG | Hilbert-PG / JuiceFS | Hilbert-PG / Hilbert-SQLite |$')" "2" \
   "one table per latency"
like "$out" "#### 1 ms per round trip to PgBouncer \(proxy: [0-9.]+ ms measured" "labels the latency with the proxy's measured round trip"
like "$out" "\| 40 x 4 KiB files: create \(open\+write\+close\) \(ops/s\) \| [0-9]" "a create row"
like "$out" "\| .ls -l. of the 40-entry directory" "an ls -l row"
like "$out" "\| .ls -l. of an empty directory \(a new process's fixed cost\) \(runs/s\) \| [0-9]" "an ls -l row for an empty directory"
like "$out" "^\| create \| [0-9]+\.[0-9]+ \| [0-9]+\.[0-9]+ \|$" "round trips per create at both latencies"
like "$out" "sequential read within 10 % of Hilbert-SQLite: [0-9.]+× \((met|missed); Hilbert-SQLite [^)]* in the same rotation\)" \
    "compares the sequential read with Hilbert-SQLite run in the same rotation"
like "$out" "note: JuiceFS not run" "says JuiceFS was left out"
is "$(ls "$HL_TMP" | grep -c '^hilbert-bench-pg\.')" "0" "its work dir is removed"
is "$(ps -eo args | grep -c "[t]cpproxy.py.*$HL_TMP")" "0" "its proxy is stopped"
done_testing

#!/usr/bin/env bash
# The sqlite3 CLI with its database inside the prefix: rollback journal and WAL mode.
. "$(dirname "$0")/../lib.sh"
hl_setup
need sqlite3:sqlite3
hl mkdir -p /hilbert/db

rows_sql() { echo "BEGIN;"; for i in $(seq 1 1000); do echo "INSERT INTO t(n, s) VALUES ($i, 'row $i $(printf '%040d' $i)');"; done; echo "COMMIT;"; }
rows_sql > "$HL_TMP/rows.sql"

ok "create a table" hl sqlite3 /hilbert/db/a.db "CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER, s TEXT)"
ok "insert 1000 rows in one transaction" hl sqlite3 /hilbert/db/a.db ".read $HL_TMP/rows.sql"
is "$(hl sqlite3 /hilbert/db/a.db 'SELECT count(*), sum(n) FROM t' 2>&1)" "1000|500500" "reopen: count and sum"
is "$(hl sqlite3 /hilbert/db/a.db 'PRAGMA integrity_check' 2>&1)" "ok" "integrity_check"
is "$(hl sqlite3 /hilbert/db/a.db 'PRAGMA journal_mode' 2>&1)" "delete" "default rollback journal"
is "$(hl ls /hilbert/db 2>&1)" "a.db" "no journal left behind"
ok "update + delete in a transaction" hl sqlite3 /hilbert/db/a.db "BEGIN; UPDATE t SET n = n * 2 WHERE n <= 10; DELETE FROM t WHERE n > 990; COMMIT;"
is "$(hl sqlite3 /hilbert/db/a.db 'SELECT count(*), sum(n) FROM t' 2>&1)" "990|$((500500 - (991+992+993+994+995+996+997+998+999+1000) + 55))" "changes visible after reopen"
out=$(hl sqlite3 /hilbert/db/a.db "BEGIN; DELETE FROM t; ROLLBACK; SELECT count(*) FROM t;" 2>&1); is "$out" "990" "ROLLBACK restores"
is "$(hl sqlite3 /hilbert/db/a.db 'VACUUM; SELECT count(*) FROM t; PRAGMA integrity_check' 2>&1)" $'990\nok' "VACUUM"

# WAL
is "$(hl sqlite3 /hilbert/db/w.db 'PRAGMA journal_mode=WAL' 2>&1)" "wal" "switch to WAL mode"
ok "create + insert 1000 rows in WAL mode" hl sqlite3 /hilbert/db/w.db "CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER, s TEXT);" ".read $HL_TMP/rows.sql"
is "$(hl sqlite3 /hilbert/db/w.db 'PRAGMA journal_mode; SELECT count(*) FROM t' 2>&1)" $'wal\n1000' "reopen a WAL database and count"
out=$(hlsh 'sqlite3 /hilbert/db/w.db "INSERT INTO t(n, s) VALUES (1001, \"x\")" && sqlite3 /hilbert/db/w.db "SELECT count(*) FROM t; PRAGMA wal_checkpoint(TRUNCATE); PRAGMA integrity_check;"' 2>&1)
is "$out" $'1001\n0|0|0\nok' "insert, checkpoint, integrity_check in WAL mode"
out=$(hlsh 'sqlite3 /hilbert/db/w.db "BEGIN; INSERT INTO t(n) VALUES (2000);" ".shell sqlite3 /hilbert/db/w.db \"SELECT count(*) FROM t\"" "COMMIT; SELECT count(*) FROM t;"' 2>&1)
is "$out" $'1001\n1002' "a second process reads the old snapshot during an open WAL transaction"
is "$(hl sqlite3 /hilbert/db/w.db 'SELECT count(*) FROM t' 2>&1)" "1002" "count persisted in a fresh run"
# the database file copied out is a valid database
ok "copy the database out of the prefix" hl cp /hilbert/db/a.db "$HL_TMP/a-copy.db"
is "$(sqlite3 "$HL_TMP/a-copy.db" 'SELECT count(*) FROM t; PRAGMA integrity_check' 2>&1)" $'990\nok' "the copied database is valid natively"
# python's sqlite3 module too
out=$(hl "$HL_PY" -c '
import sqlite3
c = sqlite3.connect("/hilbert/db/py.db")
c.execute("create table k(v)")
with c:
    c.executemany("insert into k values (?)", [(i,) for i in range(5000)])
c.close()
print(sqlite3.connect("/hilbert/db/py.db").execute("select count(*), max(v) from k").fetchone())' 2>&1)
is "$out" "(5000, 4999)" "python sqlite3 module: executemany in a transaction, reopen"

# two writers at once (SQLite's fcntl locks + busy timeout) in separate hilbert runs
hl sqlite3 /hilbert/db/c.db "CREATE TABLE t(w INTEGER, i INTEGER)"
for w in 1 2; do
    hl "$HL_PY" -c '
import sqlite3, sys
w = int(sys.argv[1])
c = sqlite3.connect("/hilbert/db/c.db", timeout=60)
for i in range(100):
    with c:
        c.execute("insert into t values (?, ?)", (w, i))
print("writer", w, "done")' "$w" >"$HL_TMP/cw.$w" 2>&1 &
done
wait
is "$(cat "$HL_TMP/cw.1" "$HL_TMP/cw.2")" $'writer 1 done\nwriter 2 done' "two concurrent writers (rollback journal), 100 transactions each, finish"
is "$(hl sqlite3 /hilbert/db/c.db 'SELECT w, count(*), sum(i) FROM t GROUP BY w; PRAGMA integrity_check' 2>&1)" $'1|100|4950\n2|100|4950\nok' "no lost transactions, database intact"
hl sqlite3 /hilbert/db/cw.db "PRAGMA journal_mode=WAL; CREATE TABLE t(w INTEGER, i INTEGER)" >/dev/null
for w in 1 2; do
    hl "$HL_PY" -c '
import sqlite3, sys
w = int(sys.argv[1])
c = sqlite3.connect("/hilbert/db/cw.db", timeout=60)
for i in range(100):
    with c:
        c.execute("insert into t values (?, ?)", (w, i))
print("writer", w, "done")' "$w" >"$HL_TMP/cww.$w" 2>&1 &
done
wait
is "$(cat "$HL_TMP/cww.1" "$HL_TMP/cww.2")" $'writer 1 done\nwriter 2 done' "two concurrent writers (WAL), 100 transactions each, finish"
is "$(hl sqlite3 /hilbert/db/cw.db 'SELECT w, count(*), sum(i) FROM t GROUP BY w; PRAGMA integrity_check' 2>&1)" $'1|100|4950\n2|100|4950\nok' "WAL: no lost transactions, database intact"

done_testing

#!/usr/bin/env bash
# The PostgreSQL metadata engine in real jobs (README, "Metadata on PostgreSQL"): libpq only in
# processes that touch such a volume, its socket out of the program's way, several volumes in
# one database, every command on a postgres:// URL, clear errors (a password in the URL, a
# missing volume, a wrong password, a server that is down or hangs), fork, many processes
# through PgBouncer. Needs the suite's server (Tests/pg/with-server.sh: make test starts it).
# timeout: 300
. "$(dirname "$0")/../lib.sh"
hl_setup
[ -n "${HL_PG_SERVER_ENV:-}" ] || bail "a PostgreSQL server" "run through Tests/pg/with-server.sh (make test does)"
# shellcheck disable=SC1090
. "$HL_PG_SERVER_ENV"
H=$HILBERT
tag=$(printf '%s' "$HL_TMP" | md5sum | cut -c1-16)
URL="$PGB_URL?schema=pgt_$tag"
URL2="$PGB_URL?schema=pgt2_$tag"
pg() { "$H" run --mount "/hilbert=$URL" --mount "/other=$URL2" --cache "$HL_CACHE" -- "$@"; }

# ---------------------------------------------------------------- libpq is loaded on demand
hl sh -c 'echo local > /hilbert/f'
maps=$(hl cat /hilbert/f /proc/self/maps 2>&1)
like "$maps" "libHilbertEngine" "a process on an SQLite volume loads the engine"
is "$(printf '%s\n' "$maps" | grep -c 'libpq')" "0" "... and not libpq"

out=$("$H" format "$URL" --bucket "$HL_TMP/pgobjects" 2>&1); rc=$?
is "$rc" "0" "hilbert format postgres://…?schema=… creates a volume"
like "$out" "metadata: postgres://" "... and says where its metadata is"
out=$("$H" format "$URL2" --bucket "$HL_TMP/pgobjects2" 2>&1)
is "$?" "0" "a second volume in the same database (another schema)"
out=$("$H" format "$URL" --bucket "$HL_TMP/pgobjects3" 2>&1); rc=$?
isnt "$rc" "0" "formatting over an existing volume fails"
like "$out" "already exists" "... saying a volume is there"
is "$(printf '%s\n' "$out" | wc -l)" "1" "... in one line"

pg sh -c 'echo one > /hilbert/f && echo two > /other/f'
is "$(pg cat /hilbert/f /other/f)" "one
two" "the two volumes of one database are separate"
maps=$(pg cat /hilbert/f /proc/self/maps 2>&1)
like "$maps" "libpq" "a process on a PostgreSQL volume loads libpq"
sock=$(pg python3 -c '
import os
open("/hilbert/f").read()
for fd in sorted(int(n) for n in os.listdir("/proc/self/fd")):
    try:
        if os.readlink("/proc/self/fd/%d" % fd).startswith("socket:"): print(fd)
    except OSError: pass
' 2>&1)
[ -n "$sock" ] && [ "$(printf '%s\n' "$sock" | sort -n | head -1)" -ge 256 ]
is "$?" "0" "libpq's socket sits at the top of the descriptor table (fd $(printf '%s' "$sock" | tr '\n' ' '))"
is "$(pg bash -c 'exec 3>/hilbert/g; echo three >&3; exec 3>&-; cat /hilbert/g')" "three" \
    "bash's exec 3>file works (the socket is not in the way)"

# ---------------------------------------------------------------- every command on a postgres:// URL
out=$("$H" status "$URL" 2>&1)
is "$?" "0" "hilbert status on a postgres:// URL"
like "$out" "inodes: +[0-9]+" "... shows usage"
out=$("$H" gc "$URL" 2>&1)
is "$?" "0" "hilbert gc on a postgres:// URL"
like "$out" "leaked: +0 objects" "... finds nothing leaked"
out=$(HILBERT_MOUNTS="/hilbert=$URL" HILBERT_CACHE="$HL_CACHE" "$H" flush 2>&1)
is "$?" "0" "hilbert flush with a postgres:// mount"
out=$(HILBERT_MOUNTS="/hilbert=$URL" HILBERT_CACHE="$HL_CACHE" "$H" doctor 2>&1)
like "$out" "pgt_$tag" "hilbert doctor checks the postgres:// volume"

# ---------------------------------------------------------------- clear errors
out=$("$H" format "postgres://hilbert:sekrit99@127.0.0.1:$PGB_PORT/hilbert?schema=pw_$tag" --bucket "$HL_TMP/x" 2>&1); rc=$?
isnt "$rc" "0" "a password in the META-URL is refused"
unlike "$out" "sekrit99" "... and never echoed"
like "$out" "pgpass" "... pointing to ~/.pgpass"
out=$("$H" status "$PGB_URL?schema=nothere_$tag" 2>&1)
isnt "$?" "0" "status of a schema without a volume fails"
like "$out" "no volume at .*hilbert format" "... saying so, and how to make one"
printf '127.0.0.1:*:*:hilbert:wrong-password\n' >"$HL_TMP/badpass" && chmod 600 "$HL_TMP/badpass"
out=$(PGPASSFILE=$HL_TMP/badpass "$H" status "$URL" 2>&1)
isnt "$?" "0" "a wrong password fails"
like "$out" "refused the login" "... as a refused login"
unlike "$out" "wrong-password" "... without the password"
dead=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start=$(date +%s)
out=$("$H" run --mount "/hilbert=postgres://hilbert@127.0.0.1:$dead/hilbert?timeout=3" --cache "$HL_CACHE" -- cat /hilbert/f 2>&1); rc=$?
took=$(( $(date +%s) - start ))
isnt "$rc" "0" "a server that is down: the program's call fails"
like "$out" "hilbert: .*unreachable" "... with a hilbert: line saying the server is unreachable"
[ "$took" -ge 2 ] && [ "$took" -le 10 ]; is "$?" "0" "... after trying again for the URL's timeout (3 s; took $took s)"

# A server that accepts and never answers (the proxy holds everything): ETIMEDOUT after the
# URL's timeout, never a hang.
hl_pg_proxy 120
PURL="postgres://hilbert@127.0.0.1:$HL_PG_PROXY_PORT/hilbert?schema=pgt_$tag&timeout=2"
is "$("$H" run --mount "/hilbert=$PURL" --cache "$HL_CACHE" -- cat /hilbert/f 2>&1)" "one" "through the proxy the volume answers"
hl_pg_proxy_say "hang on" >/dev/null
start=$(date +%s)
out=$("$H" run --mount "/hilbert=$PURL" --cache "$HL_CACHE" -- stat /hilbert/f 2>&1); rc=$?
took=$(( $(date +%s) - start ))
isnt "$rc" "0" "a hung server: the call fails"
like "$out" "timed out" "... with ETIMEDOUT"
[ "$took" -le 12 ]; is "$?" "0" "... after the URL's timeout (2 s; took ${took} s), not a hang"
hl_pg_proxy_say "hang off" >/dev/null

# ---------------------------------------------------------------- processes
out=$(pg python3 -c '
import os
open("/hilbert/before", "w").write("b")
pid = os.fork()
if pid == 0:
    open("/hilbert/child", "w").write("c")
    os.rename("/hilbert/child", "/hilbert/child2")
    os._exit(0 if open("/hilbert/before").read() == "b" else 1)
_, st = os.waitpid(pid, 0)
open("/hilbert/parent", "w").write("p")
print(os.waitstatus_to_exitcode(st), open("/hilbert/child2").read(), open("/hilbert/parent").read(), sorted(os.listdir("/hilbert")))
' 2>&1)
is "$out" "0 c p ['before', 'child2', 'f', 'g', 'parent']" "a fork child works on its own connection; the parent's keeps working"

pg sh -c 'mkdir /hilbert/many && seq 1 200 | xargs -P 50 -I{} sh -c "echo {} > /hilbert/many/{}"'
is "$(pg sh -c 'ls /hilbert/many | wc -l; cat /hilbert/many/* | sort -n | tail -1')" "200
200" "200 processes, 50 at a time, through PgBouncer: every file there"

done_testing

#!/usr/bin/env bash
# flock, OFD and POSIX record locks exclude across nodes on a volume whose metadata is on
# PostgreSQL (SEMANTICS.md, "locks"; docs/FORMAT.md, "hl_lock"): three "nodes" (three cache
# directories, each with its own node-local lock files) increment one counter under each kind
# of lock; a non-blocking request from another node fails as the kernel's would; a holder
# killed with -9 loses its lock within the documented lease bound (10 s) and not before it
# died; a clean close or exit releases at once. Needs the suite's server
# (Tests/pg/with-server.sh: make test starts it).
# timeout: 420
. "$(dirname "$0")/../lib.sh"
hl_setup
[ -n "${HL_PG_SERVER_ENV:-}" ] || bail "a PostgreSQL server" "run through Tests/pg/with-server.sh (make test does), or set HL_PG_SERVER_ENV to the env file of Tests/pg/pgserver.sh up"
# shellcheck disable=SC1090
. "$HL_PG_SERVER_ENV"
H=$HILBERT
tag=$(printf '%s' "$HL_TMP" | md5sum | cut -c1-16)
URL="$PGB_URL?schema=locks_$tag"
out=$("$H" format "$URL" --bucket "$HL_TMP/lockobjects" 2>&1) || bail "hilbert format $URL" "$out"
for c in c1 c2 c3; do mkdir -p "$HL_TMP/$c" && chmod 700 "$HL_TMP/$c"; done
# node CACHE CMD… — CMD on "node" CACHE (a cache directory of its own: its own lock files)
node() { local c=$1; shift; "$H" run --mount "/hilbert=$URL" --cache "$HL_TMP/$c" -- "$@"; }
node c1 sh -c ': > /hilbert/lockfile; echo 0 > /hilbert/counter'

cat >"$HL_TMP/count.py" <<'EOF'
# count.py MODE N: N increments of /hilbert/counter, each under an exclusive lock of MODE on
# /hilbert/lockfile; the counter is opened and closed each time (close-to-open).
import errno, fcntl, os, struct, sys
mode, n = sys.argv[1], int(sys.argv[2])
F_OFD_SETLKW = getattr(fcntl, "F_OFD_SETLKW", 38)
def ofd(fd, t):
    fcntl.fcntl(fd, F_OFD_SETLKW, struct.pack("hhxxxxqqixxxx", t, 0, 0, 0, 0))
def open_rw():
    # POSIX/OFD write locks need a descriptor open for writing, and a file is open for
    # writing on one node at a time (staging): another node's open waits, at most ~2 s.
    while True:
        try:
            return os.open("/hilbert/lockfile", os.O_RDWR)
        except OSError as e:
            if e.errno != errno.EBUSY: raise
if mode == "flock":
    lf = os.open("/hilbert/lockfile", os.O_RDONLY)   # kept open: one description
for i in range(n):
    if mode == "flock":
        fcntl.flock(lf, fcntl.LOCK_EX)
    else:
        lf = open_rw()
        if mode == "posix": fcntl.lockf(lf, fcntl.LOCK_EX)
        else: ofd(lf, fcntl.F_WRLCK)
    with open("/hilbert/counter") as f: v = int(f.read())
    with open("/hilbert/counter", "w") as f: f.write("%d\n" % (v + 1))
    if mode == "flock": fcntl.flock(lf, fcntl.LOCK_UN)
    elif mode == "posix": fcntl.lockf(lf, fcntl.LOCK_UN)
    else: ofd(lf, fcntl.F_UNLCK)
    if mode != "flock": os.close(lf)
EOF

# race MODE N — three nodes, N increments each, at the same time
race() {
    local mode=$1 n=$2 t0 t1
    node c1 sh -c 'echo 0 > /hilbert/counter'
    t0=$(date +%s.%N)
    node c1 python3 "$HL_TMP/count.py" "$mode" "$n" 2>"$HL_TMP/e1" & local p1=$!
    node c2 python3 "$HL_TMP/count.py" "$mode" "$n" 2>"$HL_TMP/e2" & local p2=$!
    node c3 python3 "$HL_TMP/count.py" "$mode" "$n" 2>"$HL_TMP/e3" & local p3=$!
    wait $p1; local r1=$?; wait $p2; local r2=$?; wait $p3; local r3=$?
    t1=$(date +%s.%N)
    is "$r1$r2$r3" "000" "$mode: the three nodes' loops ran" || diag "$(cat "$HL_TMP/e1" "$HL_TMP/e2" "$HL_TMP/e3")"
    is "$(node c2 cat /hilbert/counter)" "$((3 * n))" "$mode: $n increments from each of three nodes end at $((3 * n)) ($(printf '%.1f' "$(echo "$t1 - $t0" | bc)") s)"
}

# ---------------------------------------------------------------- the shared counter
race flock 1000
race posix 300
race ofd 300

# ---------------------------------------------------------------- another node holds it
cat >"$HL_TMP/hold.py" <<'EOF'
# hold.py MODE SECONDS READY [close]: take an exclusive lock of MODE on /hilbert/lockfile, create
# the host file READY, hold it SECONDS, then release it by closing the fd ("close") or by exiting.
import fcntl, os, struct, sys, time
mode, secs, ready = sys.argv[1], float(sys.argv[2]), sys.argv[3]
fd = os.open("/hilbert/lockfile", os.O_RDONLY if mode == "flock" else os.O_RDWR)
if mode == "flock": fcntl.flock(fd, fcntl.LOCK_EX)
elif mode == "posix": fcntl.lockf(fd, fcntl.LOCK_EX)
else: fcntl.fcntl(fd, getattr(fcntl, "F_OFD_SETLKW", 38), struct.pack("hhxxxxqqixxxx", fcntl.F_WRLCK, 0, 0, 0, 0))
with open(ready + ".tmp", "w") as f: f.write("%d\n" % os.getpid())
os.rename(ready + ".tmp", ready)
time.sleep(secs)
if len(sys.argv) > 4:
    os.close(fd)
    print("%.3f" % time.time(), flush=True)
    time.sleep(5)
EOF
cat >"$HL_TMP/try.py" <<'EOF'
# try.py WHAT: one request on /hilbert/lockfile from this node; prints the outcome.
import errno, fcntl, os, struct, sys, time
what = sys.argv[1]
F_OFD_GETLK = getattr(fcntl, "F_OFD_GETLK", 36)
F_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", 37)
fd = os.open("/hilbert/lockfile", os.O_RDONLY)
try:
    if what == "flock-nb":
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB); print("granted")
    elif what == "flock-sh-nb":
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB); print("granted")
    elif what == "posix-rd-nb":
        fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB); print("granted")
    elif what == "ofd-rd-nb":
        fcntl.fcntl(fd, F_OFD_SETLK, struct.pack("hhxxxxqqixxxx", fcntl.F_RDLCK, 0, 0, 0, 0)); print("granted")
    elif what == "posix-getlk":
        r = fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack("hhxxxxqqixxxx", fcntl.F_RDLCK, 0, 0, 0, 0))
        t, w, s, l, p = struct.unpack("hhxxxxqqixxxx", r)
        print({fcntl.F_UNLCK: "unlocked", fcntl.F_WRLCK: "write", fcntl.F_RDLCK: "read"}[t], s, l, p)
    elif what == "flock-wait":
        fcntl.flock(fd, fcntl.LOCK_EX); print("%.3f" % time.time())
except OSError as e:
    print(errno.errorcode[e.errno])
EOF

rm -f "$HL_TMP/ready"
node c1 python3 "$HL_TMP/hold.py" flock 4 "$HL_TMP/ready" & holder=$!
for _ in $(seq 100); do [ -e "$HL_TMP/ready" ] && break; sleep 0.1; done
is "$(node c2 python3 "$HL_TMP/try.py" flock-nb)" "EAGAIN" "flock(LOCK_EX|LOCK_NB) while another node holds LOCK_EX: EWOULDBLOCK"
is "$(node c3 python3 "$HL_TMP/try.py" flock-sh-nb)" "EAGAIN" "... and LOCK_SH|LOCK_NB too"
is "$(node c2 python3 "$HL_TMP/try.py" posix-rd-nb)" "granted" "flock and POSIX locks do not interact (as on Linux)"
is "$(node c1 python3 "$HL_TMP/try.py" flock-nb)" "EAGAIN" "on the holder's own node the kernel's lock answers as before"
wait "$holder"

rm -f "$HL_TMP/ready"
node c1 python3 "$HL_TMP/hold.py" posix 4 "$HL_TMP/ready" & holder=$!
for _ in $(seq 100); do [ -e "$HL_TMP/ready" ] && break; sleep 0.1; done
like "$(node c2 python3 "$HL_TMP/try.py" posix-rd-nb)" "^(EAGAIN|EACCES)$" "POSIX F_RDLCK (F_SETLK) while another node holds F_WRLCK: EAGAIN"
is "$(node c3 python3 "$HL_TMP/try.py" ofd-rd-nb)" "EAGAIN" "... and an OFD read lock too (OFD and POSIX locks interact)"
is "$(node c2 python3 "$HL_TMP/try.py" posix-getlk)" "write 0 0 -1" "F_GETLK reports the other node's write lock (whole file, pid -1)"
is "$(node c2 python3 "$HL_TMP/try.py" flock-nb)" "granted" "... while flock is free"
wait "$holder"

# ---------------------------------------------------------------- release: close, exit, kill -9
rm -f "$HL_TMP/ready"
node c1 python3 "$HL_TMP/hold.py" flock 2 "$HL_TMP/ready" close >"$HL_TMP/closed" & holder=$!
for _ in $(seq 100); do [ -e "$HL_TMP/ready" ] && break; sleep 0.1; done
got=$(node c2 python3 "$HL_TMP/try.py" flock-wait)
wait "$holder"
closed=$(cat "$HL_TMP/closed")
d=$(echo "$got - $closed" | bc)
is "$(echo "$d > -0.05 && $d < 1" | bc)" 1 "a clean close releases at once: the waiting node got the lock ${d} s after the close"

rm -f "$HL_TMP/ready"
node c1 flock /hilbert/lockfile sh -c ": > $HL_TMP/ready; sleep 2" & holder=$!
for _ in $(seq 100); do [ -e "$HL_TMP/ready" ] && break; sleep 0.1; done
ready=$(date +%s.%N)
got=$(node c2 python3 "$HL_TMP/try.py" flock-wait)
wait "$holder"; ended=$(date +%s.%N)
d1=$(echo "$got - $ready" | bc); d2=$(echo "$ended - $got" | bc)
is "$(echo "$d1 > 1.5 && $d2 > -1" | bc)" 1 "flock(1) on one node holds the lock across its command (another node waited ${d1} s) and its exit releases it at once"

rm -f "$HL_TMP/ready"
node c1 python3 "$HL_TMP/hold.py" flock 600 "$HL_TMP/ready" & runpid=$!
for _ in $(seq 100); do [ -e "$HL_TMP/ready" ] && break; sleep 0.1; done
holder=$(cat "$HL_TMP/ready")
node c2 python3 "$HL_TMP/try.py" flock-wait >"$HL_TMP/got" & waiter=$!
sleep 3
is "$(cat "$HL_TMP/got")" "" "a node waits while the holder lives"
kill -9 "$holder"; killed=$(date +%s.%N)
wait "$waiter"; wait "$runpid" 2>/dev/null
got=$(cat "$HL_TMP/got")
d=$(echo "$got - $killed" | bc)
is "$(echo "$d > 0 && $d < 13" | bc)" 1 "kill -9 of the holder: another node gets the lock ${d} s later (lease 10 s)"
is "$(echo "$d > 3" | bc)" 1 "... not before the lease ran out (no other sign of the death reaches another node)"

# ---------------------------------------------------------------- the lease is renewed while held
rm -f "$HL_TMP/ready"
HILBERT_LOCK_LEASE=2 node c1 python3 "$HL_TMP/hold.py" flock 7 "$HL_TMP/ready" & holder=$!
for _ in $(seq 100); do [ -e "$HL_TMP/ready" ] && break; sleep 0.1; done
sleep 5
is "$(node c2 python3 "$HL_TMP/try.py" flock-nb)" "EAGAIN" "a lock held past its lease (2 s) still excludes: the holder renews it"
wait "$holder"

# ---------------------------------------------------------------- two nodes upgrade a shared flock
cat >"$HL_TMP/upgrade.py" <<'EOF'
# upgrade.py DIR NAME: LOCK_SH, wait until the other node has it too, then LOCK_EX (blocking)
import fcntl, os, sys, time
d, me = sys.argv[1], sys.argv[2]
fd = os.open("/hilbert/lockfile", os.O_RDONLY)
fcntl.flock(fd, fcntl.LOCK_SH)
open(os.path.join(d, "sh." + me), "w").close()
while len([n for n in os.listdir(d) if n.startswith("sh.")]) < 2: time.sleep(0.05)
fcntl.flock(fd, fcntl.LOCK_EX)
print("ex")
time.sleep(0.5)
EOF
mkdir -p "$HL_TMP/up"
node c1 timeout 20 python3 "$HL_TMP/upgrade.py" "$HL_TMP/up" a >"$HL_TMP/up.a" & u1=$!
node c2 timeout 20 python3 "$HL_TMP/upgrade.py" "$HL_TMP/up" b >"$HL_TMP/up.b" & u2=$!
wait $u1; wait $u2
is "$(cat "$HL_TMP/up.a" "$HL_TMP/up.b")" "ex
ex" "two nodes holding LOCK_SH both upgrade to LOCK_EX, one after the other (a conversion drops the old lock first, as on Linux)"

# ---------------------------------------------------------------- single-node volumes pay nothing
out=$(hl python3 -c '
import fcntl, os
fd = os.open("/hilbert/f", os.O_RDWR | os.O_CREAT)
for i in range(100):
    fcntl.flock(fd, fcntl.LOCK_EX); fcntl.flock(fd, fcntl.LOCK_UN)
fcntl.lockf(fd, fcntl.LOCK_EX); fcntl.lockf(fd, fcntl.LOCK_UN)
print("done")' 2>&1)
is "$out" "done" "flock and lockf on the test's own volume (SQLite, or PostgreSQL @pg) work as before"

done_testing

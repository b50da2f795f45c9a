#!/usr/bin/env bash
# Between nodes (SEMANTICS.md, "Between nodes"): one PostgreSQL volume used by several nodes at
# once — here three cache directories on one machine, each with its own processes. Close-to-
# open and listings across nodes; O_CREAT|O_EXCL, mkdir, link, RENAME_NOREPLACE and
# RENAME_EXCHANGE race 200 rounds between two nodes with exactly one winner each; a file open
# for writing on one node is not opened for writing on another (EBUSY after about 2 s) and
# the last closer's version wins whole; stat answers within the attribute cache timeout
# (attr_cache) while open stays close-to-open. Needs the suite's server (Tests/pg/with-server.sh).
# timeout: 420
. "$(dirname "$0")/../lib.sh"
hl_setup
[ -n "${HL_PG_SERVER_ENV:-}" ] || bail "a PostgreSQL server" "run through Tests/pg/with-server.sh (make test does)"
# shellcheck disable=SC1090
. "$HL_PG_SERVER_ENV"
H=$HILBERT
URL="$PGB_URL?schema=nodes_$(printf '%s' "$HL_TMP" | md5sum | cut -c1-16)"
out=$("$H" format "$URL" --bucket "$HL_TMP/nobjects" 2>&1) || bail "format of the shared volume" "$out"
node() { local n=$1; shift; "$H" run --mount "/hilbert=$URL" --cache "$HL_TMP/node-$n" -- "$@"; }
mkdir -p "$HL_TMP/node-a" "$HL_TMP/node-b" "$HL_TMP/node-c"

# ---------------------------------------------------------------- close-to-open, listings
# Node B's process starts first and warms its caches; node A then writes; B, told so through
# a host file, opens again and lists.
cat >"$HL_TMP/watch.py" <<'PY'
import os, sys, time
flag = sys.argv[1]
print("before:", open("/hilbert/c2o").read().strip(), sorted(os.listdir("/hilbert/dir")), flush=True)
os.stat("/hilbert/c2o")
open(flag + ".ready", "w").close()
while not os.path.exists(flag):
    time.sleep(0.02)
print("after:", open("/hilbert/c2o").read().strip(), sorted(os.listdir("/hilbert/dir")), os.stat("/hilbert/c2o").st_size, flush=True)
PY
# meanwhile FLAG CHANGE SCRIPT ARG…: run python3 SCRIPT ARG… on node B (output in FLAG.out);
# once it created FLAG.ready, run the shell command CHANGE on node A, then create FLAG, which
# the script waits for, and wait for it to end.
meanwhile() {
    local flag=$1 change=$2 pid
    shift 2
    node b python3 "$@" >"$flag.out" 2>&1 &
    pid=$!
    for _ in $(seq 200); do [ -e "$flag.ready" ] && break; sleep 0.05; done
    node a sh -c "$change"
    touch "$flag"
    wait $pid
}
node a sh -c 'echo old > /hilbert/c2o; mkdir /hilbert/dir; touch /hilbert/dir/one'
meanwhile "$HL_TMP/go" 'echo "new content" > /hilbert/c2o; touch /hilbert/dir/two' "$HL_TMP/watch.py" "$HL_TMP/go"
is "$(cat "$HL_TMP/go.out")" "before: old ['one']
after: new content ['one', 'two'] 12" \
    "close-to-open: a process on node B that opens after node A closed reads A's bytes; its listing shows A's new name"

# ---------------------------------------------------------------- long listings
# A listing of many pages: each page brings its entries' nodes (the stats after it ask the
# server nothing), the next page is asked for while the program works through the current one.
# What it shows must be what a lookup of each name shows, a new listing must show another
# node's changes made before it started, and this process's own change during a listing must
# show in its stat at once (the page asked for ahead is dropped).
node a python3 -c '
import os
os.mkdir("/hilbert/big")
for i in range(3000):
    with open("/hilbert/big/f%05d" % i, "w") as f: f.write("x" * (i % 7))
os.symlink("f00001", "/hilbert/big/link")
os.mkdir("/hilbert/big/sub")
'
cat >"$HL_TMP/stats.py" <<'PY'
import os, sys
d = "/hilbert/big"
names = sys.argv[1:] or sorted(os.listdir(d))
for n in sorted(names, reverse=True):
    st = os.lstat(os.path.join(d, n))
    print(n, st.st_ino, oct(st.st_mode), st.st_nlink, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
PY
listed=$(node b python3 "$HL_TMP/stats.py")
names=$(node a python3 -c 'import os; print(" ".join(sorted(os.listdir("/hilbert/big"))))')
looked=$(node b python3 "$HL_TMP/stats.py" $names)
is "$(printf '%s\n' "$listed" | wc -l)" "3002" "a listing of 3,002 entries on node B"
ok "... stats every entry as a lookup by name does" test "$listed" = "$looked"
# the walk to the directory, its open, then the pages (762 entries, then up to 3,048)
trips=$(node b sh -c 'HILBERT_DEBUG=1 ls -l /hilbert/big 2>&1 >/dev/null' | grep -c 'pg round trip')
ok "ls -l of them asks the server a few times, not once per entry ($trips round trips)" test "$trips" -le 10
is "$(node b ls -ln --time-style=+%s /hilbert/big | md5sum)" "$(node c ls -ln --time-style=+%s /hilbert/big | md5sum)" \
    "... and prints what it prints on another node"
node a sh -c 'rm /hilbert/big/f00100 /hilbert/big/f02999 && echo new > /hilbert/big/zz-new'
out=$(node b python3 -c '
import os
names = os.listdir("/hilbert/big")
print("f00100" in names, "f02999" in names, "zz-new" in names, len(names))
')
is "$out" "False False True 3001" "a new listing on node B shows node A's removals and creations made before it"
out=$(node b python3 -c '
import os
it = os.scandir("/hilbert/big")
first = [next(it).name for _ in range(10)]
# both in the second page (entries 761 to 1,522), asked for ahead with the first
os.unlink("/hilbert/big/f01000")
with open("/hilbert/big/f01100", "w") as f: f.write("changed")
rest = [e.name for e in it]
try:
    os.lstat("/hilbert/big/f01000"); gone = "still there"
except FileNotFoundError:
    gone = "gone"
print(gone, os.lstat("/hilbert/big/f01100").st_size, "f01100" in rest, len(first) + len(rest) >= 2999)
')
is "$out" "gone 7 True True" "a change this process makes in the middle of its listing shows in its stat at once"
cat >"$HL_TMP/late.py" <<'PY'
import os, sys, time
it = os.scandir("/hilbert/big")
first = [next(it).name for _ in range(10)]     # the second page is asked for now
open(sys.argv[1] + ".ready", "w").close()
while not os.path.exists(sys.argv[1]):
    time.sleep(0.02)
time.sleep(1.3)                                # past the attribute cache timeout (1 s)
rest = [e.name for e in it]                    # takes the page asked for before A's change
print(os.lstat("/hilbert/big/f01200").st_size)
PY
meanwhile "$HL_TMP/late" 'printf 123456789 > /hilbert/big/f01200' "$HL_TMP/late.py" "$HL_TMP/late"
is "$(cat "$HL_TMP/late.out")" "9" \
    "a page asked for ahead, taken after the attribute cache timeout, does not hide another node's change from stat"
# A page shorter than asked for ends the listing: the program's next read of the stream is
# answered without asking again (one page for an empty directory, not two).
node a mkdir /hilbert/empty
node b sh -c 'HILBERT_DEBUG=1 ls -l /hilbert/empty 2>&1 >/dev/null' | grep 'pg round trip' >"$HL_TMP/empty.trips"
is "$(grep -c 'SELECT c.value, e.id' "$HL_TMP/empty.trips")" "1" "ls -l of an empty directory asks for one page"
# opendir finds the directory the walk just looked up through the caches (SEMANTICS.md)
is "$(grep -vc 'not waited for' "$HL_TMP/empty.trips")" "2" "... and waits for two round trips in all: the walk and the page"
cat >"$HL_TMP/relist.py" <<'PY'
import os, sys, time
print(sorted(os.listdir("/hilbert/big/sub")), flush=True)     # read to its end
open(sys.argv[1] + ".ready", "w").close()
while not os.path.exists(sys.argv[1]):
    time.sleep(0.02)
print(sorted(os.listdir("/hilbert/big/sub")), flush=True)     # within the attribute cache timeout
PY
meanwhile "$HL_TMP/relist" 'touch /hilbert/big/sub/added' "$HL_TMP/relist.py" "$HL_TMP/relist"
is "$(cat "$HL_TMP/relist.out")" "[]
['added']" "a listing read to its end, listed again after another node's create, shows it"

# ---------------------------------------------------------------- attribute cache
# stat answers from what the process validated with the server within the URL's attr_cache
# seconds (default 1): another node's change shows in stat at most that late; open always
# asks (close-to-open), and a change made on the same node shows at once (its change epoch).
cat >"$HL_TMP/attr.py" <<'PY'
import os, sys, time
flag, mode = sys.argv[1], sys.argv[2]
print("before", os.stat("/hilbert/ac").st_size, flush=True)
open(flag + ".ready", "w").close()
while not os.path.exists(flag):
    time.sleep(0.01)
t0 = time.monotonic()                  # the writer's call has returned
first = os.stat("/hilbert/ac").st_size
if mode == "poll":
    seen = first
    while seen != 12 and time.monotonic() - t0 < 10:
        time.sleep(0.02)
        seen = os.stat("/hilbert/ac").st_size
    print("seen", seen, "within", "1.5s" if time.monotonic() - t0 <= 1.5 else "%.2fs" % (time.monotonic() - t0), flush=True)
else:
    print("first", first, "open", len(open("/hilbert/ac").read()), "then", os.stat("/hilbert/ac").st_size, flush=True)
PY
attr_case() {   # WATCHER-NODE WATCHER-URL WRITER-NODE MODE
    local flag="$HL_TMP/ac-$RANDOM"
    node a sh -c 'printf "old\n" > /hilbert/ac'
    "$H" run --mount "/hilbert=$2" --cache "$HL_TMP/node-$1" -- python3 "$HL_TMP/attr.py" "$flag" "$4" >"$flag.out" 2>&1 &
    local w=$!
    for _ in $(seq 200); do [ -e "$flag.ready" ] && break; sleep 0.02; done
    node "$3" sh -c 'printf "new content\n" > /hilbert/ac'
    touch "$flag"
    wait $w
    cat "$flag.out"
}
is "$(attr_case b "$URL" a poll)" "before 4
seen 12 within 1.5s" "stat on node B shows node A's change within the default attribute cache timeout (1 s)"
is "$(attr_case b "$URL&attr_cache=0" a once)" "before 4
first 12 open 12 then 12" "attr_cache=0: stat on node B shows node A's change at once"
is "$(attr_case b "$URL&attr_cache=30" a once)" "before 4
first 4 open 12 then 12" \
    "attr_cache=30: stat on B may still show the old size, but open reads A's bytes (close-to-open regardless), and refreshes stat"
is "$(attr_case b "$URL&attr_cache=30" b once)" "before 4
first 12 open 12 then 12" "attr_cache=30: a change by another process of the same node shows in stat at once"

# ---------------------------------------------------------------- atomic across nodes
cat >"$HL_TMP/race.py" <<'PY'
import ctypes, errno, os, sys
me, what, rounds, gate = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
def renameat2(a, b, flags):
    r = libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), flags)
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
base = "/hilbert/race-" + what
wins = []
os.stat(base)                                   # connected and warm before the start
open("%s.ready-%s" % (gate, me), "w").close()
while not os.path.exists(gate):                 # both nodes start together
    pass
for r in range(rounds):
    name = "%s/%d" % (base, r)
    try:
        if what == "excl":
            fd = os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            os.write(fd, me.encode()); os.close(fd)
        elif what == "mkdir":
            os.mkdir(name); open(name + "/owner", "w").write(me)
        elif what == "link":
            src = "%s/src-%s-%d" % (base, me, r)
            open(src, "w").write(me)
            os.link(src, name)
        elif what == "noreplace":
            src = "%s/src-%s-%d" % (base, me, r)
            open(src, "w").write(me)
            renameat2(src, name, 1)          # RENAME_NOREPLACE
        wins.append(r)
    except OSError as e:
        if e.errno != errno.EEXIST:
            print("round %d: unexpected %s" % (r, e)); sys.exit(1)
print(" ".join(map(str, wins)))
PY
check_race() {   # check_race WHAT — two nodes race for the same 200 names
    local what=$1 a b
    node a mkdir -p "/hilbert/race-$what"
    local gate="$HL_TMP/gate-$what"
    node a python3 "$HL_TMP/race.py" A "$what" 200 "$gate" >"$HL_TMP/race-$what.A" 2>&1 &
    a=$!
    node b python3 "$HL_TMP/race.py" B "$what" 200 "$gate" >"$HL_TMP/race-$what.B" 2>&1 &
    b=$!
    for _ in $(seq 400); do [ -e "$gate.ready-A" ] && [ -e "$gate.ready-B" ] && break; sleep 0.05; done
    touch "$gate"
    wait $a; wait $b
    python3 - "$HL_TMP/race-$what.A" "$HL_TMP/race-$what.B" <<'PY' >"$HL_TMP/race-$what.verdict"
import sys
a = set(map(int, open(sys.argv[1]).read().split())); b = set(map(int, open(sys.argv[2]).read().split()))
both, none = a & b, set(range(200)) - a - b
print("both=%d none=%d a=%d b=%d" % (len(both), len(none), len(a), len(b)))
PY
    local owners
    owners=$(node c python3 - "$what" "$HL_TMP/race-$what.A" <<'PY'
import os, sys
what = sys.argv[1]
a = set(map(int, open(sys.argv[2]).read().split()))
bad = 0
for r in range(200):
    p = "/hilbert/race-%s/%d" % (what, r)
    owner = open(p + "/owner").read() if what == "mkdir" else open(p).read()
    if owner != ("A" if r in a else "B"): bad += 1
print("mismatched=%d" % bad)
PY
)
    like "$(cat "$HL_TMP/race-$what.verdict")" "^both=0 none=0 " "$what: 200 rounds between two nodes, exactly one winner each ($(cat "$HL_TMP/race-$what.verdict"))"
    is "$owners" "mismatched=0" "$what: every name holds its winner's content, seen from a third node"
}
check_race excl
check_race mkdir
check_race link
check_race noreplace

# RENAME_EXCHANGE from two nodes at once: each swap is whole, so the pair always holds the two
# original contents.
node a sh -c 'mkdir /hilbert/xch; echo left > /hilbert/xch/l; echo right > /hilbert/xch/r'
cat >"$HL_TMP/exchange.py" <<'PY'
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
for _ in range(200):
    if libc.renameat2(-100, b"/hilbert/xch/l", -100, b"/hilbert/xch/r", 2) != 0:   # RENAME_EXCHANGE
        raise OSError(ctypes.get_errno(), "renameat2")
print("ok")
PY
node a python3 "$HL_TMP/exchange.py" >"$HL_TMP/xa" 2>&1 & a=$!
node b python3 "$HL_TMP/exchange.py" >"$HL_TMP/xb" 2>&1 & b=$!
wait $a; wait $b
is "$(cat "$HL_TMP/xa" "$HL_TMP/xb")" "ok
ok" "RENAME_EXCHANGE: 200 swaps on each of two nodes at once succeed"
is "$(node c sh -c 'cat /hilbert/xch/l /hilbert/xch/r | sort | tr "\n" " "; ls /hilbert/xch | wc -l')" "left right 2" \
    "... and the pair still holds the two contents, once each"

# ---------------------------------------------------------------- one writing node at a time
cat >"$HL_TMP/writer.py" <<'PY'
import os, sys, time
f = open("/hilbert/shared", "w")
f.write("A" * 4096); f.flush()
open(sys.argv[1], "w").close()
time.sleep(4)
f.write("a" * 10); f.close()
print("A closed")
PY
node a python3 "$HL_TMP/writer.py" "$HL_TMP/writing" >"$HL_TMP/writer.out" 2>&1 & a=$!
for _ in $(seq 200); do [ -e "$HL_TMP/writing" ] && break; sleep 0.05; done
out=$(node b python3 -c '
import errno, os, time
t = time.time()
try:
    os.open("/hilbert/shared", os.O_WRONLY | os.O_TRUNC); print("opened")
except OSError as e:
    print(errno.errorcode[e.errno], round(time.time() - t))
print(os.stat("/hilbert/shared").st_size)
' 2>&1)
like "$out" "^EBUSY [1-4]
" "a file open for writing on node A: node B's open for writing fails with EBUSY after about 2 s"
like "$out" "
0$" "... while B still sees the last committed version (close-to-open, not A's unclosed bytes)"
wait $a
node b python3 -c '
import os
fd = os.open("/hilbert/shared", os.O_WRONLY | os.O_TRUNC); os.write(fd, b"B" * 100); os.close(fd)'
is "$(node c python3 -c 'd = open("/hilbert/shared", "rb").read(); print(len(d), sorted(set(d.decode())))')" "100 ['B']" \
    "after A closed, B writes; the last closer's version is whole, no byte of A's mixed in"

done_testing

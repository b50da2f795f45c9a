#!/usr/bin/env bash
# fork() while the engine's own threads run (Sources/CHilbertSys/forkgate.c): a child must never
# inherit a lock one of them held, nor one a program thread held in a call into the engine.
# Write-behind is on, so a writing process has a poller and store workers; its main thread forks
# children that open, write and close files of their own.
# Before the fork gate a child hung (1 run in ~10 of semantics.t@s3) in the Swift runtime on a
# lock the parent's write-behind thread held at the fork; and a parent deadlocked when its main
# thread forked while another committed (the fork handler took the engine's locks in the
# opposite order). A hung child fails the test after 30 s (and is killed), a hung parent after
# 120 s, so a hang cannot pass as slowness.
# timeout: 600
. "$(dirname "$0")/../lib.sh"
hl_setup --block-size 1M --compress none
export HILBERT_WRITE_BEHIND=1   # the default; set in case a caller turned it off

cat > "$HL_TMP/forker.py" <<'EOF'
import os, sys, threading, time, signal
where, rounds, kids = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(where, exist_ok=True)
hung = []

def wait_all(pids):
    deadline = time.time() + 30
    left = set(pids)
    while left and time.time() < deadline:
        for p in list(left):
            r, status = os.waitpid(p, os.WNOHANG)
            if r:
                left.discard(p)
                if status != 0: hung.append(("status", p, status))
        time.sleep(0.005)
    for p in left:
        hung.append(("hung", p))
        os.kill(p, signal.SIGKILL); os.waitpid(p, 0)

def child(name):
    fd = os.open(name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, b"%s\n" % name.encode())
    os.close(fd)
    os.stat(name); os.listdir(where)
    os._exit(0)

# A writer thread keeps the write-behind threads busy (1 MiB blocks) while this thread forks;
# with "calls", two more threads of the program are in and out of the engine all the time.
stop = threading.Event()
def write_big():
    with open(os.path.join(where, "big"), "wb") as f:
        n = 0
        while not stop.is_set() and n < 400:
            f.write(os.urandom(64 << 10) * 16); f.flush(); n += 1
            time.sleep(0.01)
def calls(k):
    n = 0
    while not stop.is_set():
        p = os.path.join(where, "t%d-%d" % (k, n % 20))
        with open(p, "w") as f: f.write("x" * n)
        os.stat(p); os.rename(p, p + ".r"); os.listdir(where); os.unlink(p + ".r")
        n += 1
threads = [threading.Thread(target=write_big)]
if len(sys.argv) > 4 and sys.argv[4] == "calls":
    threads += [threading.Thread(target=calls, args=(k,)) for k in range(2)]
for t in threads: t.start()
names = []
for r in range(rounds):
    pids = []
    for k in range(kids):
        name = os.path.join(where, "r%d-k%d" % (r, k))
        names.append(name)
        pid = os.fork()
        if pid == 0: child(name)
        pids.append(pid)
    wait_all(pids)
stop.set()
for t in threads: t.join()
missing = [n for n in names if not os.path.exists(n) or open(n).read() != n + "\n"]
print("hung=%d missing=%d" % (len(hung), len(missing)))
if hung: print("first:", hung[:3], file=sys.stderr)
EOF

out=$(hl timeout -s KILL 120 python3 "$HL_TMP/forker.py" /hilbert/storm 60 4)
is "$out" "hung=0 missing=0" "240 children forked while write-behind threads store a growing file: none hangs, every file is written"

# A fresh process forks right after its first write, while its poller starts: the moment of
# the hang seen in semantics.t (before the gate, 1 in ~100 such processes hung). 60 processes,
# 4 children each.
fails=0
for i in $(seq 1 60); do
    o=$(hl timeout -s KILL 120 python3 "$HL_TMP/forker.py" /hilbert/fresh-$i 1 4)
    [ "$o" = "hung=0 missing=0" ] || { fails=$((fails + 1)); diag "process $i: $o"; }
done
is "$fails" "0" "60 fresh processes each fork 4 children at once: none hangs"

# The program's own threads inside engine calls (create, stat, rename, list, unlink) while its
# main thread forks: the fork waits for their calls, never leaves a child a held lock.
out=$(hl timeout -s KILL 120 python3 "$HL_TMP/forker.py" /hilbert/calls 40 4 calls)
is "$out" "hung=0 missing=0" "160 children forked while two threads of the program call the engine: none hangs"
fails=0
for i in $(seq 1 30); do
    o=$(hl timeout -s KILL 120 python3 "$HL_TMP/forker.py" /hilbert/calls-$i 1 4 calls)
    [ "$o" = "hung=0 missing=0" ] || { fails=$((fails + 1)); diag "process $i: $o"; }
done
is "$fails" "0" "30 fresh processes fork at once while two of their threads call the engine: none hangs"
done_testing

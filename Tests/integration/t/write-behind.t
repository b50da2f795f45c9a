#!/usr/bin/env bash
# Write-behind (issue 13, §4): whole blocks of a big file are stored while a program still
# writes it, so its close uploads only the last ones; a commit takes a stored block only where
# the file still holds those bytes, so rewrites, a second writer, mmap and fsync lose nothing;
# a killed writer's stored blocks are gc's (an abandoned upload). Volumes of 1 MiB blocks.
# Runs on the local store and on S3 (what the store holds is read from `hilbert gc`).
# timeout: 600
. "$(dirname "$0")/../lib.sh"
hl_setup --block-size 1M --compress none
need sha256sum:coreutils
PY=/usr/bin/python3
sha() { sha256sum | cut -d' ' -f1; }
cold() { rm -rf "$HL_TMP/cold"; hlc "$HL_TMP/cold" "$@"; }
# gc_count KIND — objects gc reports as KIND (referenced, uploading, leaked, recent)
gc_count() { "$HILBERT" gc "$HL_URL" 2>/dev/null | awk -v k="$1:" '$1 == k { print $2 }'; }

# The writer: NBLOCKS blocks of 1 MiB (distinct bytes), one every 0.1 s, then waits until
# the poller had time, runs $HOOK (a shell snippet, in a child process) with the file still
# open, and closes; prints what gc saw before the close and the file's SHA-256 as written.
cat > "$HL_TMP/writer.py" <<'EOF'
import hashlib, mmap, os, subprocess, sys, time
path, nblocks, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
hook = os.environ.get("HOOK", "")
def block(i):
    return hashlib.sha256(b"wb%d" % i).digest() * 32768
data = bytearray()
# "-": stdout, a descriptor the program got across exec (`cmd > /hilbert/f`)
f = os.fdopen(1, "wb") if path == "-" else open(path, "wb")
for i in range(nblocks):
    b = block(i)
    f.write(b); f.flush()
    data += b
    time.sleep(0.1)
time.sleep(1.5)
if mode == "rewrite":            # a block stored early changes afterwards
    f.seek(100); f.write(b"X" * 10); f.flush()
    data[100:110] = b"X" * 10
elif mode == "fsync":            # commit mid-way, then write on
    os.fsync(f.fileno())
    for i in range(nblocks, nblocks + 4):
        b = block(i); f.write(b); f.flush(); data += b; time.sleep(0.1)
    time.sleep(1.5)
elif mode == "mmap":             # bytes changed through a mapping: no write(2) at all
    f.flush()
    with open(path, "r+b") as g:
        m = mmap.mmap(g.fileno(), 0)
        m[2 * 1048576 + 7: 2 * 1048576 + 12] = b"MMAP!"
        m.flush(); m.close()
    data[2 * 1048576 + 7: 2 * 1048576 + 12] = b"MMAP!"
elif mode == "other":            # another process of the node writes a stored block
    f.flush()
    subprocess.run(["sh", "-c", "printf OTHER | dd of=%s bs=1 seek=%d conv=notrunc status=none" % (path, 1048576 + 3)], check=True)
    data[1048576 + 3: 1048576 + 8] = b"OTHER"
if hook:
    subprocess.run(["sh", "-c", hook], check=True)
f.close()
print(hashlib.sha256(data).hexdigest(), file=sys.stderr if path == "-" else sys.stdout)
EOF
# The gc report the hook leaves for the test, taken while the writer still has the file open.
HOOK_GC="'$HILBERT' gc '$HL_URL' > '$HL_TMP/gc-open.out' 2>/dev/null"
uploading_open() { awk '$1 == "uploading:" { print $2 }' "$HL_TMP/gc-open.out"; }

n=12
ref0=$(gc_count referenced)
want=$(HOOK=$HOOK_GC hl "$PY" "$HL_TMP/writer.py" /hilbert/plain $n plain)
up=$(uploading_open)
if [ "${up:-0}" -ge $((n - 3)) ] && [ "${up:-0}" -le $((n - 1)) ]; then
    pass "while a $n-block file is written, its whole blocks are stored: $up registered as uploading"
else
    fail "blocks stored while writing" "uploading: ${up:-none} (want $((n - 3))..$((n - 1)))"
fi
is "$(gc_count referenced)" "$((ref0 + n))" "after close the file references $n objects (the close stored the rest)"
is "$(gc_count uploading)" "0" "  and no upload is left registered"
is "$(gc_count recent)" "0" "  and nothing stored is left unreferenced"
is "$(cold sha256sum /hilbert/plain | cut -d' ' -f1)" "$want" "  content from another node's cache is what was written"

# The same through bash's redirection: python gets the descriptor across exec.
want=$(HOOK=$HOOK_GC hl bash -c "'$PY' '$HL_TMP/writer.py' - $n plain > /hilbert/redirected" 2>&1)
up=$(uploading_open)
if [ "${up:-0}" -ge $((n - 3)) ]; then
    pass "a descriptor got across exec (cmd > file): blocks stored while writing ($up)"
else
    fail "blocks stored while writing through an inherited descriptor" "uploading: ${up:-none}"
fi
is "$(cold sha256sum /hilbert/redirected | cut -d' ' -f1)" "$want" "  content is what was written"

for mode in rewrite fsync mmap other; do
    want=$(hl "$PY" "$HL_TMP/writer.py" /hilbert/$mode $n $mode)
    is "$(cold sha256sum /hilbert/$mode | cut -d' ' -f1)" "$want" "$mode: the committed content is what the file held at close"
    is "$(gc_count recent)" "0" "  no stored block is left unreferenced"
    is "$(gc_count uploading)" "0" "  no upload is left registered"
    is "$(gc_count missing)" "0" "  nothing referenced is missing"
done

# Off: nothing is stored before the close.
want=$(HOOK=$HOOK_GC HILBERT_WRITE_BEHIND=0 hl "$PY" "$HL_TMP/writer.py" /hilbert/off 6 plain)
is "$(uploading_open)" "0" "HILBERT_WRITE_BEHIND=0: nothing is stored while writing"
is "$(cold sha256sum /hilbert/off | cut -d' ' -f1)" "$want" "  and the close stores it all"

# A writer killed mid-way: its stored blocks are an abandoned upload, which gc deletes; the
# staging file keeps what was written, for flush.
hl "$PY" - /hilbert/killed <<'EOF' &
import os, sys, time
with open(sys.argv[1], "wb") as f:
    for i in range(40):
        f.write(os.urandom(1048576)); f.flush(); time.sleep(0.1)
    time.sleep(60)
EOF
pid=$!
# All 40 written and the 39 whole blocks with another after them stored: then the kill.
for _ in $(seq 150); do [ "$(gc_count uploading)" -ge 39 ] && break; sleep 0.2; done
up=$(gc_count uploading)
victim=$(pgrep -f "^$PY - /hilbert/killed" | head -1)
kill -9 "$victim" 2>/dev/null; wait "$pid" 2>/dev/null
if [ "${up:-0}" -ge 39 ]; then pass "a writer stored blocks before it was killed ($up)"; else fail "stored before the kill" "$up"; fi
"$HILBERT" gc "$HL_URL" --delete --grace 0 >/dev/null 2>&1
is "$(gc_count uploading)" "0" "gc --delete gives up the killed writer's upload"
is "$(gc_count recent)" "0" "  and deletes its stored blocks"
# (hilbert run flushed when its command was killed; a flush again finds nothing.)
HILBERT_MOUNTS="/hilbert=$HL_URL" HILBERT_CACHE="$HL_CACHE" "$HILBERT" flush >/dev/null 2>&1
is "$(hl stat -c %s /hilbert/killed)" "41943040" "what the killed writer wrote is committed (flush)"
is "$(gc_count missing)" "0" "  and nothing referenced is missing"
done_testing

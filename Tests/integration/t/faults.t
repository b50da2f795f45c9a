#!/usr/bin/env bash
# Faults: missing/bad volume, corrupt and missing block objects, unusable cache dir, full
# cache disk, an engine that fails to load. The rule: a clear "hilbert:" line, an errno for
# prefix paths, never wrong data, host paths unaffected.
# timeout: 240
. "$(dirname "$0")/../lib.sh"
hl_setup

# PROBE: a python program that touches the prefix twice, then the host; prints one result line
# per operation. Its stderr goes to $ERR so only the process's own messages are counted.
PROBE='
import os, sys
tmp = os.environ["HL_TMP"]
def t(name, fn):
    try: fn(); print(name, "ok")
    except OSError as e: print(name, "errno", e.errno)
t("stat", lambda: os.stat("/hilbert/x"))
t("create", lambda: open("/hilbert/y", "w").write("y"))
t("listdir", lambda: os.listdir("/hilbert"))
def host():
    open(tmp + "/host-file", "w").write("host")
    assert open(tmp + "/host-file").read() == "host"
    os.listdir(tmp); os.unlink(tmp + "/host-file")
t("host", host)
'
probe() {   # probe ERRFILE RUNNER… — runs PROBE with stderr into ERRFILE
    local err=$1; shift
    "$@" bash -c 'exec 2>"$0"; exec "$1" -c "$2"' "$err" "$HL_PY" "$PROBE"
}
count_lines() { grep -c "$1" "$2" 2>/dev/null || true; }

# ---------------------------------------------------------------- missing / bad volume
for url in "sqlite://$HL_TMP/no-such-dir/meta.db" "sqlite://$HL_TMP/vol" "bogus:not-a-url"; do
    out=$(probe "$HL_TMP/err" "$HILBERT" run --mount "/hilbert=$url" --cache "$HL_CACHE" -- 2>"$HL_TMP/outer"); rc=$?
    is "$rc" "0" "bad volume $url: the program runs to the end (exit status passed through)"
    like "$out" $'^stat errno [1-9][0-9]*\ncreate errno [1-9][0-9]*\nlistdir errno [1-9][0-9]*\nhost ok$' "bad volume $url: errno for prefix paths, host paths fine"
    is "$(count_lines 'hilbert:' "$HL_TMP/err")" "1" "bad volume $url: exactly one 'hilbert:' line on stderr"
    diag "stderr: $(head -3 "$HL_TMP/err")" "hilbert run: $(head -3 "$HL_TMP/outer")"
done

# ---------------------------------------------------------------- engine fails to load
out=$(probe "$HL_TMP/err" env HILBERT_ENGINE=/nonexistent/libHilbertEngine.so "$HILBERT" run --mount "/hilbert=$HL_URL" --cache "$HL_CACHE" --)
like "$out" $'^stat errno (38|5)\ncreate errno (38|5)\nlistdir errno (38|5)\nhost ok$' "HILBERT_ENGINE=/nonexistent: ENOSYS/EIO under the prefix, host paths fine"
is "$(count_lines 'hilbert:' "$HL_TMP/err")" "1" "HILBERT_ENGINE=/nonexistent: exactly one 'hilbert:' line"
diag "stderr: $(head -3 "$HL_TMP/err")"
notengine=$(ls /lib/x86_64-linux-gnu/libz.so.1 /usr/lib/x86_64-linux-gnu/libz.so.1 2>/dev/null | head -1)
if [ -n "$notengine" ]; then
    out=$(probe "$HL_TMP/err" env HILBERT_ENGINE="$notengine" "$HILBERT" run --mount "/hilbert=$HL_URL" --cache "$HL_CACHE" --)
    like "$out" $'^stat errno (38|5)\ncreate errno (38|5)\nlistdir errno (38|5)\nhost ok$' "HILBERT_ENGINE=libz (no engine symbol): ENOSYS/EIO, host paths fine"
    is "$(count_lines 'hilbert:' "$HL_TMP/err")" "1" "HILBERT_ENGINE=libz: exactly one 'hilbert:' line"
fi

# ---------------------------------------------------------------- knobs
[ -e /hilbert ] && diag "WARNING: /hilbert exists on the host"
out=$(HILBERT_DISABLE=1 hl ls /hilbert 2>&1); like "$out" "No such file or directory" "HILBERT_DISABLE=1: /hilbert is passed to the host (ENOENT)"
ok "write a file for the knob tests" hlsh 'echo knob > /hilbert/knob'
out=$(HILBERT_DEBUG=1 hl cat /hilbert/knob 2>"$HL_TMP/dbg"); is "$out" "knob" "HILBERT_DEBUG=1: stdout unchanged"
like "$(cat "$HL_TMP/dbg")" "knob" "HILBERT_DEBUG=1: stderr traces the routed calls"

# ---------------------------------------------------------------- corrupt / missing block objects
objs() { find "$HL_OBJECTS" -type f | sort; }
# commit_alone NAME PYEXPR — commit one file in its own run; prints the objects it created
commit_alone() {
    local before after
    before=$(objs)
    hl "$HL_PY" -c "import os; open('/hilbert/$1', 'wb').write($2)" >&2
    after=$(objs)
    comm -13 <(echo "$before") <(echo "$after")
}
corrupt_objs=$(commit_alone corrupt.bin 'os.urandom(300 * 1024)')
missing_objs=$(commit_alone missing.bin 'os.urandom(300 * 1024)')
commit_alone healthy.bin 'b"healthy" * 50000' >/dev/null
hl sha256sum /hilbert/corrupt.bin /hilbert/missing.bin /hilbert/healthy.bin >"$HL_TMP/sums" 2>&1
n1=$(printf '%s' "$corrupt_objs" | grep -c .); n2=$(printf '%s' "$missing_objs" | grep -c .)
if [ "$n1" -ge 1 ] && [ "$n2" -ge 1 ]; then pass "committing a 300 KiB file creates block objects ($n1, $n2)"
else fail "committing a 300 KiB file creates block objects" "objects dir: $(objs | head)"; fi
for o in $corrupt_objs; do
    "$HL_PY" - "$o" <<'PY'
import os, sys
p = sys.argv[1]; n = os.path.getsize(p)
with open(p, "r+b") as f:        # flip 16 bytes in three places
    for off in sorted({n // 2, n // 3, max(0, n - 64)}):
        f.seek(off); b = f.read(16); f.seek(off); f.write(bytes(x ^ 0x5A for x in b))
PY
done
READ='
import hashlib, sys
want = dict(l.split()[::-1] for l in open(sys.argv[1]) if len(l.split()) == 2)
p = sys.argv[2]
try:
    d = open(p, "rb").read()
except OSError as e:
    print("errno", e.errno); sys.exit(0)
print("intact" if hashlib.sha256(d).hexdigest() == want.get(p) else "WRONG DATA (%d bytes)" % len(d))
'
out=$(hlc "$HL_TMP/fresh1" "$HL_PY" -c "$READ" "$HL_TMP/sums" /hilbert/corrupt.bin 2>"$HL_TMP/rerr")
is "$out" "errno 5" "a corrupt block object: reading fails with EIO (fresh cache)"
like "$(cat "$HL_TMP/rerr")" "hilbert:" "a corrupt block object: the engine says why on stderr"
out=$(hlc "$HL_TMP/fresh1b" cat /hilbert/corrupt.bin 2>&1 >/dev/null); like "$out" "Input/output error" "cat of the corrupt file reports EIO"
out=$(hlc "$HL_TMP/fresh1c" "$HL_PY" -c "$READ" "$HL_TMP/sums" /hilbert/healthy.bin 2>&1)
is "$out" "intact" "other files are still readable"

for o in $missing_objs; do rm -f "$o"; done
out=$(hlc "$HL_TMP/fresh2" "$HL_PY" -c "$READ" "$HL_TMP/sums" /hilbert/missing.bin 2>/dev/null)
is "$out" "errno 5" "a missing block object: reading fails with EIO (fresh cache)"
out=$(hlc "$HL_TMP/fresh2b" "$HL_PY" -c "$READ" "$HL_TMP/sums" /hilbert/healthy.bin 2>&1)
is "$out" "intact" "other files are still readable after objects went missing"
out=$(hlc "$HL_TMP/fresh2c" stat -c %s /hilbert/missing.bin 2>&1); is "$out" "307200" "stat of a file with a missing block still works (metadata intact)"

# ---------------------------------------------------------------- unusable cache dir
ok "commit a file with a good cache" hlsh 'echo committed > /hilbert/cached.txt'
: > "$HL_TMP/regular-file"
out=$(hlc "$HL_TMP/regular-file/cache" bash -c 'exec 2>"$HL_TMP/err"; echo new > /hilbert/new-with-bad-cache; echo rc=$?; echo host > "$HL_TMP/h2" && cat "$HL_TMP/h2"')
like "$out" $'^rc=[1-9][0-9]*\nhost$' "cache dir under a regular file: writing under the prefix fails, host paths fine"
like "$(cat "$HL_TMP/err")" "hilbert:" "cache dir under a regular file: a clear 'hilbert:' error"
diag "stderr: $(head -3 "$HL_TMP/err")"
is "$(hlc "$HL_TMP/good-cache" cat /hilbert/cached.txt 2>&1)" "committed" "committed data still readable with a good cache"
if hl_user; then
    chmod 755 "$HL_TMP"; chown -R "$HL_UID:$HL_GID" "$HL_VOL"
    mkdir -p "$HL_TMP/ro-cache" "$HL_TMP/uhome"; chown "$HL_UID:$HL_GID" "$HL_TMP/ro-cache" "$HL_TMP/uhome"; chmod 0500 "$HL_TMP/ro-cache"
    out=$(as_user env HOME="$HL_TMP/uhome" "$HILBERT" run --mount "/hilbert=$HL_URL" --cache "$HL_TMP/ro-cache" -- bash -c 'exec 2>"$HL_TMP/uhome/uerr"; echo u > /hilbert/new-by-user; echo rc=$?; id -u' 2>&1)
    like "$out" $'^rc=[1-9][0-9]*\n'"$HL_UID" "non-root with a 0500 cache dir: writing under the prefix fails"
    like "$(cat "$HL_TMP/uhome/uerr" 2>/dev/null)" "hilbert:" "non-root with a 0500 cache dir: a clear 'hilbert:' error"
    is "$(hlc "$HL_TMP/good-cache2" cat /hilbert/cached.txt 2>&1)" "committed" "committed data still readable afterwards"
else
    fail "create the test user (useradd)"
fi

# ---------------------------------------------------------------- full cache disk
tiny="$HL_TMP/tiny"; mkdir -p "$tiny"
if mount -t tmpfs -o size=2m,mode=700 tmpfs "$tiny" 2>/dev/null; then
    at_cleanup "umount -l '$tiny'"
    out=$(hlc "$tiny" "$HL_PY" -c '
open("/hilbert/small-before", "w").write("before\n")
open("/hilbert/mid-before", "wb").write(bytes(range(256)) * 1024)
print("written")' 2>&1)
    is "$out" "written" "files committed through a 2 MiB tmpfs cache"
    out=$(hlc "$tiny" "$HL_PY" -c '
import os, errno
res = "no error"
try:
    fd = os.open("/hilbert/big", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    chunk = os.urandom(65536)
    try:
        for i in range(80):            # 5 MiB
            os.write(fd, chunk)
    finally:
        os.close(fd)
except OSError as e:
    res = "errno %d" % e.errno
print(res)' 2>&1)
    like "$out" "^errno 28" "writing 5 MiB with a 2 MiB cache fails with ENOSPC (on write or close)"
    is "$(hlc "$tiny" cat /hilbert/small-before 2>&1)" "before" "previously committed small file intact (same cache)"
    is "$(hlc "$HL_TMP/fresh3" "$HL_PY" -c 'print(open("/hilbert/mid-before","rb").read() == bytes(range(256)) * 1024)' 2>&1)" "True" "previously committed 256 KiB file intact (fresh cache)"
    out=$(hlc "$HL_TMP/fresh4" "$HL_PY" -c '
import os
try:
    d = open("/hilbert/big", "rb").read(); print("size", len(d), "zeros-free" if d.count(0) < len(d) // 2 else "zeros")
except OSError as e: print("errno", e.errno)' 2>&1)
    like "$out" "^(size [0-9]+ zeros-free|errno 2|size 0 zeros-free)$" "the failed file is absent, empty or holds real data (never a fabricated size)"
else
    skip "full disk: cannot mount a tmpfs here"
fi

done_testing

#!/usr/bin/env bash
# Volumes on S3 (a real SeaweedFS server from Tests/s3/s3server.sh) with a fault-injecting
# proxy between the engine and the server: format checks and their errors, secrets kept out
# of metadata and output, lazy libcurl, data through retries (SlowDown, Retry-After, resets
# before and after the server acted, truncated bodies, hangs), and the durability contract:
# a store that stays down makes close() fail with EIO while the bytes wait in the staging
# area until a later process, `hilbert flush` or a retry commits them; reads fail with EIO,
# never zeros; a writer killed in the middle of an upload loses nothing committed.
# timeout: 600
. "$(dirname "$0")/../lib.sh"
need python3 curl:curl cmp:diffutils
[ -x "$HILBERT" ] || bail "hilbert binary at $HILBERT" "build first: make"
hl_s3_own_server 900
rules() { hl_s3_rules "$1"; }
fired() { curl -sf "$FP/__faultproxy/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["actions"].get(sys.argv[1], 0))' "$1"; }
noproxy() { rules '[]'; }

# Short retry schedule so the dead-store cases end quickly.
export HILBERT_S3_ATTEMPTS=4 HILBERT_S3_BACKOFF_BASE_MS=20 HILBERT_S3_BACKOFF_CAP_MS=300 HILBERT_S3_STALL_TIMEOUT_S=2
BUCKET_URL="$FP/$S3_BUCKET"
fmt() { "$HILBERT" format "sqlite://$HL_TMP/$1/meta.db" --storage s3 "${@:2}"; }

# ------------------------------------------------------------------ format and its errors
out=$(AWS_SECRET_ACCESS_KEY=wrong fmt bad1 --bucket "$BUCKET_URL/bad1" 2>&1)
like "$out" "cannot list.*SignatureDoesNotMatch" "format: a wrong secret is reported with the server's code"
ok "format: nothing created after a failed check" test ! -e "$HL_TMP/bad1/meta.db"
out=$(fmt bad2 --bucket "$FP/no-such-bucket/x" 2>&1)
like "$out" "cannot list.*NoSuchBucket" "format: a missing bucket is named"
out=$(fmt bad3 --bucket "http://127.0.0.1:9/$S3_BUCKET/x" 2>&1)
like "$out" "cannot list.*(onnect|refused).*gave up after 4 attempts" "format: an unreachable endpoint, after the retries"
nocreds() { (unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY; "$@"); }
out=$(nocreds fmt bad4 --bucket "$BUCKET_URL/bad4" 2>&1)
like "$out" "AWS_ACCESS_KEY_ID.*credentials" "format: no credentials: the places looked at are listed"
out=$(fmt bad5 --bucket "ftp://x/y" 2>&1)
like "$out" "ftp://x/y" "format: a bad bucket URL is named"

creds="$HL_TMP/creds"
printf 'access_key_id = %s\nsecret_access_key = %s\n' "$S3_ACCESS_KEY" "$S3_SECRET_KEY" >"$creds"
chmod 644 "$creds"
out=$(nocreds fmt bad6 --bucket "$BUCKET_URL/bad6" --credentials "$creds" 2>&1)
like "$out" "chmod 600" "format: a credentials file readable by others is refused with the fix"
chmod 600 "$creds"
out=$(nocreds fmt vol --bucket "$BUCKET_URL/vol" --credentials "$creds" 2>&1)
ok "format: S3 volume with a credentials file" test -f "$HL_TMP/vol/meta.db"
unlike "$out" "$S3_SECRET_KEY" "format: the secret is not printed"
ok "the secret is not in the metadata" bash -c "! grep -a -q -- '$S3_SECRET_KEY' '$HL_TMP/vol/meta.db'"
like "$(sqlite3 "$HL_TMP/vol/meta.db" "SELECT value FROM hl_setting WHERE name='storage.credentials'" 2>&1)" "^$creds\$" "the credentials file's path is recorded"

mkdir -p "$HOME/.aws"
printf '[default]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n\n[lab]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
    "$S3_ACCESS_KEY" "$S3_SECRET_KEY" >"$HOME/.aws/credentials"
out=$(nocreds fmt prof --bucket "$BUCKET_URL/prof" --profile lab 2>&1)
ok "format: credentials from a profile of ~/.aws/credentials" test -f "$HL_TMP/prof/meta.db"
ok "  a process of that volume reads and writes with the profile" bash -c "unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY; '$HILBERT' run --mount '/hilbert=sqlite://$HL_TMP/prof/meta.db' --cache '$HL_TMP/c-prof' -- bash -c 'head -c 5M /dev/urandom > /hilbert/p && cat /hilbert/p >/dev/null'"
out=$(nocreds fmt prof2 --bucket "$BUCKET_URL/prof2" 2>&1)
like "$out" "SignatureDoesNotMatch|InvalidAccessKeyId" "  the default profile's (wrong) keys are used without --profile"
rm -rf "$HOME/.aws"

HL_URL="sqlite://$HL_TMP/vol/meta.db"
HL_CACHE="$HL_TMP/cache"
mkdir -p "$HL_CACHE"
export HILBERT_S3_CREDENTIALS=   # the volume's own file is used
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY

# ------------------------------------------------------------------ data through the store
head -c 24M /dev/urandom >"$HL_TMP/v1.bin"
head -c 24M /dev/urandom >"$HL_TMP/v2.bin"
seq 1 200000 >"$HL_TMP/small.txt"
ok "write a 24 MiB file and a small one" hl bash -c "cp '$HL_TMP/v1.bin' /hilbert/f.bin && cp '$HL_TMP/small.txt' /hilbert/s.txt"
n=$("$S3_PYTHON" -c "
import boto3, os
s3 = boto3.client('s3', endpoint_url=os.environ['S3_ENDPOINT'], aws_access_key_id='$S3_ACCESS_KEY', aws_secret_access_key='$S3_SECRET_KEY')
print(sum(1 for p in s3.get_paginator('list_objects_v2').paginate(Bucket='$S3_BUCKET', Prefix='vol/chunks/') for _ in p.get('Contents', [])))")
ok "the blocks are objects under the volume's key prefix ($n)" test "$n" -ge 6
ok "read back on another node (empty cache)" hlc "$HL_TMP/c-read1" bash -c "cmp '$HL_TMP/v1.bin' /hilbert/f.bin && cmp '$HL_TMP/small.txt' /hilbert/s.txt"
out=$(hlc "$HL_TMP/c-lazy" python3 -c '
import os
os.stat("/hilbert/f.bin"); os.listdir("/hilbert")
before = "libcurl" in open("/proc/self/maps").read()
open("/hilbert/f.bin", "rb").read(10)
after = "libcurl" in open("/proc/self/maps").read()
print(before, after)')
is "$out" "False True" "libcurl is loaded only when data moves (not for stat or listing)"

out=$(hlc "$HL_TMP/c-fork" python3 -c '
import os, sys
a = open("/hilbert/f.bin", "rb").read()          # the parent has pooled S3 connections now
pid = os.fork()
if pid == 0:
    b = open("/hilbert/s.txt", "rb").read()      # the child must not use the parent sockets
    os._exit(0 if b == open(sys.argv[2], "rb").read() else 3)
_, st = os.waitpid(pid, 0)
a2 = open(sys.argv[1], "rb").read()
print("child", os.waitstatus_to_exitcode(st), "parent", a == a2)' "$HL_TMP/v1.bin" "$HL_TMP/small.txt" 2>&1)
is "$out" "child 0 parent True" "fork after S3 traffic: parent and child both read correctly (no shared connections)"

# ------------------------------------------------------------------ transient faults
# Every 3rd PUT fails, whichever block it carries (16 in flight): 10 attempts make a block
# that loses every round (1 in 3^10) practically impossible.
rules '[{"action":"reset_before","method":"PUT","after":3,"first":1},
        {"action":"reset_after","method":"PUT","first":2},
        {"action":"status","status":503,"code":"SlowDown","method":"PUT","every":3}]'
ok "write through SlowDown, resets before and after the server acted" env HILBERT_S3_ATTEMPTS=10 "$HILBERT" run --mount "/hilbert=$HL_URL" --cache "$HL_CACHE" -- cp "$HL_TMP/v2.bin" /hilbert/g.bin
ok "  faults fired (status $(fired status), reset_after $(fired reset_after), reset_before $(fired reset_before))" \
    test "$(fired status)" -ge 1 -a "$(fired reset_after)" -ge 1 -a "$(fired reset_before)" -ge 1
rules '[{"action":"status","status":503,"code":"SlowDown","retry-after":1,"method":"PUT","first":1}]'
t0=$(date +%s%N)
ok "Retry-After: write succeeds" hl cp "$HL_TMP/small.txt" /hilbert/ra.txt
hl bash -c 'head -c 20M /dev/urandom > /hilbert/ra2.bin'
noproxy
ok "  and waited at least the second the server asked for" test $(( ($(date +%s%N) - t0) / 1000000 )) -ge 1000
rules '[{"action":"status","status":400,"code":"ExpiredToken","method":"PUT","first":1}]'
ok "expired temporary credentials: read again and the request retried" hl cp "$HL_TMP/small.txt" /hilbert/et.txt
rules '[{"action":"status","status":403,"code":"AccessDenied","method":"PUT"}]'
out=$(hl cp "$HL_TMP/small.txt" /hilbert/denied.txt 2>&1)
like "$out" "AccessDenied" "a 403 is not retried: the server's code reaches the user at once"
unlike "$out" "gave up after" "  (no retries)"
noproxy
hl rm -f /hilbert/denied.txt
rules '[{"action":"truncate","method":"GET","bytes":1000,"first":2},
        {"action":"reset_before","method":"GET","after":2,"first":1},
        {"action":"hang","method":"GET","hang_s":8,"after":3,"first":1},
        {"action":"delay","method":"GET","delay_s":0.3,"after":4,"first":3}]'
ok "read through delays, truncated bodies, a reset and a hang (stall timeout)" hlc "$HL_TMP/c-read2" cmp "$HL_TMP/v2.bin" /hilbert/g.bin
ok "  faults fired (delay $(fired delay), truncate $(fired truncate), hang $(fired hang))" test "$(fired delay)" -ge 1 -a "$(fired truncate)" -ge 1 -a "$(fired hang)" -ge 1
noproxy

# ------------------------------------------------------------------ the store stays down
rules '[{"action":"status","status":503,"code":"ServiceUnavailable","method":"PUT"}]'
out=$(hl bash -c "cp '$HL_TMP/v2.bin' /hilbert/f.bin; echo cp-exit=\$?" 2>&1)
like "$out" "cp-exit=1" "dead store: cp fails (close returns an error)"
like "$out" "Input/output error" "  with EIO"
like "$out" "ServiceUnavailable.*gave up after 4 attempts" "  and the store's reason on stderr"
like "$(sqlite3 "$HL_TMP/vol/meta.db" 'SELECT count(*) FROM hl_staging')" "^1$" "  the bytes wait in the staging area"
ok "  other nodes still read the last committed version" hlc "$HL_TMP/c-read3" cmp "$HL_TMP/v1.bin" /hilbert/f.bin
noproxy
ok "store back: the next process that touches the file commits it" hl stat /hilbert/f.bin
like "$(sqlite3 "$HL_TMP/vol/meta.db" 'SELECT count(*) FROM hl_staging')" "^0$" "  nothing left in staging"
ok "  another node reads the new content" hlc "$HL_TMP/c-read4" cmp "$HL_TMP/v2.bin" /hilbert/f.bin

rules '[{"action":"status","status":500,"code":"InternalError","method":"PUT"}]'
hl bash -c "cp '$HL_TMP/v1.bin' /hilbert/h.bin" >/dev/null 2>&1
noproxy
out=$("$HILBERT" flush --mount "/hilbert=$HL_URL" --cache "$HL_CACHE" 2>&1)
ok "hilbert flush commits what a failed close left behind" hlc "$HL_TMP/c-read5" cmp "$HL_TMP/v1.bin" /hilbert/h.bin

rules '[{"action":"status","status":503,"code":"SlowDown","method":"GET"}]'
out=$(hlc "$HL_TMP/c-read6" python3 -c '
import errno
try:
    data = open("/hilbert/g.bin", "rb").read()
    print("read", len(data), "bytes; all zero:", data.count(0) == len(data))
except OSError as e:
    print("error", errno.errorcode[e.errno])' 2>&1)
like "$out" "^error EIO" "dead store on read: EIO, never zeros or stale data"
like "$out" "SlowDown.*gave up" "  with the store's reason"
noproxy

# ------------------------------------------------------------------ killed during an upload
rules '[{"action":"hang","method":"PUT","hang_s":60}]'
hl bash -c "cp '$HL_TMP/v1.bin' /hilbert/g.bin" >/dev/null 2>&1 &
killer=$!
for _ in $(seq 100); do [ "$(fired hang)" -ge 1 ] && break; sleep 0.1; done
pkill -KILL -P "$killer" 2>/dev/null; kill -KILL "$killer" 2>/dev/null
for p in $(pgrep -f "cp $HL_TMP/v1.bin /hilbert/g.bin"); do kill -KILL "$p"; done
wait "$killer" 2>/dev/null
noproxy
ok "killed mid-upload: other nodes read the previous version intact" hlnode "$HL_TMP/c-read7" cmp "$HL_TMP/v2.bin" /hilbert/g.bin
ok "  the node that was writing commits the staged bytes on next touch" hl stat /hilbert/g.bin
ok "  and then everyone reads them" hlc "$HL_TMP/c-read8" cmp "$HL_TMP/v1.bin" /hilbert/g.bin
out=$("$HILBERT" gc "$HL_URL" --grace 0 --delete 2>&1)
like "$out" "deleted" "gc deletes what the killed upload left in the bucket"
ok "  every file still reads back" hlc "$HL_TMP/c-read9" bash -c "cmp '$HL_TMP/v2.bin' /hilbert/f.bin && cmp '$HL_TMP/v1.bin' /hilbert/g.bin && cmp '$HL_TMP/v1.bin' /hilbert/h.bin && cmp '$HL_TMP/small.txt' /hilbert/s.txt"

# ------------------------------------------------------------------ gc during a commit
# The first PUTs of a 4-block commit go through, the others wait 6 s: gc --grace 0 --delete
# runs while the first objects are in the bucket and nothing references them yet.
head -c 16M /dev/urandom >"$HL_TMP/v3.bin"
listed() { "$HILBERT" gc "$HL_URL" 2>&1 | sed -n 's/^ *listed: *\([0-9]*\) objects.*/\1/p'; }
before=$(listed)
rules '[{"action":"delay","method":"PUT","after":2,"delay_s":8}]'
# The held PUTs are slow, not stalled: this test's 2 s stall timeout (exported above) would
# abandon them, and under load their retries then ran out (the commit failed, cp exited 1,
# and the job's flush committed the file afterwards).
HILBERT_S3_STALL_TIMEOUT_S=30 hl cp "$HL_TMP/v3.bin" /hilbert/inflight.bin >"$HL_TMP/inflight.out" 2>&1 &
writer=$!
# until the first objects of the commit are in the bucket (its other PUTs are held back)
for _ in $(seq 60); do [ "$(listed)" -gt "$before" ] && break; sleep 0.1; done
out=$("$HILBERT" gc "$HL_URL" --grace 0 --delete 2>&1)
like "$out" "uploading: +[1-9][0-9]* objects" "gc --grace 0 during a commit sees its objects as uploading"
like "$out" "deleted: +0 objects" "  and deletes none of them"
wait $writer; rc=$?
noproxy
is "$rc" 0 "  the commit finishes"
[ "$rc" = 0 ] || diag "$(cat "$HL_TMP/inflight.out")"
ok "  and its file reads back on another node" hlnode "$HL_TMP/c-read10" cmp "$HL_TMP/v3.bin" /hilbert/inflight.bin
out=$("$HILBERT" gc "$HL_URL" --grace 0 2>&1)
like "$out" "uploading: +0 objects" "  afterwards nothing is uploading"
like "$out" "leaked: +0 objects" "  and nothing leaked"
out=$("$HILBERT" objbench "$HL_URL" --small 1200 --large 2 2>&1)
like "$out" "objbench: [0-9]+ checks passed, 0 failed" "objbench on the S3 volume (1200 keys: a listing of two pages)"
like "$out" "ok +list finds the 1200 small objects" "  the paged listing found every key"
out=$(AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY "$HILBERT" objbench --store "$S3_ENDPOINT/$S3_BUCKET/objbench-direct" --small 20 --large 1 2>&1)
like "$out" "objbench: [0-9]+ checks passed, 0 failed" "objbench --store on a bucket URL (AWS_* credentials)"
out=$("$HILBERT" doctor --mount "/hilbert=$HL_URL" 2>&1)
like "$out" "OK   libcurl libcurl/[0-9.]+ .*loads here" "doctor: libcurl loads"
like "$out" "OK   mount /hilbert .*objects s3 " "doctor: the bucket answers signed requests"
out=$("$HILBERT" status --mount "/hilbert=$HL_URL" 2>&1)
like "$out" "reachable \([0-9]+ ms\)" "status: the store is reachable"
unlike "$out" "$S3_SECRET_KEY" "status: no secret"
done_testing

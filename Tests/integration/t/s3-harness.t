#!/usr/bin/env bash
# The S3 test harness itself: Tests/s3/s3server.sh starts SeaweedFS (its venv is installed by
# make test-deps into /var/cache/hilbert-test), faultproxy_test.py checks the fault proxy
# against it, s3_baseline.py measures a 64 MiB download and upload, the server stops cleanly.
# Needs no Hilbert build.
# timeout: 600
. "$(dirname "$0")/../lib.sh"
need python3 curl:curl flock:util-linux
S3SRV="$HL_REPO/Tests/s3/s3server.sh"
export S3_STATE_DIR="$HL_TMP/s3"
export S3_OWNER_PID=$$          # a watchdog stops the server if this test dies without cleanup
trap '"$S3SRV" down >/dev/null 2>&1' EXIT
trap 'exit 143' TERM INT

t0=$(date +%s)
out=$("$S3SRV" up 2>&1) || bail "s3server.sh up" "$out"
diag "up took $(( $(date +%s) - t0 )) s"
envf=$("$S3SRV" env)
is "$envf" "$S3_STATE_DIR/env.sh" "env prints the env file in the state dir"
. "$envf"
like "$S3_ENDPOINT" '^http://127\.0\.0\.1:[0-9]+$' "S3_ENDPOINT is a loopback URL"
is "$S3_BUCKET/$S3_REGION/$AWS_REGION" "hilbert-test/us-east-1/us-east-1" "bucket and region"
ok "S3_PYTHON has boto3" "$S3_PYTHON" -c 'import boto3'
like "$("$S3SRV" status)" "^running pid $S3_WEED_PID " "status: running"
is "$(curl -s -o /dev/null -w '%{http_code}' "$S3_ENDPOINT/$S3_BUCKET/")" "403" "unsigned request refused (auth on)"

# a non-empty bucket cannot be deleted
out=$("$S3_PYTHON" - <<'EOF' 2>&1
import os, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"])
s3.create_bucket(Bucket="hilbert-nonempty")
s3.put_object(Bucket="hilbert-nonempty", Key="k", Body=b"1")
try:
    s3.delete_bucket(Bucket="hilbert-nonempty")
    print("deleted")
except s3.exceptions.ClientError as e:
    print(e.response["Error"]["Code"])
s3.delete_object(Bucket="hilbert-nonempty", Key="k")
s3.delete_bucket(Bucket="hilbert-nonempty")
print("empty deleted")
EOF
)
is "$out" "BucketNotEmpty
empty deleted" "deleting a non-empty bucket is refused, an empty one works"

out=$("$S3_PYTHON" "$HL_REPO/Tests/s3/faultproxy_test.py" 2>&1); rc=$?
is "$rc" "0" "faultproxy_test.py passes"
like "$(printf '%s\n' "$out" | tail -1)" '^[0-9]+ passed, 0 failed$' "faultproxy_test.py summary"
[ $rc = 0 ] || diag "$(printf '%s\n' "$out" | grep -A3 '^not ok' | head -40)"

json='^\{"size": 67108864, "seconds": [0-9.]+, "mb_per_s": [0-9.]+'
out=$("$S3_PYTHON" "$HL_REPO/Tests/bench/s3_baseline.py" --size 64M --runs 1 2>&1)
like "$out" "$json, \"mode\": \"get\"" "s3_baseline.py GET 64 MiB"
diag "GET: $out"
out=$("$S3_PYTHON" "$HL_REPO/Tests/bench/s3_baseline.py" --size 64M --runs 0 2>&1)
like "$out" '^\{"size": 67108864, "seconds": null, "mb_per_s": null, "mode": "get", "runs": 0\}$' "s3_baseline.py --runs 0 only makes sure the object is there"
out=$("$S3_PYTHON" "$HL_REPO/Tests/bench/s3_baseline.py" --size 64M --runs 1 --put 2>&1)
like "$out" "$json, \"mode\": \"put\"" "s3_baseline.py --put 64 MiB"
diag "PUT: $out"

pid=$S3_WEED_PID
read -r -a ports <"$S3_STATE_DIR/ports"
t0=$(date +%s)
ok "down" "$S3SRV" down
diag "down took $(( $(date +%s) - t0 )) s"
ok "weed exited" test ! -d "/proc/$pid"
ok "state dir removed" test ! -e "$S3_STATE_DIR"
left=$(for p in "${ports[@]}"; do ls /tmp/seaweedfs-*-"$p".sock 2>/dev/null; done)
is "$left" "" "no unix sockets of ours left in /tmp"
nok "status after down" "$S3SRV" status
done_testing

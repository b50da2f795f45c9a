# lib.sh — sourced by every Tests/integration/t/*.t
#
# Gives a test: a private temp dir, a freshly formatted volume, `hl` (run a command with the
# shim active on /hilbert), the TAP vocabulary of Tests/tap.sh (ok/nok/is/like/skip/…),
# and `differ`, a fakechroot-style differential helper that runs one shell snippet in a
# native temp dir and under /hilbert and compares what both print.
#
# Environment: HILBERT_HOME (default <repo>/out), HL_TMP (set by run.sh; created if unset).

HL_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HL_REPO=$(cd "$HL_LIB_DIR/../.." && pwd)
: "${HILBERT_HOME:=$HL_REPO/out}"
HILBERT_HOME=$(cd "$HILBERT_HOME" 2>/dev/null && pwd || echo "$HILBERT_HOME")
export HILBERT_HOME
HILBERT="$HILBERT_HOME/bin/hilbert"
HL_SHIM="$HILBERT_HOME/lib/libhilbert-preload.so"
HL_ENGINE="$HILBERT_HOME/lib/libHilbertEngine.so"
HL_PY=${HL_PY:-python3}

if [ -z "${HL_TMP:-}" ]; then
    HL_TMP=$(mktemp -d /tmp/hilbert-it.XXXXXX)
    HL_OWN_TMP=1
fi
export HL_TMP

# The S3 server's venv (make test-deps) is found through the real HOME, before it changes.
S3_VENV=${S3_VENV:-$(bash "$HL_REPO/Tests/s3/s3server.sh" venv)}
export S3_VENV
# Isolation: nothing of the invoking user's default volume or cache is touched.
export HOME="$HL_TMP/home" XDG_DATA_HOME="$HL_TMP/home/.local/share" XDG_CACHE_HOME="$HL_TMP/home/.cache"
export XDG_CONFIG_HOME="$HL_TMP/home/.config"
# The embedded default cache is ${TMPDIR:-/tmp}/hilbert-$USER: keep it in the test's own tree.
export TMPDIR="$HL_TMP/tmp"
mkdir -p "$HOME" "$TMPDIR" && chmod 1777 "$TMPDIR"
unset HILBERT_MOUNTS HILBERT_CACHE HILBERT_DEBUG HILBERT_DISABLE HILBERT_ENGINE HILBERT_CWD HILBERT_FDS
export LC_ALL=C TZ=UTC
# Volumes on S3 (see hl_format): the server's endpoint and credentials (AWS_* variables).
# shellcheck disable=SC1090
if [ -n "${HL_S3_ENV:-}" ]; then . "$HL_S3_ENV"; fi
# Metadata on PostgreSQL (see hl_meta_url): PGB_URL (PgBouncer, transaction pooling) and
# PGPASSFILE, the password's only home.
# shellcheck disable=SC1090
if [ -n "${HL_PG_ENV:-}" ]; then . "$HL_PG_ENV"; fi

# ---------------------------------------------------------------- TAP (Tests/tap.sh)
# shellcheck source=../tap.sh
. "$HL_REPO/Tests/tap.sh"
tap_cleanup() { hl_cleanup; }

hl_cleanup() {
    local f
    for f in "${_hl_cleanups[@]}"; do eval "$f" >/dev/null 2>&1; done
    _hl_cleanups=()
    if [ -n "${HL_OWN_TMP:-}" ] && [ -z "${HL_KEEP:-}" ]; then
        chmod -R u+rwX "$HL_TMP" 2>/dev/null; rm -rf "$HL_TMP"
    fi
}
_hl_cleanups=()
at_cleanup() { _hl_cleanups+=("$1"); }

# tap CMD ARGS… — CMD prints "ok - DESC" / "not ok - DESC" lines (hltest.py), each becomes one
# assertion; "# …" lines after a failure are its diagnostics. A non-zero exit of CMD or no
# result at all is one more failure showing CMD's other output.
tap() {
    local out rc line seen=0 last=0 other=""
    out=$("$@" 2>&1); rc=$?
    while IFS= read -r line; do
        case $line in
            "ok - "*) _tap_result 0 "${line#ok - }"; seen=1; last=0 ;;
            "not ok - "*) _tap_result 1 "${line#not ok - }"; seen=1; last=1 ;;
            "# "*) [ $last = 1 ] && echo "#   ${line#\# }" ;;
            *) other+="$line"$'\n'; last=0 ;;
        esac
    done <<<"$out"
    if [ $rc != 0 ] || [ $seen = 0 ]; then
        _tap_result 1 "program ran to the end: ${*:0:3}" "exit status $rc" "$(printf '%s' "$other" | tail -n 30)"
    elif [ -n "$other" ] && [ -n "${HL_VERBOSE:-}" ]; then diag "$other"; fi
}
# hl_pytap [ENV=VAL…] — python3 reading its program from stdin, under the shim, with hltest.py
# importable; results through `tap`
hl_pytap() { tap hl env PYTHONPATH="$HL_LIB_DIR" "$@" "$HL_PY" -; }

# ---------------------------------------------------------------- volumes
# hl_format NAME [FORMAT-OPTIONS…] — format the volume $HL_TMP/NAME (meta.db + objects/).
# With HL_S3_ENV (the env file of a running Tests/s3/s3server.sh), the objects go to that S3
# server instead, under a key prefix of their own (the whole suite can run against S3:
# `make integration-test-s3`); tests that look inside the objects directory check hl_on_s3.
# With HL_PG_ENV (Tests/pg/with-server.sh), the metadata goes to that PostgreSQL server through
# PgBouncer, in a schema of its own (hl_meta_url); tests that look inside meta.db check hl_on_pg.
hl_format() {
    local name=$1; shift
    mkdir -p "$HL_TMP/$name"
    if hl_on_s3; then
        "$HILBERT" format "$(hl_meta_url "$name")" --storage s3 \
            --bucket "$S3_ENDPOINT/$S3_BUCKET/it-$(basename "$HL_TMP")-$name" "$@"
    else
        "$HILBERT" format "$(hl_meta_url "$name")" --bucket "$HL_TMP/$name/objects" "$@"
    fi
}
hl_on_s3() { [ -n "${HL_S3_ENV:-}" ]; }
hl_on_pg() { [ -n "${HL_PG_ENV:-}" ]; }
# hl_meta_url NAME — the META-URL of the test's volume NAME: $HL_TMP/NAME/meta.db, or on
# PostgreSQL a schema named after the test dir and NAME.
hl_meta_url() {
    if hl_on_pg; then
        echo "$PGB_URL?schema=it_$(printf '%s' "$HL_TMP/$1" | md5sum | cut -c1-20)"
    else
        echo "sqlite://$HL_TMP/$1/meta.db"
    fi
}
# hl_setup [FORMAT-OPTIONS…] — the test's default volume; sets HL_VOL, HL_META, HL_URL,
# HL_OBJECTS, HL_CACHE. Bails out (one failed assertion) when the build or format is missing.
hl_setup() {
    [ -x "$HILBERT" ] || bail "hilbert binary at $HILBERT" "build first: make"
    [ -f "$HL_SHIM" ] || bail "shim at $HL_SHIM"
    HL_VOL="$HL_TMP/vol"
    HL_META="$HL_VOL/meta.db"
    HL_URL=$(hl_meta_url vol)
    HL_OBJECTS="$HL_VOL/objects"
    HL_CACHE="$HL_TMP/cache"
    local out
    out=$(hl_format vol "$@" 2>&1) || bail "hilbert format of the test volume" "$out"
    hl_on_pg || [ -f "$HL_META" ] || bail "hilbert format created $HL_META" "$out"
    mkdir -p "$HL_CACHE"
    export HL_VOL HL_META HL_URL HL_OBJECTS HL_CACHE
}
# hl CMD ARGS… — CMD with the shim active; /hilbert is the test volume
hl() { "$HILBERT" run --mount "/hilbert=$HL_URL" --cache "$HL_CACHE" -- "$@"; }
# hlc CACHE CMD ARGS… — same with another cache dir (a second "node")
hlc() { local c=$1; shift; "$HILBERT" run --mount "/hilbert=$HL_URL" --cache "$c" -- "$@"; }
# hlnode CACHE CMD ARGS… — another node: another cache dir and a mount namespace of its own (a
# staging row's owner is judged only from its own node: StagingOwner; needs root)
hlnode() { local c=$1; shift; unshare --mount "$HILBERT" run --mount "/hilbert=$HL_URL" --cache "$c" -- "$@"; }
# hlsh SNIPPET — bash -c SNIPPET under the shim
hlsh() { hl bash -c "$1"; }
# hl_raw CMD ARGS… — the shim through the environment only, without `hilbert run`
# (so no commit-after-exit by the CLI)
hl_raw() {
    env LD_PRELOAD="$HL_SHIM" HILBERT_MOUNTS="/hilbert=$HL_URL" HILBERT_CACHE="$HL_CACHE" "$@"
}
# hl_py SCRIPT [ARGS…] — python3 -c SCRIPT under the shim
hl_py() { local s=$1; shift; hl "$HL_PY" -c "$s" "$@"; }

# ---------------------------------------------------------------- S3 of a test's own
# hl_s3_own_server IDLE-SECONDS — a SeaweedFS server of this test alone (Tests/s3/s3server.sh,
# its env file sourced: S3_ENDPOINT, S3_BUCKET, AWS_*…) with Tests/s3/faultproxy.py in front of
# it (FP: its URL; hl_s3_rules JSON replaces its rules); both stopped at the test's end.
hl_s3_own_server() {
    local srv="$HL_REPO/Tests/s3/s3server.sh" out
    export S3_STATE_DIR="$HL_TMP/s3" S3_OWNER_PID=$$
    at_cleanup "S3_STATE_DIR=$S3_STATE_DIR $srv down >/dev/null 2>&1"
    out=$("$srv" up 2>&1) || bail "s3server.sh up" "$out"
    # shellcheck disable=SC1090
    . "$("$srv" env)"
    python3 "$HL_REPO/Tests/s3/faultproxy.py" --upstream "127.0.0.1:${S3_ENDPOINT##*:}" \
        --port-file "$HL_TMP/fp.port" --idle-exit "$1" >"$HL_TMP/fp.log" 2>&1 &
    at_cleanup "kill $!"
    for _ in $(seq 50); do [ -s "$HL_TMP/fp.port" ] && break; sleep 0.1; done
    [ -s "$HL_TMP/fp.port" ] || bail "faultproxy.py started" "$(cat "$HL_TMP/fp.log")"
    FP="http://127.0.0.1:$(cat "$HL_TMP/fp.port")"
}
hl_s3_rules() { curl -sf -X POST --data "$1" "$FP/__faultproxy/rules" >/dev/null; }

# ---------------------------------------------------------------- PostgreSQL of a test's own
# hl_pg_own_server — PostgreSQL and PgBouncer of this test alone (Tests/pg/pgserver.sh), for
# tests that restart, gate or cut them (the suite's server is shared by tests running in
# parallel); stopped at the test's end. Exports PG_STATE_DIR and sources the server's env file
# (PG_URL, PGB_URL, PGB_PORT, PGPASSFILE…).
hl_pg_own_server() {
    local pgs="$HL_REPO/Tests/pg/pgserver.sh" env
    PG_STATE_DIR=$(mktemp -d /tmp/hilbert-pg.XXXXXX) || bail "a state dir for the test's server"
    export PG_STATE_DIR
    at_cleanup "PG_STATE_DIR=$PG_STATE_DIR bash $pgs down"
    env=$(PG_OWNER_PID=$$ bash "$pgs" up 2>&1) || bail "PostgreSQL and PgBouncer of this test" "$env"
    # shellcheck disable=SC1090
    . "$env"
}
# hl_pg_proxy IDLE-SECONDS — Tests/pg/tcpproxy.py in front of PgBouncer ($PGB_PORT), ending
# after IDLE-SECONDS without a connection or at the test's end; sets HL_PG_PROXY_PORT (connect
# there) and HL_PG_PROXY_CONTROL (for hl_pg_proxy_say).
hl_pg_proxy() {
    local ports="$HL_TMP/proxy.ports"
    rm -f "$ports"
    python3 "$HL_REPO/Tests/pg/tcpproxy.py" --upstream "127.0.0.1:$PGB_PORT" --port-file "$ports" --idle-exit "$1" &
    at_cleanup "kill $!"
    for _ in $(seq 50); do [ -f "$ports" ] && [ "$(wc -l <"$ports")" = 2 ] && break; sleep 0.1; done
    HL_PG_PROXY_PORT=$(sed -n 1p "$ports"); HL_PG_PROXY_CONTROL=$(sed -n 2p "$ports")
    [ -n "$HL_PG_PROXY_CONTROL" ] || bail "tcpproxy.py started (its ports in $ports)"
}
# hl_pg_proxy_say COMMAND — one command to the proxy (cut, hang on|off, refuse on|off,
# latency MS, stats, zero: see tcpproxy.py); prints its answer
hl_pg_proxy_say() {
    python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.sendall((sys.argv[2]+"\n").encode()); print(s.makefile().readline().strip())' "$HL_PG_PROXY_CONTROL" "$1"
}

# ---------------------------------------------------------------- differential testing
# differ DESC SNIPPET — run SNIPPET with bash in a fresh native dir and in a fresh dir under
# /hilbert (the directory is $D and also the cwd in both runs). Every occurrence of the
# directory in the output is replaced by "$D", then stdout+stderr and the exit status of
# both runs must be identical.
_hl_differ_n=0
differ() {
    local desc=$1 snippet=$2
    _hl_differ_n=$((_hl_differ_n + 1))
    local nd="$HL_TMP/native/d$_hl_differ_n" vd="/hilbert/differ/d$_hl_differ_n"
    mkdir -p "$nd"
    local wrap='mkdir -p "$D" && cd "$D" || exit 99
'"$snippet"
    local nout vout nrc vrc
    nout=$(D="$nd" bash -c "$wrap" 2>&1); nrc=$?
    vout=$(D="$vd" hl bash -c "$wrap" 2>&1); vrc=$?
    nout=${nout//"$nd"/'$D'}; vout=${vout//"$vd"/'$D'}
    nout="$nout
[exit $nrc]"; vout="$vout
[exit $vrc]"
    if [ "$nout" == "$vout" ]; then _tap_result 0 "differential: $desc"; else
        _tap_result 1 "differential: $desc" "snippet: $snippet" "--- native / +++ /hilbert" \
            "$(diff -u <(printf '%s\n' "$nout") <(printf '%s\n' "$vout") | tail -n +3 | head -n 60)"
    fi
}

# ---------------------------------------------------------------- misc
# need TOOL[:DEBIAN-PACKAGE]… — bail out (one failed assertion naming what is missing) when a
# program is not installed: make test-deps installs everything the suite needs
need() {
    local t
    for t in "$@"; do
        command -v "${t%%:*}" >/dev/null 2>&1 || bail "${t%%:*} is not installed (Debian package ${t#*:}: make test-deps)"
    done
}
# hl_user — a non-root user for permission tests; sets HL_UID HL_GID HL_USER
hl_user() {
    HL_USER=hltest
    if ! id "$HL_USER" >/dev/null 2>&1; then
        useradd -M -d /nonexistent -s /bin/bash "$HL_USER" 2>/dev/null || return 1
    fi
    HL_UID=$(id -u "$HL_USER"); HL_GID=$(id -g "$HL_USER")
}
# as_user CMD ARGS… — run as $HL_USER (no supplementary groups). On PostgreSQL the user gets a
# password file of its own (libpq reads only a 0600 file of the caller's), as a site's users
# each have their ~/.pgpass.
as_user() {
    if hl_on_pg; then
        local pass="$HL_TMP/pgpass.$HL_UID"
        [ -f "$pass" ] || { install -m 0600 -o "$HL_UID" -g "$HL_GID" "$PGPASSFILE" "$pass" || return 1; }
        setpriv --reuid "$HL_UID" --regid "$HL_GID" --clear-groups env PGPASSFILE="$pass" "$@"
        return
    fi
    setpriv --reuid "$HL_UID" --regid "$HL_GID" --clear-groups "$@"
}

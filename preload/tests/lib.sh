# Shared helpers for the shim's TAP tests. Sourced by t/*.t (run from preload/).
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$ROOT/build
if [ ! -f "$BUILD/libhilbert-preload.so" ] || [ -e /hilbert ]; then echo "Bail out! shim not built or /hilbert exists on the host"; exit 1; fi
BK=$(mktemp -d /tmp/hl-test.XXXXXX)
trap 'rm -rf "$BK" "$BK.shadow"' EXIT
export HL_TEST_LOG=$BK.shadow/log
mkdir -p "$BK.shadow"
N=0
FAILS=0
hl() {
    env LD_PRELOAD="$BUILD/libhilbert-preload.so" HILBERT_ENGINE="$BUILD/libhilbert-test-engine.so" \
        HL_TEST_BACKING="$BK" "$@"
}
# ok "description" command...  (command runs without the shim; use hl inside)
ok() {
    local d=$1; shift
    N=$((N + 1))
    local out
    if out=$("$@" 2>&1); then echo "ok $N - $d"
    else echo "not ok $N - $d"; FAILS=$((FAILS + 1)); printf '%s\n' "$out" | sed 's/^/#   /' | head -20; fi
}
# is "description" expected command...
is() {
    local d=$1 want=$2; shift 2
    N=$((N + 1))
    local got
    got=$("$@" 2>&1)
    if [ "$got" = "$want" ]; then echo "ok $N - $d"
    else echo "not ok $N - $d"; FAILS=$((FAILS + 1)); echo "#   want: $want"; echo "#   got:  $got" | head -20; fi
}
done_testing() { echo "1..$N"; [ "$FAILS" -eq 0 ]; }

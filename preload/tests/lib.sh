# Shared helpers for the shim's TAP tests. Sourced by t/*.t (run from preload/); the TAP
# vocabulary (ok/nok/is/like/skip/done_testing/…) is the repository's one, Tests/tap.sh.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$ROOT/build
# shellcheck source=../../Tests/tap.sh
. "$ROOT/../Tests/tap.sh"
if [ ! -f "$BUILD/libhilbert-preload.so" ]; then bail "the shim is built ($BUILD/libhilbert-preload.so)"; fi
if [ -e /hilbert ]; then bail "/hilbert does not exist on the host (the tests need the prefix free)"; fi
BK=$(mktemp -d /tmp/hl-test.XXXXXX)
trap 'rm -rf "$BK" "$BK.shadow"' EXIT
export HL_TEST_LOG=$BK.shadow/log
mkdir -p "$BK.shadow"
hl() {
    env LD_PRELOAD="$BUILD/libhilbert-preload.so" HILBERT_ENGINE="$BUILD/libhilbert-test-engine.so" \
        HL_TEST_BACKING="$BK" "$@"
}

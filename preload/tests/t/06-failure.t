# Engine missing or refusing to start: one stderr line, errno for virtual paths, host fine.
. "$(dirname "$0")/../lib.sh"
nolib() { env LD_PRELOAD="$BUILD/libhilbert-preload.so" HILBERT_ENGINE=/nonexistent/engine.so "$@"; }
is "$(bash -c 'nolib() { env LD_PRELOAD="$0" HILBERT_ENGINE=/nonexistent/engine.so "$@"; }; nolib cat /hilbert/x 2>&1 | grep -v "^hilbert:"' "$BUILD/libhilbert-preload.so" 2>&1)" "cat: /hilbert/x: Function not implemented" "missing engine: ENOSYS"
is "$(bash -c 'env LD_PRELOAD="$0" HILBERT_ENGINE=/nonexistent/engine.so bash -c "test -e /hilbert/x; test -e /hilbert/y; cd /hilbert" 2>&1 | grep -c "^hilbert:"' "$BUILD/libhilbert-preload.so" 2>&1)" "1" "missing engine: one stderr line"
is "$(nolib cat /etc/hostname 2>&1)" "$(cat /etc/hostname)" "missing engine: host paths work"
is "$(bash -c 'env HL_TEST_FAIL_START=5 LD_PRELOAD="$0/libhilbert-preload.so" HILBERT_ENGINE="$0/libhilbert-test-engine.so" cat /hilbert/x 2>&1 | grep -v "^hilbert:"' "$BUILD" 2>&1)" "cat: /hilbert/x: Input/output error" "start failure errno"
is "$(bash -c 'env HILBERT_DISABLE=1 LD_PRELOAD="$0/libhilbert-preload.so" HILBERT_ENGINE="$0/libhilbert-test-engine.so" cat /hilbert/x 2>&1' "$BUILD" 2>&1)" "cat: /hilbert/x: No such file or directory" "HILBERT_DISABLE=1 passes through"
is "$(bash -c 'echo hello > "$1/m"; env HILBERT_MOUNTS="/virt/vol=mem://x" HL_TEST_BACKING="$1" LD_PRELOAD="$0/libhilbert-preload.so" HILBERT_ENGINE="$0/libhilbert-test-engine.so" cat /virt/vol/m 2>&1' "$BUILD" "$BK" 2>&1)" "hello" "custom prefix via HILBERT_MOUNTS"
done_testing

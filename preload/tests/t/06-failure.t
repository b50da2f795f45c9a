# Engine missing or refusing to start: one stderr line, errno for virtual paths, host fine.
. "$(dirname "$0")/../lib.sh"
nolib() { env LD_PRELOAD="$BUILD/libhilbert-preload.so" HILBERT_ENGINE=/nonexistent/engine.so "$@"; }
is "missing engine: ENOSYS" "cat: /hilbert/x: Function not implemented" bash -c 'nolib() { env LD_PRELOAD="$0" HILBERT_ENGINE=/nonexistent/engine.so "$@"; }; nolib cat /hilbert/x 2>&1 | grep -v "^hilbert:"' "$BUILD/libhilbert-preload.so"
is "missing engine: one stderr line" "1" bash -c 'env LD_PRELOAD="$0" HILBERT_ENGINE=/nonexistent/engine.so bash -c "test -e /hilbert/x; test -e /hilbert/y; cd /hilbert" 2>&1 | grep -c "^hilbert:"' "$BUILD/libhilbert-preload.so"
is "missing engine: host paths work" "$(cat /etc/hostname)" nolib cat /etc/hostname
is "start failure errno" "cat: /hilbert/x: Input/output error" bash -c 'env HL_TEST_FAIL_START=5 LD_PRELOAD="$0/libhilbert-preload.so" HILBERT_ENGINE="$0/libhilbert-test-engine.so" cat /hilbert/x 2>&1 | grep -v "^hilbert:"' "$BUILD"
is "HILBERT_DISABLE=1 passes through" "cat: /hilbert/x: No such file or directory" bash -c 'env HILBERT_DISABLE=1 LD_PRELOAD="$0/libhilbert-preload.so" HILBERT_ENGINE="$0/libhilbert-test-engine.so" cat /hilbert/x 2>&1' "$BUILD"
is "custom prefix via HILBERT_MOUNTS" "hello" bash -c 'echo hello > "$1/m"; env HILBERT_MOUNTS="/virt/vol=mem://x" HL_TEST_BACKING="$1" LD_PRELOAD="$0/libhilbert-preload.so" HILBERT_ENGINE="$0/libhilbert-test-engine.so" cat /virt/vol/m 2>&1' "$BUILD" "$BK"
done_testing

# Signal handlers that make prefix calls while the interrupted thread is inside the shim
# (tests/src/hlsigstress.c): no deadlock, crash, wrong data or spurious errno.
. "$(dirname "$0")/../lib.sh"
unset HL_TEST_LOG # the test engine's event log would dominate the run time
out=$(timeout 60 env LD_PRELOAD="$BUILD/libhilbert-preload.so" HILBERT_ENGINE="$BUILD/libhilbert-test-engine.so" \
    HL_TEST_BACKING="$BK" "$BUILD/t/hlsigstress" /hilbert/sig 4 4 2>&1)
[ -n "${VERBOSE:-}" ] && echo "$out" >&2
is "$(printf '%s\n' "$out" | sed "s/ (.*//")" "PASS sigstress" "prefix calls in an itimer signal handler, 4 threads, with and without SA_RESTART"
done_testing

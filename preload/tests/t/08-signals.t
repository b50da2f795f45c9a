# Signal handlers that make prefix calls while the interrupted thread is inside the shim
# (tests/src/hlsigstress.c): no deadlock, crash, wrong data or spurious errno.
. "$(dirname "$0")/../lib.sh"
unset HL_TEST_LOG # the test engine's event log would dominate the run time
is "prefix calls in an itimer signal handler, 4 threads, with and without SA_RESTART" "PASS sigstress" \
    bash -c 'out=$(timeout 60 env LD_PRELOAD="$1" HILBERT_ENGINE="$2" HL_TEST_BACKING="$3" "$4" /hilbert/sig 4 4); echo "$out" | sed "s/ (.*//"; [ -n "$VERBOSE" ] && echo "$out" >&2; true' \
    _ "$BUILD/libhilbert-preload.so" "$BUILD/libhilbert-test-engine.so" "$BK" "$BUILD/t/hlsigstress"
done_testing

#!/usr/bin/env bash
# Signal handlers that make prefix calls (stat, open+read+close) at 5 kHz while 4 threads
# loop over prefix calls (open/read/stat/close, opendir/readdir), with and without SA_RESTART,
# on the real engine: no deadlock, crash, wrong data or spurious errno (SEMANTICS.md,
# "Signal handlers"). The program is preload/tests/src/hlsigstress.c.
# timeout: 120
. "$(dirname "$0")/../lib.sh"
need gcc:gcc
hl_setup
PROG="$HL_TMP/hlsigstress"
gcc -O2 -Wall -pthread -o "$PROG" "$HL_REPO/preload/tests/src/hlsigstress.c" 2>"$HL_TMP/cc.log" ||
    bail "compile hlsigstress" "$(cat "$HL_TMP/cc.log")"
out=$(timeout 90 "$HILBERT" run --mount "/hilbert=$HL_URL" --cache "$HL_CACHE" -- "$PROG" /hilbert/sig 6 4 2>&1)
rc=$?
is "$(sed -n 's/^\(PASS sigstress\).*/\1/p;/^FAIL/p' <<<"$out" | head -5)" "PASS sigstress" \
    "prefix calls in an itimer handler on the real engine (exit $rc)"
diag "$(tail -n 3 <<<"$out")"
done_testing

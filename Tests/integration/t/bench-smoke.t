#!/usr/bin/env bash
# The benchmark in --quick mode: it completes and prints its table. No timing assertions.
# timeout: 240
. "$(dirname "$0")/../lib.sh"
[ -x "$HILBERT" ] || bail "hilbert binary at $HILBERT" "build first: make"
out=$("$HL_PY" "$HL_REPO/Tests/bench/bench.py" --drive --quick --repeat 2 --workdir "$HL_TMP" 2>"$HL_TMP/bench.err"); rc=$?
is "$rc" "0" "bench.py --drive --quick completes"
[ $rc = 0 ] || diag "$(tail -20 "$HL_TMP/bench.err")"
like "$out" '^\| workload \| native \| /hilbert \| ratio \(prefix/native\) \|' "prints the table header"
is "$(printf '%s\n' "$out" | grep -c '^| [0-9a-z].* | .* | .* | [0-9.]* |$')" "14" "prints 14 workload rows"
like "$out" "sequential read cold \(from the object store\)" "measures a cold read from the object store"
like "$out" "stat storm with the shim / without: [0-9.]+" "reports the stat-storm ratio"
like "$out" "native dir filesystem: " "prints machine info"
done_testing

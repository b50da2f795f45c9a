#!/usr/bin/env bash
# The benchmark in --quick mode, and its --writes mode: they complete and print their tables.
# No timing assertions.
# timeout: 360
. "$(dirname "$0")/../lib.sh"
[ -x "$HILBERT" ] || bail "hilbert binary at $HILBERT" "build first: make"
out=$("$HL_PY" "$HL_REPO/Tests/bench/bench.py" --drive --quick --repeat 2 --workdir "$HL_TMP" 2>"$HL_TMP/bench.err"); rc=$?
is "$rc" "0" "bench.py --drive --quick completes"
[ $rc = 0 ] || diag "$(tail -20 "$HL_TMP/bench.err")"
like "$out" '^\| workload \| native \| /hilbert \| ratio \(prefix/native\) \|' "prints the table header"
is "$(printf '%s\n' "$out" | grep -c '^| [0-9a-z].* | .* | .* | [0-9.]* |$')" "18" "prints 18 workload rows"
like "$out" "sequential read cold \(from the object store\)" "measures a cold read from the object store"
like "$out" "stat storm with the shim / without: [0-9.]+" "reports the stat-storm ratio"
is "$(printf '%s\n' "$out" | grep -cE '^\| first touch: spawn\+wait of .* \| [0-9.]+ ms \| [0-9.]+ ms \| [0-9.]+ \|$')" "3" "first-touch rows: cat, sh echo, stat"
for c in cat "sh echo" stat; do
    like "$out" "^- first-touch cost, $c: [-+][0-9.]+ ms per process \(prefix − native; runs [-0-9.]+–[-0-9.]+ ms; target ≤ 1 ms: (met|NOT met)\)" "reports the first-touch cost of $c against its target"
done
like "$out" "^\| spawn\+wait of .hilbert run -- /bin/true. .* \| [0-9.]+ ms \| [0-9.]+ ms \| [0-9.]+ \|$" "a row for hilbert run -- /bin/true"
like "$out" "^- .hilbert run -- /bin/true. costs [-+][0-9.]+ ms over /bin/true \(runs .*; target ≤ 1 ms: (met|NOT met)\)" "reports its cost against the target"
like "$out" "native dir filesystem: " "prints machine info"

# --writes: creates (one process, several at once) and namespace writes on native, tmpfs, Hilbert
out=$("$HL_PY" "$HL_REPO/Tests/bench/bench.py" --drive --writes --quick --files 200 --workdir "$HL_TMP" 2>"$HL_TMP/writes.err"); rc=$?
is "$rc" "0" "bench.py --drive --writes --quick completes"
[ $rc = 0 ] || diag "$(tail -20 "$HL_TMP/writes.err")"
like "$out" '^\| workload \| native \| tmpfs \| Hilbert \| Hilbert / native \| Hilbert / tmpfs \|$' "prints the writes table header"
is "$(printf '%s\n' "$out" | grep -cE '^\| [a-z0-9].* \| [0-9.]+ k? \([0-9.]+ k?–[0-9.]+ k?\) \|')" "6" "six rows: create by one and by 4 processes, rename, chmod, utime, delete"
like "$out" "^- Hilbert: [0-9.]+ \([0-9.]+–[0-9.]+\)$" "reports Hilbert's parallel scaling"
is "$(printf '%s\n' "$out" | grep -cE '^- (create|4 processes|rename|chmod|utime|delete) .*: [0-9.]+ ?k?(/s|×) \((met|missed)\)$')" "7" "and the issue's targets"
is "$(ls "$HL_TMP" | grep -c '^hilbert-bench-writes\.')" "0" "its work dir is removed"
done_testing

#!/bin/bash
# Runs every tests/t/*.t (TAP) and prints "N passed, N failed".
cd "$(dirname "$0")/.." || exit 1
pass=0 fail=0
for t in tests/t/*.t; do
    out=$(bash "$t" 2>&1)
    p=$(grep -c '^ok ' <<<"$out")
    f=$(grep -c '^not ok ' <<<"$out")
    grep -q "^Bail out!" <<<"$out" && f=$((f + 1))
    pass=$((pass + p)) fail=$((fail + f))
    if [ "$f" -gt 0 ] || [ -n "$VERBOSE" ]; then echo "== $t"; echo "$out"; else echo "$t: $p ok"; fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

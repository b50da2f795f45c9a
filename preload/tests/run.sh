#!/bin/bash
# Runs every tests/t/*.t (or the files named; TAP, Tests/tap.sh) and prints one line
# "N passed, N failed, N skipped", counted like the integration suite (Tests/tap-judge.sh:
# plan, exit status, Bail out!, and skips that count as failed as root or in CI).
# VERBOSE=1 prints every file's output.
files=()
for f in "$@"; do files+=("$(cd "$(dirname "$f")" && pwd)/$(basename "$f")"); done
cd "$(dirname "$0")/.." || exit 1
[ ${#files[@]} -gt 0 ] || files=(tests/t/*.t)
# shellcheck source=../../Tests/tap-judge.sh
. ../Tests/tap-judge.sh
out=$(mktemp /tmp/hl-shim-tap.XXXXXX)
trap 'rm -f "$out"' EXIT
pass=0 fail=0 skip=0
for t in "${files[@]}"; do
    start=$(date +%s)
    timeout -k 10 300 bash "$t" >"$out" 2>&1 </dev/null
    tap_judge "$out" $? 300 $(( $(date +%s) - start ))
    pass=$((pass + TAP_PASS)) fail=$((fail + TAP_FAIL)) skip=$((skip + TAP_SKIP))
    if [ "$TAP_FAIL" -gt 0 ] || [ -n "${VERBOSE:-}" ]; then
        echo "== $t"; cat "$out"
        [ -n "$TAP_EXTRA" ] && echo "not ok - $t $TAP_EXTRA"
    else
        echo "$t: $TAP_PASS ok, $TAP_SKIP skipped"
    fi
done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]

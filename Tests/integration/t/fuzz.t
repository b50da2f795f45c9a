#!/usr/bin/env bash
# Lockstep differential fuzzing (fuzz.py): random data operations across block boundaries and
# random namespace operations, native dir vs prefix, fixed seeds.
# timeout: 300
. "$(dirname "$0")/../lib.sh"
hl_setup
for seed in 1 2 3; do
    tap hl "$HL_PY" "$HL_LIB_DIR/fuzz.py" data "$HL_TMP/n-data-$seed" "/hilbert/data-$seed" "$seed" 400
done
for seed in 1 2 3 4; do
    tap hl "$HL_PY" "$HL_LIB_DIR/fuzz.py" names "$HL_TMP/n-names-$seed" "/hilbert/names-$seed" "$seed" 600
done
done_testing

#!/usr/bin/env bash
# The whole test suite, as `make test` runs it after `make test-deps` and `make build`:
#   unit         swift test (Tests/swift-test.sh), with PostgreSQL and PgBouncer up for the
#                PostgreSQL client's tests (Tests/pg/with-server.sh)
#   unit@pg      the metadata conformance suite (HilbertMetaTests) again, every volume in a
#                PostgreSQL schema reached through PgBouncer in transaction pooling mode
#   shim         the shim's TAP tests with a test engine (make -C preload test)
#   integration  real programs under the shim, plus the foundation suite again on an S3
#                server (Tests/s3/with-server.sh) and again with its metadata on PostgreSQL
#                (Tests/pg/with-server.sh, Tests/integration/run.sh)
# Each stage prints its own "N passed, N failed, N skipped"; the last line is the sum over
# all stages in the same form. A stage that ends without that line counts as one failure.
# Exit status 0 only when nothing failed.
#   bash Tests/run-all.sh [STAGE…]     (default: all three)
set -u
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo" || exit 1
: "${HILBERT_HOME:=$repo/out}"
export HILBERT_HOME
SWIFT=${SWIFT:-swift}
# The foundation's suite runs a second time with its volumes on S3; tests that look inside
# the objects directory (storage, faults, gc, cli) stay local-only.
: "${HL_S3_SUITE:=bash coreutils tar python sqlite git semantics differential fuzz credentials toolchain tools conformance compact pack-on-close import write-behind fork-threads fd-numbers}"
export HL_S3_SUITE
# …and a third time with its metadata on PostgreSQL through PgBouncer.
: "${HL_PG_SUITE:=bash coreutils tar python sqlite git semantics differential fuzz credentials toolchain tools conformance dump compact pack-on-close close-range import write-behind fork-threads fd-numbers warmup site-cache}"
export HL_PG_SUITE

run_stage() {   # run_stage NAME CMD… — prints CMD's output; adds its summary to the totals
    local name=$1 log line p f s start rc; shift
    log=$(mktemp /tmp/hilbert-stage.XXXXXX)
    start=$(date +%s)
    echo "==== $name: $*"
    "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -n 1)
    # What failed, repeated after the summary: CI may show only the end of the output.
    while IFS= read -r fl; do failures+=("$name: $fl"); done < <(grep -E \
        '^t/[^ ]+ +FAIL|^ *\| not ok|^not ok|✘ Test .* (failed|recorded an issue)|error: -\[|: error: .*XCTAssert' "$log" | head -n 12)
    rm -f "$log"
    if [ -n "$line" ]; then
        read -r p _ f _ s _ <<<"${line//,/}"
    else
        p=0 f=1 s=0
        echo "not ok - the $name stage ended without a summary line (exit $rc)"
    fi
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        f=1; echo "not ok - the $name stage exited $rc without a counted failure"
    fi
    summary+=("$(printf '%-12s %5d passed %4d failed %4d skipped %6ss' "$name" "$p" "$f" "$s" $(( $(date +%s) - start )))")
    total_p=$((total_p + p)) total_f=$((total_f + f)) total_s=$((total_s + s))
}

stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(unit unit@pg shim integration)
total_p=0 total_f=0 total_s=0 summary=() failures=()
for st in "${stages[@]}"; do
    case $st in
        unit) run_stage unit env SWIFT="$SWIFT" bash Tests/pg/with-server.sh bash Tests/swift-test.sh ;;
        unit@pg) run_stage unit@pg env SWIFT="$SWIFT" HL_TEST_META_PG=server bash Tests/pg/with-server.sh \
                     bash Tests/swift-test.sh --filter HilbertMetaTests ;;
        shim) run_stage shim make --no-print-directory -C preload test ;;
        integration) run_stage integration bash Tests/s3/with-server.sh bash Tests/pg/with-server.sh \
                         bash Tests/integration/run.sh ;;
        *) echo "run-all.sh: no stage '$st' (unit, unit@pg, shim, integration)" >&2; exit 2 ;;
    esac
done
echo "==== summary"
printf '%s\n' "${summary[@]}"
if [ ${#failures[@]} -gt 0 ]; then
    echo "==== what failed (the first lines of each stage; the full output is above)"
    printf '%s\n' "${failures[@]}" | cut -c1-200
fi
echo "$total_p passed, $total_f failed, $total_s skipped"
[ "$total_f" = 0 ]

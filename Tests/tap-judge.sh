# tap-judge.sh — how the repository's TAP runners (Tests/integration/run.sh,
# preload/tests/run.sh) count one test file's output. Sourced.
#
#   tap_judge OUTFILE EXIT-STATUS [TIMEOUT SECONDS-IT-RAN]
#       sets TAP_PASS TAP_FAIL TAP_SKIP and TAP_EXTRA (why the runner adds a failure, or "")
#
# A file counts what it printed: "ok" lines pass, "not ok" lines fail, "ok … # SKIP" lines are
# skips, never passes. On top of that, one more failure when the file timed out (killed by
# timeout(1): exit 124 or 137 after TIMEOUT seconds), printed no plan ("1..N"), ran another number of assertions than
# its plan, said "Bail out!", or exited non-zero without a failed assertion.
#
# Skips are failures where they are not allowed: skips are allowed only when HL_ALLOW_SKIP=1,
# or when not root and CI is not set. CI runs as root with everything installed, so there a
# skipped case is a case that did not run, and it fails the run (tap_skips_allowed).

tap_skips_allowed() {
    [ "${HL_ALLOW_SKIP:-}" = 1 ] && return 0
    [ "${HL_ALLOW_SKIP:-}" = 0 ] && return 1
    [ "$(id -u)" != 0 ] && [ -z "${CI:-}" ]
}

tap_judge() {
    local out=$1 rc=$2 to=${3:-} secs=${4:-0} plan all
    TAP_SKIP=$(grep -cE '^ok [0-9]* *-? *# *SKIP' "$out")
    all=$(grep -c '^ok ' "$out")
    TAP_PASS=$((all - TAP_SKIP))
    TAP_FAIL=$(grep -c '^not ok ' "$out")
    TAP_EXTRA=""
    plan=$(sed -n 's/^1\.\.\([0-9][0-9]*\).*$/\1/p' "$out" | tail -1)
    if [ -n "$to" ] && { [ "$rc" = 124 ] || [ "$rc" = 137 ]; } && [ "$secs" -ge "$to" ]; then
        TAP_EXTRA="timed out after ${to}s"
    elif grep -q '^Bail out!' "$out"; then
        TAP_EXTRA="bailed out: $(sed -n 's/^Bail out! *//p' "$out" | head -1)"
    elif [ -z "$plan" ]; then
        TAP_EXTRA="died before its plan (exit $rc)"
    elif [ "$plan" != $((all + TAP_FAIL)) ]; then
        TAP_EXTRA="planned $plan assertions, ran $((all + TAP_FAIL))"
    elif [ "$rc" != 0 ] && [ "$TAP_FAIL" = 0 ]; then
        TAP_EXTRA="exited $rc without a failed assertion"
    fi
    [ -n "$TAP_EXTRA" ] && TAP_FAIL=$((TAP_FAIL + 1))
    if [ "$TAP_SKIP" != 0 ] && ! tap_skips_allowed; then
        TAP_EXTRA="${TAP_EXTRA:+$TAP_EXTRA; }$TAP_SKIP skipped case(s) count as failed: as root or in CI every case must run (HL_ALLOW_SKIP=1 to allow)"
        TAP_FAIL=$((TAP_FAIL + TAP_SKIP)); TAP_SKIP=0
    fi
    return 0
}

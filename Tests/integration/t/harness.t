#!/usr/bin/env bash
# The runners cannot report a pass for a case that did not run: Tests/integration/run.sh,
# preload/tests/run.sh and Tests/swift-test.sh are fed test files (and swift test output) that
# skip, die half-way, break their plan, bail out, exit non-zero after passing, or time out,
# and must count each as it is. Needs no Hilbert build.
. "$(dirname "$0")/../lib.sh"
# the runs below are of these files alone, not of the suites on S3 and PostgreSQL that make test adds
unset HL_S3_SUITE HL_S3_SERVER_ENV HL_PG_SUITE HL_PG_SERVER_ENV

T="$HL_TMP/cases"
mkdir -p "$T"
tapfile() { printf '%s\n' "#!/usr/bin/env bash" ". '$HL_REPO/Tests/tap.sh'" "$2" >"$T/$1.t"; }
tapfile allgood  'pass one; pass two; done_testing'
tapfile skipping 'pass one; skip "no widget here"; done_testing'
tapfile dies     'pass one; kill -9 $$'
tapfile noplan   'pass one; exit 0'
tapfile shortrun 'pass one; echo "1..3"; exit 0'
tapfile bailout  'pass one; echo "Bail out! no database"; echo "1..1"'
tapfile badexit  'pass one; echo "1..1"; exit 4'
tapfile failing  'pass one; fail "two" "diagnostic"; done_testing'
tapfile isargs   'is a a; done_testing'
printf '%s\n' '# timeout: 2' ". '$HL_REPO/Tests/tap.sh'" 'pass one; sleep 30; done_testing' >"$T/slow.t"

# run_it RUNNER FILE… — the summary line and the exit status
run_it() {
    local runner=$1 out rc; shift
    case $runner in
        it) out=$(bash "$HL_REPO/Tests/integration/run.sh" -j 2 "$@" 2>&1); rc=$? ;;
        shim) out=$(bash "$HL_REPO/preload/tests/run.sh" "$@" 2>&1); rc=$? ;;
    esac
    printf '%s rc=%s\n' "$(printf '%s\n' "$out" | tail -n 1)" "$rc"
}
for r in it shim; do
    is "$(run_it $r "$T/allgood.t")" "2 passed, 0 failed, 0 skipped rc=0" "$r: a file that passes"
    is "$(HL_ALLOW_SKIP=1 run_it $r "$T/skipping.t")" "1 passed, 0 failed, 1 skipped rc=0" "$r: a skip is a skip, not a pass"
    is "$(HL_ALLOW_SKIP=0 run_it $r "$T/skipping.t")" "1 passed, 1 failed, 0 skipped rc=1" "$r: a skip fails where skips are not allowed"
    is "$(CI=true HL_ALLOW_SKIP= run_it $r "$T/skipping.t")" "1 passed, 1 failed, 0 skipped rc=1" "$r: in CI a skip fails"
    is "$(run_it $r "$T/dies.t")" "1 passed, 1 failed, 0 skipped rc=1" "$r: a file killed half-way fails"
    is "$(run_it $r "$T/noplan.t")" "1 passed, 1 failed, 0 skipped rc=1" "$r: a file without a plan fails"
    is "$(run_it $r "$T/shortrun.t")" "1 passed, 1 failed, 0 skipped rc=1" "$r: a file that ran fewer cases than planned fails"
    is "$(run_it $r "$T/bailout.t")" "1 passed, 1 failed, 0 skipped rc=1" "$r: Bail out! fails"
    is "$(run_it $r "$T/badexit.t")" "1 passed, 1 failed, 0 skipped rc=1" "$r: a non-zero exit after passing cases fails"
    is "$(run_it $r "$T/failing.t")" "1 passed, 1 failed, 0 skipped rc=1" "$r: a failed case fails"
    is "$(run_it $r "$T/isargs.t")" "0 passed, 1 failed, 0 skipped rc=1" "$r: is with the wrong number of arguments fails"
done
is "$(run_it it "$T/slow.t")" "1 passed, 1 failed, 0 skipped rc=1" "it: a file past its '# timeout:' fails"
out=$(bash "$HL_REPO/Tests/integration/run.sh" "$T/dies.t" 2>&1)
like "$out" "not ok - .*dies\.t died before its plan \(exit 137\)" "it: the runner says why a file failed"

# Tests/swift-test.sh counts from swift test's own output; SWIFT is a stand-in printing it
fake() {   # fake EXIT OUTPUT — a stand-in for swift
    printf '#!/bin/sh\ncat <<"OUT"\n%s\nOUT\nexit %s\n' "$2" "$1" >"$T/swift"; chmod +x "$T/swift"
    SWIFT="$T/swift" HL_ALLOW_SKIP=${HL_ALLOW_SKIP:-1} bash "$HL_REPO/Tests/swift-test.sh" 2>&1 | tail -n 1
}
is "$(fake 0 "Test Suite 'All tests' passed at x
	 Executed 0 tests, with 0 failures (0 unexpected) in 0.0 (0.0) seconds
✔ Test a() passed after 0.1 seconds.
✔ Test run with 141 tests in 23 suites passed after 3.0 seconds.")" "141 passed, 0 failed, 0 skipped" "swift-test.sh: Swift Testing passes"
is "$(fake 1 "✘ Test b() recorded an issue at x.swift:3:5: Expectation failed
✘ Test b() failed after 0.1 seconds with 1 issue.
➜ Test c() skipped.
✘ Test run with 10 tests in 2 suites failed after 1.0 seconds with 1 issue.")" "8 passed, 1 failed, 1 skipped" "swift-test.sh: a failing and a skipped Swift Testing test"
is "$(HL_ALLOW_SKIP=0 fake 0 "➜ Test c() skipped.
✔ Test run with 10 tests in 2 suites passed after 1.0 seconds.")" "9 passed, 1 failed, 0 skipped" "swift-test.sh: a skip fails where skips are not allowed"
is "$(fake 1 "Test Suite 'All tests' failed at x
	 Executed 7 tests, with 1 test skipped and 2 failures (0 unexpected) in 0.1 (0.1) seconds")" "4 passed, 2 failed, 1 skipped" "swift-test.sh: XCTest counts"
is "$(fake 1 "error: compile command failed due to signal 6")" "0 passed, 1 failed, 0 skipped" "swift-test.sh: a build failure is a failure"
is "$(fake 0 "✔ Test run with 3 tests in 1 suites passed after 1.0 seconds.
Fatal error: crashed")" "3 passed, 0 failed, 0 skipped" "swift-test.sh: counts what ran"
is "$(fake 134 "✔ Test a() passed after 0.1 seconds.")" "0 passed, 1 failed, 0 skipped" "swift-test.sh: a test process that crashed before its summary fails"
done_testing

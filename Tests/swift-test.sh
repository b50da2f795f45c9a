#!/usr/bin/env bash
# swift test, counted: prints swift test's output, then one line "N passed, N failed, N skipped"
# over both XCTest and Swift Testing. A build failure or a crash of the test process (a
# non-zero exit without a counted failure) is one failure; a skipped test counts as failed
# where skips are not allowed (root or CI: Tests/tap-judge.sh). Arguments go to swift test.
set -u
# shellcheck source=tap-judge.sh
. "$(dirname "$0")/tap-judge.sh"
allow=0; tap_skips_allowed && allow=1
SWIFT=${SWIFT:-swift}
log=$(mktemp /tmp/hilbert-swift-test.XXXXXX)
trap 'rm -f "$log"' EXIT
"$SWIFT" test "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
python3 - "$log" "$rc" "$allow" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read()
rc, skips_allowed = int(sys.argv[2]), sys.argv[3] == "1"
passed = failed = skipped = 0
# Swift Testing: "✔ Test run with 141 tests in 23 suites passed after …" and one line per
# failing ("✘ Test name() failed …") and skipped ("➜ Test name() skipped …") test
m = re.findall(r"^\S+ Test run with (\d+) tests? ", text, re.M)
if m:
    total = int(m[-1])
    st_failed = len(set(re.findall(r"^✘ Test (?!run with)(.+?) (?:failed|recorded)", text, re.M)))
    st_skipped = len(set(re.findall(r"^\S+ Test (?!run with)(.+?) skipped", text, re.M)))
    failed += st_failed; skipped += st_skipped; passed += total - st_failed - st_skipped
# XCTest: the last "Executed N tests, with [K tests skipped and] F failures" is 'All tests'
m = re.findall(r"Executed (\d+) tests?, with (?:(\d+) tests? skipped and )?(\d+) failures?", text)
if m:
    n, k, f = int(m[-1][0]), int(m[-1][1] or 0), int(m[-1][2])
    failed += f; skipped += k; passed += n - f - k
if rc != 0 and failed == 0:
    print("not ok - swift test exited %d without a counted failure (build error or crash)" % rc)
    failed = 1
if skipped and not skips_allowed:
    print("not ok - %d skipped test(s) count as failed: as root or in CI every test must run" % skipped)
    failed += skipped; skipped = 0
print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
sys.exit(1 if failed else 0)
PY

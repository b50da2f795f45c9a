# tap.sh — the one TAP vocabulary of every shell test file in this repository (the
# integration suite's Tests/integration/lib.sh and the shim's preload/tests/lib.sh source it).
#
#   ok DESC CMD ARGS…        passes when CMD exits 0 (its output is shown only on failure)
#   nok DESC CMD ARGS…       passes when CMD exits non-zero
#   is GOT EXPECTED DESC     string equality (a diff when either side is long)
#   isnt GOT UNEXPECTED DESC
#   like GOT ERE DESC        extended regex, line by line (a regex with a newline: whole text)
#   unlike GOT ERE DESC
#   pass DESC / fail DESC [DIAGNOSTIC…]
#   skip REASON              "ok N - # SKIP REASON": the runners count it as skipped, never as
#                            passed, and as failed when skips are not allowed (root or CI)
#   diag TEXT                a "# " comment
#   bail DESC [DIAGNOSTIC…]  one failed assertion, the plan, and the file stops (setup impossible)
#   done_testing             prints the plan "1..N" and exits 0 only when nothing failed
#
# A file (or the lib that sources this) may define tap_cleanup; done_testing and bail call it.

_tap_n=0
_tap_failed=0

_tap_result() {   # _tap_result PASS(0/1) DESC [diagnostic lines…]
    local pass=$1 desc=$2; shift 2
    _tap_n=$((_tap_n + 1))
    if [ "$pass" = 0 ]; then
        echo "ok $_tap_n - $desc"
    else
        _tap_failed=$((_tap_failed + 1))
        echo "not ok $_tap_n - $desc"
        local l
        for l in "$@"; do printf '%s\n' "$l" | sed 's/^/#   /'; done
    fi
    return "$pass"
}
ok() {
    local desc=$1; shift
    local out rc
    out=$("$@" 2>&1); rc=$?
    if [ $rc = 0 ]; then _tap_result 0 "$desc"; else _tap_result 1 "$desc" "command: $*" "exit: $rc" "$(printf '%s' "$out" | tail -n 25)"; fi
}
nok() {
    local desc=$1; shift
    local out rc
    out=$("$@" 2>&1); rc=$?
    if [ $rc != 0 ]; then _tap_result 0 "$desc"; else _tap_result 1 "$desc" "command: $*" "expected failure, exit 0" "$(printf '%s' "$out" | tail -n 25)"; fi
}
is() {
    [ $# = 3 ] || { _tap_result 1 "${3:-is}" "is takes GOT EXPECTED DESC, was given $# arguments"; return 1; }
    if [ "$1" == "$2" ]; then _tap_result 0 "$3"
    elif [ "$(printf '%s\n' "$1" | wc -l)" -gt 8 ] || [ "$(printf '%s\n' "$2" | wc -l)" -gt 8 ]; then
        _tap_result 1 "$3" "--- expected / +++ got" "$(diff -u <(printf '%s\n' "$2") <(printf '%s\n' "$1") | tail -n +3 | head -n 40)"
    else
        _tap_result 1 "$3" "got:      '$(printf '%s' "$1" | head -c 2000)'" "expected: '$(printf '%s' "$2" | head -c 2000)'"; fi
}
isnt() {
    if [ "$1" != "$2" ]; then _tap_result 0 "$3"; else _tap_result 1 "$3" "got '$1', expected anything else"; fi
}
# A regex containing a newline is matched against the whole text: newlines in text and regex
# become \001 first (grep would read a newline in a pattern as "either line"), so ^/$ are the
# text's ends and . also matches a line break.
_tap_match() {
    if [[ $2 == *$'\n'* ]]; then
        printf '%s' "$1" | tr '\n' '\001' | grep -Eq -- "$(printf '%s' "$2" | tr '\n' '\001')"
    else
        printf '%s' "$1" | grep -Eq -- "$2"
    fi
}
like() {
    if _tap_match "$1" "$2"; then _tap_result 0 "$3"; else
        _tap_result 1 "$3" "got:       '$(printf '%s' "$1" | head -c 2000)'" "expected to match: /$2/"; fi
}
unlike() {
    if ! _tap_match "$1" "$2"; then _tap_result 0 "$3"; else
        _tap_result 1 "$3" "got:           '$(printf '%s' "$1" | head -c 2000)'" "expected NOT to match: /$2/"; fi
}
pass() { _tap_result 0 "$1"; }
fail() { local d=$1; shift; _tap_result 1 "$d" "$@"; }
skip() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - # SKIP $1"; }
diag() { printf '%s\n' "$*" | sed 's/^/# /'; }
_tap_cleanup() { if declare -F tap_cleanup >/dev/null; then tap_cleanup; fi; }
done_testing() {
    echo "1..$_tap_n"
    _tap_cleanup
    [ "$_tap_failed" = 0 ]
    exit $?
}
bail() { fail "$1" "${@:2}"; echo "1..$_tap_n"; _tap_cleanup; exit 1; }

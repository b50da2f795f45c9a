#!/usr/bin/env bash
# Tests/bench/hoststorm.py at a tiny size: it compiles the storm program, runs it natively and
# under the shim, prints one row per call family, then the in-process table of hostcalls.c (libc
# against raw system calls, with and without the shim), and leaves nothing behind. No timing assertions.
# timeout: 120
. "$(dirname "$0")/../lib.sh"
[ -x "$HILBERT" ] || bail "hilbert binary at $HILBERT" "build first: make"
mkdir -p "$HL_TMP/storms"
out=$("$HL_PY" "$HL_REPO/Tests/bench/hoststorm.py" --files 200 --rounds 2 --dir "$HL_TMP/storms" 2>"$HL_TMP/err"); rc=$?
is "$rc" "0" "hoststorm.py completes"
[ $rc = 0 ] || diag "$(tail -20 "$HL_TMP/err")"
for family in 'open\(O_CREAT\)\+close' mkdir rename chmod utimensat readlink 'opendir\+closedir' stat unlink rmdir; do
    like "$out" "^\| $family \| [0-9]+ \([0-9]+–[0-9]+\) \| [0-9]+ \([0-9]+–[0-9]+\) \| [0-9.]+× \|$" "a row for $family"
done
r='[0-9]+\.[0-9]+ \([0-9]+\.[0-9]+–[0-9]+\.[0-9]+\)'
for family in 'open\+close' 'open\(O_CREAT\|O_EXCL\)\+close\+unlink' 'mkdir\+rmdir' 'rename there and back' chmod utimensat readlink stat 'opendir\+closedir'; do
    like "$out" "^\| $family \| $r \| $r \| [0-9]+\.[0-9]+× \([0-9]+\.[0-9]+–[0-9]+\.[0-9]+\) \|$" "an in-process row for $family"
done
is "$(ls -A "$HL_TMP/storms")" "" "its work dir is removed"
done_testing

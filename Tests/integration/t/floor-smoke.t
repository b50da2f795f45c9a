#!/usr/bin/env bash
# Tests/bench/floor.py at a tiny size: it builds floor.c, runs a round on tmpfs and one on the
# disk, prints every measure for both and the quotients against the targets, and leaves its
# directories behind on neither. No timing assertions (a benchmark, not a test of speed).
# timeout: 120
. "$(dirname "$0")/../lib.sh"
command -v cc >/dev/null || bail "cc" "make test-deps"
[ -e /usr/include/sqlite3.h ] || bail "sqlite3.h" "make test-deps (libsqlite3-dev)"
disk="$HL_TMP/disk"; mkdir -p "$disk"
shm=/dev/shm; [ -d "$shm" ] && [ -w "$shm" ] || shm="$HL_TMP/shm"; mkdir -p "$shm"
before=$(ls -d "$shm"/floor.* 2>/dev/null | wc -l)
out=$(python3 "$HL_REPO/Tests/bench/floor.py" --rounds 1 --files 200 --procs 2 --disk "$disk" --tmpfs "$shm" 2>&1); rc=$?
is "$rc" "0" "floor.py completes"
[ $rc = 0 ] || diag "$out"
for m in native staging transaction create chmod-native chmod-transaction creates-x2; do
    like "$out" "^$m +[0-9]+ \([0-9]+-[0-9]+\) +[0-9]+ \([0-9]+-[0-9]+\)$" "a row for $m, both file systems"
done
like "$out" "^tmpfs: create floor [0-9]+/s .* chmod floor 0\.[0-9]+x native" "the quotients on tmpfs"
like "$out" "^disk: create floor [0-9]+/s" "the quotients on the disk"
like "$out" "^tmpfs: 2 processes creating at once make [0-9.]+x \([0-9.]+-[0-9.]+\) of one" "what 2 processes make against one"
is "$(ls -A "$disk" | wc -l)" "0" "nothing is left on the disk"
is "$(ls -d "$shm"/floor.* 2>/dev/null | wc -l)" "$before" "nothing is left on tmpfs"
out=$(python3 "$HL_REPO/Tests/bench/floor.py" --rounds 1 --files 10 --disk /nonexistent/dir 2>&1); rc=$?
isnt "$rc" "0" "a disk directory that does not exist fails the run"
done_testing

#!/usr/bin/env bash
# Tests/bench/bigwrite.py, transfer.py and warmup.py at tiny sizes, without JuiceFS (which the
# suite does not install): they complete, bigwrite's sides end with the same file (it exits non-zero
# otherwise), both print their tables and leave nothing behind. No timing assertions.
# timeout: 300
. "$(dirname "$0")/../lib.sh"
[ -x "$HILBERT" ] || bail "hilbert binary at $HILBERT" "build first: make"
mkdir -p "$HL_TMP/work"
out=$("$HL_PY" "$HL_REPO/Tests/bench/bigwrite.py" --no-juicefs --mib 8 --rounds 2 --dir "$HL_TMP/work" 2>"$HL_TMP/err"); rc=$?
is "$rc" "0" "bigwrite.py completes, every side's file the same at the end"
[ $rc = 0 ] || diag "$(tail -20 "$HL_TMP/err")"
for change in "append 1 KiB" "rewrite 4 KiB in the middle"; do
    for when in cold warm; do
        like "$out" "^\| $change \+ close, $when( \| [0-9.]+ \([0-9.]+–[0-9.]+\)){3}( \| [0-9.]+×){2} \|$" "a row for $change, $when"
    done
done
like "$out" "^- append: hilbert 1\.0 objects, [0-9]+ bytes$" "an append stores one object"
like "$out" "load average \(1, 5, 15 min\) [0-9.]+ [0-9.]+ [0-9.]+ at the start" "reports the load average"
is "$(ls -A "$HL_TMP/work")" "" "its work dir is removed"

out=$("$HL_PY" "$HL_REPO/Tests/bench/transfer.py" --files 300 --per-dir 100 --rounds 2 --dir "$HL_TMP/work" 2>"$HL_TMP/err"); rc=$?
is "$rc" "0" "transfer.py completes, the export the same as the source"
[ $rc = 0 ] || diag "$(tail -20 "$HL_TMP/err")"
for side in "cp -a" import export; do
    like "$out" "^\| $side \| [0-9]+ \([0-9]+–[0-9]+\) \| [0-9.]+× \| [0-9.]+–[0-9.]+× \|$" "a row for $side"
done
is "$(ls -A "$HL_TMP/work")" "" "its work dir is removed"

out=$("$HL_PY" "$HL_REPO/Tests/bench/warmup.py" --scale 0.01 --rounds 2 --dir "$HL_TMP/work" 2>"$HL_TMP/err"); rc=$?
is "$rc" "0" "warmup.py completes, every file warmed in every round"
[ $rc = 0 ] || diag "$(tail -20 "$HL_TMP/err")"
like "$out" "^small +hilbert [0-9]+ files/s \([0-9]+–[0-9]+\); native cp -r onto the caches. disk [0-9]+ files/s .*; hilbert/native [0-9.]+×" "a row for small files, against a native copy"
like "$out" "^loose +hilbert [0-9]+ files/s" "a row for files of one object each"
like "$out" "^big +hilbert [0-9]+ MiB/s .*; store raw read \(objbench\) [0-9]+ MiB/s .*; hilbert/raw [0-9.]+×" "a row for big files against the store's raw read"
is "$(ls -A "$HL_TMP/work")" "" "its work dir is removed"
done_testing

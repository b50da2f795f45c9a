#!/usr/bin/env bash
# The SQLite engine writes a transaction's WAL frames in one system call (Sources/CSQLiteWAL),
# where SQLite alone writes each frame's header and page apart. Checked on real databases with
# the VFS compiled into a test program: transactions larger than the page cache (frames
# rewritten in place, checksums rewritten at the commit), a writer killed after 1,500 commits,
# and readers in other processes (one on SQLite's own unix VFS) that must never see a
# transaction half there. The engine's own use of it is in meta-writes.t (pwrites per create).
# timeout: 120
. "$(dirname "$0")/../lib.sh"
need gcc:gcc

prog="$HL_TMP/wal_stress"
gcc -O1 -Wall -I"$HL_REPO/Sources/CSQLiteWAL/include" -o "$prog" "$HL_LIB_DIR/c/wal_stress.c" \
    "$HL_REPO/Sources/CSQLiteWAL/wal_coalesce.c" -lsqlite3 -lpthread 2>"$HL_TMP/cc.log" ||
    bail "compile the WAL stress program (libsqlite3-dev: make test-deps)" "$(cat "$HL_TMP/cc.log")"
for spec in spill:5 kill:4 readers:3; do
    mode=${spec%:*}
    mkdir -p "$HL_TMP/$mode"
    out=$("$prog" "$HL_TMP/$mode" "$mode" 2>&1)
    rc=$?
    while IFS= read -r line; do
        case $line in
            "ok - "*) pass "$mode: ${line#ok - }" ;;
            "not ok - "*) fail "$mode: ${line#not ok - }" ;;
        esac
    done <<<"$out"
    is "$rc $(grep -c '^ok - ' <<<"$out")" "0 ${spec#*:}" "$mode: the program ran all its checks and they passed"
done

done_testing

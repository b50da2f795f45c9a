#!/usr/bin/env bash
# Tests/bench/metabytes.sh at a tiny size: it writes the files through the shim, prints the
# metadata's bytes per file in all and per table, and leaves nothing behind. No size or timing
# assertions (a few hundred files are mostly the empty tables' own pages).
# timeout: 120
. "$(dirname "$0")/../lib.sh"
[ -x "$HILBERT" ] || bail "hilbert binary at $HILBERT" "build first: make"
command -v sqlite3 >/dev/null || bail "sqlite3" "make test-deps"
before=$(ls -d /tmp/metabytes.* 2>/dev/null | wc -l)
out=$(HILBERT="$HILBERT" bash "$HL_REPO/Tests/bench/metabytes.sh" 300 2>&1); rc=$?
is "$rc" "0" "metabytes.sh completes"
[ $rc = 0 ] || diag "$out"
like "$out" "^300 files of 4 KiB on sqlite in [0-9]+\.[0-9] s; [0-9]+ objects in the store" "it says what it wrote"
like "$out" "^  hl_node +[0-9]+\.[0-9] bytes per file" "a row for the node table"
like "$out" "^  hl_edge +[0-9]+\.[0-9] bytes per file" "a row for the entry table"
like "$out" "^metadata: [0-9]+ bytes per file \([0-9]+ bytes in all; [0-9]+ per file without free pages\)$" "the total"
is "$(ls -d /tmp/metabytes.* 2>/dev/null | wc -l)" "$before" "its work dir is removed"
out=$(bash "$HL_REPO/Tests/bench/metabytes.sh" 10 oracle 2>&1); rc=$?
isnt "$rc" "0" "an unknown engine is refused"
like "$out" "engine is sqlite or pg" "  and says so"
done_testing

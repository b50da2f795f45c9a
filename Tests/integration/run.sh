#!/usr/bin/env bash
# Hilbert integration tests: real programs under the shim.
#
#   bash Tests/integration/run.sh [-j N] [-v] [t/NAME.t …]
#
# Finds the build through $HILBERT_HOME (default <repo>/out). Every test file runs with bash
# in its own fresh temp dir (cwd and $HL_TMP), formats its own volume (lib.sh: hl_setup) and
# prints TAP (Tests/tap.sh). Prints the output of failing files, then exactly one line
# "N passed, N failed, N skipped" (individual TAP assertions, counted by Tests/tap-judge.sh:
# as root or in CI a skip counts as failed) and exits non-zero when anything failed.
# A file can raise its time limit with a line "# timeout: SECONDS" (default 240).
# FILE@s3 (e.g. bash@s3) runs FILE with its volumes on S3: it needs HL_S3_SERVER_ENV, the env
# file of a running Tests/s3/s3server.sh (Tests/s3/with-server.sh sets it); HL_S3_SUITE="a b"
# appends a@s3 b@s3 to the run when that server is there.
# FILE@pg runs FILE with its volumes' metadata on PostgreSQL, through PgBouncer in transaction
# pooling mode: it needs HL_PG_SERVER_ENV (Tests/pg/with-server.sh sets it); HL_PG_SUITE="a b"
# appends a@pg b@pg when that server is there.
# HL_KEEP=1 keeps the temp dirs. -v prints every file's full TAP output. The build is copied
# first (HL_NO_SNAPSHOT=1: use it in place).
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
: "${HILBERT_HOME:=$repo/out}"
export HILBERT_HOME=$(cd "$HILBERT_HOME" 2>/dev/null && pwd || echo "$HILBERT_HOME")
jobs=${HL_JOBS:-2}
verbose=0
files=()
add_test() {   # add_test NAME[@s3|@pg] — a file name, t/NAME or t/NAME.t
    local base=${1%@s3} tag=
    base=${base%@pg}
    [ "$base" != "$1" ] && tag=${1#"$base"}
    local f=$base
    [ -f "$f" ] || f="$here/$base"
    [ -f "$f" ] || f="$here/t/$base"
    [ -f "$f" ] || f="$here/t/$base.t"
    [ -f "$f" ] || { echo "run.sh: no such test: $1" >&2; exit 2; }
    if [ "$tag" = @s3 ] && [ -z "${HL_S3_SERVER_ENV:-}" ]; then
        echo "run.sh: $1 needs an S3 server (run it through Tests/s3/with-server.sh)" >&2; exit 2
    fi
    if [ "$tag" = @pg ] && [ -z "${HL_PG_SERVER_ENV:-}" ]; then
        echo "run.sh: $1 needs a PostgreSQL server (run it through Tests/pg/with-server.sh)" >&2; exit 2
    fi
    files+=("$(cd "$(dirname "$f")" && pwd)/$(basename "$f")$tag")
}
while [ $# -gt 0 ]; do
    case $1 in
        -j) jobs=$2; shift 2 ;;
        -j*) jobs=${1#-j}; shift ;;
        -v) verbose=1; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) add_test "$1"; shift ;;
    esac
done
[ ${#files[@]} -gt 0 ] || files=("$here"/t/*.t)
if [ -n "${HL_S3_SUITE:-}" ] && [ -n "${HL_S3_SERVER_ENV:-}" ]; then
    for t in $HL_S3_SUITE; do add_test "$t@s3"; done
fi
if [ -n "${HL_PG_SUITE:-}" ] && [ -n "${HL_PG_SERVER_ENV:-}" ]; then
    for t in $HL_PG_SUITE; do add_test "$t@pg"; done
fi

if [ ! -x "$HILBERT_HOME/bin/hilbert" ]; then
    echo "run.sh: warning: no build at $HILBERT_HOME/bin/hilbert (run make); tests will fail" >&2
fi

results=$(mktemp -d /tmp/hilbert-it-results.XXXXXX)
trap 'rm -rf "$results"' EXIT

# Test a private copy of the build: a rebuild that overwrites out/lib/*.so in place while the
# suite runs would crash running programs (SIGBUS/SIGSEGV in the mapped library). The copy
# also checks that the build is relocatable. HL_NO_SNAPSHOT=1 tests $HILBERT_HOME in place.
if [ -z "${HL_NO_SNAPSHOT:-}" ] && [ -x "$HILBERT_HOME/bin/hilbert" ]; then
    mkdir -p "$results/build"
    cp -a "$HILBERT_HOME/bin" "$HILBERT_HOME/lib" "$results/build/" && chmod 755 "$results" && export HILBERT_HOME="$results/build"
fi

run_one() {   # run_one INDEX FILE
    local i=$1 f=$2 name tmp to rc start
    name=$(basename "$f")
    tmp=$(mktemp -d /tmp/hilbert-it.XXXXXX)
    local s3env= pgenv=
    if [ "${f%@s3}" != "$f" ]; then s3env=$HL_S3_SERVER_ENV; f=${f%@s3}; fi
    if [ "${f%@pg}" != "$f" ]; then pgenv=$HL_PG_SERVER_ENV; f=${f%@pg}; fi
    to=$(sed -n 's/^# timeout: *\([0-9][0-9]*\).*/\1/p' "$f" | head -1)
    to=${to:-240}
    start=$(date +%s)
    ( cd "$tmp" && HL_TMP="$tmp" HL_S3_ENV=$s3env HL_PG_ENV=$pgenv exec timeout -k 10 "$to" bash "$f" ) >"$results/$i.out" 2>&1 </dev/null
    rc=$?
    echo "$rc $(( $(date +%s) - start )) $to" >"$results/$i.rc"
    # leftovers: mounts a test could not undo, then the dir
    findmnt -rn -o TARGET | grep "^$tmp" | sort -r | while read -r m; do umount -l "$m"; done 2>/dev/null
    if [ -z "${HL_KEEP:-}" ]; then chmod -R u+rwX "$tmp" 2>/dev/null; rm -rf "$tmp"; else echo "$tmp" >"$results/$i.dir"; fi
}

i=0
for f in "${files[@]}"; do
    i=$((i + 1))
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
    run_one "$i" "$f" &
done
wait

# shellcheck source=../tap-judge.sh
. "$repo/Tests/tap-judge.sh"
total_pass=0 total_fail=0 total_skip=0
i=0
for f in "${files[@]}"; do
    i=$((i + 1))
    name=${f#$here/}
    out="$results/$i.out"
    read -r rc secs to <"$results/$i.rc"
    tap_judge "$out" "$rc" "$to" "$secs"
    total_pass=$((total_pass + TAP_PASS)); total_fail=$((total_fail + TAP_FAIL)); total_skip=$((total_skip + TAP_SKIP))
    if [ "$TAP_FAIL" = 0 ]; then status=ok; else status=FAIL; fi
    printf '%-28s %-4s %4d passed %4d failed %3d skipped  %4ss\n' "$name" "$status" "$TAP_PASS" "$TAP_FAIL" "$TAP_SKIP" "$secs"
    if [ "$TAP_FAIL" != 0 ] || [ "$verbose" = 1 ]; then
        sed 's/^/    | /' "$out"
        [ -n "$TAP_EXTRA" ] && echo "    | not ok - $name $TAP_EXTRA"
        [ -f "$results/$i.dir" ] && echo "    | (kept: $(cat "$results/$i.dir"))"
    elif [ "$TAP_SKIP" != 0 ]; then
        grep -E '^ok [0-9]* *-? *# *SKIP' "$out" | sed 's/^/    | /'
    fi
done
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" = 0 ]

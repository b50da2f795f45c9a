#!/usr/bin/env bash
# CPython's own test suite (Debian's libpython3.11-testsuite) for the file-system modules, run
# natively (--tempdir and TMPDIR on the host) and under Hilbert (--tempdir and TMPDIR inside
# the prefix, so every test's files and its worker's cwd are virtual). One assertion per
# module: it passes natively and under Hilbert; a module that fails natively fails too (the
# machine is not what the suite expects). The names of failing tests come from regrtest's
# JUnit XML.
# Environment: HL_PYSUITE="test_os test_io …" runs only those modules; HL_PYSUITE_J workers
# per run (default 4: the modules mostly wait on sleeps and subprocesses).
# timeout: 600
. "$(dirname "$0")/../lib.sh"

PY311=/usr/bin/python3.11
TESTDIR=/usr/lib/python3.11/test
[ -x "$PY311" ] || bail "$PY311 is not installed (Debian package python3.11: make test-deps)"
[ -f "$TESTDIR/test_os.py" ] || bail "CPython's test suite is not installed (Debian package libpython3.11-testsuite: make test-deps)"
hl_setup

MODULES=${HL_PYSUITE:-"test_io test_subprocess test_compileall test_zipfile test_tarfile test_file
    test_file_eintr test_zipimport test_os test_shutil test_tempfile test_glob test_pathlib
    test_fileio test_posix test_mmap test_fcntl test_stat test_genericpath test_posixpath
    test_fileinput test_filecmp test_dbm_dumb"}
JOBS=${HL_PYSUITE_J:-4}
# regrtest DIR NAME [RUNNER…] — run all modules with --tempdir DIR and TMPDIR=DIR; the
# progress log goes to $HL_TMP/NAME.log and the JUnit XML to $HL_TMP/NAME.xml (both native).
# The slow modules are listed first so that they start first.
regrtest() {
    local dir=$1 name=$2 start; shift 2
    start=$(date +%s)
    # PYTHONDONTWRITEBYTECODE (set in some environments) makes test_compileall fail natively
    ( export TMPDIR="$dir"; unset PYTHONDONTWRITEBYTECODE
      "$@" "$PY311" -m test --tempdir "$dir" -j "$JOBS" --timeout 400 \
          --junit-xml "$HL_TMP/$name.xml" $MODULES >"$HL_TMP/$name.log" 2>&1 </dev/null )
    diag "$name run: $(( $(date +%s) - start )) s"
}
mkdir -p "$HL_TMP/native-tmp"
regrtest "$HL_TMP/native-tmp" native
hl mkdir -p /hilbert/pytmp || bail "mkdir /hilbert/pytmp"
regrtest /hilbert/pytmp hilbert hl

# results NAME — one line per module: "MODULE STATUS" (STATUS "passed", or regrtest's words
# for anything else, or "missing" when regrtest reported nothing), then one line per failing
# test: "MODULE ! TEST-ID: first line of the message"
results() {
    "$PY311" - "$HL_TMP/$1.log" "$HL_TMP/$1.xml" $MODULES <<'PY'
import re, sys
import xml.etree.ElementTree as ET
log, xml, mods = sys.argv[1], sys.argv[2], sys.argv[3:]
status = {}
for line in open(log, errors="replace"):
    m = re.search(r"\[\s*\d+/\d+(?:/\d+)?\] (test_\w+) (.*)", line)
    if m and m.group(1) in mods:
        st = m.group(2).split(" -- ")[0].strip()
        status[m.group(1)] = "passed" if re.fullmatch(r"passed( \(.*\))?", st) else st
bad = {}
try:
    for tc in ET.parse(xml).getroot().iter("testcase"):
        for kind in ("failure", "error"):
            e = tc.find(kind)
            if e is not None:
                name = tc.get("name", "?")
                mod = name.split(".")[1] if name.startswith("test.") else name.split(".")[0]
                msg = (e.get("message") or e.text or "").strip().splitlines()
                bad.setdefault(mod, []).append("%s %s: %s" % (name, kind, msg[0][:160] if msg else ""))
except (OSError, ET.ParseError) as e:
    print("# no JUnit XML: %s" % e)
for mod in mods:
    print(mod, status.get(mod, "missing"))
    for b in bad.get(mod, []):
        print(mod, "!", b)
PY
}
native=$(results native)
hilbert=$(results hilbert)
for mod in $MODULES; do
    n=$(printf '%s\n' "$native" | sed -n "s/^$mod \([^!].*\)/\1/p")
    h=$(printf '%s\n' "$hilbert" | sed -n "s/^$mod \([^!].*\)/\1/p")
    if [ "$n" != passed ]; then
        fail "$mod passes natively and under Hilbert" "natively: $n (the machine, not Hilbert: the native run must pass)" \
            "$(printf '%s\n' "$native" | sed -n "s/^$mod ! /native: /p" | head -n 20)"
    elif [ "$h" = passed ]; then
        pass "$mod passes natively and under Hilbert"
    else
        fail "$mod passes natively and under Hilbert" "under Hilbert: $h" \
            "$(printf '%s\n' "$hilbert" | sed -n "s/^$mod ! //p" | head -n 40)"
    fi
done
if [ -n "${HL_VERBOSE:-}" ]; then diag "$(cat "$HL_TMP/hilbert.log")"; fi
done_testing

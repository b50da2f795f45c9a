#!/usr/bin/env bash
# The CLI: format options, run (exit status, default volume), status, flush, env.
. "$(dirname "$0")/../lib.sh"
hl_setup

is "$(hl sh -c 'exit 7' 2>&1; echo $?)" "7" "hilbert run passes the exit status through"
is "$(hl sh -c 'kill -TERM $$' >/dev/null 2>&1; echo $?)" "143" "hilbert run reports death by signal as 128+N"
is "$(echo piped | hl cat 2>&1)" "piped" "stdin passes through hilbert run"
is "$(hl /nonexistent/cmd 2>/dev/null; echo $?)" "127" "a command that does not exist gives 127 (as env/timeout/nice do)"
is "$(hl /etc/hostname 2>/dev/null; echo $?)" "126" "a command that cannot be executed gives 126"
# signals sent to `hilbert run` itself (not to the process group) reach the command
marker="hl-signal-$$-$RANDOM"
"$HILBERT" run --mount "/hilbert=$HL_URL" --cache "$HL_CACHE" -- bash -c "exec -a $marker sleep 300" & rpid=$!
for i in $(seq 1 50); do pgrep -f "^$marker" >/dev/null && break; sleep 0.1; done
kill -TERM $rpid; wait $rpid; rc=$?
for i in $(seq 1 50); do pgrep -f "^$marker" >/dev/null || break; sleep 0.1; done
left=$(pgrep -f "^$marker")
is "$rc/${left:+still running}" "143/" "SIGTERM to hilbert run is forwarded: the command ends, status 143"
[ -n "$left" ] && kill $left
# The argument forms 'hilbert run' reads without the parser (FastRun), and those it leaves
# to the parser: both must mean the same.
is "$("$HILBERT" run --mount="/hilbert=$HL_URL" --cache="$HL_CACHE" sh -c 'echo "$HILBERT_MOUNTS|$HILBERT_CACHE"' 2>&1)" \
   "/hilbert=$HL_URL|$HL_CACHE" "run --mount=V --cache=V CMD (no --) mounts and caches as given"
is "$("$HILBERT" run --cache "$HL_CACHE" --mount "/hilbert=$HL_URL" -- sh -c 'echo "$1"' zero -x 2>&1)" "-x" \
   "arguments after the command pass through untouched, options among them too"
like "$("$HILBERT" run --help 2>&1)" "USAGE: hilbert run" "run --help gives run's usage (the parser took it for the command before)"
is "$("$HILBERT" run -h >/dev/null 2>&1; echo $?)" "0" "run -h exits 0"
# Each command's help reads as paragraphs the parser fills to 80 columns: the sources break no
# line where the next word would have fit (a discussion written with its own breaks came out
# wrapped twice: "as 'hilbert" / "run'" / "mounts them…"). Examples and tables keep their lines.
subcommands=$("$HILBERT" --help | awk '/SUBCOMMANDS/{f=1;next} f && /^  [a-z]/{print $1}')
like "$subcommands" "import" "hilbert --help lists the subcommands"
broken=
for c in "" $subcommands; do
    found=$("$HILBERT" $c --help 2>&1 | sed -n '/^OVERVIEW/,/^USAGE/p' | "$HL_PY" -c '
import sys
lines = [l.rstrip("\n") for l in sys.stdin if not l.startswith("USAGE")]
for a, b in zip(lines, lines[1:]):
    if a.strip() and not a.startswith(" ") and b.strip() and not b.startswith(" ") \
       and len(a) + 1 + len(b.split()[0]) < 78:
        print("hilbert", sys.argv[1], "--help:", repr(a), "then", repr(b.split()[0]))' "$c")
    [ -n "$found" ] && broken+="$found"$'\n'
done
is "$broken" "" "no help text has a line broken where the parser would have gone on"
like "$("$HILBERT" run --mount 2>&1)" "Missing value for '--mount" "run --mount without a value: the parser's error"
is "$("$HILBERT" run --mount >/dev/null 2>&1; echo $?)" "64" "... with status 64"
like "$("$HILBERT" run --bogus -- true 2>&1)" "unknown option '--bogus'" "an unknown option before the command is refused, not run as the command"
is "$("$HILBERT" run --bogus -- true >/dev/null 2>&1; echo $?)" "64" "... with status 64"
like "$("$HILBERT" run -- 2>&1)" "no command given" "run -- with no command says so"
is "$("$HILBERT" run -- >/dev/null 2>&1; echo $?)" "1" "... with status 1"
is "$("$HILBERT" run --mount "/hilbert=$HL_URL" --cache "$HL_TMP/not-this-cache" --cache "$HL_CACHE" -- sh -c 'echo "$HILBERT_CACHE"' 2>&1)" \
   "$HL_CACHE" "a repeated --cache: the last one counts (as the parser has it)"
is "$(hl env 2>&1 | grep -c '^LD_PRELOAD=.*libhilbert-preload.so')" "1" "run puts the shim into LD_PRELOAD"
like "$(hl env 2>&1 | grep '^HILBERT_MOUNTS=')" "^HILBERT_MOUNTS=/hilbert=sqlite://$HL_META" "run sets HILBERT_MOUNTS"
like "$(hl env 2>&1 | grep '^HILBERT_CACHE=')" "^HILBERT_CACHE=$HL_CACHE" "run sets HILBERT_CACHE"

ok "status of the test volume" "$HILBERT" status "$HL_URL"
like "$("$HILBERT" status "$HL_URL" 2>&1)" "." "status prints something"
out=$("$HILBERT" env 2>&1); like "$out" "LD_PRELOAD" "hilbert env mentions LD_PRELOAD"
ok "hilbert flush with nothing staged" env HILBERT_MOUNTS="/hilbert=$HL_URL" HILBERT_CACHE="$HL_CACHE" "$HILBERT" flush

# format options
ok "format --compress none --block-size 1M --inline-max 4K" hl_format v2 --compress none --block-size 1M --inline-max 4K
ok "format --compress zstd" hl_format v3 --compress zstd
out=$(hl_format v2 2>&1); rc=$?
isnt "$rc" "0" "format refuses an existing volume"
out=$("$HILBERT" format "relative/meta.db" --bucket "$HL_TMP/v5/objects" 2>&1); rc=$?
isnt "$rc" "0" "format of a non-sqlite URL fails"
out=$("$HILBERT" run --mount "/hilbert=sqlite://$HL_TMP/v2/meta.db" --cache "$HL_TMP/c2" -- bash -c 'head -c 3000000 /dev/urandom > /hilbert/r; head -c 3000 /dev/urandom > /hilbert/s; cat /hilbert/r /hilbert/s | wc -c' 2>&1)
is "$out" "3003000" "volume with 1M blocks, no compression, 4K inline: write and read"
is "$(find "$HL_TMP/v2/objects" -type f | wc -l)" "3" "3 MB file in 1 MiB blocks → 3 objects; 3000-byte file inline"
out=$("$HILBERT" run --mount "/hilbert=sqlite://$HL_TMP/v3/meta.db" --cache "$HL_TMP/c3" -- bash -c 'yes hilbert | head -c 8000000 > /hilbert/z; wc -c < /hilbert/z' 2>&1)
is "$out" "8000000" "zstd volume: write and read a compressible file"
sz=$(du -sb "$HL_TMP/v3/objects" | cut -f1)
if [ "$sz" -lt 1000000 ] 2>/dev/null; then pass "zstd volume stores 8 MB of text in < 1 MB ($sz bytes)"; else fail "zstd volume stores 8 MB of text compressed" "objects use $sz bytes"; fi

# two mounts in one run
out=$("$HILBERT" run --mount "/hilbert=$HL_URL" --mount "/h2=sqlite://$HL_TMP/v3/meta.db" --cache "$HL_TMP/c4" -- bash -c 'echo one > /hilbert/one; echo two > /h2/two; ls -U /hilbert/one /h2/two; cp /hilbert/one /h2/one-copy; cat /h2/one-copy; ls /h2 | tr "\n" " "' 2>&1)
is "$out" $'/hilbert/one\n/h2/two\none\none-copy two z ' "two mounts in one run, copy between volumes"

# default volume (no --mount): under the isolated XDG dirs
out=$("$HILBERT" run -- bash -c 'echo default > /hilbert/dflt && cat /hilbert/dflt' 2>&1)
is "$out" "default" "no --mount: /hilbert maps to the default volume (created on first use)"
like "$(find "$XDG_DATA_HOME/hilbert/default" -maxdepth 2 2>/dev/null | head -20)" "default" "the default volume lives under \$XDG_DATA_HOME/hilbert/default"
ok "the default cache is \$TMPDIR/hilbert-\$USER" test -d "$TMPDIR/hilbert-$(id -un)"
is "$("$HILBERT" run -- cat /hilbert/dflt 2>&1)" "default" "the default volume persists across runs"
is "$(hl test -e /hilbert/dflt; echo $?)" "1" "the test volume is separate from the default one"
hl bash -c 'printf "#!/bin/sh\necho in-prefix \$1\n" > /hilbert/tool; chmod +x /hilbert/tool'
is "$(hl /hilbert/tool x 2>&1)" "in-prefix x" "hilbert run -- CMD where CMD is stored in the prefix"

done_testing

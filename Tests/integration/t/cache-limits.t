#!/usr/bin/env bash
# The node cache's limits (issue 14): --cache-size/--cache-free, HILBERT_CACHE_SIZE/
# HILBERT_CACHE_FREE and `cache-size =`/`cache-free =` in the config file, with K/M/G/T and
# percentages; bad values refused with the setting named; the limit reaches the job and holds
# while it reads; `hilbert status` and `hilbert cache status` show it and where it came from;
# `hilbert cache clear` deletes read copies and keeps staging files.
. "$(dirname "$0")/../lib.sh"
hl_setup
unset HILBERT_CACHE_SIZE HILBERT_CACHE_FREE
export HILBERT_CONFIG="$HL_TMP/config"; : >"$HILBERT_CONFIG"
M=(--mount "/hilbert=$HL_URL")

# ---------------------------------------------------------------- where the limits come from
is "$("$HILBERT" config "${M[@]}" --get cache-size --get cache-free | tr '\n' '|')" "||" "unset, both are empty (the embedded default holds)"
is "$(HILBERT_CACHE_SIZE=2G "$HILBERT" config "${M[@]}" --get cache-size)" "2G" "HILBERT_CACHE_SIZE is taken"
is "$(HILBERT_CACHE_SIZE=2G "$HILBERT" config "${M[@]}" --cache-size 3GiB --get cache-size)" "3GiB" "the command line comes first"
printf 'cache-size = 5G\ncache-free = 7%%\n' >"$HILBERT_CONFIG"
out=$("$HILBERT" config "${M[@]}")
like "$out" "cache-size  5G   \(config file $HILBERT_CONFIG\)" "the config file's cache-size, named as its source"
like "$out" "cache-free  7%   \(config file $HILBERT_CONFIG\)" "… and its cache-free"
out=$("$HILBERT" status "${M[@]}" --cache "$HL_CACHE" 2>&1)
like "$out" "cache limit:   5\.0 GiB of read copies \(config file\)" "hilbert status shows the limit and its source"
like "$out" "cache floor:   7% of the file system left free" "… and the free floor"
: >"$HILBERT_CONFIG"

# ---------------------------------------------------------------- bad values
out=$(HILBERT_CACHE_SIZE=12Q "$HILBERT" status "${M[@]}" 2>&1); rc=$?
isnt "$rc" 0 "HILBERT_CACHE_SIZE=12Q is refused"
like "$out" "HILBERT_CACHE_SIZE '12Q' is not a size of at least 1M" "… naming the variable and the value"
out=$("$HILBERT" run "${M[@]}" --cache-free 150% -- true 2>&1); rc=$?
isnt "$rc" 0 "--cache-free 150% is refused"
like "$out" "--cache-free '150%' is not a percentage from 0% to 99%" "… saying what it must be"
printf 'cache-size = lots\n' >"$HILBERT_CONFIG"
out=$("$HILBERT" config "${M[@]}" 2>&1); rc=$?
isnt "$rc" 0 "a config file with cache-size = lots is refused"
like "$out" "$HILBERT_CONFIG:1: cache-size 'lots' is not a size" "… naming the file and line"
: >"$HILBERT_CONFIG"
out=$(env LD_PRELOAD="$HL_SHIM" HILBERT_MOUNTS="/hilbert=$HL_URL" HILBERT_CACHE="$HL_CACHE" HILBERT_CACHE_SIZE=oops \
      cat /hilbert/nothing 2>&1); rc=$?
isnt "$rc" 0 "a program whose environment sets a bad limit cannot use the volume"
like "$out" "HILBERT_CACHE_SIZE 'oops' is not a size" "… and the engine says why"

# ---------------------------------------------------------------- the limit reaches the job and holds
is "$("$HILBERT" run "${M[@]}" --cache "$HL_CACHE" --cache-size 6M --cache-free 0 -- sh -c 'echo "$HILBERT_CACHE_SIZE $HILBERT_CACHE_FREE"')" \
   "6M 0" "hilbert run exports the limits to the job"
for i in $(seq 1 12); do head -c 1048576 /dev/urandom >"$HL_TMP/f$i"; done
hl sh -c "for i in \$(seq 1 12); do cp '$HL_TMP'/f\$i /hilbert/f\$i; done" || bail "write 12 files of 1 MiB"
small="$HL_TMP/small-cache"
out=$("$HILBERT" run "${M[@]}" --cache "$small" --cache-size 6M --cache-free 0 -- \
      sh -c "for i in \$(seq 1 12); do cmp /hilbert/f\$i '$HL_TMP'/f\$i || echo differ \$i; done" 2>&1)
is "$out" "" "12 MiB read through a cache limited to 6M read back right"
used=$(du -sk "$small"/*/files | awk '{ s += $1 } END { print s }')
ok "the read copies stayed within the limit and one file more ($used KiB <= 7168)" test "$used" -le 7168
out=$("$HILBERT" cache status "${M[@]}" --cache "$small" --cache-size 6M 2>&1)
like "$out" "read copies: +[0-9]+ files, [0-9.]+ MiB" "hilbert cache status shows the read copies"
like "$out" "limit: +6\.0 MiB of read copies, all volumes together \(6M, command line\)" "… and the limit with its source"
like "$out" "volume [0-9a-f-]+ \(/hilbert\)" "… and the volume by its prefix"

# 8 processes at once read 24 MiB (3x the limit of 8M): sampled every 20 ms, the read copies and
# the copies being fetched never take more than the limit and one file (1 MiB) per process.
for i in $(seq 13 24); do head -c 1048576 /dev/urandom >"$HL_TMP/f$i"; done
hl sh -c "for i in \$(seq 13 24); do cp '$HL_TMP'/f\$i /hilbert/f\$i; done" || bail "write 12 more files"
eight="$HL_TMP/eight-cache"; mkdir -p "$eight"
"$HILBERT" run "${M[@]}" --cache "$eight" --cache-size 8M --cache-free 0 -- sh -c "
    for p in 1 2 3 4 5 6 7 8; do
        (for r in 1 2; do for i in \$(seq 1 24); do j=\$(( (i + p * 3) % 24 + 1 )); cat /hilbert/f\$j >/dev/null || echo fail; done; done) &
    done
    wait" >"$HL_TMP/eight.out" 2>&1 &
readers=$!
max=0
while kill -0 "$readers" 2>/dev/null; do
    k=$(du -sk "$eight"/*/files "$eight"/*/tmp 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
    [ "$k" -gt "$max" ] && max=$k
    sleep 0.02
done
wait "$readers"; is "$?/$(cat "$HL_TMP/eight.out")" "0/" "8 processes read 48 files each through a cache of 8M"
ok "the cache never held more than 8M and 1M per process ($max KiB <= 16384)" test "$max" -le 16384
ok "… and it was used (more than 4M at some point: $max KiB)" test "$max" -gt 4096

# ---------------------------------------------------------------- clear: read copies go, staging files stay
hl cat /hilbert/f1 >/dev/null
hl_raw "$HL_PY" -c 'import os; f = open("/hilbert/unfinished", "w"); f.write("kept"); f.flush(); os.kill(os.getpid(), 9)' 2>/dev/null
out=$("$HILBERT" cache clear "${M[@]}" --cache "$HL_CACHE" 2>&1)
like "$out" "deleted [1-9][0-9]* read copies" "hilbert cache clear deletes the read copies"
like "$out" "1 staging files kept" "… and keeps the staging file of the killed writer"
is "$(find "$HL_CACHE" -path '*/files/*' -type f | wc -l)" "0" "no read copy is left"
is "$(hl cat /hilbert/unfinished)" "kept" "the killed writer's bytes are still committed afterwards"
ok "a cleared file reads back (fetched again)" hl cmp /hilbert/f1 "$HL_TMP/f1"
out=$("$HILBERT" cache clear "${M[@]}" --cache "$HL_CACHE" --volume /nowhere 2>&1); rc=$?
isnt "$rc" 0 "--volume naming no volume is refused"
like "$out" "--volume /nowhere: no volume of the mount table is there" "… saying so"
# What a warm-up brought in is kept ahead of what the job reads besides (--keep-for; the copies'
# atime holds the time): f1-f4 warmed into an 8M cache, then f5-f24 (20 MiB) read through it.
for keep in 1h 0; do
    kc="$HL_TMP/keep-$keep"; mkdir -p "$kc"
    K=("${M[@]}" --cache "$kc" --cache-size 8M --cache-free 0)
    "$HILBERT" warmup "${K[@]}" --keep-for "$keep" /hilbert/f1 /hilbert/f2 /hilbert/f3 /hilbert/f4 >/dev/null 2>&1
    "$HILBERT" run "${K[@]}" -- sh -c 'for i in $(seq 5 24); do cat /hilbert/f$i >/dev/null; done'
    kept[${keep%h}]=$("$HILBERT" warmup "${K[@]}" --check /hilbert/f1 /hilbert/f2 /hilbert/f3 /hilbert/f4 2>&1 | sed -n 's/^check: \([0-9]*\) of 4 .*/\1/p')
done
is "${kept[1]}" "4" "files warmed with --keep-for 1h outlast 20 MiB read through an 8M cache"
ok "… which, warmed with --keep-for 0, evicts them (${kept[0]} of 4 left)" test "${kept[0]}" -lt 4
out=$("$HILBERT" warmup "${M[@]}" --cache "$HL_CACHE" --keep-for 3x /hilbert/f1 2>&1); rc=$?
like "$rc:$out" "^[1-9].*--keep-for '3x': not a duration" "a bad --keep-for is refused"
end=$(( $(date +%s) + 5000 )); jc="$HL_TMP/job-cache"; mkdir -p "$jc"
SLURM_JOB_ID=1 SLURM_JOB_END_TIME=$end "$HILBERT" warmup "${M[@]}" --cache "$jc" /hilbert/f2 >/dev/null 2>&1
is "$(stat -c %X "$(find "$jc" -path '*/files/*' -type f | head -1)")" "$end" "inside a Slurm job, warmed files are kept until the job's end time"
# The limit holds for the cache directory, whatever the volumes: two volumes read 5 MiB each
# through one 6M cache.
out=$(hl_format vol2 2>&1) || bail "a second volume" "$out"
V2="/v2=$(hl_meta_url vol2)"
"$HILBERT" run --mount "$V2" --cache "$HL_TMP/w2" -- sh -c "for i in 1 2 3 4 5; do cp '$HL_TMP'/f\$i /v2/g\$i; done" || bail "write the second volume"
two="$HL_TMP/two-volumes"; mkdir -p "$two"
"$HILBERT" run "${M[@]}" --mount "$V2" --cache "$two" --cache-size 6M --cache-free 0 -- \
    sh -c 'for i in 1 2 3 4 5; do cat /hilbert/f$i /v2/g$i >/dev/null; done' || fail "read both volumes"
used=$(du -sk "$two"/*/files | awk '{ s += $1 } END { print s }')
ok "two volumes' read copies together stay within the cache's 6M and one file ($used KiB <= 7168)" test "$used" -le 7168
done_testing

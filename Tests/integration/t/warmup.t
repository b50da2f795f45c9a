#!/usr/bin/env bash
# hilbert warmup (issue 14): fetches a tree into the node's cache in parallel, so that reading
# it afterwards needs no object store (the store is cut off and every file still reads back);
# --check reports how much is cached, --evict drops it; files cached already are not fetched
# again; several warmers at once on one node fetch each file once; --file-list; clear errors.
. "$(dirname "$0")/../lib.sh"
hl_setup
W() { "$HILBERT" warmup --mount "/hilbert=$HL_URL" --cache "$HL_CACHE" "$@"; }

src="$HL_TMP/src"; mkdir -p "$src/small" "$src/big/deeper"
for i in $(seq 1 300); do head -c 4096 /dev/urandom >"$src/small/s$i"; done
for i in 1 2 3; do head -c 9000000 /dev/urandom >"$src/big/deeper/b$i"; done
echo tiny >"$src/tiny"; : >"$src/empty"; ln -s tiny "$src/link"
hl cp -a "$src" /hilbert/tree || bail "copy the tree in"
manifest() { (cd "$1" && find . -type f -exec sha256sum {} + | sort -k2); }
manifest "$src" >"$HL_TMP/want"
rm -rf "$HL_CACHE"; mkdir -p "$HL_CACHE"    # the writer's copies: a fresh node

out=$(W --check /hilbert/tree 2>&1); rc=$?
is "$rc" 0 "warmup --check of a cold tree succeeds"
like "$out" "^check: 0 of 304 files cached .*; 304 not cached .*; 2 without data to fetch" "… and says nothing is cached"
out=$(W /hilbert/tree 2>"$HL_TMP/progress"); rc=$?
is "$rc" 0 "warmup of the tree succeeds"
like "$out" "^warmup: 304 files \(2[0-9]\.[0-9] MiB\) fetched into $HL_CACHE, 0 files \(0 B\) were cached already, 2 without data to fetch" "… fetching all 304 files (the empty file and the symlink have none)"
like "$out" "4 directories, 0 errors in [0-9.]+ m?s \([0-9]+ files/s" "… with the directories, errors and rates"
out=$(W --check /hilbert/tree 2>&1)
like "$out" "^check: 304 of 304 files cached .*, 100%\); 0 not cached" "--check then says all of it is cached"
like "$("$HILBERT" du --mount "/hilbert=$HL_URL" --cache "$HL_CACHE" /hilbert/tree 2>&1)" "node cache: +305 files, .* \(100%\)" "hilbert du: all of the tree is in the node cache"
packs=$(find "$HL_CACHE"/*/files/packs -type f 2>/dev/null | wc -l | tr -d ' ')
copies=$(find "$HL_CACHE"/*/files -type f ! -path '*/packs/*' | wc -l | tr -d ' ')
ok "the small files' packs are kept whole ($packs pack copies), not a read copy per file ($copies read copies)" test "$packs" -ge 1 -a "$copies" -lt 10

# The store cut off: every file reads from the cache; a file that was not warmed cannot be read.
mv "$HL_OBJECTS" "$HL_OBJECTS.away"
at_cleanup "[ -d '$HL_OBJECTS.away' ] && mv '$HL_OBJECTS.away' '$HL_OBJECTS'"
nw=$("$HILBERT" run --mount "/hilbert=$HL_URL" --cache "$HL_TMP/other-node" -- cat /hilbert/tree/big/deeper/b1 2>&1 >/dev/null | head -1)
like "$nw" "Input/output error|cannot read|No such file" "with the store cut off, another node's cold read fails (the store is really gone)"
hl sh -c "cd /hilbert/tree && find . -type f -exec sha256sum {} + | sort -k2" >"$HL_TMP/got" 2>"$HL_TMP/got.err"
is "$(diff "$HL_TMP/want" "$HL_TMP/got" && echo same)" "same" "with the store cut off, every warmed file reads back from the cache"
[ -s "$HL_TMP/got.err" ] && diag "$(head -5 "$HL_TMP/got.err")"
mv "$HL_OBJECTS.away" "$HL_OBJECTS"

out=$(W /hilbert/tree 2>&1)
like "$out" "^warmup: 0 files \(0 B\) fetched .*, 304 files \(.*\) were cached already" "a second warmup fetches nothing"
out=$("$HILBERT" run --mount "/hilbert=$HL_URL" --cache "$HL_CACHE" -- "$HILBERT" warmup --check /hilbert/tree 2>&1)
like "$out" "^check: 304 of 304 files cached" "inside hilbert run, warmup sees the job's mounts and cache"
out=$(W --evict /hilbert/tree/small 2>&1)
like "$out" "^evict: 300 files \(1\.2 MiB\) dropped" "--evict drops a subtree's files"
out=$(W --check /hilbert/tree 2>&1)
like "$out" "^check: 4 of 304 files cached" "… and --check sees it"

# Four warmers at once on a fresh node: each file fetched once in all.
fresh="$HL_TMP/array-node"; mkdir -p "$fresh"
for t in 1 2 3 4; do
    "$HILBERT" warmup --mount "/hilbert=$HL_URL" --cache "$fresh" --threads 4 /hilbert/tree >"$HL_TMP/task$t" 2>&1 &
done
wait
total=$(cat "$HL_TMP"/task[1-4] | sed -n 's/^warmup: \([0-9]*\) files .* fetched.*/\1/p' | paste -sd+ | bc)
is "$total" "304" "four warmers at once fetch each of the 304 files once in all"
is "$(cat "$HL_TMP"/task[1-4] | grep -c ', 0 errors')" "4" "… and none failed"
ok "… and the files read back" hlc "$fresh" cmp /hilbert/tree/big/deeper/b2 "$src/big/deeper/b2"

# --file-list, and what is refused
printf '# inputs\n/hilbert/tree/big\n\n/hilbert/tree/tiny\n' >"$HL_TMP/list"
out=$("$HILBERT" warmup --mount "/hilbert=$HL_URL" --cache "$HL_TMP/list-node" --file-list "$HL_TMP/list" 2>&1)
like "$out" "^warmup: 4 files .* fetched.*, 0 without data to fetch" "--file-list: a directory and a file, comments and blank lines skipped"
out=$(W /hilbert/tree/nothing 2>&1); rc=$?
isnt "$rc" 0 "a path that does not exist fails"
like "$out" "warmup: /hilbert/tree/nothing: no such file or directory" "… saying which"
out=$(W /etc/passwd 2>&1); rc=$?
isnt "$rc" 0 "a path under no prefix is refused"
like "$out" "under no mounted prefix" "… saying so"
out=$(W --check --evict /hilbert/tree 2>&1); rc=$?
isnt "$rc" 0 "--check with --evict is refused"
done_testing

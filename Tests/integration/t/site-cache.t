#!/usr/bin/env bash
# The site cache tier (issue 14, part 3): a directory shared by a site's nodes between their
# node caches and the object store. Two nodes (two node caches, two mount namespaces) and one
# site directory: node 1 warms the site (`warmup --site`), the store is cut off, node 2 reads
# everything. Reads fill it on their own (read-through); concurrent fillers fetch each object
# once; a damaged copy is dropped and read again from the store; it keeps its size limit;
# the settings resolve like the node cache's (command line, environment, config file).
. "$(dirname "$0")/../lib.sh"
hl_setup
SITE="$HL_TMP/site"
M=(--mount "/hilbert=$HL_URL")
W() { "$HILBERT" warmup "${M[@]}" "$@"; }

src="$HL_TMP/src"; mkdir -p "$src/small" "$src/mid" "$src/big"
for i in $(seq 1 200); do head -c 4096 /dev/urandom >"$src/small/s$i"; done
for i in $(seq 1 30); do head -c 40000 /dev/urandom >"$src/mid/m$i"; done
for i in 1 2; do head -c 9000000 /dev/urandom >"$src/big/b$i"; done
hl cp -a "$src" /hilbert/tree || bail "copy the tree in"
manifest() { (cd "$1" && find . -type f -exec sha256sum {} + | sort -k2); }
manifest "$src" >"$HL_TMP/want"
objects() { find "$SITE" -path '*/objects/*' -type f | wc -l | tr -d ' '; }

# Settings
is "$("$HILBERT" config "${M[@]}" --get site-cache --get site-cache-size | tr '\n' '|')" "||" "unset: no site cache"
out=$(W --site /hilbert/tree 2>&1); rc=$?
isnt "$rc" 0 "warmup --site without a site cache is refused"
like "$out" "no site cache is set \(--site-cache DIR, HILBERT_SITE_CACHE" "… saying how to set one"
out=$(W --site-cache relative/dir --site /hilbert/tree 2>&1); rc=$?
isnt "$rc" 0 "a relative --site-cache is refused"
like "$out" "must be an absolute path" "… saying why"
out=$(W --site-cache "$SITE" --site-cache-size 12 --site /hilbert/tree 2>&1); rc=$?
isnt "$rc" 0 "--site-cache-size 12 is refused"
like "$out" "--site-cache-size '12' is not a size of at least 1M" "… naming the option"
printf 'site-cache = %s\nsite-cache-size = 2G\n' "$SITE" >"$HL_TMP/conf"
is "$(HILBERT_CONFIG="$HL_TMP/conf" "$HILBERT" config "${M[@]}" --get site-cache --get site-cache-size | tr '\n' '|')" "$SITE|2G|" "the config file sets both"
like "$(HILBERT_CONFIG="$HL_TMP/conf" "$HILBERT" config "${M[@]}")" "site-cache  $SITE   \(config file" "hilbert config says where it came from"
is "$(HILBERT_SITE_CACHE=/else HILBERT_CONFIG="$HL_TMP/conf" "$HILBERT" config "${M[@]}" --site-cache "$SITE/x" --get site-cache)" "$SITE/x" "the command line wins over the environment and the file"
mkdir -m 777 "$HL_TMP/open-site"
out=$(HILBERT_SITE_CACHE="$HL_TMP/open-site" hl cat /hilbert/tree/mid/m1 2>&1 >/dev/null); rc=$?
like "$out" "site cache .*open-site is writable by (its group|other users).*use a directory of your own" "a site directory others can write to is refused, with the reason"

# Node 1 warms the site; its own node cache stays cold.
out=$(W --cache "$HL_TMP/node1" --site-cache "$SITE" --site /hilbert/tree 2>"$HL_TMP/progress"); rc=$?
is "$rc" 0 "warmup --site succeeds"
like "$out" "^warmup: [0-9]+ files \(.*\) fetched into $SITE, .* 0 errors" "… fetching into the site cache"
like "$(W --cache "$HL_TMP/node1" --site-cache "$SITE" --site --check /hilbert/tree 2>&1)" "^check: 232 of 232 files cached in $SITE \(.*100%\)" "--site --check: all of it is in the site cache"
like "$(W --cache "$HL_TMP/node1" --check /hilbert/tree 2>&1)" "^check: 0 of 232 files cached in $HL_TMP/node1" "… and none of it in node 1's cache"
n=$(objects)
ok "the site holds the tree's objects ($n)" test "$n" -ge 6
is "$(find "$SITE" -path '*/objects/*' -type f ! -perm 600 | wc -l | tr -d ' ')" "0" "… each readable by the user alone"

# The store cut off: node 2 reads everything from the site; a node without it cannot.
mv "$HL_OBJECTS" "$HL_OBJECTS.away"
at_cleanup "[ -d '$HL_OBJECTS.away' ] && mv '$HL_OBJECTS.away' '$HL_OBJECTS'"
out=$(hlnode "$HL_TMP/node3" cat /hilbert/tree/big/b1 2>&1 >/dev/null | head -1)
like "$out" "Input/output error|is missing" "with the store cut off, a node without the site cache cannot read (the store is really gone)"
HILBERT_SITE_CACHE="$SITE" hlnode "$HL_TMP/node2" sh -c "cd /hilbert/tree && find . -type f -exec sha256sum {} + | sort -k2" >"$HL_TMP/got" 2>"$HL_TMP/got.err"
is "$(diff "$HL_TMP/want" "$HL_TMP/got" && echo same)" "same" "with the store cut off, node 2 reads every file from the site cache"
[ -s "$HL_TMP/got.err" ] && diag "$(head -5 "$HL_TMP/got.err")"
mv "$HL_OBJECTS.away" "$HL_OBJECTS"
like "$(W --cache "$HL_TMP/node1" --site-cache "$SITE" --site /hilbert/tree 2>&1)" "^warmup: 0 files \(0 B\) fetched .*, 232 files .* were cached already" "a second warmup --site fetches nothing"

out=$("$HILBERT" du "${M[@]}" --cache "$HL_TMP/node1" --site-cache "$SITE" /hilbert/tree 2>&1)
like "$out" "site cache: +232 files, .* \(100%\) in $SITE" "hilbert du: all of the tree is in the site cache"
like "$out" "node cache: +0 files" "… and none of it in node 1's cache"
like "$out" "storage classes: +none \(the store" "… and a directory store has no storage classes"

# Read-through: a plain read on one node fills the site for the next.
"$HILBERT" cache clear "${M[@]}" --site --site-cache "$SITE" >"$HL_TMP/clear" 2>&1
like "$(cat "$HL_TMP/clear")" "^cleared $n objects, .* from $SITE" "cache clear --site empties it"
is "$(objects)" "0" "… really"
HILBERT_SITE_CACHE="$SITE" hlnode "$HL_TMP/node4" cat /hilbert/tree/big/b2 /hilbert/tree/mid/m7 >/dev/null || fail "read through the site"
like "$(W --site-cache "$SITE" --site --check /hilbert/tree/big/b2 /hilbert/tree/mid/m7 2>&1)" "^check: 2 of 2 files cached" "a node's read put the files' objects into the site cache"
mv "$HL_OBJECTS" "$HL_OBJECTS.away"
ok "… and another node reads them with the store cut off" env HILBERT_SITE_CACHE="$SITE" unshare --mount "$HILBERT" run "${M[@]}" --cache "$HL_TMP/node5" -- cmp /hilbert/tree/big/b2 "$src/big/b2"
mv "$HL_OBJECTS.away" "$HL_OBJECTS"

# Four nodes warm the site at once: every object fetched from the store once in all.
"$HILBERT" cache clear "${M[@]}" --site --site-cache "$SITE" >/dev/null
for t in 1 2 3 4; do
    HILBERT_DEBUG=1 unshare --mount "$HILBERT" warmup "${M[@]}" --cache "$HL_TMP/array$t" --site-cache "$SITE" --site --threads 4 /hilbert/tree >"$HL_TMP/task$t" 2>&1 &
done
wait
fetches=$(cat "$HL_TMP"/task[1-4] | grep -o 'site cache: fetched chunks/[0-9/]*' | sort)
is "$(printf '%s\n' "$fetches" | uniq -d | wc -l | tr -d ' ')" "0" "four warmers at once: no object fetched twice"
is "$(printf '%s\n' "$fetches" | grep -c .)" "$n" "… and each of the $n objects fetched once"
is "$(grep -h '^warmup:' "$HL_TMP"/task[1-4] | grep -c ', 0 errors')" "4" "… and none failed"
is "$(ls "$SITE"/*/tmp | wc -l | tr -d ' ')" "0" "… no claim left behind"

# A damaged copy (a lost write on the site's file system) is dropped and read from the store.
victim=$(find "$SITE" -path '*/objects/*' -type f -size +1000k | head -1)
printf 'XXXXXXXX' | dd of="$victim" bs=1 seek=5000 conv=notrunc 2>/dev/null
HILBERT_SITE_CACHE="$SITE" hlnode "$HL_TMP/node6" sh -c "cd /hilbert/tree && find . -type f -exec sha256sum {} + | sort -k2" >"$HL_TMP/got2" 2>"$HL_TMP/err2"
is "$(diff "$HL_TMP/want" "$HL_TMP/got2" && echo same)" "same" "a damaged site copy: every file still reads back right"
like "$(cat "$HL_TMP/err2")" "site cache: a damaged copy of chunks/[0-9/]* was dropped .*checksum.*; reading the store" "… with one line saying what happened"
HILBERT_SITE_CACHE="$SITE" hlnode "$HL_TMP/node7" sh -c "cd /hilbert/tree && find . -type f -exec sha256sum {} + | sort -k2" >"$HL_TMP/got3" 2>"$HL_TMP/err3"
is "$(diff "$HL_TMP/want" "$HL_TMP/got3" && echo same):$(wc -c <"$HL_TMP/err3" | tr -d ' ')" "same:0" "… and the copy was made again (the next node reads it silently)"

# Its own size limit: a 4M site cache under a 18 MiB tree.
"$HILBERT" cache clear "${M[@]}" --site --site-cache "$SITE" >/dev/null
W --site-cache "$SITE" --site-cache-size 4M --site /hilbert/tree >/dev/null 2>&1
used=$(du -sk "$SITE" --exclude=tmp | cut -f1)
ok "the site cache keeps near its 4M limit (${used} KiB used)" test "$used" -le 6144
out=$(HILBERT_SITE_CACHE="$SITE" HILBERT_SITE_CACHE_SIZE=4M "$HILBERT" status "${M[@]}" --cache "$HL_CACHE" 2>&1)
like "$out" "site cache:    $SITE \(environment\): [0-9]+ objects, .* of 4\.0 MiB \(environment\)" "hilbert status shows the site cache, its use and limit"
out=$(HILBERT_SITE_CACHE="$SITE" "$HILBERT" cache status "${M[@]}" --cache "$HL_CACHE" 2>&1)
like "$out" "Site cache $SITE \(environment\)" "hilbert cache status shows the site cache"
like "$out" "limit: .*, all volumes together \(embedded default: min\(100 GiB, 10% of its file system\)\)" "… with its limit and where it came from"
like "$("$HILBERT" status "${M[@]}" --cache "$HL_CACHE" 2>&1)" "site cache:    none" "without one, hilbert status says so"

# hilbert run passes it on to the job (and hilbert warmup inside the job sees it).
out=$("$HILBERT" run "${M[@]}" --cache "$HL_CACHE" --site-cache "$SITE" -- sh -c 'echo "$HILBERT_SITE_CACHE"; "$0" warmup --site --check /hilbert/tree/mid' "$HILBERT" 2>&1)
like "$out" "^$SITE" "hilbert run --site-cache exports HILBERT_SITE_CACHE to the job"
like "$out" "check: [0-9]+ of 30 files cached in $SITE" "… and warmup --site inside the job uses it"
done_testing

#!/usr/bin/env bash
# Where staging files live (docs/FORMAT.md, "Cache directory"): a process makes its staging
# files in staging/<pid % 256 as 2 hex digits>/, and the staging row records the path below
# staging/, shard included, so that processes creating files at once do not all create and
# rename in one directory. Checked here: the row names the file where it is, a killed writer's
# bytes are found there and committed, and a staging file with a row as the release before
# shards wrote them (the file in staging/ itself, the row naming it without a directory) is
# still found and committed by this release.
. "$(dirname "$0")/../lib.sh"
hl_setup
need python3 sqlite3:sqlite3

# killed_writer FILE TEXT — under the shim alone (no hilbert run, which would commit after it):
# append TEXT to FILE and die by SIGKILL before closing; prints the writer's pid
killed_writer() {
    hl_raw python3 -c '
import os, sys
print(os.getpid(), flush=True)
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
os.write(fd, sys.argv[2].encode())
os.kill(os.getpid(), 9)' "$1" "$2"
}
staged() { sqlite3 "$HL_META" "SELECT s.file FROM hl_staging s JOIN hl_edge e ON e.ino = s.ino WHERE e.name = CAST('$1' AS BLOB)"; }
uuid=$(sqlite3 "$HL_META" "SELECT value FROM hl_setting WHERE name = 'uuid'")
[ -n "$uuid" ] || bail "the volume's uuid"
S=$HL_CACHE/$uuid/staging

# this release: the row names staging/<shard>/<name>, the shard being the writer's pid
hl sh -c 'printf "base\n" > /hilbert/new' || bail "prepare"
pid=$(killed_writer /hilbert/new $'killed\n')
name=$(staged new)
like "$name" '^[0-9a-f]{2}/[0-9]+\.[0-9]+\.[0-9a-f]{16}\.[0-9a-f]{16}$' "the staging row names <shard>/<ino>.<pid>.<random>.<cache id>"
is "${name%%/*}" "$(printf '%02x' $((pid % 256)))" "… the shard is the writer's pid % 256 in hex"
is "$(cut -d. -f2 <<< "${name#*/}")" "$pid" "… and the name holds the writer's pid"
is "$(cat "$S/$name" 2>&1)" $'base\nkilled' "the file is at staging/ + the row's name, with the killed writer's bytes"
is "$(hl cat /hilbert/new)" $'base\nkilled' "the next process commits them from there"
is "$(sqlite3 "$HL_META" 'SELECT count(*) FROM hl_staging')" "0" "… and the row is gone"
ok "… and so is the staging file" test ! -e "$S/$name"

# the release before: the file in staging/ itself, the row naming it without a shard
hl sh -c 'printf "old-base\n" > /hilbert/old' || bail "prepare"
killed_writer /hilbert/old $'old-killed\n' > /dev/null
name=$(staged old)
[ -f "$S/$name" ] || bail "a staging file at staging/$name"
flat=${name#*/}
mv "$S/$name" "$S/$flat" || bail "move the staging file into staging/ itself"
[ -f "$S/$name.map" ] && { mv "$S/$name.map" "$S/$flat.map" || bail "move its map"; }
sqlite3 "$HL_META" "UPDATE hl_staging SET file = '$flat' WHERE file = '$name'" || bail "name it as the release before did"
is "$(staged old)" "$flat" "a staging row as the release before wrote it (no shard)"
is "$(hl cat /hilbert/old)" $'old-base\nold-killed' "its staging file in staging/ itself is found and committed"
is "$(sqlite3 "$HL_META" 'SELECT count(*) FROM hl_staging')" "0" "… the row is gone"
ok "… and so is the staging file" test ! -e "$S/$flat"
is "$(hl sh -c 'printf "more\n" >> /hilbert/old; cat /hilbert/old')" $'old-base\nold-killed\nmore' "… and the file takes new writes"

# closed files leave no staging file behind (the shard directories stay)
hl python3 -c '
import os
for i in range(20):
    with open("/hilbert/p%d" % i, "w") as f: f.write("x")' || bail "creates"
is "$(find "$S" ! -type d | wc -l)" 0 "closed files leave nothing in staging"
done_testing

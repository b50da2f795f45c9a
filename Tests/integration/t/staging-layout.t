#!/usr/bin/env bash
# Where staging files live (docs/FORMAT.md, "Cache directory", "Staging names"): the staging
# row records the file's name below staging/, and every process finds the file at staging/ +
# that name. Checked here: a killed writer's row names <ino>.<pid>.<random>.<cache id> at
# staging/ + the name, with its bytes, which the next process commits from there; and a row
# whose name has a directory in it (staging/<shard>/<name>, a layout measured and not adopted)
# is found and committed the same way, so such a layout could come later without stranding
# this release's processes.
. "$(dirname "$0")/../lib.sh"
hl_setup
need python3 sqlite3:sqlite3
hl_on_pg && bail "a SQLite volume" "staging-layout.t reads and edits hl_staging with sqlite3; it has no @pg variant"

# killed_writer FILE TEXT — under the shim alone (no hilbert run, which would commit after it):
# append TEXT to FILE and die by SIGKILL before closing; prints the writer's pid
killed_writer() {
    hl_raw python3 -c '
import os, sys
print(os.getpid(), flush=True)
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
os.write(fd, sys.argv[2].encode())
os.kill(os.getpid(), 9)' "$1" "$2" 2> /dev/null
}
staged() { sqlite3 "$HL_META" "SELECT s.file FROM hl_staging s JOIN hl_edge e ON e.ino = s.ino WHERE e.name = CAST('$1' AS BLOB)"; }
rows() { sqlite3 "$HL_META" 'SELECT count(*) FROM hl_staging'; }
uuid=$(sqlite3 "$HL_META" "SELECT value FROM hl_setting WHERE name = 'uuid'")
[ -n "$uuid" ] || bail "the volume's uuid"
S=$HL_CACHE/$uuid/staging

hl sh -c 'printf "base\n" > /hilbert/plain' || bail "prepare"
pid=$(killed_writer /hilbert/plain $'killed\n')
name=$(staged plain)
like "$name" '^[0-9]+\.[0-9]+\.[0-9a-f]{16}\.[0-9a-f]{16}$' "the staging row names <ino>.<pid>.<random>.<cache id>"
is "$(cut -d. -f2 <<< "$name")" "$pid" "… with the writer's pid"
is "$(cut -d. -f4 <<< "$name")" "$(cat "$HL_CACHE/$uuid/cache-id")" "… and this cache directory's id"
is "$(cat "$S/$name" 2>&1)" $'base\nkilled' "the file is at staging/ + the row's name, with the killed writer's bytes"
is "$(hl cat /hilbert/plain)" $'base\nkilled' "the next process commits them from there"
is "$(rows)" "0" "… the row is gone"
ok "… and so is the staging file" test ! -e "$S/$name"

hl sh -c 'printf "base\n" > /hilbert/sharded' || bail "prepare"
killed_writer /hilbert/sharded $'killed\n' > /dev/null
name=$(staged sharded)
[ -f "$S/$name" ] || bail "a staging file at staging/$name"
mkdir -m 700 "$S/0a" && mv "$S/$name" "$S/0a/$name" || bail "move the staging file into staging/0a/"
sqlite3 "$HL_META" "UPDATE hl_staging SET file = '0a/$name' WHERE file = '$name'" || bail "rename the row"
is "$(hl cat /hilbert/sharded)" $'base\nkilled' "a row naming staging/0a/<name> is found and committed"
is "$(rows)" "0" "… the row is gone"
ok "… and so is the staging file" test ! -e "$S/0a/$name"
is "$(hl sh -c 'printf "more\n" >> /hilbert/sharded; cat /hilbert/sharded')" $'base\nkilled\nmore' "… and the file takes new writes"

hl python3 -c '
for i in range(20):
    with open("/hilbert/p%d" % i, "w") as f: f.write("x")' || bail "creates"
is "$(find "$S" ! -type d | wc -l)" 0 "closed files leave no staging file behind"
done_testing

#!/usr/bin/env bash
# The cache directory holds a user's staging files and read copies, so it must be theirs
# alone (SEMANTICS.md, "The cache directory"): a cache directory another user made first, a
# symbolic link, one writable by others, or one under a world-writable parent without the
# sticky bit is refused with one clear line, and nothing is written there. The victim is the
# unprivileged test user; "another user" is root.
. "$(dirname "$0")/../lib.sh"
hl_setup
[ "$(id -u)" = 0 ] || { skip "needs root for a second user"; done_testing; }
hl_user || bail "a non-root test user"

chmod 755 "$HL_TMP"
chown -R "$HL_UID:$HL_GID" "$HL_VOL"
UH="$HL_TMP/uhome"; mkdir -p "$UH"; chown "$HL_UID:$HL_GID" "$UH"
# C: where the caches are, the user's own directory (755)
C="$HL_TMP/c"; mkdir -p "$C"; chown "$HL_UID:$HL_GID" "$C"
# urun CACHE CMD… — CMD as the test user under hilbert run with that cache
urun() { local c=$1; shift; as_user env HOME="$UH" USER="$HL_USER" "$HILBERT" run --mount "/hilbert=$HL_URL" --cache "$c" -- "$@"; }
hl sh -c 'echo committed > /hilbert/f && chmod 666 /hilbert/f && mkdir -m 1777 /hilbert/pub' || bail "prepare a file"

# the user's own cache works
out=$(urun "$C/own" sh -c 'cat /hilbert/f && echo mine > /hilbert/pub/u && cat /hilbert/pub/u' 2>&1)
is "$out" $'committed\nmine' "a cache the user creates: reads and writes work"
is "$(stat -c '%U %a' "$C/own")" "$HL_USER 700" "… it is created 0700 and the user's"

# another user made it first, open to all
mkdir -m 777 "$C/taken"
out=$(urun "$C/taken" cat /hilbert/f 2>&1); rc=$?
isnt "$rc" 0 "a cache directory another user created: the program fails"
like "$out" "^hilbert: .*cache directory $C/taken belongs to uid 0, not to you \(uid $HL_UID\)" "… with one line saying whose it is"
unlike "$out" "committed" "… and reads nothing through it"
is "$(find "$C/taken" -mindepth 1 | wc -l)" "0" "… and nothing is written into it"

# a symbolic link to a directory of another user's
mkdir -m 777 "$C/theirs"; ln -s "$C/theirs" "$C/link"
out=$(urun "$C/link" cat /hilbert/f 2>&1)
like "$out" "^hilbert: .*cache directory $C/link is a symbolic link" "a cache directory that is a symbolic link is refused"
is "$(find "$C/theirs" -mindepth 1 | wc -l)" "0" "… and nothing is written where it points"

# the user's own, but writable by others
mkdir -m 700 "$C/open"; chown "$HL_UID:$HL_GID" "$C/open"; chmod 777 "$C/open"
out=$(urun "$C/open" cat /hilbert/f 2>&1)
like "$out" "^hilbert: .*$C/open is writable by its group \(mode 0777\)" "the user's own cache writable by others is refused"

# under a world-writable parent without the sticky bit (anyone may rename it away)
mkdir -m 777 "$C/pub"; chmod 777 "$C/pub"
out=$(urun "$C/pub/c" cat /hilbert/f 2>&1)
like "$out" "its parent directory $C/pub is writable by other users and not sticky" "a cache under a world-writable parent without the sticky bit is refused"
chmod 1777 "$C/pub"
is "$(urun "$C/pub/c2" cat /hilbert/f 2>&1)" "committed" "… with the sticky bit (like /tmp) it is accepted"

# hilbert doctor says it
out=$(as_user env HOME="$UH" "$HILBERT" doctor --mount "/hilbert=$HL_URL" --cache "$C/taken" 2>&1)
like "$out" "FAIL cache directory $C/taken: .*belongs to uid 0" "hilbert doctor fails a cache directory another user made"
out=$(as_user env HOME="$UH" "$HILBERT" doctor --mount "/hilbert=$HL_URL" --cache "$C/own" 2>&1)
like "$out" "OK +cache directory $C/own: writable and yours alone" "… and passes the user's own"

# the launcher's default, ${TMPDIR}/hilbert-$USER, made first by another user
make -s -C "$HL_REPO" install-files PREFIX="$HL_TMP/inst" OUT="$HILBERT_HOME" >"$HL_TMP/install.log" 2>&1 ||
    bail "make install-files" "$(tail -5 "$HL_TMP/install.log")"
mkdir -p "$HL_TMP/nodetmp" && chmod 1777 "$HL_TMP/nodetmp" && mkdir -m 777 "$HL_TMP/nodetmp/hilbert-$HL_USER"
out=$(as_user env HOME="$UH" USER="$HL_USER" TMPDIR="$HL_TMP/nodetmp" HILBERT_MOUNTS="/hilbert=$HL_URL" \
    "$HL_TMP/inst/bin/hilbert-launch" cat /hilbert/f 2>&1)
like "$out" "^hilbert: .*hilbert-$HL_USER belongs to uid 0" "hilbert-launch: the default cache made first by another user is refused"

# removed while a program runs (a job's TMPDIR wiped) and made again by another user before
# the program needs a new subdirectory (locks/ for flock): refused, the lock fails
mkdir -p "$C/wiped"; chown "$HL_UID:$HL_GID" "$C/wiped"
go="$UH/go"
as_user env HOME="$UH" "$HILBERT" run --mount "/hilbert=$HL_URL" --cache "$C/wiped/c" -- python3 -c '
import fcntl, os, sys, time
f = open("/hilbert/f")                     # the cache exists now
open(sys.argv[1] + ".ready", "w").close()
while not os.path.exists(sys.argv[1]): time.sleep(0.05)
try:
    fcntl.flock(f, fcntl.LOCK_EX); print("locked")
except OSError as e:
    print("flock:", e.strerror)' "$go" >"$C/wiped.out" 2>&1 &
pid=$!
for _ in $(seq 200); do [ -e "$go.ready" ] && break; sleep 0.05; done
rm -rf "$C/wiped/c" && mkdir -m 777 "$C/wiped/c" && touch "$go"
wait $pid
out=$(cat "$C/wiped.out")
like "$out" "flock: Permission denied" "a cache remade by another user while a program runs: the program's next lock fails"
like "$out" "^hilbert: .*$C/wiped/c belongs to uid 0" "… with one line saying why"
is "$(find "$C/wiped/c" -mindepth 1 | wc -l)" "0" "… and nothing is written into it"
done_testing

#!/usr/bin/env bash
# A user without access to a volume is told "permission denied" and which file or directory,
# never "no volume here, create one" or "corrupt"; hilbert status exits non-zero for a volume
# it cannot open.
. "$(dirname "$0")/../lib.sh"
hl_setup
[ "$(id -u)" = 0 ] || { skip "needs root for a second user"; done_testing; }
hl_user || bail "a non-root test user"
chmod 755 "$HL_TMP"
UC="$HL_TMP/ucache"; mkdir -p "$UC"; chown "$HL_UID:$HL_GID" "$UC"
ustatus() { as_user env HOME="$UC" "$HILBERT" status --mount "/hilbert=$HL_URL" --cache "$UC" 2>&1; echo "rc=$?"; }

chmod 700 "$HL_VOL"
out=$(ustatus)
like "$out" "permission denied: $HL_META cannot be reached: the directory $HL_VOL is not searchable by you \(uid $HL_UID\)" "a volume directory the user cannot enter: permission denied, naming the directory"
unlike "$out" "create it with|no volume" "… not 'no volume here'"
like "$out" "rc=1$" "… and hilbert status exits 1"

chmod 755 "$HL_VOL"
out=$(ustatus)
like "$out" "permission denied: $HL_META is not readable by you" "a metadata database the user cannot read: permission denied, naming the file"
chmod 644 "$HL_META"
out=$(ustatus)
like "$out" "permission denied: $HL_META is read-only for you" "a read-only metadata database: permission denied, naming the file"
unlike "$out" "corrupt" "… not 'corrupt'"
out=$(as_user env HOME="$UC" "$HILBERT" run --mount "/hilbert=$HL_URL" --cache "$UC" -- cat /hilbert/x 2>&1)
like "$out" "cat: /hilbert/x: Permission denied" "a program under the prefix gets EACCES"
out=$("$HILBERT" status --mount "/hilbert=sqlite://$HL_TMP/none/meta.db" 2>&1); rc=$?
like "$out" "no volume at sqlite://$HL_TMP/none/meta.db" "a volume that does not exist is still 'no volume'"
is "$rc" 1 "… and hilbert status exits 1"
done_testing

#!/usr/bin/env bash
# A full directory store (SEMANTICS.md, "Object storage"): close fails with ENOSPC and one
# line, the bytes stay staged, other nodes read the last committed version, and once there is
# room `hilbert flush` commits them.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || { skip "needs root to mount a tmpfs"; done_testing; }
need python3
mkdir -p "$HL_TMP/store"
mount -t tmpfs -o size=64m,mode=700 tmpfs "$HL_TMP/store" || bail "mount a 64 MiB tmpfs"
at_cleanup "umount -l '$HL_TMP/store'"
hl_setup --bucket "$HL_TMP/store/objects" --compress none
hl sh -c 'echo old > /hilbert/f' || bail "prepare"
head -c 56M /dev/zero >"$HL_TMP/store/filler"   # the store's file system keeps 8 MiB free
head -c 12M /dev/urandom >"$HL_TMP/big"
out=$(hl python3 -c '
import errno, shutil, sys
try:
    with open("/hilbert/f", "wb") as f: shutil.copyfileobj(open(sys.argv[1], "rb"), f)
    print("closed")
except OSError as e:
    print("error", errno.errorcode[e.errno])' "$HL_TMP/big" 2>&1)
like "$out" "error ENOSPC" "close with a full store fails with ENOSPC"
like "$out" "^hilbert: " "… and one line saying why"
is "$(hlnode "$HL_TMP/other" cat /hilbert/f)" "old" "other nodes read the last committed version"
rm -f "$HL_TMP/store/filler"
out=$("$HILBERT" flush --mount "/hilbert=$HL_URL" --cache "$HL_CACHE" 2>&1)
ok "with room again, hilbert flush commits the staged bytes" hlnode "$HL_TMP/other2" cmp /hilbert/f "$HL_TMP/big"
done_testing

#!/usr/bin/env bash
# The metadata database's file system full (SEMANTICS.md, "Data integrity"): creating fails
# with ENOSPC, but removing still works (the space reserve beside meta.db is released), so
# space can be freed through Hilbert.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || { skip "needs root to mount a tmpfs"; done_testing; }
M="$HL_TMP/meta"; mkdir -p "$M"
mount -t tmpfs -o size=6m,mode=700 tmpfs "$M" || bail "mount a 6 MiB tmpfs"
at_cleanup "umount -l '$M'"
out=$("$HILBERT" format "sqlite://$M/meta.db" --bucket "$HL_TMP/objects" 2>&1) || bail "format" "$out"
is "$(stat -c '%a %s' "$M/meta.db-reserve")" "600 2097152" "a 2 MiB space reserve beside meta.db"
U="sqlite://$M/meta.db"
head -c 1048576 /dev/zero >"$M/ballast"    # freed below, to leave room for the reserve once
run() { "$HILBERT" run --mount "/hilbert=$U" --cache "$HL_TMP/cache" -- "$@"; }
out=$(run sh -c 'i=0; while head -c 8000 /dev/urandom > /hilbert/f$i 2>/dev/null; do i=$((i+1)); [ $i -gt 2000 ] && break; done; echo "created $i"; touch /hilbert/more' 2>&1)
like "$out" "created [0-9]+" "small files fill the metadata's file system"
like "$out" "touch: cannot touch '/hilbert/more': No space left on device" "then creating fails with ENOSPC"
out=$(run sh -c 'rm /hilbert/f1 && rm /hilbert/f2 && rm -r /hilbert/f1? && echo removed' 2>&1)
like "$out" "removed$" "removing still works with the file system full"
like "$out" "hilbert: metadata $M/meta.db: its file system is full; the space reserve was released" "… the reserve was released, and it says so"
is "$(run sh -c 'ls /hilbert/f1 /hilbert/f2 /hilbert/f10 2>&1 | grep -c "No such file"')" "3" "… and the files are gone"
# Room for the reserve once but not several times over: a process opening the volume (here
# hilbert run, which opens it beside its job) leaves the released reserve empty. When it
# refilled it, a removal running at the same moment failed with ENOSPC again.
rm -f "$M/ballast"
run true
is "$(stat -c %s "$M/meta.db-reserve")" "0" "the released reserve is not put back while the file system has room for it only once"
done_testing

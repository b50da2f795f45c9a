# C-level checks (tests/src/hlcheck.c).
. "$(dirname "$0")/../lib.sh"
mkdir -p "$BK/t"; echo hello > "$BK/t/f"; ln -s f "$BK/t/l"; cp /lib/x86_64-linux-gnu/libdl.so.2 "$BK/t/lib.so"
for c in efault unmapped-later errno no-engine fdident dirfd hostdir cwd walks misc private-fd forks clone-vm fork-locks; do
    is "$(hl "$BUILD/t/hlcheck" $c /hilbert/t 2>&1)" "PASS $c" "hlcheck $c"
done
done_testing

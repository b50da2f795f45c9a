# Versioned symbols: every version libc.so.6 has of a wrapped function is exported, and old
# versions keep their ABI (tests/src/hlsymver.c binds to them with .symver).
. "$(dirname "$0")/../lib.sh"
mkdir -p "$BK/t/sub"; echo hello > "$BK/t/f"; echo g > "$BK/t/sub/g"; ln -s nowhere "$BK/t/dang"
printf 'exit 7\n' > "$BK/t/nosh"; chmod +x "$BK/t/nosh"; cp /lib/x86_64-linux-gnu/libdl.so.2 "$BK/t/lib.so"
for so in libhilbert-preload.so libhilbert-preload-compat.so; do
    ok "$so exports every libc version of each multi-version wrapper" ./tests/check-versions.sh "$BUILD/$so"
done
for c in realpath glob nftw spawn dlopen; do
    is "$(hl "$BUILD/t/hlsymver" $c /hilbert/t "$BK/t" 2>&1)" "PASS $c" "old symbol versions: $c"
done
done_testing

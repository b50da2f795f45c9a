#!/usr/bin/env bash
# make install is relocatable; hilbert shell; libraries stored in the prefix load with dlopen.
. "$(dirname "$0")/../lib.sh"
hl_setup

# a relocatable install: install, move the tree, run from the new place
repo=$(cd "$(dirname "$0")/../../.." && pwd)
inst="$HL_TMP/inst"
mkdir -p "$inst/a/bin" "$inst/a/lib"
cp "$HILBERT_HOME/bin/hilbert" "$inst/a/bin/"
cp "$HILBERT_HOME/lib/libhilbert-preload.so" "$HILBERT_HOME/lib/libHilbertEngine.so" "$inst/a/lib/"
mv "$inst/a" "$inst/moved"
out=$(env -u HILBERT_LIB -u HILBERT_ENGINE "$inst/moved/bin/hilbert" run --mount "/hilbert=$HL_URL" --cache "$HL_CACHE" -- \
    bash -c 'echo relocated > /hilbert/reloc; cat /hilbert/reloc; grep -o "[^ ]*libHilbertEngine.so" /proc/$$/maps | sort -u' 2>&1)
is "$out" $'relocated\n'"$inst/moved/lib/libHilbertEngine.so" "a moved install finds its shim and loads the engine beside it"
make -s -C "$repo" install PREFIX="$HL_TMP/prefix" >"$HL_TMP/install.log" 2>&1
ok "make install PREFIX=DIR installs bin/ and lib/" test -x "$HL_TMP/prefix/bin/hilbert" -a -f "$HL_TMP/prefix/lib/libhilbert-preload.so" -a -f "$HL_TMP/prefix/lib/libHilbertEngine.so"
ok "the installed hilbert runs a job" bash -c "'$HL_TMP/prefix/bin/hilbert' run --mount '/hilbert=$HL_URL' --cache '$HL_CACHE' -- test -f /hilbert/reloc"

# two shim builds: the default takes dlsym from libc (glibc >= 2.34), compat also needs libdl
[ -f "$HILBERT_HOME/lib/libhilbert-preload-compat.so" ] || bail "the compat shim is built ($HILBERT_HOME/lib/libhilbert-preload-compat.so)"
is "$(readelf -d "$HILBERT_HOME/lib/libhilbert-preload.so" | grep -c 'NEEDED.*libdl')" "0" "the default shim does not load libdl.so.2"
out=$(env LD_PRELOAD="$HILBERT_HOME/lib/libhilbert-preload-compat.so" HILBERT_MOUNTS="/hilbert=$HL_URL" HILBERT_CACHE="$HL_CACHE" \
    bash -c 'echo compat > /hilbert/compat; cat /hilbert/compat' 2>&1)
is "$out" "compat" "the compat shim (libdl.so.2, any glibc >= 2.17) serves the prefix too"

# hilbert shell: an interactive shell with the prefix visible and a marked prompt
out=$(printf 'echo inside > /hilbert/from-shell\ncat /hilbert/from-shell\nexit 3\n' | \
    SHELL=/bin/bash "$HILBERT" shell --mount "/hilbert=$HL_URL" --cache "$HL_CACHE" 2>"$HL_TMP/shell.err"; echo "rc=$?")
like "$out" $'^inside\nHilbert shell: /hilbert mounted\\. Type \'exit\' to leave\\.\nrc=3$' "hilbert shell runs commands with the prefix visible, says what is mounted, and returns the shell's status"
like "$(cat "$HL_TMP/shell.err")" "\\(hilbert\\)" "the shell's prompt is marked (hilbert)"

# dlopen of a shared library stored in the prefix
need gcc:gcc
printf 'int answer(void) { return 42; }\n' > "$HL_TMP/ans.c"
ok "build a shared library into the prefix" hl gcc -shared -fPIC -o /hilbert/libans.so "$HL_TMP/ans.c"
is "$(hl_py 'import ctypes; print(ctypes.CDLL("/hilbert/libans.so").answer())' 2>&1)" "42" "dlopen of a library stored in the prefix"
done_testing

#!/usr/bin/env bash
# LD_LIBRARY_PATH entries under the prefix: the dynamic loader searches them with its own
# system calls, so at exec the shim replaces each such entry with a host mirror of the
# directory's shared objects in the node's cache (SEMANTICS.md, "dynamic loader"). A tiny
# shared library (with SONAME symlinks) and a program are built with gcc under /hilbert and
# run with LD_LIBRARY_PATH=/hilbert/…; the library is then rebuilt with another result.
# timeout: 300
. "$(dirname "$0")/../lib.sh"
need gcc:gcc readelf:binutils
hl_setup

build_lib() { # build_lib FACTOR — libtimes.so.1.0 returning FACTOR*x, with its two links
    hlsh "set -e; mkdir -p /hilbert/ld/lib /hilbert/ld/src /hilbert/ld/bin
printf 'int times(int x) { return $1 * x; }\n' > /hilbert/ld/src/times.c
cd /hilbert/ld/lib && rm -f libtimes.so*
gcc -shared -fPIC -Wl,-soname,libtimes.so.1 -o libtimes.so.1.0 ../src/times.c
ln -s libtimes.so.1.0 libtimes.so.1 && ln -s libtimes.so.1 libtimes.so"
}
out=$(build_lib 2 2>&1); is "$?" "0" "gcc builds a shared library with SONAME links under the prefix"; [ -z "$out" ] || diag "$out"
out=$(hlsh 'set -e; cd /hilbert/ld
printf "#include <stdio.h>\nint times(int);\nint main(void) { printf(\"%%d\\\\n\", times(21)); return 0; }\n" > src/app.c
gcc -o bin/app src/app.c -Llib -ltimes && echo notes > lib/README && readelf -d bin/app | grep -c "NEEDED.*libtimes.so.1"' 2>&1)
is "$out" "1" "a program linked against it under the prefix (NEEDED libtimes.so.1)"

like "$(hl /hilbert/ld/bin/app 2>&1)" "libtimes.so.1: cannot open shared object file" \
    "without LD_LIBRARY_PATH the loader does not find it (RUNPATH/default search: not covered)"
is "$(hl env LD_LIBRARY_PATH=/hilbert/ld/lib /hilbert/ld/bin/app 2>&1)" "42" \
    "LD_LIBRARY_PATH=/hilbert/ld/lib: the program starts and uses the library"

# What the exec'd program sees: host entries kept in order, the prefix entry mirrored.
val=$(hl env LD_LIBRARY_PATH=/nonexistent/a:/hilbert/ld/lib::/usr/lib /usr/bin/printenv LD_LIBRARY_PATH 2>&1)
mirror=$(printf '%s' "$val" | cut -d: -f2)
like "$val" "^/nonexistent/a:$HL_CACHE/[^:]*/libdirs/[^:]*::/usr/lib\$" "order and host entries are kept; the prefix entry becomes a directory in the node's cache"
is "$(cd "$mirror" 2>&1 && ls | tr '\n' ' ')" "libtimes.so libtimes.so.1 libtimes.so.1.0 " "the mirror holds the shared objects only"
is "$(readlink "$mirror/libtimes.so.1"; readlink "$mirror/libtimes.so"; [ -L "$mirror/libtimes.so.1.0" ] || echo regular)" \
    $'libtimes.so.1.0\nlibtimes.so.1\nregular' "symlinks are recreated as symlinks, the library is a file"
is "$(hl env LD_LIBRARY_PATH=/hilbert/ld/lib printenv LD_LIBRARY_PATH 2>&1)" "$mirror" "an unchanged directory reuses its mirror"
is "$(hl env LD_LIBRARY_PATH=/usr/lib:/opt/x printenv LD_LIBRARY_PATH 2>&1)" "/usr/lib:/opt/x" "no prefix entry: the variable is left alone"
is "$(hl env -u LD_LIBRARY_PATH bash -c 'echo ${LD_LIBRARY_PATH-unset}' 2>&1)" "unset" "no variable: none is added"
is "$(hl env LD_LIBRARY_PATH=/hilbert/ld/lib/README:/hilbert/ld/none printenv LD_LIBRARY_PATH 2>&1)" \
    "/hilbert/ld/lib/README:/hilbert/ld/none" "entries that are no directory stay as they were, silently"
is "$(hl bash -c 'cd /hilbert/ld && LD_LIBRARY_PATH=lib bin/app' 2>&1)" "42" "a relative entry from a virtual cwd"
out=$(hl bash -c 'cp /hilbert/ld/bin/app "$0/app-host" && LD_LIBRARY_PATH=/hilbert/ld/lib "$0/app-host"' "$HL_TMP" 2>&1)
is "$out" "42" "a host program with a prefix LD_LIBRARY_PATH entry"
out=$(hl python3 -c 'import subprocess, os
e = dict(os.environ, LD_LIBRARY_PATH="/hilbert/ld/lib")
print(subprocess.run(["/hilbert/ld/bin/app"], env=e, capture_output=True, text=True).stdout.strip())
print(subprocess.run(["printenv", "LD_LIBRARY_PATH"], env=e, capture_output=True, text=True).stdout.strip() == '"'$mirror'"')' 2>&1)
is "$out" $'42\nTrue' "python subprocess (a vfork child before the engine is loaded)"

# A rebuilt library gives a new mirror.
out=$(build_lib 3 2>&1); [ -z "$out" ] || diag "$out"
is "$(hl env LD_LIBRARY_PATH=/hilbert/ld/lib /hilbert/ld/bin/app 2>&1)" "63" "after rebuilding the library the program uses the new one"
val=$(hl env LD_LIBRARY_PATH=/hilbert/ld/lib printenv LD_LIBRARY_PATH 2>&1)
isnt "$val" "$mirror" "the rebuilt directory has a mirror of its own"
is "$(LD_LIBRARY_PATH=$mirror "$HL_TMP/app-host")" "42" "the old mirror stays usable"
hlsh 'printf "int times(int x) { return 4 * x; }\n" > /hilbert/ld/src/times.c && gcc -shared -fPIC -Wl,-soname,libtimes.so.1 -o /hilbert/ld/lib/libtimes.so.1.0 /hilbert/ld/src/times.c'
is "$(hl env LD_LIBRARY_PATH=/hilbert/ld/lib /hilbert/ld/bin/app 2>&1)" "84" "a library rewritten in place (same name) is picked up too"

# Errors: a directory the user cannot list is left as it was, with one line; the exec still
# happens. (Last: the volume is handed to the user.)
if hl_user; then
    hlsh 'mkdir -p /hilbert/ld/closed && cp /hilbert/ld/lib/libtimes.so.1.0 /hilbert/ld/closed/ && chmod 711 /hilbert/ld/closed'
    chmod 755 "$HL_TMP"; chown -R "$HL_UID:$HL_GID" "$HL_VOL"
    mkdir -p "$HL_TMP/ucache" && chown "$HL_UID:$HL_GID" "$HL_TMP/ucache"
    out=$(as_user "$HILBERT" run --mount "/hilbert=$HL_URL" --cache "$HL_TMP/ucache" -- \
        env LD_LIBRARY_PATH=/hilbert/ld/closed:/hilbert/ld/lib /hilbert/ld/bin/app 2>&1)
    like "$out" "^hilbert: LD_LIBRARY_PATH entry /hilbert/ld/closed left as it is: .*Permission denied" "a directory the user cannot list: one hilbert: line"
    like "$out" $'\n84$' "…the other entry is mirrored and the program runs"
else
    skip "no test user for the permission case"
fi

done_testing

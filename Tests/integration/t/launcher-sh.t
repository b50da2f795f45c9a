#!/usr/bin/env bash
# timeout: 180
# bin/hilbert-launch (POSIX sh): called by absolute path from an empty environment (env -i:
# no PATH, no HOME), through a symlink, with another library already in LD_PRELOAD; the site
# config file beside the install; --help.
. "$(dirname "$0")/../lib.sh"
hl_setup
need gcc:gcc make:make dash:dash checkbashisms:devscripts

inst="$HL_TMP/inst"
# install-files: the install step of `make install`, from the build under test (no rebuild)
make -s -C "$HL_REPO" install-files PREFIX="$inst" OUT="$HILBERT_HOME" >"$HL_TMP/install.log" 2>&1 ||
    bail "make install PREFIX=$inst" "$(tail -5 "$HL_TMP/install.log")"
launch="$inst/bin/hilbert-launch"
shim="$inst/lib/libhilbert-preload.so"
ok "sh -n bin/hilbert-launch" sh -n "$launch"
ok "checkbashisms bin/hilbert-launch" checkbashisms "$launch"

out=$("$launch" --help 2>&1); rc=$?
is "$rc" 0 "hilbert-launch --help exits 0"
like "$out" "^usage: hilbert-launch CMD" "hilbert-launch --help prints usage"
out=$("$launch" 2>&1); rc=$?
is "$rc" 2 "hilbert-launch without a command exits 2"
like "$out" "^usage:" "... and prints usage on stderr"

printf 'int hl_other_preload_marker;\n' >"$HL_TMP/other.c"
gcc -shared -fPIC -o "$HL_TMP/libother.so" "$HL_TMP/other.c" || bail "build libother.so"
other="$HL_TMP/libother.so"

# env -i: no PATH, no HOME. The volume comes from HILBERT_MOUNTS; the cache defaults to
# $TMPDIR/hilbert-$USER.
mkdir -p "$HL_TMP/nodetmp"
out=$(env -i HILBERT_MOUNTS="/hilbert=$HL_URL" TMPDIR="$HL_TMP/nodetmp" USER=root LD_PRELOAD="$other" \
    "$launch" /bin/sh -c 'echo "LD_PRELOAD=$LD_PRELOAD"; echo "HILBERT_CACHE=$HILBERT_CACHE"
        echo launched > /hilbert/launched && cat /hilbert/launched
        grep -q libother.so /proc/self/maps && echo other-loaded' 2>&1)
val() { printf '%s\n' "$out" | sed -n "s/^$1=//p"; }
path=$(env -i HILBERT_MOUNTS="/hilbert=$HL_URL" HILBERT_CACHE="$HL_CACHE" "$launch" /usr/bin/env 2>&1 | sed -n 's/^PATH=//p')
like "$path" "^(.*:)?/usr/bin(:.*)?$" "env -i: hilbert-launch exports a default PATH to the command"
is "$(val LD_PRELOAD)" "$shim:$other" "the shim goes first in LD_PRELOAD, the other preload stays"
is "$(val HILBERT_CACHE)" "$HL_TMP/nodetmp/hilbert-root" "the cache defaults to \$TMPDIR/hilbert-\$USER"
like "$out" $'launched\nother-loaded' "a program under hilbert-launch writes and reads /hilbert with the other preload loaded"
is "$(hl cat /hilbert/launched 2>&1)" "launched" "the file is in the volume afterwards"

# the shim already in LD_PRELOAD (a module loaded as well): not twice
out=$(env -i HILBERT_MOUNTS="/hilbert=$HL_URL" HILBERT_CACHE="$HL_CACHE" LD_PRELOAD="$shim:$other" \
    "$launch" /bin/sh -c 'echo "$LD_PRELOAD"' 2>&1)
is "$out" "$shim:$other" "a shim already in LD_PRELOAD is not added twice"

# through symlinks (relative and absolute) from another directory, and with dash's PATH search
mkdir -p "$HL_TMP/links/sub"
ln -s "../../inst/bin/hilbert-launch" "$HL_TMP/links/sub/rel-launch"
ln -s "$HL_TMP/links/sub/rel-launch" "$HL_TMP/links/abs-launch"
out=$(env -i HILBERT_MOUNTS="/hilbert=$HL_URL" HILBERT_CACHE="$HL_CACHE" "$HL_TMP/links/abs-launch" /bin/cat /hilbert/launched 2>&1)
is "$out" "launched" "hilbert-launch called through a chain of symlinks finds its install"
out=$(env -i PATH="$HL_TMP/links/sub:/usr/bin:/bin" HILBERT_MOUNTS="/hilbert=$HL_URL" HILBERT_CACHE="$HL_CACHE" \
    dash -c 'rel-launch cat /hilbert/launched' 2>&1)
is "$out" "launched" "hilbert-launch found on PATH through a relative symlink"

# site config beside the install: used when the user has none; the user's own config wins
mkdir -p "$inst/etc/hilbert" "$HL_TMP/site"
hl_format site >/dev/null 2>&1 || bail "format the site volume"
printf 'mount = /hilbert=sqlite://%s\n' "$HL_TMP/site/meta.db" >"$inst/etc/hilbert/config"
out=$(env -i HOME="$HL_TMP/nohome" TMPDIR="$HL_TMP/nodetmp" USER=root "$launch" /bin/sh -c 'echo site > /hilbert/from-site; echo "HILBERT_MOUNTS=$HILBERT_MOUNTS"' 2>&1)
is "$out" "HILBERT_MOUNTS=/hilbert=sqlite://$HL_TMP/site/meta.db" "without a user config, hilbert-launch uses INSTALL/etc/hilbert/config"
is "$(hilbert_out=$("$HILBERT" run --mount "/hilbert=sqlite://$HL_TMP/site/meta.db" --cache "$HL_CACHE" -- cat /hilbert/from-site 2>&1); echo "$hilbert_out")" "site" "... and its volume received the file"
mkdir -p "$HL_TMP/userhome/.config/hilbert"
printf 'mount = /hilbert=%s\ncache = %s\n' "$HL_URL" "$HL_TMP/usercache" >"$HL_TMP/userhome/.config/hilbert/config"
out=$(env -i HOME="$HL_TMP/userhome" TMPDIR="$HL_TMP/nodetmp" USER=root "$launch" /bin/sh -c 'cat /hilbert/launched; echo "HILBERT_CONFIG=${HILBERT_CONFIG-unset} HILBERT_CACHE=$HILBERT_CACHE"' 2>&1)
is "$out" "launched"$'\n'"HILBERT_CONFIG=unset HILBERT_CACHE=$HL_TMP/usercache" "the user's config (volume and cache) wins over the site file and the TMPDIR default"

# errors: a missing command, a launcher copied away from its install
out=$(env -i HILBERT_MOUNTS="/hilbert=$HL_URL" HILBERT_CACHE="$HL_CACHE" "$launch" /nonexistent/prog 2>&1); rc=$?
is "$rc" 127 "a missing command exits 127"
cp "$launch" "$HL_TMP/lonely-launch"
out=$("$HL_TMP/lonely-launch" true 2>&1); rc=$?
is "$rc" 127 "a launcher without hilbert beside it exits 127"
like "$out" "hilbert-launch: .*/hilbert is missing" "... saying what is missing"
done_testing

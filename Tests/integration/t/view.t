#!/usr/bin/env bash
# timeout: 180
# One view: `hilbert config`, `hilbert run`/`env`, `hilbert-launch` and `hilbert-container` take
# the mounts and the cache from one precedence, per setting: command line > environment > the
# user's config file > the site file INSTALL/etc/hilbert/config > the embedded default; what one
# of them writes, the others read. (The modulefiles: t/modules.t; Slurm steps: t/slurm.t.)
. "$(dirname "$0")/../lib.sh"
hl_setup
need make:make bwrap:bubblewrap zstd:zstd

inst="$HL_TMP/inst"
make -s -C "$HL_REPO" install-files PREFIX="$inst" OUT="$HILBERT_HOME" >"$HL_TMP/install.log" 2>&1 ||
    bail "make install PREFIX=$inst" "$(tail -5 "$HL_TMP/install.log")"
H="$inst/bin/hilbert"
site="$inst/etc/hilbert/config" conf="$XDG_CONFIG_HOME/hilbert/config"
mkdir -p "${site%/*}" "${conf%/*}"
me=$(id -un)
get() { "$H" config "$@" --get mounts --get cache 2>&1 | tr '\n' ' '; }
for v in site user env; do hl_format $v >/dev/null 2>&1 || bail "format the $v volume"; done
SITE="sqlite://$HL_TMP/site/meta.db" USER_URL="sqlite://$HL_TMP/user/meta.db" ENV_URL="sqlite://$HL_TMP/env/meta.db"

# ------------------------------------------------------------------ precedence, per setting
is "$(get)" "/hilbert=sqlite://$XDG_DATA_HOME/hilbert/default/meta.db $TMPDIR/hilbert-$me " \
    "nothing set: the embedded default (the default volume, cache \$TMPDIR/hilbert-\$USER)"
like "$("$H" config)" "^cache .*\(embedded default\)" "hilbert config names the source of each setting"
printf '# the site default\nmount = /hilbert=%s\ncache = $TMPDIR/site-$USER   # one line for every user\n' "$SITE" >"$site"
is "$(get)" "/hilbert=$SITE $TMPDIR/site-$me " "a site file beats the embedded default (\$TMPDIR and \$USER expanded)"
like "$("$H" config)" "^mount +/hilbert = $SITE +\(site default $site\)" "... and hilbert config says it came from the site file"
printf 'mount = /hilbert=%s\n' "$USER_URL" >"$conf"
is "$(get)" "/hilbert=$USER_URL $TMPDIR/site-$me " "the user's file beats the site file for mounts; the cache it does not set still comes from the site"
printf 'cache = %s\n' "$HL_TMP/other-cache" >"$HL_TMP/other.conf"
is "$(HILBERT_CONFIG="$HL_TMP/other.conf" get)" "/hilbert=$SITE $HL_TMP/other-cache " "HILBERT_CONFIG names the user's file instead of ~/.config/hilbert/config"
is "$(HILBERT_MOUNTS="/hilbert=$ENV_URL" HILBERT_CACHE="$HL_TMP/env-cache" get)" "/hilbert=$ENV_URL $HL_TMP/env-cache " \
    "the environment beats both files"
is "$(HILBERT_MOUNTS="/hilbert=$ENV_URL" HILBERT_CACHE="$HL_TMP/env-cache" get --mount "/hilbert=$HL_URL" --cache "$HL_TMP/cl-cache")" \
    "/hilbert=$HL_URL $HL_TMP/cl-cache " "the command line beats the environment"

# ------------------------------------------------------------------ every entry point, one view
# (the user's file names the volume, the site file the cache)
rootfs="$HL_TMP/bookworm"
out=$(sh "$HL_REPO/Tests/cluster/container-rootfs.sh" unpack bookworm "$rootfs" 2>&1) || bail "unpack the bookworm root file system" "$out"
view="/hilbert=$USER_URL $TMPDIR/site-$me"
show='echo "$HILBERT_MOUNTS $HILBERT_CACHE"'
is "$("$H" run -- sh -c "echo run > /hilbert/run; $show" 2>&1)" "$view" "hilbert run: the resolved view, exported to the program"
is "$(eval "$("$H" env)"; sh -c "echo env > /hilbert/env; $show" 2>&1)" "$view" "hilbert env: the same view for a shell"
is "$("$inst/bin/hilbert-launch" sh -c "echo launch > /hilbert/launch; $show" 2>&1)" "$view" "hilbert-launch: the same view"
is "$("$inst/bin/hilbert-container" --engine bwrap --cleanenv "$rootfs" -- sh -c "echo container > /hilbert/container; $show" 2>&1)" \
    "$view" "hilbert-container --cleanenv: the same view inside the container"
is "$("$H" run -- ls /hilbert 2>&1 | tr '\n' ' ')" "container env launch run " "hilbert run reads what each of them wrote"
is "$("$inst/bin/hilbert-container" --engine bwrap "$rootfs" -- sh -c 'cat /hilbert/run /hilbert/launch' 2>&1 | tr '\n' ' ')" \
    "run launch " "... and so does the container"
is "$("$H" run --mount "/v=$USER_URL" -- ls /v 2>&1 | tr '\n' ' ')" "container env launch run " "all of it is in the user's volume"
ok "... staged through the site's cache" test -d "$TMPDIR/site-$me"

# ------------------------------------------------------------------ a file Hilbert cannot read stops everything
printf 'mount = /hilbert=%s\nchache = /tmp/x\n' "$USER_URL" >"$conf"
for entry in "$H run --" "$inst/bin/hilbert-launch" "$inst/bin/hilbert-container --engine bwrap $rootfs --"; do
    out=$($entry sh -c 'echo ran' 2>&1); rc=$?
    name=${entry%% *}; name=${name##*/}
    isnt "$rc" 0 "$name with a bad config file fails"
    like "$out" "$conf:2: unknown setting 'chache'" "... naming the file, the line and the reason"
    unlike "$out" "^ran$" "... and runs nothing"
done
printf 'cache = relative\n' >"$conf"
like "$("$H" config 2>&1)" "$conf:1: cache 'relative' must be an absolute path" "a relative cache directory is refused"
rm -f "$conf"
like "$(HILBERT_CACHE=relative "$H" config 2>&1)" "must be an absolute path, not 'relative' \(environment\)" "... from any source"
like "$(HILBERT_CONFIG="$HL_TMP/missing.conf" "$H" config 2>&1)" "HILBERT_CONFIG names $HL_TMP/missing.conf, which does not exist" \
    "a HILBERT_CONFIG naming no file is an error, not a silent default"
done_testing

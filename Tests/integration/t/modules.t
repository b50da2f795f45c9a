#!/usr/bin/env bash
# timeout: 240
# make install's modulefiles under Lmod (Lua and Tcl file) and Environment Modules: load sets
# PATH, LD_PRELOAD (after nothing, before other preloads), the node-local cache and the
# container variables; a real program reaches /hilbert; unload restores the environment
# exactly; help/whatis; the CLI-only module; a moved install still works.
. "$(dirname "$0")/../lib.sh"
. "$HL_REPO/Tests/cluster/modules.sh"
hl_setup
need gcc:gcc make:make

inst="$HL_TMP/inst"
# install-files: the install step of `make install`, from the build under test (no rebuild)
make -s -C "$HL_REPO" install-files PREFIX="$inst" OUT="$HILBERT_HOME" >"$HL_TMP/install.log" 2>&1 ||
    bail "make install PREFIX=$inst" "$(tail -5 "$HL_TMP/install.log")"
v=$(cat "$HL_REPO/VERSION")
for f in bin/hilbert-launch modulefiles/hilbert/$v modulefiles/hilbert/$v.lua modulefiles/hilbert/.version \
         modulefiles/hilbert-cli/$v modulefiles/hilbert-cli/$v.lua modulefiles/hilbert-cli/.version; do
    ok "make install places $f" test -s "$inst/$f"
done
is "$(head -1 "$inst/modulefiles/hilbert/$v")" "#%Module" "the Tcl modulefile starts with #%Module"
like "$(cat "$inst/modulefiles/hilbert/.version")" "ModulesVersion \"$v\"" ".version names $v as the default"
unlike "$(cat "$inst"/modulefiles/*/*)" "$inst" "no modulefile contains the install prefix"

# another preload already in LD_PRELOAD, as Darshan or XALT would be
printf 'int hl_other_preload_marker;\n' >"$HL_TMP/other.c"
gcc -shared -fPIC -o "$HL_TMP/libother.so" "$HL_TMP/other.c" || bail "build libother.so"
other="$HL_TMP/libother.so"

lmod_init=$(cluster_lmod_init 2>&1) || bail "Lmod available" "$lmod_init"
em_init=$(cluster_em_init 2>&1) || bail "Environment Modules available" "$em_init"
cp -a "$inst" "$HL_TMP/inst-tcl" && rm "$HL_TMP"/inst-tcl/modulefiles/*/*.lua

# sess INIT MODULEPATH-DIR [VAR=VALUE…] -- SNIPPET — SNIPPET in a clean bash with the module
# command from INIT and `module use DIR`; `snap` prints the environment minus the module
# systems' own bookkeeping, `run` a program that writes and reads /hilbert.
sess() {
    local init=$1 dir=$2; shift 2
    local vars=()
    while [ "$1" != -- ]; do vars+=("$1"); shift; done
    shift
    env -i HOME="$HOME" USER=root PATH=/usr/bin:/bin TMPDIR="$HL_TMP/nodetmp" \
        "${vars[@]}" bash -c '
        . "$1" >/dev/null 2>&1 || { echo "cannot source $1"; exit 1; }
        module use "$2"
        snap() { env | grep -Ev "^(_|SHLVL|__MODULES_LMINIT|__LMOD_REF_COUNT_[A-Za-z_]*|_ModuleTable[0-9_]*_|LOADEDMODULES|_LMFILES_)=" | sort; }
        '"$1" bash "$init" "$dir"
}
mkdir -p "$HL_TMP/nodetmp"
cache="$HL_TMP/nodetmp/hilbert-root"

for impl in lmod lmod-tcl em; do
    case $impl in
        lmod) init=$lmod_init; root=$inst ;;
        lmod-tcl) init=$lmod_init; root="$HL_TMP/inst-tcl" ;;
        em) init=$em_init; root=$inst ;;
    esac
    shim="$root/lib/libhilbert-preload.so"
    out=$(sess "$init" "$root/modulefiles" LD_PRELOAD="$other" APPTAINER_BINDPATH=/data HILBERT_MOUNTS="/hilbert=$HL_URL" -- '
        before=$(snap)
        module load hilbert || exit 1
        echo "hilbert=$(command -v hilbert)"
        echo "LD_PRELOAD=$LD_PRELOAD"
        echo "HILBERT_CACHE=$HILBERT_CACHE"
        echo "APPTAINER_BINDPATH=$APPTAINER_BINDPATH"
        echo "SINGULARITY_BINDPATH=$SINGULARITY_BINDPATH"
        echo "APPTAINERENV_LD_PRELOAD=$APPTAINERENV_LD_PRELOAD"
        echo "APPTAINERENV_HILBERT_CACHE=$APPTAINERENV_HILBERT_CACHE"
        echo "APPTAINERENV_HILBERT_MOUNTS=$APPTAINERENV_HILBERT_MOUNTS"
        echo "HILBERT_MOUNTS=$HILBERT_MOUNTS"
        echo "SINGULARITYENV_LD_PRELOAD=$SINGULARITYENV_LD_PRELOAD"
        bash -c "echo written-by-'"$impl"' > /hilbert/'"$impl"'; cat /hilbert/'"$impl"'; grep -q libother.so /proc/self/maps && echo other-loaded" 2>&1 | sed "s/^/prog: /"
        module unload hilbert
        after=$(snap)
        [ "$before" = "$after" ] && echo "restored=yes" || { echo "restored=no"; diff <(echo "$before") <(echo "$after"); }
    ' 2>&1)
    val() { printf '%s\n' "$out" | sed -n "s/^$1=//p"; }
    is "$(val hilbert)" "$root/bin/hilbert" "$impl: module load hilbert puts hilbert on PATH"
    is "$(val LD_PRELOAD)" "$shim:$other" "$impl: LD_PRELOAD holds the shim, then the library already there"
    is "$(val HILBERT_CACHE)" "$cache" "$impl: HILBERT_CACHE defaults to \$TMPDIR/hilbert-\$USER"
    is "$(val APPTAINER_BINDPATH)" "/data,$root,$cache,$HL_VOL" "$impl: APPTAINER_BINDPATH is a comma list: existing entry, install, cache, the volume's directory"
    is "$(val SINGULARITY_BINDPATH)" "$root,$cache,$HL_VOL" "$impl: SINGULARITY_BINDPATH binds install, cache and volume"
    is "$(val HILBERT_MOUNTS)" "/hilbert=$HL_URL" "$impl: a HILBERT_MOUNTS set before loading is kept"
    is "$(val APPTAINERENV_HILBERT_MOUNTS)" "/hilbert=$HL_URL" "$impl: containers keep the mounts under --cleanenv"
    is "$(val APPTAINERENV_LD_PRELOAD)" "$root/lib/libhilbert-preload-compat.so" "$impl: containers get the compat shim through APPTAINERENV_LD_PRELOAD"
    is "$(val SINGULARITYENV_LD_PRELOAD)" "$root/lib/libhilbert-preload-compat.so" "$impl: ... and SINGULARITYENV_LD_PRELOAD"
    is "$(val APPTAINERENV_HILBERT_CACHE)" "$cache" "$impl: containers keep the cache under --cleanenv"
    is "$(printf '%s\n' "$out" | sed -n 's/^prog: //p')" "written-by-$impl"$'\n'"other-loaded" \
        "$impl: a program under the module writes and reads /hilbert, the other preload still loaded"
    like "$out" "^restored=yes" "$impl: module unload hilbert restores the environment exactly"
    [[ $out == *restored=no* ]] && diag "$out"

    out=$(sess "$init" "$root/modulefiles" LD_PRELOAD="$other" HILBERT_CACHE="$HL_TMP/custom-cache" APPTAINER_BINDPATH=/data HILBERT_MOUNTS="/hilbert=$HL_URL" -- '
        before=$(snap)
        module load hilbert || exit 1
        echo "HILBERT_CACHE=$HILBERT_CACHE"; echo "APPTAINER_BINDPATH=$APPTAINER_BINDPATH"
        module unload hilbert
        [ "$before" = "$(snap)" ] && echo restored=yes || echo restored=no
    ' 2>&1)
    is "$(val HILBERT_CACHE)" "$HL_TMP/custom-cache" "$impl: a HILBERT_CACHE set before loading is kept"
    is "$(val APPTAINER_BINDPATH)" "/data,$root,$HL_TMP/custom-cache,$HL_VOL" "$impl: ... and bound into containers"
    like "$out" "^restored=yes" "$impl: unload keeps the user's HILBERT_CACHE and restores everything else"

    out=$(sess "$init" "$root/modulefiles" LD_PRELOAD="$other" APPTAINER_BINDPATH=/data HILBERT_MOUNTS="/hilbert=$HL_URL" -- '
        before=$(snap)
        module load hilbert-cli || exit 1
        echo "hilbert=$(command -v hilbert)"; echo "LD_PRELOAD=$LD_PRELOAD"
        echo "APPTAINER_BINDPATH=$APPTAINER_BINDPATH"; echo "HILBERT_CACHE=$HILBERT_CACHE"
        hilbert run -- bash -c "cat /hilbert/'"$impl"'" | sed "s/^/prog: /"
        module unload hilbert-cli
        [ "$before" = "$(snap)" ] && echo restored=yes || echo restored=no
    ' 2>&1)
    is "$(val hilbert)" "$root/bin/hilbert" "$impl: hilbert-cli puts hilbert on PATH"
    is "$(val LD_PRELOAD)" "$other" "$impl: hilbert-cli leaves LD_PRELOAD alone"
    is "$(val APPTAINER_BINDPATH)" "/data" "$impl: hilbert-cli sets no container bind paths"
    is "$(printf '%s\n' "$out" | sed -n 's/^prog: //p')" "written-by-$impl" "$impl: hilbert run under hilbert-cli reads the file"
    like "$out" "^restored=yes" "$impl: module unload hilbert-cli restores the environment exactly"

    # One view: with nothing set, the module resolves what `hilbert config` resolves, per
    # setting: the user's config file, then the site file beside the install, then the default.
    conf="$HOME/.config/hilbert/config"; site="$root/etc/hilbert/config"
    mkdir -p "${conf%/*}" "${site%/*}"
    printf '# the site default\nmount = /hilbert=%s\ncache = $TMPDIR/site-$USER  # per user\ncache-size = 3G\ncache-free = 4%%\nsite-cache = $TMPDIR/site-tier-$USER\nsite-cache-size = 2T\n' "$HL_URL" >"$site"
    out=$(sess "$init" "$root/modulefiles" -- '
        module load hilbert || exit 1
        echo "HILBERT_MOUNTS=$HILBERT_MOUNTS"; echo "HILBERT_CACHE=$HILBERT_CACHE"
        echo "HILBERT_CACHE_SIZE=$HILBERT_CACHE_SIZE"; echo "HILBERT_CACHE_FREE=$HILBERT_CACHE_FREE"
        echo "APPTAINERENV_HILBERT_CACHE_SIZE=$APPTAINERENV_HILBERT_CACHE_SIZE"
        echo "SITE=$HILBERT_SITE_CACHE,$HILBERT_SITE_CACHE_SIZE,$SINGULARITYENV_HILBERT_SITE_CACHE"
        bash -c "cat /hilbert/'"$impl"'" | sed "s/^/prog: /"
        hilbert config | sed -n "s/^mount .*(/source: (/p"
        module unload hilbert
        echo "unloaded=${HILBERT_CACHE_SIZE-unset}/${HILBERT_CACHE_FREE-unset}/${APPTAINERENV_HILBERT_CACHE_SIZE-unset}/${HILBERT_SITE_CACHE-unset}"' 2>&1)
    is "$(val HILBERT_CACHE_SIZE)/$(val HILBERT_CACHE_FREE)" "3G/4%" "$impl: the site file's cache-size and cache-free reach the environment"
    is "$(val APPTAINERENV_HILBERT_CACHE_SIZE)" "3G" "$impl: ... and containers under --cleanenv"
    is "$(val SITE)" "$HL_TMP/nodetmp/site-tier-root,2T,$HL_TMP/nodetmp/site-tier-root" "$impl: the site file's site-cache and site-cache-size reach the environment and containers"
    is "$(val unloaded)" "unset/unset/unset/unset" "$impl: ... and unload takes them away"
    is "$(val HILBERT_MOUNTS)" "/hilbert=$HL_URL" "$impl: nothing set: the module mounts the site file's volume"
    is "$(val HILBERT_CACHE)" "$HL_TMP/nodetmp/site-root" "$impl: ... and uses its cache (\$TMPDIR and \$USER expanded)"
    is "$(printf '%s\n' "$out" | sed -n 's/^prog: //p')" "written-by-$impl" "$impl: ... where a program reads the file written before"
    like "$out" "^source: \(environment\)" "$impl: ... and hilbert config under the module reports the exported environment"
    printf 'mount = /data=%s\n' "$HL_URL" >"$conf"
    out=$(sess "$init" "$root/modulefiles" -- '
        module load hilbert || exit 1
        echo "HILBERT_MOUNTS=$HILBERT_MOUNTS"; echo "HILBERT_CACHE=$HILBERT_CACHE"
        bash -c "cat /data/'"$impl"'" | sed "s/^/prog: /"' 2>&1)
    is "$(val HILBERT_MOUNTS)" "/data=$HL_URL" "$impl: the user's config file beats the site file for mounts"
    is "$(val HILBERT_CACHE)" "$HL_TMP/nodetmp/site-root" "$impl: ... while the cache, which it does not set, still comes from the site file"
    is "$(printf '%s\n' "$out" | sed -n 's/^prog: //p')" "written-by-$impl" "$impl: ... and a program sees the volume under /data"
    printf 'cache = relative/dir\n' >"$conf"
    out=$(sess "$init" "$root/modulefiles" -- 'module load hilbert && echo "loaded LD_PRELOAD=$LD_PRELOAD"' 2>&1)
    unlike "$out" "^loaded" "$impl: a config file Hilbert cannot read makes module load fail"
    # (module systems wrap long messages: compare with blanks squeezed)
    like "$(printf '%s' "$out" | tr -s ' \n' '  ')" "$conf:1: cache 'relative/dir' must be an absolute path" "$impl: ... naming the file, the line and the reason"
    rm -f "$conf" "$site"

    out=$(sess "$init" "$root/modulefiles" -- 'module whatis hilbert 2>&1; module help hilbert 2>&1' 2>&1)
    like "$out" "Hilbert $v: LD_PRELOAD file system" "$impl: module whatis hilbert"
    like "$out" "srun --export=NONE $root/bin/hilbert-launch" "$impl: module help hilbert explains --export=NONE with the install path"
done

# relocatable: move the install, load from the new place
mv "$inst" "$HL_TMP/moved"
out=$(sess "$lmod_init" "$HL_TMP/moved/modulefiles" HILBERT_MOUNTS="/hilbert=$HL_URL" -- 'module load hilbert && echo "LD_PRELOAD=$LD_PRELOAD" && bash -c "cat /hilbert/lmod"' 2>&1)
is "$out" "LD_PRELOAD=$HL_TMP/moved/lib/libhilbert-preload.so"$'\n'"written-by-lmod" "lmod: a moved install loads its own shim and works"
out=$(sess "$em_init" "$HL_TMP/moved/modulefiles" HILBERT_MOUNTS="/hilbert=$HL_URL" -- 'module load hilbert && echo "LD_PRELOAD=$LD_PRELOAD" && bash -c "cat /hilbert/em"' 2>&1)
is "$out" "LD_PRELOAD=$HL_TMP/moved/lib/libhilbert-preload.so"$'\n'"written-by-em" "em: a moved install loads its own shim and works"
done_testing

#%Module
# Hilbert modulefile (Tcl; read by Environment Modules and by Lmod). Installed by
# `make install` as modulefiles/hilbert/VERSION and modulefiles/hilbert-cli/VERSION:
# the same file, its behaviour chosen by the module's name. Relocatable: the install
# root is three directories above this file.

set modfile [file normalize $ModulesCurrentModulefile]
set root    [file dirname [file dirname [file dirname $modfile]]]
set version [file tail $modfile]
set name    [file tail [file dirname $modfile]]
set cli_only [string equal $name "hilbert-cli"]

# What programs see (mounts, cache) is resolved by `hilbert config`, the one resolver every
# entry point uses: command line > environment > ~/.config/hilbert/config > the site file
# INSTALL/etc/hilbert/config > embedded default. It runs once, at load; the values are kept in
# __HILBERT_VIEW_* so that unload removes exactly what load added.
if {[module-info mode load]} {
    if {[catch {exec $root/bin/hilbert config --get mounts --get cache --get binds --get cache-size --get cache-free --get site-cache --get site-cache-size 2>@1} out]} {
        error "hilbert: cannot resolve the volumes to mount: $out"
    }
    set lines [split $out "\n"]
    if {[llength $lines] != 7} { error "hilbert: unexpected output of 'hilbert config': $out" }
    lassign $lines mounts cache binds cache_size cache_free site_cache site_cache_size
} else {
    foreach {var key} {mounts MOUNTS cache CACHE binds BINDS cache_size CACHE_SIZE cache_free CACHE_FREE site_cache SITE_CACHE site_cache_size SITE_CACHE_SIZE} {
        set $var [expr {[info exists env(__HILBERT_VIEW_$key)] ? $env(__HILBERT_VIEW_$key) : ""}]
    }
}

proc ModulesHelp {} {
    global root version cli_only
    puts stderr "Hilbert $version: a file system for HPC jobs, seen by programs under a path prefix"
    puts stderr "(/hilbert by default) through an LD_PRELOAD library. Installed in $root."
    puts stderr ""
    puts stderr "  module load hilbert       PATH, LD_PRELOAD (prepended; other preloads are kept),"
    puts stderr "                            HILBERT_MOUNTS, HILBERT_CACHE, Apptainer/Singularity"
    puts stderr "                            bind paths, APPTAINERENV_*/SINGULARITYENV_* (--cleanenv)"
    puts stderr "  module load hilbert-cli   only the hilbert command: no LD_PRELOAD; use"
    puts stderr "                            'hilbert run -- CMD' to run a program with the prefix"
    puts stderr ""
    puts stderr "Volumes and cache: 'hilbert config' shows them and where each came from"
    puts stderr "(HILBERT_MOUNTS/HILBERT_CACHE set before loading, ~/.config/hilbert/config,"
    puts stderr "the site's etc/hilbert/config, else /hilbert on ~/.local/share/hilbert/default"
    puts stderr "with the cache in \${TMPDIR:-/tmp}/hilbert-\$USER); they are fixed at load."
    puts stderr "srun --export=NONE gives tasks no LD_PRELOAD and no PATH: run them as"
    puts stderr "  srun --export=NONE $root/bin/hilbert-launch CMD ARGS..."
    puts stderr "See 'hilbert --help' and 'hilbert-launch --help'."
}

if {$cli_only} {
    module-whatis "Hilbert $version command line only (no LD_PRELOAD): hilbert run, format, status"
    conflict hilbert
} else {
    module-whatis "Hilbert $version: LD_PRELOAD file system for HPC jobs (prefix /hilbert)"
    conflict hilbert-cli
}

# setenv NAME VALUE unless the user set NAME before loading. The marker variable tells
# unload whose value it is (pushenv would do, but Lmod does not undo it for Tcl files).
proc set_default {name value} {
    global env
    set mark __HILBERT_DEFAULT_$name
    if {![info exists env($name)] || [info exists env($mark)]} {
        setenv $name $value
        setenv $mark 1
    }
}

prepend-path PATH $root/bin
setenv __HILBERT_VIEW_MOUNTS $mounts
setenv __HILBERT_VIEW_CACHE $cache
setenv __HILBERT_VIEW_BINDS $binds
set_default HILBERT_MOUNTS $mounts
set_default HILBERT_CACHE $cache
# The cache's limits and the site tier only when a place sets them (else the engine's
# embedded default holds: no site tier).
set optional [list $cache_size CACHE_SIZE $cache_free CACHE_FREE $site_cache SITE_CACHE $site_cache_size SITE_CACHE_SIZE]
foreach {value key} $optional {
    if {$value ne ""} {
        setenv __HILBERT_VIEW_$key $value
        set_default HILBERT_$key $value
    }
}

if {!$cli_only} {
    prepend-path LD_PRELOAD $root/lib/libhilbert-preload.so
    # Containers: bind the install, the cache and the volumes' directories; --cleanenv keeps
    # only *ENV_ variables. The compat shim loads in any glibc >= 2.17, so it works in older
    # container images too.
    foreach prefix {APPTAINER SINGULARITY} {
        append-path -d , ${prefix}_BINDPATH $root
        foreach dir [split $binds ,] {
            if {$dir ne ""} { append-path -d , ${prefix}_BINDPATH $dir }
        }
        prepend-path ${prefix}ENV_LD_PRELOAD $root/lib/libhilbert-preload-compat.so
        set_default ${prefix}ENV_HILBERT_MOUNTS $mounts
        set_default ${prefix}ENV_HILBERT_CACHE $cache
        foreach {value key} $optional {
            if {$value ne ""} { set_default ${prefix}ENV_HILBERT_$key $value }
        }
    }
}

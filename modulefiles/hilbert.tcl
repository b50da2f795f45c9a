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

# Site default for the node-local cache; TMPDIR is per job and per node under most batch
# systems. A HILBERT_CACHE set before loading wins.
set cachebase [expr {[info exists env(TMPDIR)] && $env(TMPDIR) ne "" ? $env(TMPDIR) : "/tmp"}]
set user [expr {[info exists env(USER)] ? $env(USER) : [exec id -un]}]
if {[info exists env(HILBERT_CACHE)] && $env(HILBERT_CACHE) ne ""} {
    set cache $env(HILBERT_CACHE)
} else {
    set cache "$cachebase/hilbert-$user"
}

proc ModulesHelp {} {
    global root version cli_only
    puts stderr "Hilbert $version: a file system for HPC jobs, seen by programs under a path prefix"
    puts stderr "(/hilbert by default) through an LD_PRELOAD library. Installed in $root."
    puts stderr ""
    puts stderr "  module load hilbert       PATH, LD_PRELOAD (prepended; other preloads are kept),"
    puts stderr "                            HILBERT_CACHE, Apptainer/Singularity bind paths and"
    puts stderr "                            APPTAINERENV_*/SINGULARITYENV_* (for --cleanenv)"
    puts stderr "  module load hilbert-cli   only the hilbert command: no LD_PRELOAD; use"
    puts stderr "                            'hilbert run -- CMD' to run a program with the prefix"
    puts stderr ""
    puts stderr "HILBERT_CACHE defaults to \${TMPDIR:-/tmp}/hilbert-\$USER (node-local); set it"
    puts stderr "before loading to choose another directory. Volumes: HILBERT_MOUNTS=\"PREFIX=URL;...\"."
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
set_default HILBERT_CACHE $cache

if {!$cli_only} {
    prepend-path LD_PRELOAD $root/lib/libhilbert-preload.so
    # Containers: bind the install and the cache; --cleanenv keeps only *ENV_ variables. The
    # compat shim loads in any glibc >= 2.17, so it works in older container images too.
    foreach prefix {APPTAINER SINGULARITY} {
        append-path -d , ${prefix}_BINDPATH $root
        append-path -d , ${prefix}_BINDPATH $cache
        prepend-path ${prefix}ENV_LD_PRELOAD $root/lib/libhilbert-preload-compat.so
        set_default ${prefix}ENV_HILBERT_CACHE $cache
    }
}

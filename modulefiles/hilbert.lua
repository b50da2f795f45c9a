-- Hilbert modulefile for Lmod (preferred by Lmod over the Tcl file beside it). Installed by
-- `make install` as modulefiles/hilbert/VERSION.lua and modulefiles/hilbert-cli/VERSION.lua:
-- the same file, its behaviour chosen by the module's name. Relocatable: the install root
-- is three directories above this file.

local modfile  = myFileName()
local moddir   = modfile:match("^(.*)/[^/]*$")
local root     = moddir:match("^(.*)/[^/]*/[^/]*$")
local version  = modfile:match("([^/]*)%.lua$")
local name     = moddir:match("([^/]*)$")
local cli_only = (name == "hilbert-cli")

-- Site default for the node-local cache; TMPDIR is per job and per node under most batch
-- systems. A HILBERT_CACHE set before loading wins.
local tmp = os.getenv("TMPDIR")
if tmp == nil or tmp == "" then tmp = "/tmp" end
local user = os.getenv("USER")
if user == nil or user == "" then user = capture("id -un"):gsub("%s+$", "") end
local cache = os.getenv("HILBERT_CACHE")
if cache == nil or cache == "" then cache = tmp .. "/hilbert-" .. user end

help(([[
Hilbert %s: a file system for HPC jobs, seen by programs under a path prefix
(/hilbert by default) through an LD_PRELOAD library. Installed in %s.

  module load hilbert       PATH, LD_PRELOAD (prepended; other preloads are kept),
                            HILBERT_CACHE, Apptainer/Singularity bind paths and
                            APPTAINERENV_*/SINGULARITYENV_* (for --cleanenv)
  module load hilbert-cli   only the hilbert command: no LD_PRELOAD; use
                            'hilbert run -- CMD' to run a program with the prefix

HILBERT_CACHE defaults to ${TMPDIR:-/tmp}/hilbert-$USER (node-local); set it
before loading to choose another directory. Volumes: HILBERT_MOUNTS="PREFIX=URL;...".
srun --export=NONE gives tasks no LD_PRELOAD and no PATH: run them as
  srun --export=NONE %s/bin/hilbert-launch CMD ARGS...
See 'hilbert --help' and 'hilbert-launch --help'.
]]):format(version, root, root))

if cli_only then
    whatis("Hilbert " .. version .. " command line only (no LD_PRELOAD): hilbert run, format, status")
    conflict("hilbert")
else
    whatis("Hilbert " .. version .. ": LD_PRELOAD file system for HPC jobs (prefix /hilbert)")
    conflict("hilbert-cli")
end

-- setenv NAME VALUE unless the user set NAME before loading. The marker variable tells
-- unload whose value it is (the Tcl file does the same).
local function set_default(name, value)
    local mark = "__HILBERT_DEFAULT_" .. name
    if os.getenv(name) == nil or os.getenv(mark) ~= nil then
        setenv(name, value)
        setenv(mark, "1")
    end
end

prepend_path("PATH", root .. "/bin")
set_default("HILBERT_CACHE", cache)

if not cli_only then
    prepend_path("LD_PRELOAD", root .. "/lib/libhilbert-preload.so")
    -- Containers: bind the install and the cache; --cleanenv keeps only *ENV_ variables. The
    -- compat shim loads in any glibc >= 2.17, so it works in older container images too.
    for _, prefix in ipairs({"APPTAINER", "SINGULARITY"}) do
        append_path{prefix .. "_BINDPATH", root, delim = ","}
        append_path{prefix .. "_BINDPATH", cache, delim = ","}
        prepend_path(prefix .. "ENV_LD_PRELOAD", root .. "/lib/libhilbert-preload-compat.so")
        set_default(prefix .. "ENV_HILBERT_CACHE", cache)
    end
end

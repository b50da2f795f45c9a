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

-- What programs see (mounts, cache) is resolved by `hilbert config`, the one resolver every
-- entry point uses: command line > environment > ~/.config/hilbert/config > the site file
-- INSTALL/etc/hilbert/config > embedded default. It runs once, at load; the values are kept in
-- __HILBERT_VIEW_* so that unload removes exactly what load added.
local function resolve()
    if mode() ~= "load" then
        return os.getenv("__HILBERT_VIEW_MOUNTS") or "", os.getenv("__HILBERT_VIEW_CACHE") or "",
               os.getenv("__HILBERT_VIEW_BINDS") or "", os.getenv("__HILBERT_VIEW_CACHE_SIZE") or "",
               os.getenv("__HILBERT_VIEW_CACHE_FREE") or "", os.getenv("__HILBERT_VIEW_SITE_CACHE") or "",
               os.getenv("__HILBERT_VIEW_SITE_CACHE_SIZE") or ""
    end
    local q = "'" .. root:gsub("'", "'\\''") .. "/bin/hilbert'"
    local out = capture(q .. " config --get mounts --get cache --get binds --get cache-size --get cache-free --get site-cache --get site-cache-size 2>&1; echo \"hilbert-status=$?\"")
    local lines = {}
    for line in out:gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
    if #lines ~= 8 or lines[8] ~= "hilbert-status=0" then
        LmodError("hilbert: cannot resolve the volumes to mount: " .. out:gsub("\n?hilbert%-status=%d+\n$", ""))
    end
    return lines[1], lines[2], lines[3], lines[4], lines[5], lines[6], lines[7]
end
local mounts, cache, binds, cache_size, cache_free, site_cache, site_cache_size = resolve()
-- The cache's limits and the site tier only when a place sets them (else the engine's
-- embedded default holds: no site tier).
local limits = {{"CACHE_SIZE", cache_size}, {"CACHE_FREE", cache_free}, {"SITE_CACHE", site_cache},
                {"SITE_CACHE_SIZE", site_cache_size}}

help(([[
Hilbert %s: a file system for HPC jobs, seen by programs under a path prefix
(/hilbert by default) through an LD_PRELOAD library. Installed in %s.

  module load hilbert       PATH, LD_PRELOAD (prepended; other preloads are kept),
                            HILBERT_MOUNTS, HILBERT_CACHE, Apptainer/Singularity
                            bind paths, APPTAINERENV_*/SINGULARITYENV_* (--cleanenv)
  module load hilbert-cli   only the hilbert command: no LD_PRELOAD; use
                            'hilbert run -- CMD' to run a program with the prefix

Volumes and cache: 'hilbert config' shows them and where each came from
(HILBERT_MOUNTS/HILBERT_CACHE set before loading, ~/.config/hilbert/config,
the site's etc/hilbert/config, else /hilbert on ~/.local/share/hilbert/default
with the cache in ${TMPDIR:-/tmp}/hilbert-$USER); they are fixed at load.
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
setenv("__HILBERT_VIEW_MOUNTS", mounts)
setenv("__HILBERT_VIEW_CACHE", cache)
setenv("__HILBERT_VIEW_BINDS", binds)
set_default("HILBERT_MOUNTS", mounts)
set_default("HILBERT_CACHE", cache)
for _, l in ipairs(limits) do
    if l[2] ~= "" then
        setenv("__HILBERT_VIEW_" .. l[1], l[2])
        set_default("HILBERT_" .. l[1], l[2])
    end
end

if not cli_only then
    prepend_path("LD_PRELOAD", root .. "/lib/libhilbert-preload.so")
    -- Containers: bind the install, the cache and the volumes' directories; --cleanenv keeps
    -- only *ENV_ variables. The compat shim loads in any glibc >= 2.17, so it works in older
    -- container images too.
    for _, prefix in ipairs({"APPTAINER", "SINGULARITY"}) do
        append_path{prefix .. "_BINDPATH", root, delim = ","}
        for dir in binds:gmatch("[^,]+") do
            append_path{prefix .. "_BINDPATH", dir, delim = ","}
        end
        prepend_path(prefix .. "ENV_LD_PRELOAD", root .. "/lib/libhilbert-preload-compat.so")
        set_default(prefix .. "ENV_HILBERT_MOUNTS", mounts)
        set_default(prefix .. "ENV_HILBERT_CACHE", cache)
        for _, l in ipairs(limits) do
            if l[2] ~= "" then set_default(prefix .. "ENV_HILBERT_" .. l[1], l[2]) end
        end
    end
end

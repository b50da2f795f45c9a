#!/usr/bin/env bash
# timeout: 420
# Containers: hilbert-container with bubblewrap following Apptainer's rules (bookworm and an old
# glibc, bullseye 2.31), podman --rootfs with runc, and `hilbert doctor`. Root file systems come
# from Tests/cluster/container-rootfs.sh (built once by make test-deps with debootstrap, cached
# as tar.zst). Needs root (a non-root test user, podman).
. "$(dirname "$0")/../lib.sh"
hl_setup

if [ "$(id -u)" != 0 ]; then skip "containers.t needs root (a test user, podman)"; done_testing; fi
rootfs_sh="$HL_REPO/Tests/cluster/container-rootfs.sh"
need bwrap:bubblewrap podman:podman runc:runc zstd:zstd
for s in bookworm bullseye; do
    out=$(sh "$rootfs_sh" unpack $s "$HL_TMP/$s" 2>&1) || bail "unpack the $s root file system" "$out"
done
CONT="$HILBERT_HOME/bin/hilbert-container"
EMU="$HILBERT_HOME/bin/hilbert-apptainer-bwrap"
[ -x "$CONT" ] && [ -x "$EMU" ] || bail "hilbert-container and hilbert-apptainer-bwrap in $HILBERT_HOME/bin (make build)"
hl_user || bail "a non-root test user"

# everything the unprivileged user touches lives in $HL_TMP
chmod 755 "$HL_TMP"
UH="$HL_TMP/uhome" UV="$HL_TMP/uvol" UC="$HL_TMP/ucache"
mkdir -p "$UH" "$UV" "$UC" && chown "$HL_UID:$HL_GID" "$UH" "$UV" "$UC"
URL="sqlite://$UV/meta.db"
U() { as_user env HOME="$UH" USER="$HL_USER" LOGNAME="$HL_USER" HILBERT_MOUNTS="/hilbert=$URL" HILBERT_CACHE="$UC" "$@"; }
out=$(U "$HILBERT" format "$URL" --bucket "$UV/objects" 2>&1) || bail "format a volume as $HL_USER" "$out"
inside() { local r=$1; shift; U "$CONT" --engine bwrap "$HL_TMP/$r" -- "$@"; }
# lines joined with ~ (lib.sh's `like` hands a pattern with a newline to grep, which reads
# each line of it as a separate alternative)
flat() { printf '%s' "$1" | tr '\n' '~'; }

like "$(flat "$("$CONT" --help)")" 'Usage: hilbert-container.*~Examples:~.*--engine bwrap' "hilbert-container --help explains usage with examples"

# ---------------------------------------------------------------- bookworm (glibc 2.36)
out=$(inside bookworm sh -c 'mkdir -p /hilbert/c && echo from-bookworm > /hilbert/c/in.txt && cut -d. -f1 /etc/debian_version' 2>&1)
is "$out" "12" "bookworm container: writes under /hilbert (and really runs in the image)"
is "$(U "$HILBERT" run -- cat /hilbert/c/in.txt 2>&1)" "from-bookworm" "data written inside the container is read outside with hilbert run"
U "$HILBERT" run -- sh -c 'echo from-host > /hilbert/c/out.txt'
is "$(inside bookworm cat /hilbert/c/out.txt 2>&1)" "from-host" "data written outside is read inside"
is "$(inside bookworm sh -c 'ls /hilbert/c; cd /hilbert/c && cat in.txt out.txt | wc -l' 2>&1)" $'in.txt\nout.txt\n2' "listing and relative paths inside"

# Apptainer's environment rules: the host environment passes, --cleanenv drops it, the
# APPTAINERENV_ variables hilbert-container sets survive --cleanenv
is "$(HL_MARK=host inside bookworm sh -c 'echo "${HL_MARK:-unset}"' 2>&1)" "host" "without --cleanenv the host environment passes in"
out=$(HL_MARK=host U "$CONT" --engine bwrap --cleanenv "$HL_TMP/bookworm" -- \
    sh -c 'echo "${HL_MARK:-unset} $LD_PRELOAD"; cat /hilbert/c/out.txt' 2>&1)
is "$out" "unset $HILBERT_HOME/lib/libhilbert-preload-compat.so"$'\nfrom-host' "--cleanenv: host variables dropped, the compat shim and the volume still there"
is "$(inside bookworm sh -c 'echo "$HOME $PWD"; test -d /var/tmp -a -e /proc/self' 2>&1)" "$UH $HL_TMP" "default binds: HOME and the working directory"
out=$(U "$CONT" --engine bwrap --bind "$UH:/mnt/extra" "$HL_TMP/bookworm" -- sh -c 'touch /mnt/extra/bound && echo ok' 2>&1)
is "$out$(test -f "$UH/bound" && echo +host)" "ok+host" "--bind SRC:DST binds through APPTAINER_BINDPATH"
# a volume from the config file (no HILBERT_MOUNTS: hilbert-container asks `hilbert env`) whose
# objects live outside every default bind: the object directory is read from the volume
BKT=$(mktemp -d /opt/hilbert-it-objects.XXXXXX) && at_cleanup "rm -rf '$BKT'"
mkdir -p "$HL_TMP/v2" && chown "$HL_UID:$HL_GID" "$HL_TMP/v2" "$BKT"
printf 'mount = /hilbert=sqlite://%s/v2/meta.db\n' "$HL_TMP" > "$UH/config"
V2() { as_user env HOME="$UH" USER="$HL_USER" HILBERT_CONFIG="$UH/config" HILBERT_CACHE="$UC" "$@"; }
out=$(V2 "$HILBERT" format "sqlite://$HL_TMP/v2/meta.db" --bucket "$BKT/objects" 2>&1) || bail "format a volume with a separate bucket" "$out"
out=$(V2 "$CONT" --engine bwrap "$HL_TMP/bookworm" -- sh -c 'seq 1 20000 > /hilbert/big && wc -l < /hilbert/big' 2>&1)
is "$out" "20000" "a volume from the config file, objects outside the default binds: written inside"
is "$(find "$BKT/objects" -type f | wc -l | tr -d ' ')$(V2 "$HILBERT" run -- sh -c 'tail -n 1 /hilbert/big')" "120000" "its block went to the separate object directory and reads back outside"
is "$(inside bookworm "$HILBERT_HOME/bin/hilbert" doctor >/dev/null 2>&1; echo $?)" "0" "hilbert doctor runs and passes inside the bookworm image"

# the apptainer and singularity command lines (Apptainer itself is not installable here: a
# stand-in on PATH prints what it was given)
mkdir -p "$HL_TMP/fake"
for e in apptainer singularity; do
    printf '#!/bin/sh\necho "$0 $*"; env | grep -E "^(APPTAINER|SINGULARITY)(ENV_|_BINDPATH)" | sort\n' > "$HL_TMP/fake/$e"
    chmod 755 "$HL_TMP/fake/$e"
done
out=$(PATH="$HL_TMP/fake:$PATH" APPTAINER_BINDPATH=/site U "$CONT" --cleanenv img.sif -- cat /hilbert/x 2>&1)
is "$out" "$HL_TMP/fake/apptainer exec --cleanenv img.sif cat /hilbert/x
APPTAINERENV_HILBERT_CACHE=$UC
APPTAINERENV_HILBERT_MOUNTS=/hilbert=$URL
APPTAINERENV_LD_PRELOAD=$HILBERT_HOME/lib/libhilbert-preload-compat.so
APPTAINER_BINDPATH=/site,$HILBERT_HOME,$UC,$UV" "apptainer exec: binds appended to APPTAINER_BINDPATH, variables as APPTAINERENV_"
out=$(PATH="$HL_TMP/fake:$PATH" U "$CONT" --engine singularity img.sif -- true 2>&1)
like "$(flat "$out")" "singularity exec img\.sif true~.*SINGULARITYENV_LD_PRELOAD=[^~]*compat\.so~SINGULARITY_BINDPATH=$HILBERT_HOME," "singularity exec: SINGULARITYENV_ and SINGULARITY_BINDPATH"
out=$(PATH="$HL_TMP/fake:$PATH" U env HILBERT_CACHE_SIZE=40G HILBERT_CACHE_FREE=5% "$CONT" --cleanenv img.sif -- true 2>&1)
like "$(flat "$out")" "APPTAINERENV_HILBERT_CACHE_FREE=5%~APPTAINERENV_HILBERT_CACHE_SIZE=40G~" "the cache's limits reach the container as APPTAINERENV_"
out=$(PATH="$HL_TMP/fake:$PATH" U env HILBERT_SITE_CACHE="$UH/site-tier" HILBERT_SITE_CACHE_SIZE=3T "$CONT" --cleanenv img.sif -- true 2>&1)
like "$(flat "$out")" "APPTAINERENV_HILBERT_SITE_CACHE=$UH/site-tier~APPTAINERENV_HILBERT_SITE_CACHE_SIZE=3T~" "the site cache reaches the container as APPTAINERENV_"
like "$(flat "$out")" "BINDPATH=[^~]*$UH/site-tier" "… and is bound into it"
out=$(PATH="$HL_TMP/fake:$PATH" U env HILBERT_CACHE_SIZE=40Q "$CONT" --cleanenv img.sif -- true 2>&1); rc=$?
like "$out" "HILBERT_CACHE_SIZE '40Q' is not a size" "a bad limit stops hilbert-container before the container starts"

out=$(PATH="$HL_TMP/fake:$PATH" HILBERT_MOUNTS="/hilbert=$URL" HILBERT_CACHE="$UC" "$CONT" --engine singularity img.sif -- true 2>&1); rc=$?
is "$rc" 2 "a cache directory of another user: hilbert-container refuses before starting the container"
like "$out" "$UC belongs to uid $HL_UID, not to you" "... saying whose it is"

# ---------------------------------------------------------------- bullseye (glibc 2.31)
is "$(inside bullseye sh -c 'cut -d. -f1 /etc/debian_version; grep -q "libhilbert-preload-compat.so" /proc/self/maps && echo shim-loaded' 2>&1)" \
    $'11\nshim-loaded' "bullseye: the compat shim loads"
is "$(inside bullseye sh -c 'ls /etc/debian_version; echo x | tr x y; sh -c "exit 7"; echo "rc=$?"' 2>&1)" \
    $'/etc/debian_version\ny\nrc=7' "bullseye: host paths work, exit statuses intact"
out=$(inside bullseye sh -c 'ls /hilbert/c/in.txt /hilbert/c; echo "rc=$?"' 2>&1)
like "$out" "rc=2" "bullseye: a prefix path fails without a crash"
is "$(printf '%s\n' "$out" | grep -c '^hilbert: ')" "1" "bullseye: exactly one hilbert: line per process"
like "$out" "^hilbert: cannot load engine: .*GLIBC_2\.3[2-9].* not found.*; virtual paths will fail with ENOSYS" "bullseye: the line says why (the engine's glibc) and which errno"
like "$out" "ls: cannot access '/hilbert/c/in.txt': Function not implemented" "bullseye: the errno is ENOSYS (Function not implemented)"
out=$(U env APPTAINERENV_LD_PRELOAD="$HILBERT_HOME/lib/libhilbert-preload.so" APPTAINER_BINDPATH="$HILBERT_HOME" \
    "$EMU" "$HL_TMP/bullseye" sh -c 'echo unreachable' 2>&1; echo "rc=$?")
like "$(flat "$out")" "^sh: symbol lookup error: .*libhilbert-preload.so: undefined symbol: dlsym, version GLIBC_2\.2\.5~rc=127$" \
    "control: the default shim kills a bullseye process at its first wrapped call (why the compat shim is used)"
out=$(inside bullseye "$HILBERT_HOME/bin/hilbert" doctor 2>&1; echo "rc=$?")
like "$(flat "$out")" "hilbert: .*version .GLIBC_2\.3[2-9]' not found.*~rc=1$" "the hilbert CLI cannot run below its glibc floor (documented: run the doctor on the host)"

# ---------------------------------------------------------------- hilbert doctor on the host
out=$(U "$HILBERT" doctor 2>&1); rc=$?
is "$rc" "0" "hilbert doctor: exit 0 on a working setup"
unlike "$out" "^FAIL" "hilbert doctor: no FAIL line on a working setup"
like "$out" "^OK   engine loads here" "hilbert doctor: the engine was dlopen'ed"
floor=$(objdump -T "$HILBERT_HOME/lib/libHilbertEngine.so" | grep -o 'GLIBC_2\.[0-9]*' | sort -t. -k2 -n -u | tail -1)
like "$out" "^OK   engine: $HILBERT_HOME/lib/libHilbertEngine.so, needs $floor" "hilbert doctor: the engine's glibc floor as objdump sees it ($floor)"
unlike "$out" "GLIBCXX_" "... and no libstdc++ version (libstdc++ is linked in statically)"
like "$out" "^OK   shim \(used by 'hilbert run' here\): .*libhilbert-preload.so, needs GLIBC_2.34 \(dlsym in libc\)" "hilbert doctor: the default shim's floor (dlsym in libc)"
like "$out" "^OK   shim: .*libhilbert-preload-compat.so, needs GLIBC_2.17$" "hilbert doctor: the compat shim's floor"
like "$out" "^OK   mount /hilbert → $URL: volume" "hilbert doctor: the mount in effect"
like "$out" "^OK   cache directory $UC: writable" "hilbert doctor: the cache in effect"
out=$(U env HILBERT_ENGINE=/nonexistent/libHilbertEngine.so "$HILBERT" doctor 2>&1); rc=$?
is "$rc" "1" "hilbert doctor: exit 1 with a bad engine path"
like "$out" "^FAIL engine \(from HILBERT_ENGINE\): /nonexistent/libHilbertEngine.so: No such file or directory" "hilbert doctor: says which engine path and why"
notengine=$(ls /usr/lib/x86_64-linux-gnu/libz.so.1 /lib/x86_64-linux-gnu/libz.so.1 2>/dev/null | head -1)
out=$(U env HILBERT_ENGINE="$notengine" "$HILBERT" doctor 2>&1)
like "$out" "^FAIL engine loads but lacks hilbert_engine_api" "hilbert doctor: a library that is not an engine"
# an engine whose ELF asks for a glibc from the future (the version string patched in .dynstr)
python3 -c 'import sys; b=open(sys.argv[1],"rb").read(); open(sys.argv[2],"wb").write(b.replace(sys.argv[3].encode(), b"GLIBC_2.99"))' \
    "$HILBERT_HOME/lib/libHilbertEngine.so" "$HL_TMP/future.so" "$floor"
out=$(U env HILBERT_ENGINE="$HL_TMP/future.so" "$HILBERT" doctor 2>&1); rc=$?
like "$(flat "$out")~$rc" "~FAIL engine \(from HILBERT_ENGINE\): $HL_TMP/future\.so, needs GLIBC_2\.99: this C library is glibc 2\.[0-9]+, older than 2\.99~.*~1$" "hilbert doctor: an engine above this glibc's version fails the floor check"
out=$(U "$HILBERT" doctor --mount "/x=sqlite://$HL_TMP/none/meta.db" --cache /etc/hostname/c 2>&1)
like "$out" "^FAIL mount /x .*no such volume" "hilbert doctor: a missing volume"
like "$out" "^FAIL cache directory /etc/hostname/c: /etc/hostname is not a directory" "hilbert doctor: an unusable cache directory"

# ---------------------------------------------------------------- podman --rootfs (rootful, runc)
# crun refuses this machine's hybrid cgroups; podman's default rlimits exceed the sandbox's
popts=(--runtime=runc --network=none --ulimit=nofile=1024:1024 --ulimit=nproc=4096:4096)
smoke=$(timeout 60 podman run --rm "${popts[@]}" --rootfs "$HL_TMP/bookworm" true 2>&1); src=$?
if [ $src != 0 ]; then
    skip "podman run --rootfs does not work here (exit $src): $(printf '%s' "$smoke" | tr '\n' ' ' | head -c 300)"
    skip "podman: volume round trip (podman unusable)"
else
    # rootful podman runs as root: a root-owned volume and cache (a cache belongs to one user)
    PV="$HL_TMP/pvol" PC="$HL_TMP/pcache"
    out=$(hl_format pvol 2>&1) || bail "format a root-owned volume" "$out"
    PURL="sqlite://$PV/meta.db"
    "$HILBERT" run --mount "/hilbert=$PURL" --cache "$PC" -- sh -c 'echo from-host > /hilbert/h.txt'
    eo=(); for o in "${popts[@]}"; do eo+=(--engine-opt "$o"); done
    out=$(HILBERT_MOUNTS="/hilbert=$PURL" HILBERT_CACHE="$PC" timeout 60 "$CONT" --engine podman "${eo[@]}" "$HL_TMP/bookworm" -- \
        sh -c 'cut -d. -f1 /etc/debian_version; cat /hilbert/h.txt; echo from-podman > /hilbert/p.txt' 2>&1)
    is "$out" $'12\nfrom-host' "podman --rootfs: reads the volume (env via --env, binds via -v)"
    is "$("$HILBERT" run --mount "/hilbert=$PURL" --cache "$PC" -- cat /hilbert/p.txt 2>&1)" "from-podman" "podman --rootfs: data written inside is read outside"
fi
done_testing

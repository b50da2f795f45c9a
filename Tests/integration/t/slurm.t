#!/usr/bin/env bash
# timeout: 280
# A real single-node Slurm (Tests/cluster/slurm.sh): an unprivileged user's #!/bin/bash -l batch
# job loads the hilbert module (Lmod, then Environment Modules) and runs srun -n 2 where each
# rank writes its file under /hilbert and reads the other's; the volume is checked from outside
# the job. srun --export=NONE: tasks get no shim (the file does not appear) unless they are
# started through bin/hilbert-launch by absolute path. One view: with only `module load hilbert`
# (nothing else set), the batch step, an srun step, a container started with hilbert-container
# and `hilbert run` see the same files, on the embedded default volume (created on first use)
# and on the volume the user's config file names.
. "$(dirname "$0")/../lib.sh"
. "$HL_REPO/Tests/cluster/modules.sh"
[ "$(id -u)" = 0 ] || { skip "needs root (daemons, network namespace)"; done_testing; }
need setpriv:util-linux nsenter:util-linux make:make bwrap:bubblewrap zstd:zstd
hl_user || bail "create the test user"
slurm="$HL_REPO/Tests/cluster/slurm.sh"
# A cluster of this run's own: two test runs on one machine must not take each other's down.
export HL_SLURM_DIR="/run/hilbert-test-slurm.$$" HL_SLURM_NS="hilbert-test-slurm.$$"
at_cleanup "'$slurm' down"
trap 'hl_cleanup; exit 1' TERM INT

lmod_init=$(cluster_lmod_init 2>&1) || bail "Lmod available" "$lmod_init"
em_init=$(cluster_em_init 2>&1) || bail "Environment Modules available" "$em_init"

chmod 755 "$HL_TMP"
inst="$HL_TMP/inst"
make -s -C "$HL_REPO" install-files PREFIX="$inst" OUT="$HILBERT_HOME" >"$HL_TMP/install.log" 2>&1 ||
    bail "make install PREFIX=$inst" "$(tail -5 "$HL_TMP/install.log")"
chmod -R a+rX "$inst"

# everything the job touches belongs to the user
u="$HL_TMP/u"
mkdir -p "$u/jobs" "$u/home" && chown -R "$HL_UID:$HL_GID" "$u"
url="sqlite://$u/vol/meta.db"
out=$(as_user "$inst/bin/hilbert" format "$url" --bucket "$u/vol/objects" 2>&1) || bail "format the user's volume" "$out"
# site config for tasks that get no environment at all (hilbert-launch reads it)
mkdir -p "$inst/etc/hilbert" && printf 'mount = /hilbert=%s\n' "$url" >"$inst/etc/hilbert/config"
# read VOLUME-PATH — from outside any job, as the user
read_vol() { as_user env HOME="$u/home" "$inst/bin/hilbert" run --mount "/hilbert=$url" --cache "$u/checkcache" -- cat "$1" 2>&1; }

# The site's TaskProlog: warms what a job lists in HL_WARM_LIST (README, "Before a GPU job").
cat >"$HL_TMP/task-prolog.sh" <<PROLOG
#!/bin/bash
[ -n "\${HL_WARM_LIST:-}" ] && [ -f "\$HL_WARM_LIST" ] || exit 0
"$inst/bin/hilbert" warmup --file-list "\$HL_WARM_LIST" >>"\$HL_WARM_LOG" 2>&1 || echo "print hilbert warmup failed"
exit 0
PROLOG
chmod 755 "$HL_TMP/task-prolog.sh"
export HL_SLURM_TASK_PROLOG="$HL_TMP/task-prolog.sh"
out=$("$slurm" up 2>&1) || bail "slurm.sh up" "$out"
pass "slurm.sh up: munged, slurmctld, slurmd running, node idle"
ctld=$(cat "${HL_SLURM_DIR:-/run/hilbert-test-slurm}/slurmctld.pid")
ok "slurm.sh up again is a no-op" "$slurm" up
is "$(cat "${HL_SLURM_DIR:-/run/hilbert-test-slurm}/slurmctld.pid")" "$ctld" "... the same slurmctld keeps running"

for impl in lmod em; do
    [ $impl = em ] && source_em=". '$em_init'" || source_em=""
    cat >"$u/jobs/$impl.sh" <<JOB
#!/bin/bash -l
$source_em
export TMPDIR="$u/tmp-$impl" HILBERT_MOUNTS="/hilbert=$url"
mkdir -p "\$TMPDIR"
module use "$inst/modulefiles"
module load hilbert || { echo "module load failed"; exit 3; }
echo "LD_PRELOAD=\$LD_PRELOAD"
case \${MODULES_CMD:-}:\${LMOD_CMD:-} in *modulecmd.tcl:*) echo module-impl=em ;; :*lmod) echo module-impl=lmod ;; *) echo module-impl=unknown ;; esac
mkdir -p /hilbert/$impl || exit 4
srun -n 2 bash -c '
    r=\$SLURM_PROCID; o=\$((1 - r))
    echo "rank \$r" > /hilbert/$impl/rank-\$r || exit 1
    for i in \$(seq 1 150); do [ -e /hilbert/$impl/rank-\$o ] && break; sleep 0.1; done
    cat /hilbert/$impl/rank-\$o > /hilbert/$impl/read-by-\$r
'
JOB
    chmod 755 "$u/jobs/$impl.sh"; chown "$HL_UID:$HL_GID" "$u/jobs/$impl.sh"
    out=$(HL_SLURM_HOME="$u/home" "$slurm" job -u "$HL_USER" -- -n 2 -D "$u/jobs" -o "$u/jobs/$impl.out" "$u/jobs/$impl.sh" 2>&1)
    like "$out" "JobState=COMPLETED ExitCode=0:0" "$impl: batch job with module load hilbert and srun -n 2 completes" \
        || diag "$(cat "$u/jobs/$impl.out" 2>&1 | tail -n 15)"
    like "$(cat "$u/jobs/$impl.out" 2>&1)" "^module-impl=$impl\$" "$impl: the job's module command is $impl's"
    like "$(cat "$u/jobs/$impl.out" 2>&1)" "^LD_PRELOAD=$inst/lib/libhilbert-preload.so" "$impl: the batch step has the shim in LD_PRELOAD"
    is "$(read_vol /hilbert/$impl/read-by-0)" "rank 1" "$impl: rank 0 read rank 1's file (checked outside the job)"
    is "$(read_vol /hilbert/$impl/read-by-1)" "rank 0" "$impl: rank 1 read rank 0's file (checked outside the job)"
    ok "$impl: the job's cache defaulted to \$TMPDIR/hilbert-\$USER" test -d "$u/tmp-$impl/hilbert-$HL_USER"
done

# srun --export=NONE: tasks get neither PATH nor LD_PRELOAD; hilbert-launch by absolute path fixes it
cat >"$u/jobs/none.sh" <<JOB
#!/bin/bash -l
export HILBERT_MOUNTS="/hilbert=$url"
module use "$inst/modulefiles"
module load hilbert || exit 3
mkdir -p /hilbert/none || exit 4
srun --export=NONE -n 1 /usr/bin/env > "$u/jobs/none-env.txt"
srun --export=NONE -n 2 /bin/sh -c 'echo plain > /hilbert/none/plain-\$SLURM_PROCID'; echo "plain-rc=\$?"
srun --export=NONE -n 1 "$inst/bin/hilbert-launch" /usr/bin/env > "$u/jobs/launch-env.txt"
srun --export=NONE -n 2 "$inst/bin/hilbert-launch" /bin/sh -c 'echo "launched \$SLURM_PROCID" > /hilbert/none/launch-\$SLURM_PROCID'; echo "launch-rc=\$?"
JOB
chmod 755 "$u/jobs/none.sh"; chown "$HL_UID:$HL_GID" "$u/jobs/none.sh"
# --export=NONE tasks here get no TMPDIR, so hilbert-launch's cache is /tmp/hilbert-$USER
[ -e "/tmp/hilbert-$HL_USER" ] || at_cleanup "rm -rf '/tmp/hilbert-$HL_USER'"
out=$(HL_SLURM_HOME="$u/home" "$slurm" job -u "$HL_USER" -- -n 2 -D "$u/jobs" -o "$u/jobs/none.out" "$u/jobs/none.sh" 2>&1)
like "$out" "JobState=COMPLETED" "export=NONE: the batch job ran" || diag "$(tail -n 15 "$u/jobs/none.out" 2>&1)"
env_none=$(cat "$u/jobs/none-env.txt" 2>&1)
like "$env_none" "^SLURM_PROCID=0" "export=NONE: the plain task ran"
unlike "$env_none" "^(LD_PRELOAD|PATH)=" "export=NONE: the plain task has no LD_PRELOAD and no PATH"
like "$(cat "$u/jobs/none.out")" "^plain-rc=[1-9]" "export=NONE: writing /hilbert without the shim fails"
like "$(read_vol /hilbert/none/plain-0)" "No such file" "export=NONE: ... and no file appears in the volume"
env_launch=$(cat "$u/jobs/launch-env.txt" 2>&1)
like "$env_launch" "^LD_PRELOAD=$inst/lib/libhilbert-preload.so" "export=NONE + hilbert-launch: the task has the shim"
like "$env_launch" "^PATH=.*/usr/bin" "export=NONE + hilbert-launch: the task has a PATH"
tmp=$(printf '%s\n' "$env_none" | sed -n 's/^TMPDIR=//p')
like "$env_launch" "^HILBERT_CACHE=${tmp:-/tmp}/hilbert-$HL_USER\$" "export=NONE + hilbert-launch: the cache defaults to \${TMPDIR:-/tmp}/hilbert-\$USER"
like "$(cat "$u/jobs/none.out")" "^launch-rc=0" "export=NONE + hilbert-launch: both ranks succeed"
is "$(read_vol /hilbert/none/launch-0; read_vol /hilbert/none/launch-1)" $'launched 0\nlaunched 1' \
    "export=NONE + hilbert-launch: both ranks' files are in the volume (checked outside the job)"

# A warm-up in the TaskProlog: the job's first srun task warms its inputs into the job's cache,
# then the job cuts the store off and reads them all.
as_user env HOME="$u/home" "$inst/bin/hilbert" run --mount "/hilbert=$url" --cache "$u/writecache" -- bash -c '
    mkdir -p /hilbert/dataset && for i in $(seq 1 40); do head -c 30000 /dev/urandom > /hilbert/dataset/s$i; done &&
    head -c 6000000 /dev/urandom > /hilbert/dataset/big && cd /hilbert/dataset && sha256sum * > '"$u"'/jobs/dataset.sums' \
    || bail "write the job's dataset"
echo /hilbert/dataset >"$u/jobs/warm.list"; chown "$HL_UID:$HL_GID" "$u/jobs/warm.list"
cat >"$u/jobs/warm.sh" <<JOB
#!/bin/bash -l
export HILBERT_MOUNTS="/hilbert=$url" TMPDIR="$u/tmp-warm"
mkdir -p "\$TMPDIR"
module use "$inst/modulefiles"
module load hilbert || exit 3
export HL_WARM_LIST="$u/jobs/warm.list" HL_WARM_LOG="$u/jobs/warm.log"
srun -n 1 true || exit 4
hilbert warmup --check /hilbert/dataset > "$u/jobs/warm-check.txt"
mv "$u/vol/objects" "$u/vol/objects.away"
srun -n 1 bash -c 'cd /hilbert/dataset && sha256sum -c --quiet "$u/jobs/dataset.sums" && echo all-read'; echo "read-rc=\$?"
mv "$u/vol/objects.away" "$u/vol/objects"
JOB
chmod 755 "$u/jobs/warm.sh"; chown "$HL_UID:$HL_GID" "$u/jobs/warm.sh"
at_cleanup "[ -d '$u/vol/objects.away' ] && mv '$u/vol/objects.away' '$u/vol/objects'"
out=$(HL_SLURM_HOME="$u/home" "$slurm" job -u "$HL_USER" -- -n 1 -D "$u/jobs" -o "$u/jobs/warm.out" "$u/jobs/warm.sh" 2>&1)
like "$out" "JobState=COMPLETED" "TaskProlog warm-up: the job ran" || diag "$(tail -n 15 "$u/jobs/warm.out" 2>&1)"
like "$(cat "$u/jobs/warm.log" 2>&1)" "^warmup: 41 files .* fetched into $u/tmp-warm/hilbert-$HL_USER" "TaskProlog warm-up: the prolog warmed the job's inputs into the job's cache" \
    || diag "$(tail -5 "$u/jobs/warm.log" 2>&1)"
like "$(cat "$u/jobs/warm-check.txt" 2>&1)" "^check: 41 of 41 files cached" "TaskProlog warm-up: the batch script sees them cached"
like "$(cat "$u/jobs/warm.out" 2>&1)" "all-read" "TaskProlog warm-up: with the store cut off, the next task reads every input" \
    || diag "$(tail -n 8 "$u/jobs/warm.out" 2>&1)"
like "$(cat "$u/jobs/warm.out" 2>&1)" "^read-rc=0" "TaskProlog warm-up: ... and exits 0"

# One view: nothing set but `module load hilbert`; four ways of starting a program write one
# file each, then each lists them and shows the mounts and cache it got.
rootfs="$HL_TMP/bookworm"
out=$(sh "$HL_REPO/Tests/cluster/container-rootfs.sh" unpack bookworm "$rootfs" 2>&1) || bail "unpack the bookworm root file system" "$out"
cat >"$u/jobs/view.sh" <<'JOB'
#!/bin/bash -l
module use "$INST/modulefiles"
module load hilbert || { echo "module load failed"; exit 3; }
d=/hilbert/view
mkdir -p $d || exit 4
touch $d/batch   # a program: this shell itself started before module load set LD_PRELOAD
srun -n 1 bash -c "echo > $d/srun"
hilbert-container --engine bwrap "$ROOTFS" -- sh -c "echo > $d/container"
hilbert run -- sh -c "echo > $d/run"
show='echo "$(ls /hilbert/view | tr "\n" " ")| $HILBERT_MOUNTS | $HILBERT_CACHE"'
echo "batch: $(sh -c "$show")"
srun -n 1 sh -c "echo srun: \$($show)"
hilbert-container --engine bwrap "$ROOTFS" -- sh -c "echo container: \$($show)"
hilbert run -- sh -c "echo run: \$($show)"
JOB
chmod 755 "$u/jobs/view.sh"; chown "$HL_UID:$HL_GID" "$u/jobs/view.sh"
rm -f "$inst/etc/hilbert/config"
url2="sqlite://$u/vol2/meta.db"
out=$(as_user "$inst/bin/hilbert" format "$url2" --bucket "$u/vol2/objects" 2>&1) || bail "format the user's second volume" "$out"
for case in default config; do
    if [ $case = config ]; then
        expect="/hilbert=$url2"
        mkdir -p "$u/home/.config/hilbert" && printf '# mine\nmount = /hilbert=%s\n' "$url2" >"$u/home/.config/hilbert/config"
        chown -R "$HL_UID:$HL_GID" "$u/home/.config"
    else
        expect="/hilbert=sqlite://$u/home/.local/share/hilbert/default/meta.db"
    fi
    out=$(HL_SLURM_HOME="$u/home" "$slurm" job -u "$HL_USER" -- -n 1 -D "$u/jobs" -o "$u/jobs/view-$case.out" \
        --export=ALL,INST="$inst",ROOTFS="$rootfs" "$u/jobs/view.sh" 2>&1)
    like "$out" "JobState=COMPLETED ExitCode=0:0" "one view ($case): the batch job with module load hilbert only completes" \
        || diag "$(tail -n 15 "$u/jobs/view-$case.out" 2>&1)"
    for step in batch srun container run; do
        is "$(sed -n "s/^$step: //p" "$u/jobs/view-$case.out")" "batch container run srun | $expect | $TMPDIR/hilbert-$HL_USER" \
            "one view ($case): the $step step sees all four files, the same mounts and the same cache"
    done
done
is "$(read_vol_url() { as_user env HOME="$u/home" "$inst/bin/hilbert" run --mount "/v=$1" --cache "$u/checkcache" -- ls /v/view 2>&1 | tr '\n' ' '; }
      read_vol_url "sqlite://$u/home/.local/share/hilbert/default/meta.db"; read_vol_url "$url2")" \
    "batch container run srun batch container run srun " "one view: the files are in the default volume (made on first use) and in the configured one"

# down leaves nothing running
dir=${HL_SLURM_DIR:-/run/hilbert-test-slurm}
pids=$(cat "$dir"/*.pid 2>/dev/null)
ok "slurm.sh down" "$slurm" down
alive=""; for p in $pids; do kill -0 "$p" 2>/dev/null && alive+=" $p"; done
is "$alive" "" "down: no daemon started by up is still running"
ok "down: the state directory and the network namespace are gone" \
    bash -c "[ ! -e '$dir' ] && ! ip netns list | grep -qw '${HL_SLURM_NS:-hilbert-test-slurm}'"
ok "slurm.sh down again is a no-op" "$slurm" down
done_testing

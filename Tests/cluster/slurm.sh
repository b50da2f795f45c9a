#!/usr/bin/env bash
# slurm.sh — a single-node Slurm (munged + slurmctld + slurmd from Debian) for tests.
#
#   slurm.sh up                        start (packages from make test-deps), wait for an idle node
#   slurm.sh down                      cancel jobs, stop the daemons this script started, delete its state
#   slurm.sh exec [-u USER] -- CMD…    run CMD beside the daemons (as USER: setpriv, no groups,
#                                      a fresh environment, see userwrap)
#   slurm.sh job [-u USER] -- SBATCH-ARGS…   sbatch, wait until the job left the queue, print
#                                      "JobId=N JobState=S ExitCode=E"; exit 0 when COMPLETED
#
# slurmctld binds 0.0.0.0 whatever the config says, so everything runs in a private network
# namespace ($HL_SLURM_NS) holding only lo plus 127.0.0.2/8 (with loopback alone Slurm's
# getaddrinfo(NULL, AI_ADDRCONFIG) fails). munged listens on a private socket. State, config
# and logs live in $HL_SLURM_DIR. up and down are idempotent; down kills only the pids in
# the pid files up wrote.
set -u
: "${HL_SLURM_DIR:=/run/hilbert-test-slurm}"
: "${HL_SLURM_NS:=hilbert-test-slurm}"
D=$HL_SLURM_DIR
CONF=$D/slurm.conf

die() { echo "slurm.sh: $*" >&2; exit 1; }
# nsenter, not "ip netns exec": that remounts /sys, hiding the cgroup tree slurmd needs
inns() { nsenter --net="/run/netns/$HL_SLURM_NS" env SLURM_CONF="$CONF" "$@"; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

packages() {   # installed by scripts/install-deps.sh --test (make test-deps), never here
    local t missing=""
    for t in slurmctld:slurm-wlm slurmd:slurm-wlm sbatch:slurm-wlm munged:munge mungekey:munge ip:iproute2 nsenter:util-linux; do
        command -v "${t%%:*}" >/dev/null || missing="$missing ${t%%:*}(${t#*:})"
    done
    [ -z "$missing" ] || die "not installed:$missing (make test-deps)"
}

write_conf() {
    local node cpus
    node=$(hostname -s); cpus=$(nproc)
    cat >"$CONF" <<CONF
ClusterName=hilberttest
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$D/munge/munge.socket
StateSaveLocation=$D/ctld
SlurmdSpoolDir=$D/slurmd
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/slurmctld.log
SlurmdLogFile=$D/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SchedulerParameters=sched_min_interval=0,batch_sched_delay=0
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=600
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
    # A TaskProlog when the caller names one (HL_SLURM_TASK_PROLOG: runs as the job's user
    # before every task, with the task's environment).
    if [ -n "${HL_SLURM_TASK_PROLOG:-}" ]; then echo "TaskProlog=$HL_SLURM_TASK_PROLOG" >>"$CONF"; fi
}

up() {
    if alive "$D/munged.pid" && alive "$D/slurmctld.pid" && alive "$D/slurmd.pid" &&
        inns timeout 10 sinfo -h -o %T 2>/dev/null | grep -q idle; then
        return 0
    fi
    down
    packages
    mkdir -p "$D/munge" "$D/ctld" "$D/slurmd" || die "cannot create $D"
    chmod 755 "$D" "$D/munge"   # clients (any user) reach munged's socket through these
    ip netns add "$HL_SLURM_NS" || die "ip netns add $HL_SLURM_NS failed (root and CAP_SYS_ADMIN needed)"
    ip netns exec "$HL_SLURM_NS" ip link set lo up &&
        ip netns exec "$HL_SLURM_NS" ip addr add 127.0.0.2/8 dev lo || die "cannot configure lo in $HL_SLURM_NS"
    mungekey --create --keyfile="$D/munge/munge.key" --force >/dev/null 2>&1 || die "mungekey failed"
    chmod 600 "$D/munge/munge.key"
    write_conf
    inns munged --force --socket="$D/munge/munge.socket" --key-file="$D/munge/munge.key" \
        --pid-file="$D/munged.pid" --log-file="$D/munged.log" --seed-file="$D/munge/munge.seed" \
        </dev/null >/dev/null 2>&1 || die "munged did not start: $(tail -3 "$D/munged.log" 2>/dev/null)"
    inns slurmctld -f "$CONF" </dev/null >/dev/null 2>&1 || die "slurmctld did not start: $(tail -3 "$D/slurmctld.log")"
    inns slurmd -f "$CONF" </dev/null >/dev/null 2>&1 || die "slurmd did not start: $(tail -3 "$D/slurmd.log")"
    local i
    for i in $(seq 1 60); do
        inns timeout 5 sinfo -h -o %T 2>/dev/null | grep -q idle && return 0
        sleep 0.5
    done
    die "no idle node after 30 s: $(inns timeout 5 sinfo 2>&1 | tail -2); $(tail -3 "$D/slurmctld.log" "$D/slurmd.log")"
}

stop() {   # stop PIDFILE
    local f=$1 pid i
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null
        for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null
    fi
    rm -f "$f"
}

down() {
    if [ -f "$D/slurmctld.pid" ] && ip netns list 2>/dev/null | grep -qw "$HL_SLURM_NS"; then
        inns timeout 10 scancel --full --quiet --user=ALL 2>/dev/null
        inns timeout 10 scancel --quiet $(inns timeout 10 squeue -h -o %i 2>/dev/null) 2>/dev/null
    fi
    stop "$D/slurmd.pid"; stop "$D/slurmctld.pid"; stop "$D/munged.pid"
    if ip netns list 2>/dev/null | grep -qw "$HL_SLURM_NS"; then
        ip netns del "$HL_SLURM_NS" || die "ip netns del $HL_SLURM_NS failed"
    fi
    rm -rf "$D"
}

# userwrap USER — prints a command prefix that runs as USER (no groups) with a fresh login-like
# environment: PATH, HOME (HL_SLURM_HOME, else from passwd), USER, LOGNAME, SHELL, TMPDIR if set.
userwrap() {
    [ -z "$1" ] && return 0
    local uid gid home
    uid=$(id -u "$1") && gid=$(id -g "$1") || die "no such user: $1"
    home=${HL_SLURM_HOME:-$(getent passwd "$1" | cut -d: -f6)}
    echo "setpriv --reuid $uid --regid $gid --clear-groups env -i PATH=/usr/local/bin:/usr/bin:/bin" \
        "HOME=$home USER=$1 LOGNAME=$1 SHELL=/bin/bash SLURM_CONF=$CONF ${TMPDIR:+TMPDIR=$TMPDIR}"
}

run_exec() {
    local user=""
    [ "${1-}" = -u ] && { user=$2; shift 2; }
    [ "${1-}" = -- ] && shift
    [ -f "$CONF" ] || die "not up (no $CONF); run: slurm.sh up"
    inns $(userwrap "$user") "$@"
}

job() {
    local user="" id state i
    [ "${1-}" = -u ] && { user=$2; shift 2; }
    [ "${1-}" = -- ] && shift
    id=$(run_exec ${user:+-u "$user"} -- sbatch --parsable "$@") || die "sbatch failed"
    id=${id%%;*}
    for i in $(seq 1 600); do   # sbatch --wait polls only every ~10 s
        [ -z "$(run_exec -- timeout 10 squeue -h -j "$id" -o %T 2>/dev/null)" ] && break
        sleep 0.2
    done
    state=$(run_exec -- timeout 10 scontrol show job "$id" 2>/dev/null | grep -oE '(JobState|ExitCode)=[^ ]+' | tr '\n' ' ')
    echo "JobId=$id ${state% }"
    case $state in *JobState=COMPLETED*) return 0 ;; *) return 1 ;; esac
}

case ${1-} in
    up) up ;;
    down) down ;;
    exec) shift; run_exec "$@" ;;
    job) shift; job "$@" ;;
    *) sed -n '2,9p' "$0" >&2; exit 2 ;;
esac

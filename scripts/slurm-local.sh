#!/usr/bin/env bash
# slurm-local.sh — start and stop a real single-node Slurm cluster on this
# machine (Debian's slurm-wlm + munge), for integration tests of nas's Slurm
# support. See scripts/README.md.
#
# Usage: scripts/slurm-local.sh install|start|stop|restart|status|env|help
#
# stdout carries only the `export SLURM_CONF=...` line (from `start` and
# `env`) and the `status` report; progress goes to stderr, so
#     eval "$(scripts/slurm-local.sh start)"
# starts the cluster and points the current shell at it.
#
# Environment:
#   SLURM_LOCAL_DIR      private state directory     (default /tmp/nas-slurm)
#   SLURM_LOCAL_TIMEOUT  seconds to wait for health  (default 60)
#   SLURM_LOCAL_CTLD_PORT / SLURM_LOCAL_SLURMD_PORT  (default 6817 / 6818)
set -euo pipefail

PROG=slurm-local
# The daemons and mungekey live in /usr/sbin, which is not on every PATH.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
export PATH

DIR=${SLURM_LOCAL_DIR:-/tmp/nas-slurm}
TIMEOUT=${SLURM_LOCAL_TIMEOUT:-60}
CTLD_PORT=${SLURM_LOCAL_CTLD_PORT:-6817}
SLURMD_PORT=${SLURM_LOCAL_SLURMD_PORT:-6818}
MUNGE_KEY=/etc/munge/munge.key
PARTITION=debug

CONF=$DIR/slurm.conf
MUNGE_DIR=$DIR/munge
MUNGE_SOCKET=$MUNGE_DIR/munge.socket.2
MUNGE_PID=$MUNGE_DIR/munged.pid
MUNGE_LOG=$MUNGE_DIR/munged.log
RUN_DIR=$DIR/run
LOG_DIR=$DIR/log
CTLD_PID=$RUN_DIR/slurmctld.pid
SLURMD_PID=$RUN_DIR/slurmd.pid
CTLD_LOG=$LOG_DIR/slurmctld.log
SLURMD_LOG=$LOG_DIR/slurmd.log
APT_LOG=${TMPDIR:-/tmp}/nas-slurm-apt.log

# Every client command the script runs talks to this cluster only.
export SLURM_CONF=$CONF

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }

# die REASON [LOGFILE]: one-line reason on stderr, then the log's tail.
die() {
    printf '%s: error: %s\n' "$PROG" "$1" >&2
    if [[ $# -ge 2 && -r $2 ]]; then
        printf -- '--- last lines of %s ---\n' "$2" >&2
        tail -n 25 "$2" >&2 || true
    fi
    exit 1
}

usage() {
    cat <<EOF
usage: $0 install|start|stop|restart|status|env|help

  install  apt-get install slurm-wlm and munge (no-op when already installed)
  start    install if needed, write $CONF, start munged, slurmctld and
           slurmd, wait (at most ${TIMEOUT}s) until a trivial job runs, and
           print the line to eval:  export SLURM_CONF=$CONF
  stop     cancel this cluster's jobs and stop the daemons started by start
  restart  stop, then start
  status   report the daemons and sinfo; exit 0 only if the cluster is healthy
  env      print:  export SLURM_CONF=$CONF

State directory: \$SLURM_LOCAL_DIR (default /tmp/nas-slurm).
EOF
}

need_root() {
    [[ $(id -u) -eq 0 ]] || die "'$1' must run as root (it installs packages and starts daemons)"
}

check_dir() {
    [[ $DIR == /* ]] || die "SLURM_LOCAL_DIR must be an absolute path, got '$DIR'"
    [[ $DIR != *[[:space:]]* ]] || die "SLURM_LOCAL_DIR must not contain spaces, got '$DIR'"
    [[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "SLURM_LOCAL_TIMEOUT must be a positive integer of seconds, got '$TIMEOUT'"
}

# ---------------------------------------------------------------- install

have_packages() {
    local b
    for b in sbatch srun sinfo squeue scontrol scancel slurmctld slurmd munged munge; do
        command -v "$b" >/dev/null 2>&1 || return 1
    done
}

apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o DPkg::Lock::Timeout=120 slurm-wlm munge </dev/null >>"$APT_LOG" 2>&1
}

cmd_install() {
    if have_packages; then
        return 0
    fi
    need_root install
    command -v apt-get >/dev/null 2>&1 || die "slurm is not installed and apt-get is missing: install slurm-wlm and munge by hand"
    say "installing slurm-wlm and munge with apt-get (log: $APT_LOG)"
    : >"$APT_LOG"
    # apt-get update only when the package lists do not know the packages,
    # or when an install from the current lists fails (stale lists).
    if ! apt-cache show slurm-wlm munge >/dev/null 2>&1 || ! apt_install; then
        DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null >>"$APT_LOG" 2>&1 ||
            die "apt-get update failed" "$APT_LOG"
        apt_install || die "apt-get install slurm-wlm munge failed" "$APT_LOG"
    fi
    have_packages || die "slurm-wlm and munge installed but a command is still missing (sbatch, slurmctld, slurmd, munged, ...)" "$APT_LOG"
}

# --------------------------------------------------------------- processes

# pid_of PIDFILE NAME: print the pid in PIDFILE if that process is alive (not
# a zombie) and is NAME (comm starts with NAME, in case a packaging runs it
# as slurmctld-wlm); fail otherwise. Never trust a bare pid: it may be reused.
pid_of() {
    local file=$1 name=$2 pid stat comm
    # head, not a redirection: the daemon may remove the file meanwhile.
    pid=$(head -n 1 -- "$file" 2>/dev/null) || return 1
    pid=${pid//[[:space:]]/}
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    # /proc/PID/stat: "PID (comm) STATE ..."; comm may contain spaces.
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    comm=${stat#*(}
    comm=${comm%)*}
    stat=${stat##*) }
    [[ ${stat%% *} != Z && $comm == "$name"* ]] || return 1
    printf '%s\n' "$pid"
}

munged_up() { pid_of "$MUNGE_PID" munged >/dev/null; }
ctld_up() { pid_of "$CTLD_PID" slurmctld >/dev/null; }
slurmd_up() { pid_of "$SLURMD_PID" slurmd >/dev/null; }
any_up() { munged_up || ctld_up || slurmd_up; }

# stop_daemon PIDFILE NAME: SIGTERM, wait up to 15 s, then SIGKILL.
stop_daemon() {
    local file=$1 name=$2 pid i
    if pid=$(pid_of "$file" "$name"); then
        say "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 150; i++)); do
            pid_of "$file" "$name" >/dev/null || break
            sleep 0.1
        done
        if pid_of "$file" "$name" >/dev/null; then
            say "$name (pid $pid) ignored SIGTERM for 15 s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
        fi
    fi
    rm -f "$file"
}

# ----------------------------------------------------------------- config

node_name() { hostname -s; }

write_conf() {
    local node cpus mem_kb mem_mb
    node=$(node_name)
    [[ -n $node ]] || die "hostname -s printed nothing"
    # getconf, not nproc: nproc obeys OMP_NUM_THREADS, slurmd counts hardware.
    cpus=$(getconf _NPROCESSORS_ONLN)
    mem_kb=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
    mem_mb=$((mem_kb / 1024 / 2))
    cat <<EOF
# Written by scripts/slurm-local.sh; rewritten on every start.
ClusterName=nas-local
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# Start batch jobs (array tasks, released dependents) as soon as possible
# instead of after the default 3 s batch delay / 30 s backfill period:
# array+dependent end to end went from 2-8.5 s to 1.5-3 s.
SchedulerParameters=batch_sched_delay=0,bf_interval=1
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
# No accounting (sacct does not work): keep finished jobs visible to
# 'scontrol show job' (JobState, ExitCode) for an hour.
MinJobAge=3600
# A job whose dependency can never be satisfied (afterok on a failed job)
# is cancelled instead of pending forever.
DependencyParameters=kill_invalid_depend
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$CTLD_LOG
SlurmdLogFile=$SLURMD_LOG
SlurmctldDebug=info
SlurmdDebug=info
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=$PARTITION Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
}

ensure_munge_key() {
    if [[ ! -d /etc/munge ]]; then
        install -d -o munge -g munge -m 0700 /etc/munge
    fi
    if [[ ! -s $MUNGE_KEY ]]; then
        say "creating munge key $MUNGE_KEY"
        if command -v mungekey >/dev/null 2>&1; then
            mungekey --create --keyfile="$MUNGE_KEY" --force >/dev/null 2>&1 ||
                die "mungekey could not create $MUNGE_KEY"
        else
            head -c 1024 /dev/urandom >"$MUNGE_KEY" || die "could not write $MUNGE_KEY"
        fi
    fi
    # munged refuses a key readable by others or not owned by its user.
    chown munge:munge "$MUNGE_KEY"
    chmod 0400 "$MUNGE_KEY"
}

# ------------------------------------------------------------------ start

start_munged() {
    munged_up && return 0
    id munge >/dev/null 2>&1 || die "user 'munge' does not exist (is the munge package installed?)"
    ensure_munge_key
    # munged checks that its socket and log directories are owned by it and
    # not writable by others.
    install -d -o munge -g munge -m 0755 "$MUNGE_DIR"
    rm -f "$MUNGE_PID"
    say "starting munged"
    STARTED+=("$MUNGE_PID:munged")
    runuser -u munge -- munged --force \
        --socket="$MUNGE_SOCKET" --pid-file="$MUNGE_PID" --log-file="$MUNGE_LOG" \
        --seed-file="$MUNGE_DIR/munged.seed" --key-file="$MUNGE_KEY" \
        </dev/null >>"$MUNGE_DIR/munged.stdout" 2>&1 ||
        die "munged failed to start" "$MUNGE_LOG"
    local i
    for ((i = 0; i < 100; i++)); do
        munged_up && munge -n -S "$MUNGE_SOCKET" 2>/dev/null | unmunge -S "$MUNGE_SOCKET" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "munged did not answer on $MUNGE_SOCKET within 10 s" "$MUNGE_LOG"
}

# port_busy PORT: something already listens on 127.0.0.1:PORT.
port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start_slurmctld() {
    ctld_up && return 0
    ! port_busy "$CTLD_PORT" ||
        die "port $CTLD_PORT is already in use (another slurmctld?); stop it or set SLURM_LOCAL_CTLD_PORT"
    rm -f "$CTLD_PID"
    say "starting slurmctld"
    STARTED+=("$CTLD_PID:slurmctld")
    # -c: start from a clean slate (no jobs recovered from an earlier run).
    slurmctld -c -f "$CONF" </dev/null >>"$LOG_DIR/slurmctld.stdout" 2>&1 ||
        die "slurmctld failed to start" "$CTLD_LOG"
    local i
    for ((i = 0; i < 100; i++)); do
        if ctld_up && scontrol ping 2>/dev/null | grep -q 'is UP'; then
            return 0
        fi
        sleep 0.2
    done
    die "slurmctld did not answer 'scontrol ping' within 20 s" "$CTLD_LOG"
}

start_slurmd() {
    slurmd_up && return 0
    ! port_busy "$SLURMD_PORT" ||
        die "port $SLURMD_PORT is already in use (another slurmd?); stop it or set SLURM_LOCAL_SLURMD_PORT"
    rm -f "$SLURMD_PID"
    say "starting slurmd"
    STARTED+=("$SLURMD_PID:slurmd")
    slurmd -f "$CONF" -N "$(node_name)" </dev/null >>"$LOG_DIR/slurmd.stdout" 2>&1 ||
        die "slurmd failed to start" "$SLURMD_LOG"
}

# node_state: the node's state as sinfo prints it (idle, mixed, down*, ...).
node_state() {
    sinfo -h -N -n "$(node_name)" -o '%T' 2>/dev/null | head -n 1
}

node_usable() {
    case $(node_state) in
        idle | mixed | allocated | completing) return 0 ;;
        *) return 1 ;;
    esac
}

# wait_healthy SECONDS: wait until the daemons are up and the node usable.
wait_healthy() {
    local deadline=$((SECONDS + $1))
    while ((SECONDS < deadline)); do
        munged_up || die "munged died" "$MUNGE_LOG"
        ctld_up || die "slurmctld died" "$CTLD_LOG"
        slurmd_up || die "slurmd died" "$SLURMD_LOG"
        node_usable && return 0
        sleep 0.5
    done
    die "node $(node_name) not usable after $1 s (sinfo state: '$(node_state)')" "$CTLD_LOG"
}

# Daemons started by this invocation ("pidfile:name"); if start fails, they
# are stopped again so that a failed start leaves nothing half-running.
STARTED=()

undo_failed_start() {
    local rc=$? i entry
    trap - EXIT
    if ((rc != 0 && ${#STARTED[@]} > 0)); then
        say "start failed: stopping the daemons it started (logs stay in $DIR)"
        for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
            entry=${STARTED[i]}
            stop_daemon "${entry%:*}" "${entry##*:}" || true
        done
    fi
    exit "$rc"
}

print_env() { printf 'export SLURM_CONF=%s\n' "$CONF"; }

cmd_start() {
    need_root start
    check_dir
    cmd_install
    local t0=$SECONDS
    # Owned by root and not writable by others: munged checks the directories
    # above its socket.
    install -d -o root -g root -m 0755 "$DIR" "$RUN_DIR" "$LOG_DIR" "$DIR/state" "$DIR/spool"

    write_conf >"$CONF.new"
    if [[ -f $CONF ]] && cmp -s "$CONF" "$CONF.new"; then
        rm -f "$CONF.new"
    else
        if any_up; then
            say "configuration changed: restarting the cluster"
            cmd_stop
        fi
        mv -f "$CONF.new" "$CONF"
    fi

    if munged_up && ctld_up && slurmd_up; then
        say "already running; checking health"
        wait_healthy "$TIMEOUT"
        say "healthy: node $(node_name) is $(node_state)"
        print_env
        return 0
    fi

    trap undo_failed_start EXIT
    start_munged
    start_slurmctld
    start_slurmd
    wait_healthy "$TIMEOUT"

    # A trivial job end to end: slurmctld schedules it, slurmd runs it.
    local left=$((TIMEOUT - (SECONDS - t0)))
    ((left >= 5)) || left=5
    local out
    if ! out=$(timeout "$left" srun --quiet -N1 -n1 -t 1 -J slurm-local-check echo ok </dev/null 2>&1) ||
        [[ $out != ok ]]; then
        printf '%s\n' "$out" | tail -n 5 >&2
        die "trivial 'srun echo ok' did not work within $left s" "$SLURMD_LOG"
    fi
    trap - EXIT
    say "cluster up in $((SECONDS - t0)) s: node $(node_name), partition $PARTITION, state dir $DIR"
    print_env
}

# ------------------------------------------------------------------- stop

cmd_stop() {
    need_root stop
    check_dir
    local i
    if ctld_up; then
        # Kill jobs first so no job steps outlive slurmd.
        if [[ -n $(squeue -h -o '%A' 2>/dev/null) ]]; then
            say "cancelling jobs still in the queue"
            scancel --full --partition="$PARTITION" 2>/dev/null || true
            for ((i = 0; i < 100; i++)); do
                [[ -z $(squeue -h -o '%A' 2>/dev/null) ]] && break
                sleep 0.1
            done
        fi
    fi
    stop_daemon "$SLURMD_PID" slurmd
    stop_daemon "$CTLD_PID" slurmctld
    stop_daemon "$MUNGE_PID" munged
    say "stopped"
}

# ----------------------------------------------------------------- status

cmd_status() {
    check_dir
    local ok=0 pid name file
    for name in munged slurmctld slurmd; do
        case $name in
            munged) file=$MUNGE_PID ;;
            slurmctld) file=$CTLD_PID ;;
            slurmd) file=$SLURMD_PID ;;
        esac
        if pid=$(pid_of "$file" "$name"); then
            printf '%-10s running (pid %s)\n' "$name:" "$pid"
        else
            printf '%-10s not running\n' "$name:"
            ok=1
        fi
    done
    printf 'SLURM_CONF=%s\n' "$CONF"
    if [[ ! -f $CONF ]]; then
        printf 'no %s: the cluster was never started\n' "$CONF"
        return 1
    fi
    if ctld_up; then
        sinfo 2>&1 || ok=1
        if ! node_usable; then
            printf 'node %s is not usable (state: %s)\n' "$(node_name)" "$(node_state)"
            ok=1
        fi
    else
        ok=1
    fi
    if ((ok == 0)); then
        printf 'healthy\n'
    else
        printf 'not healthy\n'
    fi
    return "$ok"
}

# ------------------------------------------------------------------- main

main() {
    local cmd=${1:-help}
    case $cmd in
        install) cmd_install ;;
        start) cmd_start ;;
        stop) cmd_stop ;;
        restart)
            cmd_stop
            cmd_start
            ;;
        status) cmd_status ;;
        env)
            check_dir
            print_env
            ;;
        help | -h | --help) usage ;;
        *)
            usage >&2
            die "unknown command '$cmd'"
            ;;
    esac
}

main "$@"

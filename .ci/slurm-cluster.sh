#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for the Slurm tests and for developers.
#
#   .ci/slurm-cluster.sh start    install (Debian packages, as root) and start munged, slurmctld, slurmd;
#                                 waits (bounded) until `sinfo` shows this node idle
#   .ci/slurm-cluster.sh stop     cancel every job, stop the three daemons this script started
#   .ci/slurm-cluster.sh status   `sinfo`; exit 0 only when a node is idle or in use
#
# Idempotent: `start` on a running cluster only checks it, `stop` on a stopped one does nothing.
# The cluster: this host (`hostname -s`) as controller and only node, its CPUs and a little less
# memory than it has, one default partition `debug`, accounting off (no sacct: state comes from
# squeue/scontrol while Slurm knows a job), proctrack/linuxproc and task/none (no cgroups needed);
# a task's --mem is enforced by jobacct_gather/linux's OverMemoryKill (RSS polled every second).
# A slurm.conf this script did not write is never overwritten (start stops with a message).
set -euo pipefail

CONF_DIR=/etc/slurm
CONF="$CONF_DIR/slurm.conf"
MARK="# written by mmner-bench .ci/slurm-cluster.sh"
STATE=/var/spool/slurmctld
SPOOL=/var/spool/slurmd
LOGS=/var/log/slurm
RUN=/run/mmner-slurm
WAIT_S="${SLURM_CLUSTER_WAIT_S:-60}"
CONF_CHANGED=0

say() { echo "slurm-cluster: $*"; }
die() { echo "slurm-cluster: $*" >&2; exit 1; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sinfo >/dev/null \
     && command -v munged >/dev/null; then
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "the Slurm packages are missing and installing them needs root (apt-get)"
  command -v apt-get >/dev/null || die "the Slurm packages are missing and there is no apt-get here"
  say "installing slurmctld slurmd slurm-client munge (Debian packages)"
  local pkgs=(slurmctld slurmd slurm-client munge)
  # no services from the packages' postinst (no systemd here; this script starts the daemons)
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; created_policy=1; fi
  DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null 2>&1 \
    || { timeout 300 apt-get update -q >/dev/null 2>&1 \
         && DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null 2>&1; } \
    || { [ "$created_policy" = 0 ] || rm -f "$policy"; die "apt-get install ${pkgs[*]} failed"; }
  [ "$created_policy" = 0 ] || rm -f "$policy"
}

write_conf() {
  local host node mem
  host="$(hostname -s)"
  # the node line as slurmd detects it (sockets, cores, threads), with a little less memory than it
  # has (slurmd drains a node that reports less RealMemory than configured)
  node="$(slurmd -C | head -n1)"
  mem="$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node")"
  [ -n "$mem" ] || die "slurmd -C did not report the node's memory: $node"
  node="$(sed "s/RealMemory=[0-9]*/RealMemory=$((mem * 97 / 100))/; s/ UpTime=.*//" <<<"$node")"
  mkdir -p "$CONF_DIR"
  if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
    die "$CONF exists and was not written by this script; leaving it (and the cluster) alone"
  fi
  local new
  new="$(cat <<EOF
$MARK
ClusterName=mmner
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE
SlurmdSpoolDir=$SPOOL
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
# memory limits enforced without cgroups: the step's RSS polled every second, killed above --mem
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill
JobCompType=jobcomp/none
ReturnToService=2
MpiDefault=none
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
# a requeued job waits for the job credential to expire before it starts again (120 s by default)
AuthInfo=cred_expire=30
KillWait=10
MinJobAge=300
$node State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
)"
  if [ ! -f "$CONF" ] || [ "$(cat "$CONF")" != "$new" ]; then
    printf '%s\n' "$new" > "$CONF"
    CONF_CHANGED=1
    say "wrote $CONF ($node)"
  fi
}

start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return 0; fi
  local key=/etc/munge/munge.key
  if [ ! -s "$key" ]; then
    mkdir -p /etc/munge
    if command -v mungekey >/dev/null; then mungekey --create --keyfile="$key" --force >/dev/null
    else dd if=/dev/urandom of="$key" bs=1024 count=1 status=none; fi
  fi
  chown munge:munge /etc/munge "$key" 2>/dev/null || true
  chmod 0700 /etc/munge; chmod 0400 "$key"
  mkdir -p /run/munge /var/lib/munge /var/log/munge
  chown munge:munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
  if id munge >/dev/null 2>&1; then
    runuser -u munge -- munged
  else
    munged --force
  fi
  local i
  for i in $(seq 1 20); do
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return 0
    sleep 0.25
  done
  die "munged did not start (see /var/log/munge/munged.log)"
}

node_state() { sinfo -h -N -o '%T' 2>/dev/null | head -n1; }

start() {
  install_packages
  write_conf
  mkdir -p "$STATE" "$SPOOL" "$LOGS" "$RUN"
  start_munge
  if [ "$CONF_CHANGED" = 1 ]; then  # daemons started with another slurm.conf: restart them
    stop_pid slurmd "$RUN/slurmd.pid"
    stop_pid slurmctld "$RUN/slurmctld.pid"
  fi
  alive "$RUN/slurmctld.pid" || { slurmctld || die "slurmctld did not start (see $LOGS/slurmctld.log)"; }
  alive "$RUN/slurmd.pid" || { slurmd || die "slurmd did not start (see $LOGS/slurmd.log)"; }
  local t0=$SECONDS state=""
  while [ $((SECONDS - t0)) -lt "$WAIT_S" ]; do
    state="$(node_state)"
    case "$state" in
      idle|mixed|allocated|completing) say "node $(hostname -s) $state"; return 0 ;;
      down*|drain*) scontrol update nodename="$(hostname -s)" state=resume 2>/dev/null || true ;;
    esac
    sleep 0.5
  done
  stop >/dev/null  # leave no half-started cluster behind
  die "no idle node after ${WAIT_S}s (state: ${state:-none}); logs in $LOGS; daemons stopped"
}

stop_pid() {  # stop_pid NAME PIDFILE: TERM, wait up to 10 s, then KILL
  local pid
  alive "$2" || return 0
  pid="$(cat "$2")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
  say "stopped $1 (pid $pid)"
}

stop() {
  if command -v scancel >/dev/null && alive "$RUN/slurmctld.pid"; then
    scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
  fi
  stop_pid slurmd "$RUN/slurmd.pid"
  stop_pid slurmctld "$RUN/slurmctld.pid"
  stop_pid munged /run/munge/munged.pid
}

status() {
  command -v sinfo >/dev/null || { say "not installed"; return 1; }
  sinfo 2>&1 || true
  case "$(node_state)" in
    idle|mixed|allocated|completing) return 0 ;;
    *) return 1 ;;
  esac
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac

"""Asking Slurm: what a partition's nodes offer (before submitting) and what became of a task.

``check_fit`` compares a request (CPUs per task, memory, GPUs, time) with ``scontrol show
partition`` and ``sinfo``'s per-node CPUs, memory and GPUs, so a request no node can satisfy is
one line before anything is submitted (Slurm would otherwise accept it and leave it pending).

``task_states`` says what Slurm says of submitted tasks: ``squeue --states=all`` while the
controller knows them (pending with its reason, running, and, for a few minutes after the end,
completed / failed / cancelled / timeout / out-of-memory), then ``sacct`` where accounting is on.
After both forget a task, ``ended_from_files`` reads what the task itself left: submitit's result
pickle and the ``*** ... CANCELLED ... DUE TO TIME LIMIT ***`` lines slurmstepd writes to its log.
``refine`` makes Slurm's ``FAILED`` precise from the same logs: a memory-limit kill is
``out-of-memory`` and a time limit after the last allowed requeue is ``timeout``.
"""
from __future__ import annotations

import pickle
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from benchmark.errors import ConfigError

QUERY_TIMEOUT_S = 30
# Slurm's job states -> the state ``bench plan`` / ``bench status`` show
SLURM_STATES = {
    "PENDING": "queued", "REQUEUED": "queued", "REQUEUE_HOLD": "queued", "REQUEUE_FED": "queued",
    "CONFIGURING": "running", "RUNNING": "running", "COMPLETING": "running", "SUSPENDED": "running",
    "RESIZING": "running", "STAGE_OUT": "running", "SIGNALING": "running",
    "COMPLETED": "completed", "FAILED": "failed", "BOOT_FAIL": "failed", "NODE_FAIL": "failed",
    "DEADLINE": "timeout", "TIMEOUT": "timeout", "CANCELLED": "cancelled", "PREEMPTED": "cancelled",
    "REVOKED": "cancelled", "SPECIAL_EXIT": "failed", "OUT_OF_MEMORY": "out-of-memory",
}
ACTIVE = ("queued", "running")


@dataclass(frozen=True)
class TaskState:
    """One Slurm task as Slurm (or its files) tells it: ``state`` is one of ``SLURM_STATES``' values
    or ``unknown``; ``slurm`` Slurm's own word; ``reason`` its reason (pending) or node (running)."""

    state: str
    slurm: str = ""
    reason: str = ""


def _query(cmd: list[str]) -> str | None:
    """stdout of a Slurm command, None when it is absent, fails or hangs."""
    if shutil.which(cmd[0]) is None:
        return None
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=QUERY_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


# ---------------------------------------------------------------------------------------------
# Will it fit?
# ---------------------------------------------------------------------------------------------

def mem_mb(text: str) -> int:
    """``"32G"`` / ``"64000M"`` / ``"2T"`` / ``"512"`` (MB, Slurm's default unit) -> megabytes."""
    m = re.fullmatch(r"(\d+)([KMGT]?)B?", str(text).strip().upper())
    if not m:
        raise ConfigError(f"--slurm-mem {text!r}: expected a size such as 32G or 64000M")
    n, unit = int(m.group(1)), m.group(2) or "M"
    return {"K": n // 1024, "M": n, "G": n * 1024, "T": n * 1024 * 1024}[unit]


def _gpus(gres: str) -> int:
    """GPUs in a node's ``Gres`` (``gpu:4``, ``gpu:a100:2(S:0-1)``, ``(null)``)."""
    total = 0
    for item in gres.split(","):
        parts = re.sub(r"\(.*?\)", "", item).split(":")
        if parts[0] == "gpu" and len(parts) >= 2 and parts[-1].isdigit():
            total += int(parts[-1])
    return total


@dataclass(frozen=True)
class Node:
    name: str
    cpus: int
    mem_mb: int
    gpus: int
    state: str


@dataclass(frozen=True)
class Partition:
    name: str
    max_time_min: int | None  # None: no limit
    nodes: tuple[Node, ...]


def _slurm_minutes(text: str) -> int | None:
    """Slurm's ``MaxTime`` (``UNLIMITED``, ``30``, ``1:00:00``, ``2-00:00:00``) in minutes."""
    if text.upper() in ("UNLIMITED", "INFINITE", ""):
        return None
    days = 0
    if "-" in text:
        d, text = text.split("-", 1)
        days = int(d)
    parts = [int(p) for p in text.split(":")]
    h, m, s = ([0] * (3 - len(parts)) + parts) if len(parts) > 1 else (0, parts[0], 0)
    return days * 1440 + h * 60 + m + (1 if s else 0)


def partition_info(name: str | None) -> Partition | None:
    """The partition ``name`` (the default one when None) with its nodes; None when Slurm cannot be
    asked. A partition Slurm does not have is a ``ConfigError`` naming the ones it has."""
    text = _query(["scontrol", "show", "partition", "--oneliner"])
    if text is None:
        return None
    parts = [dict(re.findall(r"(\S+?)=(\S*)", line)) for line in text.splitlines() if line.strip()]
    names = [p.get("PartitionName", "?") for p in parts]
    chosen = [p for p in parts if (p.get("PartitionName") == name if name else p.get("Default") == "YES")]
    if not chosen:
        if name:
            raise ConfigError(f"--slurm-partition {name}: Slurm has no such partition "
                              f"(it has {', '.join(names) or 'none'})")
        raise ConfigError(f"--executor slurm: Slurm has no default partition; choose one with --slurm-partition "
                          f"({', '.join(names) or 'none'})")
    p = chosen[0]
    nodes_text = _query(["sinfo", "-h", "-N", "-p", p["PartitionName"], "-o", "%N|%c|%m|%G|%T"]) or ""
    nodes = []
    for line in nodes_text.splitlines():
        fields = line.strip().split("|")
        if len(fields) == 5 and fields[1].isdigit():
            mem = int(re.sub(r"\D", "", fields[2]) or 0)
            nodes.append(Node(fields[0], int(fields[1]), mem, _gpus(fields[3]), fields[4]))
    return Partition(p["PartitionName"], _slurm_minutes(p.get("MaxTime", "UNLIMITED")), tuple(nodes))


def check_fit(cpus: int, mem: str | None, gpus: int, time_min: int, partition: str | None) -> str | None:
    """Raise ``ConfigError`` (one line) when no node of the partition can run one task of this size,
    or its time limit is shorter; returns the partition's name (None when Slurm cannot be asked)."""
    info = partition_info(partition)
    if info is None:
        return None
    want_mem = mem_mb(mem) if mem else 0
    if not info.nodes:
        raise ConfigError(f"--executor slurm: partition {info.name} has no nodes")
    fits = [n for n in info.nodes if n.cpus >= cpus and n.mem_mb >= want_mem and n.gpus >= gpus]
    if not fits:
        biggest = ", ".join(f"{n.name}: {n.cpus} CPUs, {n.mem_mb} MB, {n.gpus} GPU(s)"
                            for n in sorted(info.nodes, key=lambda n: (n.gpus, n.cpus, n.mem_mb))[-3:])
        raise ConfigError(f"--executor slurm: no node of partition {info.name} has {cpus} CPU(s), "
                          f"{want_mem} MB and {gpus} GPU(s) for one task ({biggest}); lower --slurm-cpus / "
                          "--slurm-mem / --slurm-gpus or choose another --slurm-partition")
    if info.max_time_min is not None and time_min > info.max_time_min:
        raise ConfigError(f"--slurm-time {time_min} min exceeds partition {info.name}'s limit of "
                          f"{info.max_time_min} min")
    return info.name


# ---------------------------------------------------------------------------------------------
# What became of a task?
# ---------------------------------------------------------------------------------------------

def _state_of(word: str) -> str:
    return SLURM_STATES.get(word.split()[0].rstrip("+").upper(), "unknown") if word else "unknown"


def task_states(task_ids: Iterable[str]) -> dict[str, TaskState]:
    """Slurm's word on each task id (``1234_0``, or ``1234``); tasks Slurm no longer knows are absent."""
    ids = sorted({str(t) for t in task_ids if t})
    if not ids:
        return {}
    arrays = sorted({t.split("_")[0] for t in ids})
    out: dict[str, TaskState] = {}
    text = _query(["squeue", "-h", "--array", "--states=all", "-j", ",".join(arrays), "-o", "%i|%T|%r|%N"])
    for line in (text or "").splitlines():
        fields = line.strip().split("|")
        if len(fields) == 4 and fields[0] in ids:
            state = _state_of(fields[1])
            detail = fields[3] if state == "running" else ("" if fields[2] == "None" else fields[2])
            out[fields[0]] = TaskState(state, fields[1], detail)
    missing = [t for t in ids if t not in out]
    if missing:  # accounting, where it is on (on a cluster without it sacct fails: nothing to add)
        text = _query(["sacct", "-n", "-P", "-X", "-j", ",".join(sorted({t.split('_')[0] for t in missing})),
                       "-o", "JobID,State,Reason"])
        for line in (text or "").splitlines():
            fields = line.strip().split("|")
            if len(fields) >= 2 and fields[0] in missing:
                out[fields[0]] = TaskState(_state_of(fields[1]), fields[1].split()[0],
                                           fields[2] if len(fields) > 2 and fields[2] != "None" else "")
    return out


# what a task's own log says of its end, where Slurm's word alone is too coarse: slurmstepd's
# memory-limit kill (jobacct_gather's OverMemoryKill leaves the job FAILED, cgroups make it
# OUT_OF_MEMORY) and submitit's refusal to requeue a task whose requeues are spent
LOG_ENDINGS = (  # slurmstepd's lines only: a path or a name in the log may hold the same words
    (re.compile(r"^slurmstepd\S*: error: .*(exceeded (job |step )?memory limit|oom[-_]kill|OOM Kill)", re.I | re.M),
     TaskState("out-of-memory", "OUT_OF_MEMORY")),
    (re.compile(r"^slurmstepd\S*: error: \*\*\* .* DUE TO TIME LIMIT|Job not requeued because: timed-out", re.M),
     TaskState("timeout", "TIMEOUT")),
    (re.compile(r"^slurmstepd\S*: error: \*\*\* .* DUE TO PREEMPTION", re.M), TaskState("cancelled", "PREEMPTED")),
    (re.compile(r"^slurmstepd\S*: error: \*\*\* (JOB|STEP) \S+ .*CANCELLED", re.M), TaskState("cancelled", "CANCELLED")),
)


def said_by_logs(stdout: Path | None, stderr: Path | None) -> TaskState | None:
    """The end a task's logs name (memory limit, time limit, preemption, cancel), else None."""
    text = _tail(stderr) + _tail(stdout)
    return next((state for pattern, state in LOG_ENDINGS if pattern.search(text)), None)


def refine(state: TaskState, stdout: Path | None, stderr: Path | None) -> TaskState:
    """Slurm's ``FAILED`` made precise by the task's logs: ``out-of-memory`` when slurmstepd killed
    it at its memory limit, ``timeout`` when its time limit came after its requeues were spent.
    Other states are Slurm's own word and stay as they are."""
    if state.state != "failed":
        return state
    said = said_by_logs(stdout, stderr)
    if said is None or said.state not in ("out-of-memory", "timeout"):
        return state
    return TaskState(said.state, f"{state.slurm} ({said.slurm})" if state.slurm else said.slurm, state.reason)


def ended_from_files(stdout: Path | None, stderr: Path | None, result_pickle: Path | None) -> TaskState:
    """How a task Slurm has forgotten ended, from the files it left (``unknown`` when none says)."""
    said = said_by_logs(stdout, stderr)
    if result_pickle is not None and result_pickle.is_file():
        try:
            outcome = pickle.loads(result_pickle.read_bytes())[0]
        except Exception:  # noqa: BLE001 - an unreadable pickle says nothing
            outcome = None
        if outcome == "success":
            return TaskState("completed", "COMPLETED")
        if outcome == "error":
            return said if said is not None and said.state != "cancelled" else TaskState("failed", "FAILED")
    return said or TaskState("unknown")


def _tail(path: Path | None, size: int = 20000) -> str:
    if path is None or not path.is_file():
        return ""
    with path.open("rb") as fh:
        fh.seek(0, 2)
        fh.seek(max(0, fh.tell() - size))
        return fh.read().decode("utf-8", "replace")

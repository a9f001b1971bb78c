"""Executing jobs: in this process, in one worker process per device, or on Slurm through submitit.

``execute_job`` is the single place where a job meets the store: it trains in the job's work
folder (so an interrupted job resumes from its last epoch), writes the result atomically, and then
removes the work folder. Executors (the ``Executor`` contract and the ``EXECUTORS`` table in
``benchmark/run/executor.py``) only decide *where* ``execute_job`` runs:

* ``LocalExecutor`` with the single device ``cpu``: one job after another, in this process.
* ``LocalExecutor`` with several device slots (every visible GPU by default, or a list such as
  ``cuda:0,cuda:1`` or ``cpu,cpu``): one job per slot at a time, each in its own fresh process
  (``python -m benchmark.run.worker``) pinned to its GPU with ``CUDA_VISIBLE_DEVICES``; a crash or a
  ``kill -9`` of one worker loses only that job (its checkpoint stays for the next run).
* ``SlurmExecutor``: one Slurm array task per job; each task writes into the same store.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from benchmark.corpora.reader import Corpus
from benchmark.errors import BenchError, ConfigError, JobError, first_sentence
from benchmark.run.executor import Echo, Executor, ExecutorOptions, RunSummary, Submission
from benchmark.run.specs import JobSpec, Result
from benchmark.run.store import ResultStore
from benchmark.util.io import DISK_ERRNOS, StoreWriteError, dumps, write_error, write_json, write_text
from benchmark.util.command import COMMAND_ENV, recorded_command

WORKER_PAYLOAD = "payload.json"
WORKER_OUTCOME = "outcome.json"
WORKER_LOG = "worker.log"
SUBMITTED = "submitted.json"


def execute_job(job: JobSpec, corpus: Corpus, store: ResultStore, device: str = "cpu",
                cache_dir: Path | None = None, warn: Echo | None = None, overwrite: bool = False) -> Result | None:
    """Train + evaluate ``job`` and store its result; resumes from ``store.work_dir(job)``.

    Runs only while holding the job's lock: returns None without training when another process
    holds it or stored its result meanwhile (unless ``overwrite``). Every line goes to the job's
    ``train.log``; warnings (a discarded checkpoint, ...) also to ``warn`` (stderr by default).
    """
    from benchmark.run.train import run_job  # heavy imports only when a job really runs

    warn = warn or (lambda m: print(m, file=sys.stderr, flush=True))
    lock = store.lock(job)
    if not lock.acquire():
        return None
    try:
        if not overwrite and store.has(job):
            return None
        work = store.work_dir(job)
        log_file = work / "train.log"
        if lock.took_over:
            owner = lock.took_over
            warn(f"bench: warning: took over the stale lock of job {job.job_id} "
                 f"(pid {owner.get('pid')} on {owner.get('host')} is gone)")

        def vanished(exc: BaseException | None = None) -> JobError:
            why = f" ({first_sentence(exc)})" if exc is not None else ""
            return JobError(f"its work folder {work} was removed while it ran{why}, so nothing is stored; "
                            "`bench run` again starts it afresh")

        def log(msg: str) -> None:
            if not (work / "job.json").is_file():  # written when the folder was made: gone = folder removed
                raise vanished()
            line = f"{time.strftime('%H:%M:%S')} {msg}"
            try:
                with log_file.open("a", encoding="utf-8") as fh:
                    fh.write(line + "\n")
            except OSError as exc:  # disk full, read-only: one line naming the log, not a traceback
                raise write_error(exc, log_file) from None
            if msg.startswith("WARNING"):
                warn(f"{job.job_id}: {msg}")

        try:
            result = run_job(job, corpus, device=device, work_dir=work, cache_dir=cache_dir, log=log)
        except (OSError, StoreWriteError) as exc:
            if (work / "job.json").is_file():
                raise
            raise vanished(exc) from None
        if not (work / "job.json").is_file():
            raise vanished()
        store.put(result, log_file, work / "predictions.conll")
        store.clear_work(job)
        return result
    finally:
        lock.release()


def failed_job(store: ResultStore, job: JobSpec, message: str) -> str:
    """Record a ``JobError`` as the job's ``error.txt`` (one line); returns `` (in PATH)`` or ``""``
    when the work folder cannot be written either."""
    path = store.work_path(job) / "error.txt"
    try:
        write_text(path, message + "\n")
    except BenchError:
        return ""
    return f"; see {path}"


def skipped_line(job: JobSpec, store: ResultStore) -> str:
    owner = store.lock(job).owner() or {}
    return (f"skipped, another process runs it (pid {owner.get('pid', '?')} on {owner.get('host', '?')}) "
            "or has just stored it")


def job_head(job: JobSpec) -> str:
    return f"{job.model} {job.setting.label()} seed {job.seed}"


def done_line(result: Result, seconds: float, store: ResultStore) -> str:
    f1 = 100 * result.test["conlleval"]["f1"]
    return (f"test F1 {f1:.2f} (epoch {result.selected_epoch}/{result.epochs_run}, {seconds:.0f}s) "
            f"-> {store.run_dir(result.job)}")


# ---------------------------------------------------------------------------------------------
# Devices and grid progress
# ---------------------------------------------------------------------------------------------

def parse_devices(spec: str | None, device: str = "cpu", cuda_count: int | None = None) -> list[str]:
    """Device slots for the local executor.

    ``spec`` is a comma list (``cuda:0,cuda:1``, ``0,1``, ``cpu,cpu``); without one, ``device``
    decides: ``cuda`` = every visible GPU, ``cuda:N`` = that one, ``cpu`` = in-process CPU.
    """
    if cuda_count is None:
        import torch
        cuda_count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    items = [s.strip() for s in spec.split(",") if s.strip()] if spec else []
    if not items:
        if device == "cuda":
            return [f"cuda:{i}" for i in range(cuda_count)] or ["cuda"]
        return [device]
    out = []
    for item in items:
        name = f"cuda:{item}" if item.isdigit() else item
        if name == "cuda":
            name = "cuda:0"
        if name != "cpu" and not (name.startswith("cuda:") and name[5:].isdigit()):
            raise ConfigError(f"--devices: {item!r} is not a device (cpu, cuda:N or N)")
        if name.startswith("cuda:") and int(name[5:]) >= cuda_count:
            raise ConfigError(f"--devices: {name} is not visible ({cuda_count} CUDA device(s))")
        out.append(name)
    return out


def _format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


class GridProgress:
    """``grid: D done, F failed, R running, L left, ETA`` on one terminal line; quiet elsewhere."""

    def __init__(self, total: int, slots: int, stream: Any = None, enabled: bool | None = None) -> None:
        self.total, self.slots = total, max(1, slots)
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = (self.stream.isatty() and os.environ.get("BENCH_PROGRESS", "1") != "0"
                        if enabled is None else enabled)
        self.finished = self.failed = self.running = 0
        self.durations: list[float] = []
        self.t0 = time.monotonic()

    def eta(self) -> float | None:
        if not self.durations:
            return None
        left = self.total - self.finished - self.failed
        mean = sum(self.durations) / len(self.durations)
        return mean * left / min(self.slots, max(left, 1))

    def text(self) -> str:
        left = self.total - self.finished - self.failed - self.running
        return (f"grid: {self.finished} done, {self.failed} failed, {self.running} running, {left} left, "
                f"ETA {_format_eta(self.eta())}")

    def update(self, finished: int = 0, failed: int = 0, running: int = 0, seconds: float | None = None) -> None:
        self.finished += finished
        self.failed += failed
        self.running += running
        if seconds is not None:
            self.durations.append(seconds)
        self.show()

    def show(self) -> None:
        if self.enabled:
            self.stream.write("\r\033[K" + self.text())
            self.stream.flush()

    def clear(self) -> None:
        if self.enabled:
            self.stream.write("\r\033[K")
            self.stream.flush()


# ---------------------------------------------------------------------------------------------
# Local execution
# ---------------------------------------------------------------------------------------------

def corpus_payload(corpus: Corpus) -> dict[str, Any]:
    """The corpus as plain JSON values, for worker processes and Slurm tasks."""
    return {"root": str(corpus.root), "image_dir": str(corpus.image_dir) if corpus.image_dir else None,
            "kind": corpus.kind, "label_map": [list(pair) for pair in corpus.label_map]}


def job_payload(job: JobSpec, corpus: Corpus, store: ResultStore, cache_dir: Path | None, device: str,
                threads: int | None, overwrite: bool, **extra: Any) -> dict[str, Any]:
    """What a process that runs ``job`` for this one needs (a local worker, a Slurm task): the job,
    corpus, store, device and threads, the plugins to load again, and the planning command, which
    its result records (``adopt_command``)."""
    from benchmark.registry import plugin_refs

    return {"job": job.to_json(), "corpus": corpus_payload(corpus), "results": str(store.root),
            "cache_dir": str(cache_dir) if cache_dir else None, "device": device, **extra, "threads": threads,
            "plugins": plugin_refs(), "overwrite": overwrite,
            "sys_path": [os.getcwd()] + [p for p in sys.path if p], "command": recorded_command()}


def adopt_command(payload: dict[str, Any]) -> None:
    """In the process running a job from ``payload``: the result records the planning ``bench``
    command, not this process's own command line."""
    if payload.get("command"):
        os.environ[COMMAND_ENV] = payload["command"]


def corpus_from_payload(d: dict[str, Any]) -> Corpus:
    return Corpus(Path(d["root"]), Path(d["image_dir"]) if d.get("image_dir") else None, d["kind"],
                  tuple(tuple(pair) for pair in d.get("label_map") or ()))


class LocalExecutor(Executor):
    """Runs jobs on this machine: in-process on ``cpu`` (sequential), else one worker process per
    device slot (multi-process). ``submit`` queues the jobs; ``wait`` runs them."""

    def __init__(self, device: str = "cpu", cache_dir: Path | None = None,
                 devices: Sequence[str] | None = None, poll_s: float = 0.2, processes: bool | None = None,
                 overwrite: bool = False) -> None:
        self.overwrite = overwrite
        self.devices = list(devices) if devices else [device]
        self.device = self.devices[0]
        self.cache_dir = cache_dir
        self.poll_s = poll_s
        self.processes = processes  # None: worker processes unless the only slot is the CPU

    @property
    def in_process(self) -> bool:
        return not self.processes if self.processes is not None else self.devices == ["cpu"]

    @classmethod
    def from_options(cls, options: ExecutorOptions) -> "LocalExecutor":
        return cls(options.device, cache_dir=options.cache_dir, devices=parse_devices(options.devices, options.device),
                   overwrite=options.overwrite)

    @classmethod
    def check_jobs(cls, jobs: Sequence[JobSpec], device: str, devices: str | None) -> None:
        from benchmark.run.precision import refuse_unsupported_precision

        refuse_unsupported_precision(jobs, parse_devices(devices, device) if devices else [device])

    def submit(self, jobs: Sequence[JobSpec], corpus: Corpus, store: ResultStore, echo: Echo = print) -> Submission:
        return Submission(list(jobs), corpus, store)

    def wait(self, submission: Submission, echo: Echo = print) -> RunSummary:
        jobs, corpus, store = submission.jobs, submission.corpus, submission.store
        progress = GridProgress(len(jobs), len(self.devices))
        try:
            summary = self._pass(jobs, corpus, store, echo, progress)
            self._settle_held(jobs, corpus, store, echo, progress, summary)
        finally:
            progress.clear()
        echo(summary.line())
        return summary

    def _pass(self, jobs: Sequence[JobSpec], corpus: Corpus, store: ResultStore, echo: Echo,
              progress: GridProgress) -> RunSummary:
        return (self._run_here(jobs, corpus, store, echo, progress) if self.in_process
                else self._run_workers(jobs, corpus, store, echo, progress))

    def _settle_held(self, jobs: Sequence[JobSpec], corpus: Corpus, store: ResultStore, echo: Echo,
                     progress: GridProgress, summary: RunSummary) -> None:
        """The jobs another process held when this one came to them: stored by it meanwhile
        (skipped), or run here once their lock is free (the holder finished without storing, or
        died: its stale lock is taken over), waiting while a live process on this host holds one.
        A holder on another host cannot be watched: its job is counted as not stored."""
        waiting = [job for job in jobs if job.job_id in summary.held]
        summary.held.clear()
        told: set[str] = set()
        while waiting:
            runnable, still = [], []
            for job in waiting:
                lock = store.lock(job)
                if store.has(job):
                    summary.skipped.append(job.job_id)
                    echo(f"{job_head(job)}: stored by the process that held it")
                elif not lock.is_held_elsewhere():
                    runnable.append(job)
                elif (lock.owner() or {}).get("host") != socket.gethostname():
                    owner = lock.owner() or {}
                    summary.not_stored.append((job.job_id, f"another process runs it (pid {owner.get('pid', '?')} "
                                                           f"on {owner.get('host', '?')}), not watched from here"))
                else:
                    if job.job_id not in told:
                        told.add(job.job_id)
                        echo(f"{job_head(job)}: waiting for pid {(lock.owner() or {}).get('pid', '?')}, which runs it "
                             "(Ctrl-C leaves it to that process)")
                    still.append(job)
            if runnable:
                again = self._pass(runnable, corpus, store, echo, progress)
                still += [job for job in runnable if job.job_id in again.held]
                again.held.clear()
                summary.add(again)
            elif still:
                time.sleep(max(self.poll_s, 0.5))
            waiting = still

    # -- in this process ------------------------------------------------------------------------
    def _run_here(self, jobs: Sequence[JobSpec], corpus: Corpus, store: ResultStore, echo: Echo,
                  progress: GridProgress) -> RunSummary:
        summary = RunSummary()
        for i, job in enumerate(jobs, start=1):
            head = f"[{i}/{len(jobs)}] {job_head(job)}"
            if not self.overwrite and store.has(job):
                summary.skipped.append(job.job_id)
                progress.update(finished=0)
                continue
            t0 = time.perf_counter()
            progress.update(running=1)
            try:
                result = execute_job(job, corpus, store, self.device, self.cache_dir, overwrite=self.overwrite)
            except JobError as exc:  # this job cannot finish (diverged, work folder gone): the others run
                where = failed_job(store, job, str(exc))
                summary.failed.append((job.job_id, str(exc)))
                progress.update(failed=1, running=-1)
                progress.clear()
                echo(f"{head}: FAILED ({exc}){where}")
                continue
            except BenchError:
                raise  # user-facing (missing weights, bad data): stop, keep what is stored
            except OSError as exc:
                if exc.errno not in DISK_ERRNOS:
                    raise
                raise write_error(exc) from None  # disk full / read-only: stop
            except KeyboardInterrupt:
                progress.clear()
                echo(f"{head}: interrupted; its checkpoint stays in {store.work_path(job)}")
                raise
            except Exception as exc:  # noqa: BLE001 - one broken job must not lose the others
                work = store.work_path(job)
                write_text(work / "error.txt", traceback.format_exc())
                summary.failed.append((job.job_id, f"{type(exc).__name__}: {exc}"))
                progress.update(failed=1, running=-1)
                progress.clear()
                echo(f"{head}: FAILED ({type(exc).__name__}: {exc}); traceback in {work / 'error.txt'}")
                continue
            seconds = time.perf_counter() - t0
            if result is None:  # another process holds the job or has just stored it
                progress.update(running=-1)
                progress.clear()
                echo(f"{head}: {skipped_line(job, store)}")
                (summary.skipped if store.has(job) else summary.held).append(job.job_id)
                continue
            progress.update(finished=1, running=-1, seconds=seconds)
            progress.clear()
            echo(f"{head}: {done_line(result, seconds, store)}")
            summary.done.append(job.job_id)
        return summary

    # -- one process per job, one job per device slot -------------------------------------------
    def _start(self, job: JobSpec, slot: str, corpus: Corpus, store: ResultStore) -> subprocess.Popen:
        import torch

        work = store.work_dir(job)
        (work / WORKER_OUTCOME).unlink(missing_ok=True)
        payload = job_payload(job, corpus, store, self.cache_dir, "cpu" if slot == "cpu" else "cuda:0",
                              torch.get_num_threads(), self.overwrite, slot=slot)
        write_json(work / WORKER_PAYLOAD, payload, sort_keys=False)
        env = dict(os.environ, BENCH_PROGRESS="0", PYTHONUNBUFFERED="1")
        if slot == "cpu":
            env["CUDA_VISIBLE_DEVICES"] = ""
        else:  # pin: the worker sees only this GPU, as cuda:0 (honouring an outer CUDA_VISIBLE_DEVICES)
            index = int(slot.split(":")[1])
            outer = [d for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
            env["CUDA_VISIBLE_DEVICES"] = outer[index] if index < len(outer) else str(index)
        root = Path(__file__).resolve().parents[2]
        env["PYTHONPATH"] = os.pathsep.join([str(root), *filter(None, [env.get("PYTHONPATH")])])
        with (work / WORKER_LOG).open("ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "benchmark.run.worker", str(work / WORKER_PAYLOAD)],
                                    env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        write_text(work / "worker.pid", f"{proc.pid}\n")
        return proc

    def _outcome(self, job: JobSpec, proc: subprocess.Popen, store: ResultStore) -> dict[str, Any]:
        work = store.work_path(job)
        try:
            outcome = json.loads((work / WORKER_OUTCOME).read_text())
        except (OSError, json.JSONDecodeError):
            outcome = {}
        if proc.returncode == 0 and outcome.get("status") == "skipped":
            store.clear_work(job)
            return outcome
        if proc.returncode == 0 and store.has(job):
            return {"status": "done"}
        if proc.returncode is not None and proc.returncode < 0:
            sig = signal.Signals(-proc.returncode).name if -proc.returncode in signal.Signals._value2member_map_ else -proc.returncode
            reason = f"worker killed by {sig}"
        else:
            reason = outcome.get("error") or f"worker exited with code {proc.returncode}"
        where = work / ("error.txt" if (work / "error.txt").is_file() else WORKER_LOG)
        return {"status": outcome.get("status") if outcome.get("status") == "bench-error" else "failed",
                "error": reason, "where": str(where)}

    def _run_workers(self, jobs: Sequence[JobSpec], corpus: Corpus, store: ResultStore, echo: Echo,
                     progress: GridProgress) -> RunSummary:
        summary = RunSummary()
        pending = list(enumerate(jobs, start=1))
        running: dict[int, tuple[subprocess.Popen, JobSpec, int, float]] = {}  # slot index -> ...
        stop: str | None = None
        try:
            while pending or running:
                for k, slot in enumerate(self.devices):
                    if k in running or not pending or stop:
                        continue
                    i, job = pending.pop(0)
                    if not self.overwrite and store.has(job):
                        summary.skipped.append(job.job_id)
                        continue
                    running[k] = (self._start(job, slot, corpus, store), job, i, time.perf_counter())
                    progress.update(running=1)
                for k, (proc, job, i, t0) in list(running.items()):
                    if proc.poll() is None:
                        continue
                    del running[k]
                    seconds = time.perf_counter() - t0
                    head = f"[{i}/{len(jobs)}] {job_head(job)} on {self.devices[k]}"
                    outcome = self._outcome(job, proc, store)
                    progress.clear()
                    if outcome["status"] == "skipped":
                        progress.update(running=-1)
                        if store.has(job):
                            summary.skipped.append(job.job_id)
                            echo(f"{head}: already stored (skipped)")
                        else:
                            summary.held.append(job.job_id)
                            echo(f"{head}: {skipped_line(job, store)}")
                    elif outcome["status"] == "done":
                        summary.done.append(job.job_id)
                        progress.update(finished=1, running=-1, seconds=seconds)
                        result = store.get(job)
                        echo(f"{head}: {done_line(result, seconds, store)}" if result else f"{head}: done")
                    else:
                        summary.failed.append((job.job_id, outcome["error"]))
                        progress.update(failed=1, running=-1)
                        echo(f"{head}: FAILED ({outcome['error']}); details in {outcome['where']}")
                        if outcome["status"] == "bench-error":
                            stop = outcome["error"]
                if stop and not running:
                    break
                time.sleep(self.poll_s)
        except KeyboardInterrupt:
            for proc, job, _, _ in running.values():
                proc.terminate()
            for proc, job, _, _ in running.values():
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                progress.clear()
                echo(f"{job_head(job)}: interrupted; its checkpoint stays in {store.work_path(job)}")
            raise
        if stop:  # a user-facing error (missing weights, bad data): like the in-process executor, stop
            raise BenchError(stop)
        return summary


# ---------------------------------------------------------------------------------------------
# Slurm
# ---------------------------------------------------------------------------------------------

def slurm_available() -> bool:
    """True when Slurm's ``sbatch`` is on PATH (a login or compute node of a Slurm cluster)."""
    return shutil.which("sbatch") is not None


def parse_slurm_time(value: str | int | None) -> int:
    """Minutes from ``90``, ``"90"``, ``"1:30:00"`` (H:MM:SS) or ``"1-06:00:00"`` (D-HH:MM:SS)."""
    if value is None or value == "":
        return 240
    text = str(value).strip()
    try:
        if text.isdigit():
            minutes = int(text)
        else:
            days = 0
            if "-" in text:
                d, text = text.split("-", 1)
                days = int(d)
            parts = [int(p) for p in text.split(":")]
            if len(parts) == 2:
                parts = [parts[0], parts[1], 0]
            if len(parts) != 3:
                raise ValueError
            h, m, s = parts
            minutes = days * 1440 + h * 60 + m + (1 if s else 0)
    except ValueError:
        raise ConfigError(f"--slurm-time {value!r}: expected minutes, H:MM:SS or D-HH:MM:SS") from None
    if minutes <= 0:
        raise ConfigError(f"--slurm-time {value!r}: must be positive")
    return minutes


def parse_slurm_extra(text: str | None) -> dict[str, Any]:
    """``"--qos=high --constraint=a100 --requeue"`` -> ``{"qos": "high", "constraint": "a100", "requeue": True}``."""
    out: dict[str, Any] = {}
    for item in shlex.split(text or ""):
        if not item.startswith("--") or len(item) < 3:
            raise ConfigError(f"--slurm-extra: {item!r} is not a long sbatch option (--name=value)")
        name, _, value = item[2:].partition("=")
        out[name.replace("-", "_")] = value if value else True
    return out


def slurm_parameters(partition: str | None = None, gpus: int = 1, time: str | int | None = None,
                     mem: str | None = None, account: str | None = None, extra: str | None = None,
                     cpus_per_task: int = 8, array_parallelism: int = 16,
                     job_name: str = "mmner-bench") -> dict[str, Any]:
    """sbatch parameters in submitit's ``SlurmExecutor`` names (also used for the golden script)."""
    if gpus < 0:
        raise ConfigError(f"--slurm-gpus must be >= 0, got {gpus}")
    params: dict[str, Any] = {"job_name": job_name, "time": parse_slurm_time(time), "nodes": 1,
                              "ntasks_per_node": 1, "cpus_per_task": cpus_per_task,
                              "array_parallelism": array_parallelism}
    if gpus:
        params["gpus_per_node"] = gpus
    if partition:
        params["partition"] = partition
    if mem:
        if not str(mem)[:-1].isdigit() and not str(mem).isdigit():
            raise ConfigError(f"--slurm-mem {mem!r}: expected a size such as 32G or 64000M")
        params["mem"] = str(mem)
    if account:
        params["account"] = account
    additional = parse_slurm_extra(extra)
    if additional:
        params["additional_parameters"] = additional
    return params


def _slurm_command(folder: Path, python: str | None = None) -> str:
    """The command submitit's SlurmExecutor puts in the script: its task runner on the job folder."""
    return " ".join([python or shlex.quote(sys.executable), "-u -m submitit.core._submit", shlex.quote(str(folder))])


def _sbatch_flag(key: str, value: Any) -> str:
    key = key.replace("_", "-")
    return f"#SBATCH --{key}" if value is True else f"#SBATCH --{key}={shlex.quote(str(value))}"


def render_sbatch(params: dict[str, Any], n_jobs: int, folder: Path, python: str | None = None) -> str:
    """The sbatch script submitit's ``SlurmExecutor`` submits for an array of ``n_jobs`` tasks with
    ``params`` (``slurm_parameters``' names); nothing is submitted. Rendered here (submitit's own
    renderer is private): ``#SBATCH`` lines in key order, USR2 90 s before the time limit (submitit's
    checkpoint signal), per-task logs in ``<folder>/<array>_<task>/``. ``tests/test_executors.py``
    compares it with the script submitit really hands to ``sbatch``."""
    job_folder = Path(folder) / "%j"
    stdout, stderr = (str(job_folder / f"%j_%t_log.{ext}").replace("%j", "%A_%a") for ext in ("out", "err"))
    flags = {"job_name": "submitit", "time": 5, "nodes": 1, "wckey": "submitit"}
    flags.update({k: v for k, v in params.items()
                  if v is not None and k not in ("array_parallelism", "additional_parameters")})
    flags.update({"signal": "USR2@90", "array": f"0-{n_jobs - 1}%{min(n_jobs, params.get('array_parallelism', 256))}",
                  "output": stdout.replace("%t", "0"), "error": stderr.replace("%t", "0"), "open-mode": "append"})
    flags.update(params.get("additional_parameters") or {})
    srun = " ".join(shlex.quote(arg) for arg in ("srun", "--unbuffered", "--output", stdout, "--error", stderr))
    lines = ["#!/bin/bash", "", "# Parameters", *(_sbatch_flag(k, flags[k]) for k in sorted(flags)),
             "", "# command", "export SUBMITIT_EXECUTOR=slurm", f"{srun} {_slurm_command(job_folder, python)}", ""]
    return "\n".join(lines)


def _resolve_device(device: str) -> str:
    """``auto`` on the node that runs the task: its GPU when Slurm gave it one, else the CPU."""
    if device != "auto":
        return device
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"


class SlurmTask:
    """What a Slurm array task runs: rebuild the job and the corpus from a JSON payload, execute, store.

    ``checkpoint`` is submitit's checkpointing interface: on the signal Slurm sends before the time
    limit (``--signal USR2@90``) or on preemption, submitit calls it and requeues the task with what
    it returns. The job's own epoch checkpoint is already in its work folder, so the requeued task
    resumes from its last finished epoch, to the same result as an uninterrupted run. A task that
    raises writes the traceback to ``.work/<job_id>/error.txt``, as a failed local job does.
    """

    def __call__(self, payload_json: str) -> str:
        payload = json.loads(payload_json)
        import torch

        from benchmark.registry import load_plugins_again

        load_plugins_again(payload.get("plugins", []), payload.get("sys_path"))
        adopt_command(payload)
        threads = payload.get("threads") or int(os.environ.get("SLURM_CPUS_PER_TASK", "0") or 0)
        if threads:
            torch.set_num_threads(int(threads))
        job = JobSpec.from_json(payload["job"])
        store = ResultStore(payload["results"])
        overwrite = bool(payload.get("overwrite"))
        if not overwrite and store.has(job):
            return job.job_id
        work = store.work_path(job)
        (work / "error.txt").unlink(missing_ok=True)
        try:
            execute_job(job, corpus_from_payload(payload["corpus"]), store, _resolve_device(payload["device"]),
                        Path(payload["cache_dir"]) if payload.get("cache_dir") else None, overwrite=overwrite)
        except Exception:  # noqa: BLE001 - recorded like a local failure; Slurm sees the task fail
            write_text(work / "error.txt", traceback.format_exc())
            raise
        return job.job_id

    def checkpoint(self, payload_json: str) -> Any:
        from submitit.helpers import DelayedSubmission

        job = JobSpec.from_json(json.loads(payload_json)["job"])
        work = ResultStore(json.loads(payload_json)["results"]).work_path(job)
        if work.is_dir():
            with (work / "train.log").open("a", encoding="utf-8") as fh:
                fh.write(f"{time.strftime('%H:%M:%S')} Slurm signalled the task (time limit or preemption): "
                         "requeued; it resumes from its last epoch checkpoint\n")
        return DelayedSubmission(self, payload_json)


@dataclass(frozen=True)
class SlurmRequest:
    """What one array task asks Slurm for (``None`` fields: follow the jobs, see ``request_for``)."""

    partition: str | None = None
    gpus: int | None = None
    cpus: int | None = None
    time: str | int | None = None
    mem: str | None = None
    account: str | None = None
    extra: str | None = None


def request_for(request: SlurmRequest, jobs: Sequence[JobSpec], device: str, threads: int | None,
                partition_has_gpus: bool) -> SlurmRequest:
    """Defaults that follow the jobs: a GPU only with ``--device cuda`` (or ``auto`` for paper-scale
    jobs on a partition that has GPUs), as many CPUs as ``--threads`` (else 4 with a GPU, 1 without),
    memory from the cost model's peak estimate (x1.5 + 1 GiB, at least 2 GiB; 8 GiB with a GPU)."""
    from benchmark.run.cost import estimate

    gpus = request.gpus
    if gpus is None:
        if device.startswith("cuda"):
            gpus = 1
        elif device == "auto":
            gpus = int(partition_has_gpus and any(j.scale != "smoke" for j in jobs))
        else:
            gpus = 0
    cpus = request.cpus or threads or (4 if gpus else 1)
    mem = request.mem
    if mem is None:
        peak = max((estimate(j, "cuda" if gpus else "cpu")[1] for j in jobs), default=0) if not gpus else 0
        mem_gib = max(8 if gpus else 2, -(-int(peak * 1.5 + 2**30) // 2**30))
        mem = f"{mem_gib}G"
    return SlurmRequest(request.partition, gpus, cpus, request.time, mem, request.account, request.extra)


def _sbatch_refusal(exc: Exception) -> str:
    """The line of sbatch's answer that says why (``sbatch: error: ...``), else the first line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    said = [line for line in lines if "sbatch: error" in line]
    return (said or lines or [type(exc).__name__])[-1 if said else 0]


class SlurmExecutor(Executor):
    """Submits one Slurm array task per job with submitit; each task writes to the shared store.

    The payload is plain JSON (the JobSpec) plus paths, so tasks can be inspected and resubmitted.
    On submission, ``<results>/.work/<job_id>/submitted.json`` records the Slurm task id, time and
    log paths; ``bench plan``/``bench status`` ask Slurm about it (``submitted_state``). A job whose
    task Slurm still has pending or running is not submitted again. ``cluster="debug"`` or
    ``"local"`` runs the same tasks through submitit's debug/local executors (tests). ``wait``
    returns once the tasks are submitted, or (``wait=True``) once they have finished.
    """

    scheduler = "Slurm"

    def __init__(self, folder: Path, partition: str | None = None, gpus: int | None = None,
                 time: str | int | None = None, mem: str | None = None, account: str | None = None,
                 extra: str | None = None, cpus: int | None = None, array_parallelism: int = 16,
                 cache_dir: Path | None = None, cluster: str | None = None, wait: bool = False,
                 device: str = "auto", threads: int | None = None, overwrite: bool = False,
                 max_requeues: int = 3) -> None:
        try:
            import submitit
        except ImportError:
            raise ConfigError("--executor slurm needs submitit: pip install 'mmner-bench[slurm]'") from None
        self.folder = Path(folder)
        self.request = SlurmRequest(partition, gpus, cpus, time, mem, account, extra)
        self.array_parallelism = array_parallelism
        parse_slurm_time(time)  # a bad --slurm-time is one line before anything else
        if mem is not None:
            slurm_parameters(mem=mem)
        if gpus is not None and gpus < 0:
            raise ConfigError(f"--slurm-gpus must be >= 0, got {gpus}")
        if cpus is not None and cpus < 1:
            raise ConfigError(f"--slurm-cpus must be >= 1, got {cpus}")
        if max_requeues < 0:
            raise ConfigError(f"--slurm-max-requeues must be >= 0, got {max_requeues}")
        self.cluster = cluster or "slurm"
        if self.cluster == "slurm":
            if not slurm_available():
                raise ConfigError("--executor slurm: Slurm is not available here (no `sbatch` on PATH); "
                                  "run on a cluster login node, or use --executor local")
            self.executor: Any = submitit.SlurmExecutor(folder=str(self.folder / "%j"), max_num_timeout=max_requeues)
        else:
            self.executor = submitit.AutoExecutor(folder=str(self.folder / "%j"), cluster=self.cluster)
        self.params: dict[str, Any] = {}
        self.device, self.threads, self.overwrite = device, threads, overwrite
        self.cache_dir = cache_dir
        self.wait_for_tasks = wait

    @classmethod
    def from_options(cls, options: ExecutorOptions) -> "SlurmExecutor":
        return cls(Path(options.results) / ".slurm", cache_dir=options.cache_dir, device=options.device,
                   threads=options.threads, overwrite=options.overwrite, **options.slurm)

    @classmethod
    def check_available(cls) -> None:
        if not slurm_available():
            raise ConfigError("--executor slurm: no Slurm on this machine (sbatch is not on PATH); "
                              "run on a Slurm login node or use --executor local")
        try:
            import submitit  # noqa: F401
        except ImportError:
            raise ConfigError("--executor slurm needs submitit: pip install 'mmner-bench[slurm]'") from None

    @classmethod
    def state(cls, works: Sequence[Path]) -> dict[Path, tuple[str, str]]:
        return submitted_states(works)

    def prepare(self, jobs: Sequence[JobSpec]) -> dict[str, Any]:
        """The sbatch parameters for ``jobs``; a request no node of the partition can run is a
        ``ConfigError`` (one line) before anything is submitted."""
        from benchmark.run.slurm import check_fit, partition_info

        info = partition_info(self.request.partition) if self.cluster == "slurm" else None
        has_gpus = bool(info and any(n.gpus for n in info.nodes))
        req = request_for(self.request, jobs, self.device, self.threads, has_gpus)
        params = slurm_parameters(req.partition, req.gpus or 0, req.time, req.mem, req.account, req.extra,
                                  req.cpus or 1, self.array_parallelism)
        if self.cluster == "slurm":
            check_fit(req.cpus or 1, req.mem, req.gpus or 0, params["time"], req.partition)
            self.executor.update_parameters(**params)
        else:
            self.executor.update_parameters(timeout_min=params["time"])
        self.params = params
        return params

    def _payload(self, job: JobSpec, corpus: Corpus, store: ResultStore) -> str:
        return dumps(job_payload(job, corpus, store, self.cache_dir, self.device, self.threads, self.overwrite),
                     indent=None, where="slurm payload")

    def _still_active(self, jobs: Sequence[JobSpec], store: ResultStore) -> dict[str, str]:
        """job id -> Slurm task id, for the jobs whose earlier task Slurm still has pending or running."""
        from benchmark.run.slurm import ACTIVE, task_states

        records = {j.job_id: read_submitted(store.work_path(j)) for j in jobs}
        records = {k: r for k, r in records.items() if r and r.get("slurm_job_id") and r.get("executor") == "slurm"}
        if not records or self.cluster != "slurm":
            return {}
        states = task_states(r["slurm_job_id"] for r in records.values())
        return {k: r["slurm_job_id"] for k, r in records.items()
                if states.get(r["slurm_job_id"]) and states[r["slurm_job_id"]].state in ACTIVE}

    def _submit(self, payloads: list[str]) -> list[Any]:
        """``map_array``; an sbatch refusal is a ``ConfigError`` and leaves no file behind."""
        from submitit.core.utils import FailedJobError, FailedSubmissionError

        base = self.folder
        before = set(base.iterdir()) if base.is_dir() else set()
        try:
            with contextlib.redirect_stderr(io.StringIO()):  # submitit echoes sbatch's stderr; said once below
                return self.executor.map_array(SlurmTask(), payloads)
        except (FailedJobError, FailedSubmissionError, subprocess.CalledProcessError) as exc:
            for path in (set(base.iterdir()) if base.is_dir() else set()) - before:
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink(missing_ok=True)
            if base.is_dir() and not before and not any(base.iterdir()):
                base.rmdir()
            raise ConfigError(f"--executor slurm: sbatch refused the job array: {_sbatch_refusal(exc)}") from None

    def submit(self, jobs: Sequence[JobSpec], corpus: Corpus, store: ResultStore, echo: Echo = print) -> Submission:
        summary = RunSummary()
        active = self._still_active(jobs, store)
        if active:
            tasks = sorted(set(active.values()))
            echo(f"not submitted again: {len(active)} job(s) already pending or running on Slurm "
                 f"({', '.join(tasks[:5])}{', ...' if len(tasks) > 5 else ''}); `bench status` follows them")
            summary.skipped.extend(active)
        jobs = [j for j in jobs if j.job_id not in active]
        if not jobs:
            return Submission(jobs, corpus, store, summary)
        self.prepare(jobs)
        submitted = self._submit([self._payload(j, corpus, store) for j in jobs])
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        for job, task in zip(jobs, submitted):
            summary.submitted.append(job.job_id)
            if store.has(job) and not self.overwrite:
                continue
            paths = task.paths
            record = {"executor": self.cluster, "slurm_job_id": str(task.job_id), "submitted_at": now,
                      "job_id": job.job_id, "folder": str(paths.folder), "stdout": str(paths.stdout),
                      "stderr": str(paths.stderr), "result_pickle": str(paths.result_pickle)}
            write_json(store.work_dir(job) / SUBMITTED, record)
        first = str(submitted[0].job_id).split("_")[0] if submitted else "-"
        req = self.params
        echo(f"submitted {len(submitted)} {self.cluster} task(s) (array {first}; each "
             f"{req.get('cpus_per_task', '?')} CPU(s), {req.get('mem', 'default memory')}, "
             f"{req.get('gpus_per_node', 0)} GPU(s), {req.get('time', '?')} min); logs in "
             f"{self.folder / first}*; results appear in {store.root / 'runs'} as they finish")
        return Submission(jobs, corpus, store, summary, list(submitted))

    def wait(self, submission: Submission, echo: Echo = print) -> RunSummary:
        summary = submission.summary
        if self.wait_for_tasks:
            for job, task in zip(submission.jobs, submission.handles):
                try:
                    task.result()
                    summary.done.append(job.job_id)
                except Exception as exc:  # noqa: BLE001 - report, keep the others
                    summary.failed.append((job.job_id, f"{type(exc).__name__}: {exc}"))
        return summary


def read_submitted(work: Path) -> dict[str, Any] | None:
    """The ``submitted.json`` record in a job's work folder (None when absent or unreadable)."""
    try:
        record = json.loads((work / SUBMITTED).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def submitted_states(works: Sequence[Path]) -> dict[Path, tuple[str, str]]:
    """For work folders with a ``submitted.json``: ``(state, detail)`` as Slurm (or, once Slurm has
    forgotten the task, the task's own files) tells it. States: queued (pending, with Slurm's
    reason), running, failed, cancelled, timeout, out-of-memory; each detail names the task's log."""
    from benchmark.run.slurm import TaskState, ended_from_files, refine, task_states

    records = {w: read_submitted(w) for w in works}
    slurm_ids = [r["slurm_job_id"] for r in records.values()
                 if r and r.get("slurm_job_id") and r.get("executor") == "slurm"]
    known = task_states(slurm_ids)
    out: dict[Path, tuple[str, str]] = {}
    for work, r in records.items():
        if not r or not r.get("slurm_job_id"):
            continue
        task = str(r["slurm_job_id"])
        log = r.get("stderr") or r.get("folder") or "?"
        paths = [Path(r[k]) if r.get(k) else None for k in ("stdout", "stderr", "result_pickle")]
        if task in known:
            st = refine(known[task], *paths[:2])
        else:
            st = ended_from_files(*paths) if r.get("executor") == "slurm" else TaskState("unknown")
        if st.state == "queued":
            out[work] = ("queued", f"Slurm {task} pending ({st.reason or st.slurm}); log {log}")
        elif st.state == "running":
            out[work] = ("running", f"Slurm {task} running{' on ' + st.reason if st.reason else ''}; log {log}")
        elif st.state == "completed":  # ended without storing a result (skipped, or its result moved)
            out[work] = ("missing", f"Slurm {task} completed without a stored result; log {log}")
        elif st.state == "unknown":
            out[work] = ("queued", f"Slurm {task} submitted {r.get('submitted_at', '?')}, state unknown "
                                   f"(Slurm no longer knows it); log {log}")
        else:
            error = work / "error.txt"
            last = (error.read_text(errors="replace").strip().splitlines() or [""])[-1] if error.is_file() else ""
            out[work] = (st.state, f"Slurm {task} {st.slurm}" + (f": {last}" if last else "")
                         + f"; log {log}" + (f", traceback {error}" if error.is_file() else ""))
    return out

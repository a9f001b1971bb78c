"""Executing jobs: in this process (default, one device) or on Slurm through submitit.

``execute_job`` is the single place where a job meets the store: it trains in the job's work
folder (so an interrupted job resumes from its last epoch), writes the result atomically, and then
removes the work folder. Executors only decide *where* ``execute_job`` runs.
"""
from __future__ import annotations

import json
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from benchmark.corpora.reader import Corpus
from benchmark.errors import BenchError, ConfigError
from benchmark.run.specs import JobSpec, Result
from benchmark.run.store import ResultStore

Echo = Callable[[str], None]


@dataclass
class RunSummary:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def execute_job(job: JobSpec, corpus: Corpus, store: ResultStore, device: str = "cpu",
                cache_dir: Path | None = None) -> Result:
    """Train + evaluate ``job`` and store its result; resumes from ``store.work_dir(job)``."""
    from benchmark.run.train import run_job  # heavy imports only when a job really runs

    work = store.work_dir(job)
    log_file = work / "train.log"

    def log(msg: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {msg}"
        with log_file.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    result = run_job(job, corpus, device=device, work_dir=work, cache_dir=cache_dir, log=log)
    store.put(result, log_file, work / "predictions.conll")
    store.clear_work(job)
    return result


class LocalExecutor:
    """Runs jobs one after another in this process on one device (``cpu``, ``cuda``, ``cuda:1``)."""

    def __init__(self, device: str = "cpu", cache_dir: Path | None = None) -> None:
        self.device = device
        self.cache_dir = cache_dir

    def run(self, jobs: Sequence[JobSpec], corpus: Corpus, store: ResultStore, echo: Echo = print) -> RunSummary:
        summary = RunSummary()
        for i, job in enumerate(jobs, start=1):
            head = f"[{i}/{len(jobs)}] {job.model} {job.setting.label()} seed {job.seed}"
            t0 = time.perf_counter()
            try:
                result = execute_job(job, corpus, store, self.device, self.cache_dir)
            except BenchError:
                raise  # user-facing (missing weights, bad data): stop, keep what is stored
            except KeyboardInterrupt:
                echo(f"{head}: interrupted; its checkpoint stays in {store.root / '.work' / job.job_id}")
                raise
            except Exception as exc:  # noqa: BLE001 - one broken job must not lose the others
                work = store.root / ".work" / job.job_id
                (work / "error.txt").write_text(traceback.format_exc())
                summary.failed.append((job.job_id, f"{type(exc).__name__}: {exc}"))
                echo(f"{head}: FAILED ({type(exc).__name__}: {exc}); traceback in {work / 'error.txt'}")
                continue
            f1 = 100 * result.test["conlleval"]["f1"]
            echo(f"{head}: test F1 {f1:.2f} (epoch {result.selected_epoch}/{result.epochs_run}, "
                 f"{time.perf_counter() - t0:.0f}s) -> {store.run_dir(job)}")
            summary.done.append(job.job_id)
        return summary


def _slurm_entry(job_json: str, corpus_root: str, image_dir: str | None, kind: str,
                 results_root: str, device: str, cache_dir: str | None, label_map: str = "[]") -> str:
    """What a Slurm task runs: rebuild the job and the corpus from plain values, execute, store."""
    job = JobSpec.from_json(json.loads(job_json))
    corpus = Corpus(Path(corpus_root), Path(image_dir) if image_dir else None, kind,
                    tuple(tuple(pair) for pair in json.loads(label_map)))
    store = ResultStore(results_root)
    if not store.has(job):
        execute_job(job, corpus, store, device, Path(cache_dir) if cache_dir else None)
    return job.job_id


class SlurmExecutor:
    """Submits one Slurm array task per job with submitit; each task writes to the shared store.

    The payload is plain JSON (the JobSpec) plus paths, so tasks can be inspected and resubmitted.
    """

    def __init__(self, folder: Path, partition: str | None = None, timeout_min: int = 240,
                 gpus_per_node: int = 1, mem_gb: int = 32, cpus_per_task: int = 8,
                 array_parallelism: int = 16, cache_dir: Path | None = None, cluster: str | None = None,
                 wait: bool = False) -> None:
        try:
            import submitit
        except ImportError:
            raise ConfigError("--executor slurm needs submitit: pip install 'mmner-bench[slurm]'") from None
        # cluster=None lets submitit pick Slurm when sbatch exists; "debug" runs in-process (tests).
        self.executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
        params = dict(timeout_min=timeout_min, gpus_per_node=gpus_per_node, mem_gb=mem_gb,
                      cpus_per_task=cpus_per_task, slurm_array_parallelism=array_parallelism)
        if partition:
            params["slurm_partition"] = partition
        if self.executor.cluster != "slurm":  # local/debug executors take no Slurm-only options
            params = {"timeout_min": timeout_min}
        self.executor.update_parameters(**params)
        self.cache_dir = cache_dir
        self.wait = wait

    def run(self, jobs: Sequence[JobSpec], corpus: Corpus, store: ResultStore, echo: Echo = print) -> RunSummary:
        device = "cuda" if self.executor.cluster != "debug" else "cpu"
        args = [(json.dumps(j.to_json()), str(corpus.root), str(corpus.image_dir) if corpus.image_dir else None,
                 corpus.kind, str(store.root), device, str(self.cache_dir) if self.cache_dir else None,
                 json.dumps(corpus.label_map))
                for j in jobs]
        submitted = self.executor.map_array(_slurm_entry, *zip(*args)) if args else []
        echo(f"submitted {len(submitted)} {self.executor.cluster} task(s); results appear in {store.root / 'runs'} "
             "as they finish (re-run `bench run` any time: finished jobs are skipped)")
        if self.wait:
            for task in submitted:
                task.result()
        return RunSummary(done=[s.job_id for s in submitted])

"""The executor contract and the registry of executors: where ``bench run``'s jobs run.

An executor is a subclass of ``Executor`` with three operations:

* ``submit(jobs, corpus, store, echo)``: hand the jobs over (queue them here, or submit them to a
  scheduler) and return a ``Submission``;
* ``wait(submission, echo)``: block until the executor is done with them (ran them here, or, for a
  scheduler, submitted them; finished too when asked to wait) and return the ``RunSummary``;
* ``state(works)`` (a class method: ``bench plan``/``bench status`` ask it in a later process,
  without building an executor): what the executor says of jobs handed to it earlier, by work
  folder, where the store alone cannot tell (a scheduler's pending reason, a task it killed).

``run`` is written once, here, on top of them. ``from_options`` builds an executor from ``bench
run``'s options; ``check_available`` and ``check_jobs`` refuse, with one line, what cannot work
before anything is planned or started; ``scheduler`` names where the jobs are handed to (None: they
run on this machine, the device is resolved here and a job not stored afterwards is counted).

``EXECUTORS`` is the one table of executors: ``--executor``'s choices and ``make_executor`` come from
it. Adding an executor is one class and one entry here (see CONTRIBUTING.md, "Adding an executor").
This module stays light (no torch, no submitit): the CLI reads the names at start-up.
"""
from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Sequence

from benchmark.errors import ConfigError

if TYPE_CHECKING:
    from benchmark.corpora.reader import Corpus
    from benchmark.run.specs import JobSpec
    from benchmark.run.store import ResultStore

Echo = Callable[[str], None]


@dataclass
class RunSummary:
    """What a run did with each job: ``done`` (trained and stored here), ``skipped`` (stored already, or
    by another process meanwhile), ``failed`` (id, one line), ``not_stored`` (id, why: another process
    holds it that this one cannot watch); ``held`` is internal (held elsewhere, to be settled)."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    not_stored: list[tuple[str, str]] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    submitted: list[str] = field(default_factory=list)  # handed to a scheduler (not run here)

    def line(self) -> str:
        line = f"finished: {len(self.done)} done, {len(self.failed)} failed, {len(self.skipped)} skipped"
        return line + (f", {len(self.not_stored)} not stored" if self.not_stored else "")

    def add(self, other: "RunSummary") -> None:
        self.done += other.done
        self.skipped += other.skipped
        self.failed += other.failed
        self.not_stored += other.not_stored
        self.held += other.held


@dataclass(frozen=True)
class ExecutorOptions:
    """``bench run``'s execution options, as every executor's ``from_options`` receives them (each
    reads what concerns it: ``devices`` the local one, ``slurm`` the ``--slurm-*`` options)."""

    results: Path
    device: str = "cpu"
    devices: str | None = None
    cache_dir: Path | None = None
    overwrite: bool = False
    threads: int | None = None
    slurm: dict[str, Any] = field(default_factory=dict)


@dataclass
class Submission:
    """Jobs handed to an executor by ``submit``, for its ``wait``: ``summary`` holds what ``submit``
    already settled, ``handles`` the executor's own (a scheduler's task objects)."""

    jobs: list["JobSpec"]
    corpus: "Corpus"
    store: "ResultStore"
    summary: RunSummary = field(default_factory=RunSummary)
    handles: list[Any] = field(default_factory=list)


class Executor(ABC):
    """Where ``bench run``'s jobs run (the module docstring says what each operation means)."""

    scheduler: ClassVar[str | None] = None  # where jobs are handed to ("Slurm"); None: run on this machine

    @classmethod
    @abstractmethod
    def from_options(cls, options: ExecutorOptions) -> "Executor":
        """The executor for ``bench run``'s options."""

    @classmethod
    def check_available(cls) -> None:
        """Raise ``ConfigError`` (one line) when this executor cannot work here; before planning."""

    @classmethod
    def check_jobs(cls, jobs: Sequence["JobSpec"], device: str, devices: str | None) -> None:
        """Raise ``ConfigError`` for jobs this executor cannot run with these devices; before any starts."""

    @abstractmethod
    def submit(self, jobs: Sequence["JobSpec"], corpus: "Corpus", store: "ResultStore",
               echo: Echo = print) -> Submission:
        """Hand ``jobs`` over; every job ends in ``store`` (or its work folder says why not)."""

    @classmethod
    def state(cls, works: Sequence[Path]) -> dict[Path, tuple[str, str]]:
        """``(state, detail)`` by work folder for jobs handed to this executor, where it knows more
        than the store (``JOB_STATES`` words: queued, running, failed, ...); ``{}`` when it does not."""
        return {}

    @abstractmethod
    def wait(self, submission: Submission, echo: Echo = print) -> RunSummary:
        """Block until this executor is done with the submitted jobs; what it did with each."""

    def run(self, jobs: Sequence["JobSpec"], corpus: "Corpus", store: "ResultStore",
            echo: Echo = print) -> RunSummary:
        """``submit`` then ``wait``: what ``bench run`` calls, the same for every executor."""
        return self.wait(self.submit(jobs, corpus, store, echo), echo)


# --executor NAME -> the executor class, or "module:Class" (imported when first used, so the CLI
# starts without importing the executors). Insertion order is --executor's order; the first is the default.
EXECUTORS: dict[str, str | type[Executor]] = {
    "local": "benchmark.run.executors:LocalExecutor",
    "slurm": "benchmark.run.executors:SlurmExecutor",
}


def executor_class(name: str) -> type[Executor]:
    """The registered executor class for ``--executor name``."""
    if name not in EXECUTORS:
        raise ConfigError(f"--executor {name}: no such executor ({', '.join(EXECUTORS)})")
    ref = EXECUTORS[name]
    if isinstance(ref, str):
        module, _, attr = ref.partition(":")
        ref = getattr(importlib.import_module(module), attr)
    return ref


def make_executor(name: str, options: ExecutorOptions) -> Executor:
    """The executor ``bench run`` uses for ``--executor name`` and its options."""
    return executor_class(name).from_options(options)


def job_states(works: Sequence[Path]) -> dict[Path, tuple[str, str]]:
    """What the registered executors say of the jobs in ``works`` (``Executor.state``), merged."""
    out: dict[Path, tuple[str, str]] = {}
    for name in EXECUTORS:
        out.update(executor_class(name).state(works))
    return out

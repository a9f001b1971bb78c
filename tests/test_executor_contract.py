"""The executor contract (issue 24 item 4): every executor is an ``Executor`` registered in
``EXECUTORS``; ``--executor``'s choices and ``make_executor`` come from that table; ``bench run`` and
``bench plan``/``bench status`` reach an executor only through ``submit`` / ``wait`` / ``state``, so adding one is a
class and a registry entry (CONTRIBUTING.md, "Adding an executor"), with no edit to the CLI.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import click
from click.testing import CliRunner

from benchmark.cli import main
from benchmark.run.executor import (EXECUTORS, Executor, ExecutorOptions, RunSummary, Submission, executor_class,
                                    make_executor)
from benchmark.run.executors import SUBMITTED, LocalExecutor
from benchmark.util.io import write_json


def _executor_option() -> click.Option:
    return next(p for p in main.commands["run"].params if p.name == "executor")


def test_every_registered_executor_implements_the_contract():
    """Catches an executor that is not an ``Executor``, leaves ``submit``/``wait``/``from_options``
    abstract, or writes its own ``run`` (run is written once, on top of submit and wait)."""
    assert list(EXECUTORS)[:2] == ["local", "slurm"]
    for name in EXECUTORS:
        cls = executor_class(name)
        assert issubclass(cls, Executor), name
        assert not cls.__abstractmethods__, (name, cls.__abstractmethods__)
        assert cls.run is Executor.run, f"{name} overrides run"
    assert isinstance(make_executor("local", ExecutorOptions(Path("unused"), devices="cpu,cpu")), LocalExecutor)


def test_executor_choices_are_the_registry():
    """Catches ``--executor``'s choices (or its default) written a second time beside ``EXECUTORS``,
    which let a registered executor be refused by the CLI or a removed one still be offered."""
    option = _executor_option()
    assert tuple(option.type.choices) == tuple(EXECUTORS)
    assert option.default == next(iter(EXECUTORS)) == "local"
    for command in ("plan", "status"):  # the job options are declared once, for every command
        param = next(p for p in main.commands[command].params if p.name == "executor")
        assert tuple(param.type.choices) == tuple(EXECUTORS)


class QueueExecutor(Executor):
    """A fake scheduler: ``submit`` records each job (``submitted.json``), ``wait`` returns at once,
    ``state`` says what the fake queue says of its records."""

    scheduler = "FakeQueue"
    built: list[ExecutorOptions] = []

    @classmethod
    def from_options(cls, options: ExecutorOptions) -> "QueueExecutor":
        cls.built.append(options)
        return cls()

    def submit(self, jobs: Sequence, corpus, store, echo=print) -> Submission:
        summary = RunSummary()
        for job in jobs:
            write_json(store.work_dir(job) / SUBMITTED, {"executor": "fake-queue", "job_id": job.job_id})
            summary.submitted.append(job.job_id)
        echo(f"queued {len(jobs)} job(s) on the fake queue")
        return Submission(list(jobs), corpus, store, summary)

    def wait(self, submission: Submission, echo=print) -> RunSummary:
        return submission.summary

    @classmethod
    def state(cls, works: Sequence[Path]) -> dict[Path, tuple[str, str]]:
        return {w: ("queued", "third in the fake queue") for w in works
                if (w / SUBMITTED).is_file() and "fake-queue" in (w / SUBMITTED).read_text()}


def test_a_registered_executor_runs_through_bench_run_and_bench_plan(tiny_corpus, tmp_path, monkeypatch):
    """One class and one ``EXECUTORS`` entry make a working ``--executor``: ``bench run`` builds it
    from its options, hands it the plan's jobs through the shared ``run`` and words the summary with
    its ``scheduler``; ``bench plan`` shows its ``state`` (and ``bench status`` counts it). Catches a CLI branch on an executor's
    name (``if executor == "slurm"``) or a state read from one executor only."""
    monkeypatch.setitem(EXECUTORS, "fake", QueueExecutor)
    # --executor's choices are read from EXECUTORS when the CLI module is imported; an executor
    # registered in the source is there by then, this one is added afterwards
    monkeypatch.setattr(_executor_option().type, "choices", tuple(EXECUTORS))
    QueueExecutor.built.clear()
    results = tmp_path / "results"
    args = ["--table", "5", "--models", "bilstm-crf", "--languages", "en", "--profile", "smoke",
            "--data-dir", str(tiny_corpus.root), "--results", str(results)]
    out = CliRunner().invoke(main, ["run", *args, "--executor", "fake", "--device", "cpu", "--threads", "1"])
    assert out.exit_code == 0, out.output
    assert "queued 1 job(s) on the fake queue" in out.output
    assert "submitted 1 job(s) to FakeQueue, reused 0 already stored, 0 failed" in out.output
    assert "(what FakeQueue says of each job)" in out.output
    assert [(o.results, o.device, o.threads, o.overwrite) for o in QueueExecutor.built] == [(results, "cpu", 1, False)]
    assert not (results / "runs").exists()  # nothing ran here
    plan = CliRunner().invoke(main, ["plan", *args])
    assert plan.exit_code == 0, plan.output
    assert "third in the fake queue" in plan.output, plan.output
    status = CliRunner().invoke(main, ["status", *args])
    assert "1 queued" in status.output, status.output

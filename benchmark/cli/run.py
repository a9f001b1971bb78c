"""``bench run``: run a table's jobs, then show the rows it touched and what to do next."""
from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import Any

import click

from benchmark.cli.common import (DEFAULT_RESULTS, check_device_name, plan_header, resolve_device, set_threads,
                                  warn)
from benchmark.cli.options import Execution, JobSelection, job_options
from benchmark.errors import ConfigError


def _cache_dir() -> Path:
    from benchmark.corpora.fallback import default_root
    return default_root().parent / "features"


@click.command(epilog="""\b
Examples:
  bench run --table 5 --models bilstm-crf --languages en --threads 1   # ~13 min on one CPU thread
  bench run --table 5 --scale smoke --dry-run                          # the plan only
  bench --plugin my_tagger:SPEC run --table 5 --models my-tagger --languages en""")
@job_options()
@click.option("--dry-run", is_flag=True, help="Only print the plan.")
def run(job_opts: JobSelection, execution: Execution, results: str, dry_run: bool) -> None:
    """Run the jobs of a table; finished jobs are skipped, interrupted ones resume."""
    from benchmark.run.executor import ExecutorOptions, executor_class, make_executor
    from benchmark.run.plan import make_plan
    from benchmark.run.specs import Result
    from benchmark.run.store import BadResult, ResultStore

    if job_opts.table_no == 2:
        raise ConfigError("Table 2 has no jobs: it is counted from the data files "
                          "(`bench stats` or `bench report --table 2`)")
    executor, devices = execution.executor, execution.devices
    kind = executor_class(executor)
    kind.check_available()
    device = resolve_device(execution.device) if kind.scheduler is None else check_device_name(execution.device)
    set_threads(execution.threads)
    plan = make_plan(job_opts.plan_options(execution), echo=lambda m: click.echo(m, err=True))
    for w in plan.warnings:
        warn(w)
    if not plan.ready:
        raise ConfigError(f"Table {plan.table.number}: 0 jobs can run ({plan.why_nothing()})")
    store = ResultStore(results)
    todo, stored, bad = [], 0, []
    for job in plan.ready:
        found = store.read(job)
        if isinstance(found, Result) and execution.overwrite == "never":
            stored += 1
            continue
        if isinstance(found, BadResult):
            bad.append(found)
        todo.append(job)
    click.echo(f"Table {plan.table.number}: {len(plan.jobs)} planned, {stored} already stored, {len(todo)} to run "
               f"({plan_header(plan)})")
    for reason, rows in plan.blocked().items():
        click.echo(f"  skipped {len(rows)} row(s): {reason}")
    for b in bad:
        if dry_run:
            warn(f"bad stored result {b.message()}; a run moves it aside and re-runs the job")
        else:
            warn(f"bad stored result {b.message()}; moved aside to {store.quarantine(b)}, the job re-runs")
    kind.check_jobs(todo, device, devices)
    if dry_run:
        for job in todo:
            click.echo(f"  would run {job.job_id} {job.model} {job.setting.label()} seed {job.seed}")
        return
    summary, started = None, time.perf_counter()
    if todo:
        from benchmark.util.io import ensure_dir
        ensure_dir(store.root)
        runner = make_executor(executor, ExecutorOptions(Path(results), device, devices, _cache_dir(),
                                                         overwrite=execution.overwrite == "always",
                                                         threads=execution.threads, slurm=execution.slurm))
        summary = runner.run(todo, plan.corpus, store, echo=click.echo)
        if kind.scheduler is None:  # run here: whatever the reason, a planned job not stored now is counted
            accounted = {job_id for job_id, _ in summary.failed + summary.not_stored}
            summary.not_stored += [(job.job_id, "not stored by this run (`bench status` says why)")
                                   for job in todo if job.job_id not in accounted and not store.has(job)]
    from benchmark.report.breakdown import render_selected_rows

    click.echo(render_selected_rows(plan, store))
    report_cmd = f"bench report --table {plan.table.number} --compare-paper" + (
        f" --results {results}" if results != DEFAULT_RESULTS else "") + (
        f" --scale {job_opts.scale}" if job_opts.scale != "paper" else "") + (
        f" --models {job_opts.model_names}" if job_opts.model_names and any(r.extension for r in plan.table.rows)
        else "")
    status_cmd = "bench status " + _job_args(click.get_current_context().params)
    for line in run_summary_lines(plan.jobs, stored, summary, report_cmd, kind.scheduler,
                                  time.perf_counter() - started, status_cmd):
        click.echo(line)
    if summary is not None and (summary.failed or summary.not_stored):
        missing = len(summary.failed) + len(summary.not_stored)
        click.echo(f"{missing} planned job(s) not stored ({len(summary.failed)} failed)"
                   + ("; the others are stored." if missing < len(plan.ready) else "."), err=True)
        sys.exit(1)


def _job_args(params: dict[str, Any]) -> str:
    """The job-deciding options of a command line (``--table`` ... ``--precision``), for the command
    that follows the same jobs (``bench status``)."""
    flags = [("table_no", "--table"), ("model_names", "--models"), ("languages", "--languages"),
             ("seeds", "--seeds"), ("data_dir", "--data-dir"), ("image_dir", "--image-dir")]
    out = [f"{flag} {shlex.quote(str(params[key]))}" for key, flag in flags if params.get(key) is not None]
    if params.get("scale", "paper") != "paper":
        out.append(f"--scale {params['scale']}")
    out += [f"--hp {shlex.quote(v)}" for v in params.get("hp") or ()]
    if params.get("corpus_name", "mmnerd") != "mmnerd":
        out.append(f"--corpus {params['corpus_name']}")
    out += [f"--label-map {shlex.quote(v)}" for v in params.get("label_map") or ()]
    if params.get("allow_missing_images"):
        out.append("--allow-missing-images")
    if params.get("results", DEFAULT_RESULTS) != DEFAULT_RESULTS:
        out.append(f"--results {shlex.quote(str(params['results']))}")
    if params.get("precision", "fp32") != "fp32":
        out.append(f"--precision {params['precision']}")
    if params.get("compile_model"):
        out.append("--compile")
    return " ".join(out)


# Why a planned row could not run, as the end-of-run summary words it (status -> short reason).
SKIP_LABELS: dict[str, str] = {
    "no-data": "language absent", "no-weights": "no weights", "no-images": "no images",
    "no-gpu": "no GPU", "not-implemented": "not implemented",
}


def run_summary_lines(planned: list[Any], reused: int, summary: Any, report_cmd: str,
                      scheduler: str | None = None, seconds: float | None = None,
                      status_cmd: str = "bench status") -> list[str]:
    """The end of ``bench run``: jobs run, reused, failed, skipped (grouped by why) and what to do next;
    ``scheduler``: where the executor handed the jobs (``Executor.scheduler``), None when they ran here."""
    done = len(summary.done) if summary is not None else 0
    failed = list(summary.failed) if summary is not None else []
    skipped: dict[tuple[str, str], int] = {}
    for p in planned:
        if p.status != "ready":
            key = (SKIP_LABELS.get(p.status, p.status), p.reason)
            skipped[key] = skipped.get(key, 0) + 1
    submitted = len(getattr(summary, "submitted", ())) if summary is not None else 0
    if scheduler is not None:
        queued = len(summary.skipped) if summary is not None else 0
        head = (f"  submitted {submitted} job(s) to {scheduler}"
                + (f", {queued} already pending or running there (not submitted again)" if queued else ""))
    else:
        head = f"  ran {done} job(s)" + (f" in {seconds / 60:.1f} min" if done and seconds is not None else "")
    lines = ["", "Summary:", f"{head}, reused {reused} already stored, {len(failed)} failed, "
             + (f"{len(summary.not_stored)} not stored, " if getattr(summary, "not_stored", None) else "")
             + f"skipped {sum(skipped.values())} row(s)"]
    for (label, reason), n in sorted(skipped.items()):
        lines.append(f"  skipped {n} row(s) ({label}): {reason}")
    for job_id, error in failed:
        lines.append(f"  failed {job_id}: {error} (bench show {job_id[:8]})")
    not_stored = list(getattr(summary, "not_stored", []))
    for job_id, why in not_stored:
        lines.append(f"  not stored {job_id}: {why}")
    statuses = {p.status for p in planned if p.status != "ready"}
    if failed or not_stored:
        from benchmark.util.command import bench_command
        typed = bench_command(sys.argv)
        again, states = ((typed, "`" + typed.replace("bench run", "bench plan", 1) + "`")
                         if typed.startswith("bench run ") else ("the same `bench run`", "`bench plan` with its options"))
        lines.append(f"Next: {again}    (again: stored jobs are reused, the {len(failed) + len(not_stored)} "
                     f"missing one(s) run; {states} shows each job's state)")
    if scheduler is not None and (submitted or (summary is not None and summary.skipped)):
        lines.append(f"Next: {status_cmd}    (what {scheduler} says of each job), then {report_cmd}")
    elif done or reused:
        lines.append(f"Next: {report_cmd}    (the whole table beside the paper)")
    elif failed or not_stored:
        pass  # the next command is the one above
    elif "no-weights" in statuses:
        lines.append("Next: bench weights    (what is missing and where it is looked for)")
    elif "no-data" in statuses:
        lines.append("Next: bench stats    (which languages your data has), then --languages with one of them")
    else:
        lines.append("Next: bench models    (the registered models), then --models with one of them")
    return lines

"""``bench plan`` and ``bench status``: the state of the jobs a table plans."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from benchmark.cli.common import plan_header, split_csv, warn
from benchmark.cli.options import Execution, JobSelection, job_options, strict_code_option
from benchmark.errors import ConfigError


def _job_states(plan, store):
    """``(planned job, state, detail)`` for every job of ``plan`` whose identity is known.

    States: done / running / queued / failed / bad / missing (see ``ResultStore.state``), refined by
    what Slurm says of a submitted job (queued = pending, with Slurm's reason; running; failed,
    cancelled, timeout, out-of-memory; ``Executor.state`` of each registered executor), and blocked for a job that cannot run here (no weights, no
    images) and has no result.
    """
    from benchmark.run.executor import job_states

    found = [(p, *store.state(p.job)) for p in plan.known]
    said = job_states([store.work_path(p.job) for p, state, _ in found if state in ("queued", "running", "failed")])
    for p, state, detail in found:
        told = said.get(store.work_path(p.job))
        if told and (state != "running" or told[0] in ("queued", "running")):  # a local run outlives a dead task
            state, detail = told
        if p.status != "ready" and state == "missing":
            state, detail = "blocked", p.reason
        yield p, state, detail


@click.command(name="plan", epilog="""\b
Examples:
  bench plan --table 5 --models bilstm-crf --languages en
  bench plan --table 8 --results results/reference
  bench plan --table 5 --price --device cuda --wall-time 8   # GPU-hours, GPUs for 8 h""")
@job_options()
@click.option("--price", is_flag=True, help="Estimated time and peak memory of each job on --device (from "
              "`bench profile` records in results/benchmarks, else a FLOP model), the total device-hours.")
@click.option("--wall-time", type=click.FloatRange(min=0, min_open=True),
              help="With --price: hours you can wait; prints how many devices finish the jobs within it.")
@strict_code_option
def plan_cmd(job_opts: JobSelection, execution: Execution, results: str, price: bool, wall_time: float | None,
             strict_code: bool) -> None:
    """List a table's jobs with their state: done, running, queued, failed, bad, missing (and --price)."""
    from tabulate import tabulate

    from benchmark.run.plan import make_plan
    from benchmark.run.store import ResultStore

    plan = make_plan(job_opts.plan_options(execution), echo=lambda m: click.echo(m, err=True))
    for w in plan.warnings:
        warn(w)
    from benchmark.report.breakdown import code_frame, strict_code as check_code
    from benchmark.report.render import CODE_MARK, code_rows

    store = ResultStore(results)
    rows, counts = [], {}
    states = list(_job_states(plan, store))
    coded = code_frame(plan, store).rows
    code_of = {job_id: fr.code for fr in coded if fr.code for job_id in fr.job_ids}
    for p, state, detail in states:
        counts[state] = counts.get(state, 0) + 1
        if p.job.job_id in code_of:
            detail = f"{CODE_MARK} code {code_of[p.job.job_id]}" + (f"; {detail}" if detail else "")
        rows.append([state, p.job.job_id, p.job.model, p.job.setting.label(), p.job.seed, detail])
    headers = ["state", "job", "model", "setting", "seed", "detail"]
    total = None
    if price:
        from benchmark.run.cost import price_jobs

        device = execution.device or "auto"
        device = "cuda" if device == "auto" else device
        estimates, total = price_jobs([p.job for p, _, _ in states], device,
                                      wall_time * 3600 if wall_time else None, Path("results") / "benchmarks")
        for row, est in zip(rows, estimates):
            row += [f"{est.seconds / 3600:.2f}", f"{est.peak_mem_bytes / 2**30:.1f}",
                    "profile" if est.source.startswith("profile") else "FLOP model"]
        headers += [f"hours ({device})", "peak GiB", "estimate from"]
    click.echo(f"Table {plan.table.number} ({plan_header(plan)}), results {store.root}:")
    if rows:
        click.echo(tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True))
    if total is not None:
        click.echo("price: " + total.summary("GPU" if device.startswith("cuda") else "CPU"))
    unknown = [(reason, rws) for reason, rws in plan.blocked().items()
               if any(p.job is None and p.reason == reason for p in plan.jobs)]
    for reason, rws in unknown:
        click.echo(f"  not planned, {len(rws)} row(s): {reason}")
    flagged = code_rows(coded)
    if flagged:
        click.echo(f"{CODE_MARK} code changed, {len(flagged)} row(s): " + "; ".join(flagged))
    click.echo(", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "0 jobs planned")
    if strict_code:
        check_code(flagged, f"Table {plan.table.number}")


@click.command(epilog="""\b
Examples:
  bench status                                   # every table, results/local
  bench status --results results/reference --table 5""")
@job_options(table_required=False)
@strict_code_option
def status(job_opts: JobSelection, execution: Execution, results: str, strict_code: bool) -> None:
    """Summarise a results folder per table for the given options (and what else it holds)."""
    from benchmark.registry import get_model
    from benchmark.report.breakdown import code_frame, strict_code as check_code
    from benchmark.report.render import CODE_MARK, code_rows, describe_other_results
    from benchmark.tables import TABLES, extend_with, get_table
    from benchmark.run.plan import make_plan
    from benchmark.run.store import JOB_STATES, ResultStore

    store = ResultStore(results)
    if not store.root.is_dir():
        raise ConfigError(f"results folder {store.root} does not exist")
    wanted = {get_model(n).name if n not in {r.model for t in TABLES for r in get_table(t).rows} else n
              for n in split_csv(job_opts.model_names) or []}
    numbers = [job_opts.table_no] if job_opts.table_no is not None else list(TABLES)
    echo_err = lambda m: click.echo(m, err=True)  # noqa: E731
    planned_ids: set[str] = set()
    all_jobs = []
    flagged: list[str] = []
    for number in numbers:
        table = get_table(number)
        names = [n for n in wanted if n in {r.model for r in extend_with(table, wanted).rows}] if wanted else None
        if wanted and not names:
            continue
        chosen = replace(job_opts, table_no=number, model_names=",".join(names) if names else None)
        plan = make_plan(chosen.plan_options(execution), echo=echo_err)
        echo_err = lambda m: None  # noqa: E731 - announce the corpus once
        counts = dict.fromkeys((*JOB_STATES, "blocked"), 0)
        for p, state, _ in _job_states(plan, store):
            counts[state] = counts.get(state, 0) + 1
            planned_ids.add(p.job.job_id)
            all_jobs.append(p.job)
        unplanned = len({(p.row.group, p.row.method) for p in plan.jobs if p.job is None})
        coded = code_rows(code_frame(plan, store).rows)
        flagged += [f"Table {number} {row}" for row in coded]
        click.echo(f"Table {number}: {len(plan.known)} job(s): " + ", ".join(f"{n} {s}" for s, n in counts.items())
                   + (f"; {unplanned} row(s) not planned (not implemented or no data)" if unplanned else "")
                   + (f"; {CODE_MARK} code changed in {len(coded)} row(s): " + "; ".join(coded) if coded else ""))
    stored = list(store.scan())
    others = [(path, job) for path, job in stored if path.name not in planned_ids]
    click.echo(f"{store.root}: {len(stored)} stored result folder(s), {len(others)} outside these plans"
               + (f" ({describe_other_results(all_jobs, others)})" if others else ""))
    if strict_code:
        check_code(flagged, "these tables")

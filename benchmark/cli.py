"""The ``bench`` command line: validate, stats, models, run, report (and more subcommands below).

Every user-facing error is one line on stderr with exit code 2 (``BenchError``); results already
stored are never touched by a failure.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from benchmark.errors import BenchError, ConfigError

DEFAULT_RESULTS = "results/local"  # the user's own runs (git-ignored); committed runs: results/reference
REFERENCE_RESULTS = "results/reference"


class BenchGroup(click.Group):
    """Turns ``BenchError`` into ``bench: <message>`` + exit 2, without a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BenchError as exc:
            click.echo(f"bench: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except OSError as exc:  # disk full, read-only folder, no permission: one line, exit 2
            from benchmark.util.io import DISK_ERRNOS, write_error
            if exc.errno not in DISK_ERRNOS:
                raise
            click.echo(f"bench: {write_error(exc)}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("bench: interrupted (finished jobs are stored; unfinished ones resume next time)", err=True)
            ctx.exit(130)


@click.group(cls=BenchGroup)
@click.version_option(package_name="mmner-bench")
def main() -> None:
    """mmner-bench: reproduce Tables 2 and 5-9 of the 2M-NER paper on MMNERD."""
    # OpenMP threads that spin while waiting make small CPU models many times slower when another
    # process shares the cores; passive waiting costs nothing measurable otherwise. Set before
    # torch is imported (subcommands import it lazily); an explicit user setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _parse_hp(items: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--hp expects KEY=VALUE, got {item!r}")
        key, raw = item.split("=", 1)
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _device(name: str) -> str:
    if name == "auto":
        import torch
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        import torch
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name}: no CUDA device is visible (use --device cpu)")
    return name


def _set_threads(threads: int | None) -> None:
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {threads}")
    if threads:
        import torch
        torch.set_num_threads(threads)


def _corpus_options(func: Any) -> Any:
    """``--corpus NAME`` and ``--label-map TYPE=TYPE`` (shared by run, stats and validate)."""
    func = click.option("--label-map", "label_map", multiple=True,
                        help="Read an entity type as another, e.g. OTHER=MISC (target O drops it); repeatable.")(func)
    return click.option("--corpus", "corpus_name", default="mmnerd", show_default=True,
                        help="Registered corpus (layout, types, tag scheme): mmnerd, twitter2017, ... "
                             "Without --data-dir and $MMNERD_DIR the built-in corpus is used.")(func)


def _cache_dir() -> Path:
    from benchmark.corpora.builtin import default_root
    return default_root().parent / "features"


# ---------------------------------------------------------------------------------------------
@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--max-warnings", default=10, show_default=True, help="Warnings printed per file.")
@click.option("--scheme", type=click.Choice(["iob2", "iob1", "bioes"]),
              help="Tag scheme of the files (default: the corpus's, IOB2 for MMNERD).")
@_corpus_options
def validate(files: tuple[str, ...], max_warnings: int, scheme: str | None, corpus_name: str,
             label_map: tuple[str, ...]) -> None:
    """Check MMNERD/CoNLL files: counts, or the first error as FILE:LINE: message (exit 2)."""
    from benchmark.corpora.labels import check_label_map, parse_label_map
    from benchmark.corpora.reader import ReadReport, read_conll
    from benchmark.corpora.registry import get_corpus_entry

    entry = get_corpus_entry(corpus_name)
    labels = {**entry.label_map, **parse_label_map(label_map)}
    check_label_map(labels, entry.entity_types, entry.name)
    for path in files:
        report = ReadReport(path)
        read_conll(path, report=report, scheme=scheme or entry.tag_scheme, label_map=labels,
                   entity_types=entry.entity_types)
        warn = f", {len(report.warnings)} warning(s)" if report.warnings else ""
        click.echo(f"{path}: {report.sentences} sentences, {report.tokens} tokens, {report.entities} entities{warn}")
        for w in report.warnings[:max_warnings]:
            click.echo(f"  warning: {w}")
        if len(report.warnings) > max_warnings:
            click.echo(f"  ... {len(report.warnings) - max_warnings} more warning(s)")
        for note in report.notes:
            click.echo(f"  note: {note}")


@main.command()
@click.option("--data-dir", type=click.Path(file_okay=False), help="MMNERD root (default: $MMNERD_DIR).")
@click.option("--format", "fmt", type=click.Choice(["markdown", "latex", "csv"]), default="markdown")
@click.option("--output", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@_corpus_options
def stats(data_dir: str | None, fmt: str, output: str | None, corpus_name: str, label_map: tuple[str, ...]) -> None:
    """Reproduce Table 2 (entities per type, sentences) from the files, beside the paper's values."""
    from benchmark.corpora.labels import parse_label_map
    from benchmark.corpora.resolve import resolve_corpus
    from benchmark.corpora.stats import dataset_stats, render_stats

    corpus = resolve_corpus(data_dir, echo=lambda m: click.echo(m, err=True), corpus=corpus_name,
                            label_map=parse_label_map(label_map))
    text = render_stats(dataset_stats(corpus), fmt, corpus.kind)
    _emit(text, output)


@main.command()
def models() -> None:
    """List registered models with modality, defaults and citation."""
    from tabulate import tabulate

    from benchmark.registry import MODELS

    rows = [[s.name, s.display, s.modality, s.citation, ", ".join(s.needs) or "-"] for s in MODELS.values()]
    click.echo(tabulate(rows, headers=["name", "method", "modality", "reference", "pretrained artefacts"],
                        tablefmt="github"))


# ---------------------------------------------------------------------------------------------
# run / plan / status / report: the same options, expanded by one function (make_plan)
# ---------------------------------------------------------------------------------------------

def _at_least_one(name: str):
    def check(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be >= 1, got {value}")
        return value
    return check


def job_options(table_required: bool = True):
    """The options that decide a job list (shared by run, plan, status and report), plus the
    execution options of ``run`` (accepted everywhere so a run's command line can be reused;
    they never change which jobs are meant)."""
    def decorate(f):
        opts = [
            click.option("--table", "table_no", type=int, required=table_required,
                         help="Paper table number (5-9)." + ("" if table_required else " Default: every table.")),
            click.option("--models", "model_names", help="Comma-separated registry names (default: all rows)."),
            click.option("--languages", help="Comma-separated test languages: all,en,fr,es,de."),
            click.option("--profile", type=click.Choice(["paper", "smoke"]), default="paper", show_default=True),
            click.option("--seeds", type=int, callback=_at_least_one("--seeds"),
                         help="Runs per row, seeds 1..N (default: the table's own repeats)."),
            click.option("--hp", multiple=True, help="Hyperparameter override KEY=VALUE (JSON values), repeatable."),
            click.option("--data-dir", type=click.Path(file_okay=False),
                         help="MMNERD root (default: $MMNERD_DIR; the built-in corpus only when neither is given)."),
            click.option("--image-dir", type=click.Path(file_okay=False),
                         help="Image folder (default: $MMNERD_IMAGE_DIR, else <data-dir>/images)."),
            click.option("--corpus", "--data-kind", "corpus_name", default="mmnerd", show_default=True,
                         help="Registered corpus (layout, types, tag scheme): mmnerd, twitter2017, ... "
                              "Without --data-dir and $MMNERD_DIR the built-in corpus is used."),
            click.option("--label-map", "label_map", multiple=True,
                         help="Read an entity type as another, e.g. OTHER=MISC (target O drops it); repeatable."),
            click.option("--allow-missing-images", is_flag=True,
                         help="Run multimodal rows even when no image folder is found (images substituted, flagged)."),
            click.option("--results", default=DEFAULT_RESULTS, show_default=True, type=click.Path(file_okay=False)),
            click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto (run only)."),
            click.option("--threads", type=int, envvar="BENCH_THREADS", callback=_at_least_one("--threads"),
                         help="CPU threads for torch (run only; default: torch's choice). 1 is often as fast for "
                              "the LSTM models and avoids slow-downs when other processes share the cores."),
            click.option("--overwrite", type=click.Choice(["never", "always"]), default="never", show_default=True,
                         help="never: skip jobs already stored (resume); always: re-run them (run only)."),
            click.option("--executor", type=click.Choice(["local", "slurm"]), default="local", show_default=True),
            click.option("--slurm-partition", help="Slurm partition (with --executor slurm)."),
        ]
        for opt in reversed(opts):
            f = opt(f)
        return f
    return decorate


def _plan_options(table_no: int, model_names: str | None, languages: str | None, profile: str,
                  seeds: int | None, hp: tuple[str, ...], data_dir: str | None, image_dir: str | None,
                  allow_missing_images: bool, corpus_name: str, label_map: tuple[str, ...]):
    from benchmark.corpora.labels import parse_label_map
    from benchmark.run.plan import PlanOptions

    names = _split(model_names)
    langs = _split(languages)
    return PlanOptions(table=table_no, models=tuple(names) if names else None,
                       languages=tuple(langs) if langs else None, profile=profile, seeds=seeds,
                       hp=tuple(_parse_hp(hp).items()), data_dir=data_dir, image_dir=image_dir,
                       allow_missing_images=allow_missing_images, corpus=corpus_name,
                       label_map=tuple(sorted(parse_label_map(label_map).items())))


def _warn(message: str) -> None:
    click.echo(f"bench: warning: {message}", err=True)


def _check_executor(executor: str) -> None:
    if executor != "slurm":
        return
    import shutil
    if shutil.which("sbatch") is None:
        raise ConfigError("--executor slurm: no Slurm on this machine (sbatch is not on PATH); "
                          "run on a Slurm login node or use --executor local")
    try:
        import submitit  # noqa: F401
    except ImportError:
        raise ConfigError("--executor slurm needs submitit: pip install 'mmner-bench[slurm]'") from None


def _plan_header(plan) -> str:
    opts = plan.options
    hp = ", ".join(f"{k}={json.dumps(v)}" for k, v in opts.hp)
    images = plan.image_source if any(p.row.use_image for p in plan.jobs) else None
    return (f"profile {opts.profile}, data {plan.corpus.display} at {plan.corpus.root}"
            + (f", images {images}" if images else "") + (f", hp {hp}" if hp else ""))


@main.command()
@job_options()
@click.option("--dry-run", is_flag=True, help="Only print the plan.")
def run(table_no: int, model_names: str | None, languages: str | None, profile: str, seeds: int | None,
        hp: tuple[str, ...], data_dir: str | None, image_dir: str | None, corpus_name: str,
        label_map: tuple[str, ...], allow_missing_images: bool, results: str, device: str, threads: int | None,
        overwrite: str, executor: str, slurm_partition: str | None, dry_run: bool) -> None:
    """Run the jobs of a table; finished jobs are skipped, interrupted ones resume."""
    from benchmark.run.executors import LocalExecutor, SlurmExecutor
    from benchmark.run.plan import make_plan
    from benchmark.run.specs import Result
    from benchmark.run.store import BadResult, ResultStore

    _check_executor(executor)
    device = _device(device) if executor == "local" else device
    _set_threads(threads)
    plan = make_plan(_plan_options(table_no, model_names, languages, profile, seeds, hp, data_dir, image_dir,
                                   allow_missing_images, corpus_name, label_map), echo=lambda m: click.echo(m, err=True))
    for w in plan.warnings:
        _warn(w)
    if not plan.ready:
        raise ConfigError(f"Table {plan.table.number}: 0 jobs can run ({plan.why_nothing()})")
    store = ResultStore(results)
    todo, stored, bad = [], 0, []
    for job in plan.ready:
        found = store.read(job)
        if isinstance(found, Result) and overwrite == "never":
            stored += 1
            continue
        if isinstance(found, BadResult):
            bad.append(found)
        todo.append(job)
    click.echo(f"Table {plan.table.number}: {len(plan.jobs)} planned, {stored} already stored, {len(todo)} to run "
               f"({_plan_header(plan)})")
    for reason, rows in plan.blocked().items():
        click.echo(f"  skipped {len(rows)} row(s): {reason}")
    for b in bad:
        if dry_run:
            _warn(f"bad stored result {b.message()}; a run moves it aside and re-runs the job")
        else:
            _warn(f"bad stored result {b.message()}; moved aside to {store.quarantine(b)}, the job re-runs")
    if dry_run or not todo:
        for job in todo:
            click.echo(f"  would run {job.job_id} {job.model} {job.setting.label()} seed {job.seed}")
        return
    from benchmark.util.io import ensure_dir
    ensure_dir(store.root)
    if executor == "slurm":
        runner = SlurmExecutor(Path(results) / ".slurm", partition=slurm_partition, cache_dir=_cache_dir())
    else:
        runner = LocalExecutor(device, cache_dir=_cache_dir(), overwrite=overwrite == "always")
    summary = runner.run(todo, plan.corpus, store, echo=click.echo)
    if summary.skipped:
        click.echo(f"{len(summary.skipped)} job(s) skipped: another process is running them.")
    if summary.failed:
        click.echo(f"{len(summary.failed)} job(s) failed; the others are stored.", err=True)
        sys.exit(1)


def _job_states(plan, store):
    """``(planned job, state, detail)`` for every job of ``plan`` whose identity is known.

    States: done / running / queued / failed / bad / missing (see ``ResultStore.state``), and
    blocked for a job that cannot run here (no weights, no images) and has no result.
    """
    for p in plan.known:
        state, detail = store.state(p.job)
        if p.status != "ready" and state == "missing":
            state, detail = "blocked", p.reason
        yield p, state, detail


@main.command(name="plan")
@job_options()
def plan_cmd(table_no: int, model_names: str | None, languages: str | None, profile: str, seeds: int | None,
             hp: tuple[str, ...], data_dir: str | None, image_dir: str | None, corpus_name: str,
             label_map: tuple[str, ...], allow_missing_images: bool, results: str, **_execution: Any) -> None:
    """List a table's jobs with their state: done, running, queued, failed, bad, missing."""
    from tabulate import tabulate

    from benchmark.run.plan import make_plan
    from benchmark.run.store import ResultStore

    plan = make_plan(_plan_options(table_no, model_names, languages, profile, seeds, hp, data_dir, image_dir,
                                   allow_missing_images, corpus_name, label_map), echo=lambda m: click.echo(m, err=True))
    for w in plan.warnings:
        _warn(w)
    store = ResultStore(results)
    rows, counts = [], {}
    for p, state, detail in _job_states(plan, store):
        counts[state] = counts.get(state, 0) + 1
        rows.append([state, p.job.job_id, p.job.model, p.job.setting.label(), p.job.seed, detail])
    click.echo(f"Table {plan.table.number} ({_plan_header(plan)}), results {store.root}:")
    if rows:
        click.echo(tabulate(rows, headers=["state", "job", "model", "setting", "seed", "detail"],
                            tablefmt="github", disable_numparse=True))
    unknown = [(reason, rws) for reason, rws in plan.blocked().items()
               if any(p.job is None and p.reason == reason for p in plan.jobs)]
    for reason, rws in unknown:
        click.echo(f"  not planned, {len(rws)} row(s): {reason}")
    click.echo(", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "0 jobs planned")


@main.command()
@job_options(table_required=False)
def status(table_no: int | None, model_names: str | None, languages: str | None, profile: str,
           seeds: int | None, hp: tuple[str, ...], data_dir: str | None, image_dir: str | None, corpus_name: str,
           label_map: tuple[str, ...], allow_missing_images: bool, results: str, **_execution: Any) -> None:
    """Summarise a results folder per table for the given options (and what else it holds)."""
    from benchmark.registry import get_model
    from benchmark.report.render import describe_other_results
    from benchmark.report.tables import TABLES, get_table
    from benchmark.run.plan import make_plan
    from benchmark.run.store import JOB_STATES, ResultStore

    store = ResultStore(results)
    if not store.root.is_dir():
        raise ConfigError(f"results folder {store.root} does not exist")
    wanted = {get_model(n).name if n not in {r.model for t in TABLES for r in get_table(t).rows} else n
              for n in _split(model_names) or []}
    numbers = [table_no] if table_no is not None else list(TABLES)
    echo_err = lambda m: click.echo(m, err=True)  # noqa: E731
    planned_ids: set[str] = set()
    all_jobs = []
    for number in numbers:
        table = get_table(number)
        names = [n for n in wanted if n in {r.model for r in table.rows}] if wanted else None
        if wanted and not names:
            continue
        plan = make_plan(_plan_options(number, ",".join(names) if names else None, languages, profile, seeds, hp,
                                       data_dir, image_dir, allow_missing_images, corpus_name, label_map), echo=echo_err)
        echo_err = lambda m: None  # noqa: E731 - announce the corpus once
        counts = dict.fromkeys((*JOB_STATES, "blocked"), 0)
        for p, state, _ in _job_states(plan, store):
            counts[state] += 1
            planned_ids.add(p.job.job_id)
            all_jobs.append(p.job)
        unplanned = len({(p.row.group, p.row.method) for p in plan.jobs if p.job is None})
        click.echo(f"Table {number}: {len(plan.known)} job(s): " + ", ".join(f"{n} {s}" for s, n in counts.items())
                   + (f"; {unplanned} row(s) not planned (not implemented or no data)" if unplanned else ""))
    stored = list(store.scan())
    others = [(path, job) for path, job in stored if path.name not in planned_ids]
    click.echo(f"{store.root}: {len(stored)} stored result folder(s), {len(others)} outside these plans"
               + (f" ({describe_other_results(all_jobs, others)})" if others else ""))


@main.command()
@job_options()
@click.option("--format", "fmt", type=click.Choice(["markdown", "latex", "csv"]), default="markdown")
@click.option("--compare-paper", is_flag=True, help="Print the paper's value and the difference beside ours.")
@click.option("--mode", type=click.Choice(["conlleval", "strict"]), default="conlleval", show_default=True,
              help="conlleval = seqeval mode=None (the paper); strict = IOB2 strict.")
@click.option("--selection", type=click.Choice(["dev", "test_max"]), default="dev", show_default=True,
              help="Epoch selection: best dev (paper) or best test (authors' code).")
@click.option("--output", type=click.Path(dir_okay=False), help="Write here (atomically) instead of stdout.")
def report(table_no: int, model_names: str | None, languages: str | None, profile: str, seeds: int | None,
           hp: tuple[str, ...], data_dir: str | None, image_dir: str | None, corpus_name: str,
           label_map: tuple[str, ...], allow_missing_images: bool, results: str, fmt: str, compare_paper: bool,
           mode: str, selection: str, output: str | None, **_execution: Any) -> None:
    """Render a table from the stored results of exactly the jobs `bench run` plans with these options."""
    from benchmark.report.render import build_frame, describe_other_results, render
    from benchmark.run.plan import make_plan
    from benchmark.run.store import ResultStore, lookup

    plan = make_plan(_plan_options(table_no, model_names, languages, profile, seeds, hp, data_dir, image_dir,
                                   allow_missing_images, corpus_name, label_map), echo=lambda m: click.echo(m, err=True))
    store = ResultStore(results)
    if not store.root.is_dir():
        raise ConfigError(f"results folder {store.root} does not exist (run `bench run` with the same options first)")
    jobs = [p.job for p in plan.known]
    found, bad = lookup(store, jobs)
    for b in bad:
        _warn(f"bad stored result {b.message()} (left out; `bench run` with the same options re-runs it)")
    if not found:
        raise ConfigError(f"no stored result in {store.root} matches the {len(jobs)} job(s) of Table "
                          f"{plan.table.number} ({_plan_header(plan)}); the folder holds: "
                          f"{describe_other_results(jobs, store.scan())}")
    notes = []
    if plan.options.hp:
        notes.append("Hyperparameter overrides: " + ", ".join(f"{k}={json.dumps(v)}" for k, v in plan.options.hp)
                     + " (not the paper's settings).")
    if bad:
        notes.append(f"{len(bad)} stored result(s) unreadable and left out: "
                     + "; ".join(str(b.path) for b in bad) + ".")
    frame = build_frame(plan.table, [(p.row, p.job) for p in plan.known], found, plan.options.profile,
                        plan.corpus.kind, mode, selection, notes)
    _emit(render(frame, fmt, compare_paper), output)


@main.command()
@click.option("--results", default=REFERENCE_RESULTS, show_default=True, type=click.Path(file_okay=False))
@click.option("--readme", default="README.md", show_default=True, type=click.Path(dir_okay=False))
@click.option("--data-dir", type=click.Path(file_okay=False), help="MMNERD root (default: $MMNERD_DIR).")
def readme(results: str, readme: str, data_dir: str | None) -> None:
    """Regenerate the README's results section from the stored paper-profile results."""
    from benchmark.report.readme import update_readme
    from benchmark.run.store import ResultStore

    changed = update_readme(Path(readme), ResultStore(results), data_dir)
    click.echo(f"{readme}: results section {'updated' if changed else 'already up to date'}")


def _emit(text: str, output: str | None) -> None:
    if output:
        from benchmark.util.io import write_text
        write_text(output, text)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


@main.command()
@click.option("--suite", type=click.Choice(["smoke"]), default="smoke", show_default=True)
@click.option("--baseline", type=click.Path(dir_okay=False),
              help="Baseline JSON (default: results/baselines/<suite>.json).")
@click.option("--tolerance", help="Allowed drop per metric, e.g. test_f1=0.5,final_loss=0.1 or all=2.")
@click.option("--models", "model_names", help="Comma-separated registry names (default: every registered model).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="MMNERD root (default: $MMNERD_DIR).")
@click.option("--update", is_flag=True, help="Rewrite the baseline with the current metrics (and show what changed).")
@click.option("--threads", type=int, envvar="BENCH_THREADS", help="CPU threads for torch.")
@click.option("--show-all", is_flag=True, help="List unchanged metrics too.")
def check(suite: str, baseline: str | None, tolerance: str | None, model_names: str | None, data_dir: str | None,
          update: bool, threads: int | None, show_all: bool) -> None:
    """Regression check: every model on a small fixed subset vs the committed baseline (exit 1 on regression)."""
    from benchmark.run.check import (FAILING, baseline_path, compare, load_baseline, measure, parse_tolerances,
                                 render_findings, save_baseline)
    from benchmark.corpora.resolve import resolve_corpus
    from benchmark.registry import get_model

    _set_threads(threads)
    tolerances = parse_tolerances(tolerance)
    corpus = resolve_corpus(data_dir, echo=lambda m: click.echo(m, err=True))
    path = Path(baseline) if baseline else baseline_path("results", suite)
    names = [get_model(n).name for n in _split(model_names) or []] or None
    base = load_baseline(path, corpus.kind)
    if base is None and not update:
        click.echo(f"bench: no baseline for data '{corpus.kind}' in {path}; create it with `bench check --update`", err=True)
        sys.exit(2)
    click.echo(f"bench check ({suite}, data {corpus.kind}): training {len(names) if names else 'every'} model(s)...")
    current = measure(corpus, suite, names, echo=click.echo)
    if base is not None and names:
        base = {**base, "models": {k: v for k, v in base["models"].items() if k in names}}
    if update:
        if base is not None:
            click.echo(render_findings(compare(base, current, tolerances), show_all=True))
        if names and base is not None:  # partial update keeps the other models' baselines
            full = load_baseline(path, corpus.kind) or {"models": {}}
            current = {**current, "models": {**full["models"], **current["models"]}}
        save_baseline(path, corpus.kind, current)
        click.echo(f"baseline written: {path} [{corpus.kind}]")
        return
    findings = compare(base, current, tolerances)
    click.echo(render_findings(findings, show_all))
    failed = [f for f in findings if f.status in FAILING]
    if failed:
        click.echo(f"REGRESSION: {len(failed)} metric(s) outside tolerance "
                   f"({', '.join(sorted({f.model for f in failed}))})", err=True)
        sys.exit(1)
    click.echo("OK: no regression")


@main.command()
@click.option("--grid", "grid_table", type=int, help="Time a table's whole grid (every job, one seed).")
@click.option("--profile", "run_profile", type=click.Choice(["paper", "smoke"]), default="smoke", show_default=True)
@click.option("--data-dir", type=click.Path(file_okay=False),
              help="Corpus root (default: $MMNERD_DIR; --fallback forces the built-in corpus).")
@click.option("--fallback", is_flag=True, help="Use the built-in fallback corpus (all four languages).")
@click.option("--device", default="auto", show_default=True)
@click.option("--threads", type=int, envvar="BENCH_THREADS")
@click.option("--results", default="results", show_default=True, type=click.Path(file_okay=False),
              help="Records go to RESULTS/benchmarks/.")
@click.option("--name", help="Record name under results/benchmarks/ (default derived from the options).")
@click.option("--viterbi", is_flag=True, help="Time CRF decoding + scoring of the English test set (both decoders).")
@click.option("--model", "model_name", help="Parameters, sentences/s and peak memory of a model (e.g. 2m-ner).")
def profile(grid_table: int | None, run_profile: str, data_dir: str | None, fallback: bool, device: str,
            threads: int | None, results: str, name: str | None, viterbi: bool, model_name: str | None) -> None:
    """Measure and record performance figures in results/benchmarks/ (no timed tests)."""
    from benchmark.corpora.resolve import resolve_corpus
    from benchmark.corpora.builtin import ensure_fallback_corpus
    from benchmark.run.timing import record, time_table_grid

    _set_threads(threads)
    if sum(x is not None and x is not False for x in (grid_table, viterbi or None, model_name)) != 1:
        raise ConfigError("bench profile: choose exactly one of --grid N, --viterbi, --model NAME")
    corpus = ensure_fallback_corpus() if fallback else resolve_corpus(data_dir, echo=lambda m: click.echo(m, err=True))
    if viterbi:
        from benchmark.run.profile import format_profile, profile_viterbi
        lang = "en" if corpus.has_language("en") else corpus.available_languages()[0]
        out = profile_viterbi(corpus.load([lang], "test"), threads=threads)
        click.echo(format_profile(out))
        path = record(results, name or f"viterbi_{corpus.kind}_{lang}", {"data_kind": corpus.kind, **out})
        click.echo(f"-> {path}")
        return
    if model_name:
        from benchmark.registry import get_model
        from models.two_m_ner.profile import profile_model
        spec = get_model(model_name)
        out = profile_model(spec.name, run_profile, _device(device))
        click.echo(json.dumps(out, indent=1, default=str))
        path = record(results, name or f"model_{spec.name}_{run_profile}_{out.get('device', device)}", out)
        click.echo(f"-> {path}")
        return
    click.echo(f"timing Table {grid_table} grid, profile {run_profile}, data {corpus.kind}")
    payload = time_table_grid(grid_table, corpus, run_profile, _device(device), echo=click.echo)
    path = record(results, name or f"grid_table{grid_table}_{run_profile}_{corpus.kind}", payload)
    click.echo(f"{payload['jobs']} jobs in {payload['total_seconds']:.1f}s -> {path}")
    for reason in payload["not_run"]:
        click.echo(f"  not run: {reason}")


@main.command()
@click.option("--models", "model_names", help="Comma-separated registry names (default: all).")
@click.option("--download", is_flag=True, help="Fetch what is missing (needs network; e.g. on a login node).")
@click.argument("artifacts", nargs=-1)
def weights(model_names: str | None, download: bool, artifacts: tuple[str, ...]) -> None:
    """What pretrained artefacts each model needs, and whether they are present (or --download them)."""
    from tabulate import tabulate

    from benchmark import weights as w

    if download:
        ids = list(artifacts) or None
        if ids is None and model_names:
            from benchmark.registry import get_model
            ids = list(dict.fromkeys(a for n in _split(model_names) or [] for a in get_model(n).needs))
        w.download(ids, log=click.echo)
        return
    rows = w.status(_split(model_names))
    click.echo(tabulate([[r.model, r.artifact, "yes" if r.present else "NO", r.where] for r in rows],
                        headers=["model", "artefact", "present", "where"], tablefmt="github"))
    if any(not r.present for r in rows):
        click.echo(f"weights folder: {w.weights_dir()} (set MMNER_WEIGHTS_DIR); "
                   "`bench weights --download` fetches missing ones where a network exists")


if __name__ == "__main__":  # pragma: no cover
    main()
    os._exit(0)

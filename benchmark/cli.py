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
    if threads:
        import torch
        torch.set_num_threads(threads)


def _cache_dir() -> Path:
    from benchmark.corpora.builtin import default_root
    return default_root().parent / "features"


# ---------------------------------------------------------------------------------------------
@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--max-warnings", default=10, show_default=True, help="Warnings printed per file.")
def validate(files: tuple[str, ...], max_warnings: int) -> None:
    """Check MMNERD/CoNLL files: counts, or the first error as FILE:LINE: message (exit 2)."""
    from benchmark.corpora.reader import ReadReport, read_conll

    for path in files:
        report = ReadReport(path)
        read_conll(path, report=report)
        warn = f", {len(report.warnings)} warning(s)" if report.warnings else ""
        click.echo(f"{path}: {report.sentences} sentences, {report.tokens} tokens, {report.entities} entities{warn}")
        for w in report.warnings[:max_warnings]:
            click.echo(f"  warning: {w}")
        if len(report.warnings) > max_warnings:
            click.echo(f"  ... {len(report.warnings) - max_warnings} more warning(s)")


@main.command()
@click.option("--data-dir", type=click.Path(file_okay=False), help="MMNERD root (default: $MMNERD_DIR).")
@click.option("--format", "fmt", type=click.Choice(["markdown", "latex", "csv"]), default="markdown")
@click.option("--output", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
def stats(data_dir: str | None, fmt: str, output: str | None) -> None:
    """Reproduce Table 2 (entities per type, sentences) from the files, beside the paper's values."""
    from benchmark.corpora.reader import resolve_corpus
    from benchmark.corpora.stats import dataset_stats, render_stats

    corpus = resolve_corpus(data_dir, echo=lambda m: click.echo(m, err=True))
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


@main.command()
@click.option("--table", "table_no", type=int, required=True, help="Paper table number (5-9).")
@click.option("--models", "model_names", help="Comma-separated registry names (default: all rows).")
@click.option("--languages", help="Comma-separated test languages: all,en,fr,es,de.")
@click.option("--profile", type=click.Choice(["paper", "smoke"]), default="paper", show_default=True)
@click.option("--seeds", type=int, help="Runs per row (default: the table's own repeats).")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option("--data-dir", type=click.Path(file_okay=False), help="MMNERD root (default: $MMNERD_DIR).")
@click.option("--image-dir", type=click.Path(file_okay=False), help="Image folder (default: $MMNERD_IMAGE_DIR).")
@click.option("--results", default=DEFAULT_RESULTS, show_default=True, type=click.Path(file_okay=False))
@click.option("--overwrite", type=click.Choice(["never", "always"]), default="never", show_default=True,
              help="never: skip jobs already stored (resume); always: re-run them.")
@click.option("--hp", multiple=True, help="Hyperparameter override KEY=VALUE (JSON values), repeatable.")
@click.option("--executor", type=click.Choice(["local", "slurm"]), default="local", show_default=True)
@click.option("--slurm-partition", help="Slurm partition (with --executor slurm).")
@click.option("--threads", type=int, envvar="BENCH_THREADS",
              help="CPU threads for torch (default: torch's choice). 1 is often as fast for the LSTM "
                   "models and avoids slow-downs when other processes share the cores.")
@click.option("--dry-run", is_flag=True, help="Only print the plan.")
def run(table_no: int, model_names: str | None, languages: str | None, profile: str, seeds: int | None,
        device: str, data_dir: str | None, image_dir: str | None, results: str, overwrite: str,
        hp: tuple[str, ...], executor: str, slurm_partition: str | None, threads: int | None,
        dry_run: bool) -> None:
    """Run the jobs of a table; finished jobs are skipped, interrupted ones resume."""
    _set_threads(threads)
    from benchmark.corpora.reader import resolve_corpus
    from benchmark.run.plan import plan_table
    from benchmark.registry import get_model
    from benchmark.run.executors import LocalExecutor, SlurmExecutor
    from benchmark.run.store import ResultStore
    from benchmark.report.tables import get_table

    table = get_table(table_no)
    names = _split(model_names)
    if names:  # a table's row names may be models not implemented yet; others must be registered
        row_models = {r.model for r in table.rows}
        names = [n if n in row_models else get_model(n).name for n in names]
    corpus = resolve_corpus(data_dir, image_dir, echo=lambda m: click.echo(m, err=True))
    planned = plan_table(table, corpus, profile, seeds, names, _split(languages), _parse_hp(hp))
    store = ResultStore(results)
    todo, stored = [], 0
    for p in planned:
        if p.status != "ready":
            continue
        if overwrite == "never" and store.has(p.job):
            stored += 1
        else:
            todo.append(p.job)
    blocked: dict[str, list[str]] = {}
    for p in planned:
        if p.status != "ready":
            blocked.setdefault(p.reason, []).append(f"{p.row.group} {p.row.method}".strip())
    click.echo(f"Table {table.number}: {len(planned)} planned, {stored} already stored, {len(todo)} to run "
               f"(profile {profile}, data {corpus.kind} at {corpus.root})")
    for reason, rows in blocked.items():
        click.echo(f"  skipped {len(rows)} row(s): {reason}")
    if dry_run or not todo:
        for job in todo:
            click.echo(f"  would run {job.job_id} {job.model} {job.setting.label()} seed {job.seed}")
        return
    if executor == "slurm":
        runner = SlurmExecutor(Path(results) / ".slurm", partition=slurm_partition, cache_dir=_cache_dir())
    else:
        runner = LocalExecutor(_device(device), cache_dir=_cache_dir())
    summary = runner.run(todo, corpus, store, echo=click.echo)
    if summary.failed:
        click.echo(f"{len(summary.failed)} job(s) failed; the others are stored.", err=True)
        sys.exit(1)


@main.command()
@click.option("--table", "table_no", type=int, required=True)
@click.option("--format", "fmt", type=click.Choice(["markdown", "latex", "csv"]), default="markdown")
@click.option("--results", default=DEFAULT_RESULTS, show_default=True, type=click.Path(file_okay=False))
@click.option("--compare-paper", is_flag=True, help="Print the paper's value and the difference beside ours.")
@click.option("--profile", type=click.Choice(["paper", "smoke"]), default="paper", show_default=True)
@click.option("--data-kind", type=click.Choice(["mmnerd", "fallback"]),
              help="Which corpus's results (default: MMNERD if any are stored).")
@click.option("--mode", type=click.Choice(["conlleval", "strict"]), default="conlleval", show_default=True,
              help="conlleval = seqeval mode=None (the paper); strict = IOB2 strict.")
@click.option("--selection", type=click.Choice(["dev", "test_max"]), default="dev", show_default=True,
              help="Epoch selection: best dev (paper) or best test (authors' code).")
@click.option("--output", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
def report(table_no: int, fmt: str, results: str, compare_paper: bool, profile: str, data_kind: str | None,
           mode: str, selection: str, output: str | None) -> None:
    """Render a table from stored results in the paper's layout."""
    from benchmark.report.render import build_frame, render
    from benchmark.run.store import ResultStore
    from benchmark.report.tables import get_table

    frame = build_frame(get_table(table_no), ResultStore(results).all(), profile, data_kind, mode, selection)
    _emit(render(frame, fmt, compare_paper), output)


@main.command()
@click.option("--results", default=REFERENCE_RESULTS, show_default=True, type=click.Path(file_okay=False))
@click.option("--readme", default="README.md", show_default=True, type=click.Path(dir_okay=False))
def readme(results: str, readme: str) -> None:
    """Regenerate the README's results section from the stored paper-profile results."""
    from benchmark.report.readme import update_readme
    from benchmark.run.store import ResultStore

    changed = update_readme(Path(readme), ResultStore(results))
    click.echo(f"{readme}: results section {'updated' if changed else 'already up to date'}")


def _emit(text: str, output: str | None) -> None:
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text, encoding="utf-8")
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
    from benchmark.corpora.reader import resolve_corpus
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
@click.option("--random-weights", is_flag=True,
              help="With --model and --profile paper: when pretrained weights are absent, profile the paper "
                   "architectures with random weights of the real shapes (paper-size parameter counts).")
def profile(grid_table: int | None, run_profile: str, data_dir: str | None, fallback: bool, device: str,
            threads: int | None, results: str, name: str | None, viterbi: bool, model_name: str | None,
            random_weights: bool) -> None:
    """Measure and record performance figures in results/benchmarks/ (no timed tests)."""
    from benchmark.corpora.reader import resolve_corpus
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
        out = profile_model(spec.name, run_profile, _device(device), random_weights=random_weights)
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

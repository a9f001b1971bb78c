"""``bench check``: the regression check against the committed baseline."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from benchmark.cli.common import split_csv
from benchmark.cli.options import plugin_option
from benchmark.errors import BenchError
from benchmark.util.command import bench_command


@click.command(epilog="""\b
Examples:
  bench check --threads 1
  bench check --models bilstm-crf --tolerance test_f1=1""")
@click.option("--suite", type=click.Choice(["smoke"]), default="smoke", show_default=True)
@click.option("--baseline", type=click.Path(dir_okay=False),
              help="Baseline JSON (default: results/baselines/<suite>.json).")
@click.option("--tolerance", help="Override the measured allowed drop per metric, e.g. test_f1=0.5,final_loss=0.1 "
                                  "or all=2 (default: the tolerances stored in the baseline).")
@click.option("--models", "model_names", help="Comma-separated registry names (default: every registered model).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="MMNERD root (default: $MMNERD_DIR).")
@click.option("--update", is_flag=True,
              help="Re-measure the baseline: seeds 1-3 at one thread and seed 1 at two threads per model; "
                   "stores seed 1's metrics, the spread and the tolerances derived from it (shows what changed).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes training models side by side (each pinned to its own thread count, "
                   "so the figures do not change; 2 halves the wall time on a 2-core machine).")
@click.option("--show-all", is_flag=True, help="List unchanged metrics too.")
@plugin_option
def check(suite: str, baseline: str | None, tolerance: str | None, model_names: str | None, data_dir: str | None,
          update: bool, workers: int, show_all: bool) -> None:
    """Regression check: every model on a fixed subset vs the committed baseline (exit 1 on regression).

    The check always trains with one torch thread and deterministic algorithms (the baseline's
    conditions), whatever --threads / BENCH_THREADS say elsewhere.

    \b
    Examples:
      bench check                               # what CI runs
      bench check --models bilstm-crf,2m-ner    # a subset
      bench check --update                      # re-measure; commit results/baselines/smoke.json alone
    """
    from benchmark.corpora.resolve import resolve_corpus
    from benchmark.registry import get_model
    from benchmark.run.check import (FAILING, baseline_path, compare, load_baseline, measure, measure_baseline,
                                     merge_baseline, parse_tolerances, render_findings, save_baseline)

    tolerances = parse_tolerances(tolerance)
    corpus = resolve_corpus(data_dir, echo=lambda m: click.echo(m, err=True))
    path = Path(baseline) if baseline else baseline_path("results", suite)
    names = [get_model(n).name for n in split_csv(model_names) or []] or None
    full = load_baseline(path, corpus.kind)
    if full is None and not update:
        raise BenchError(f"no baseline for data '{corpus.kind}' in {path}; create it with `bench check --update`")
    base = full
    if base is not None and names:
        base = {**base, "models": {k: v for k, v in base["models"].items() if k in names}}
    what = f"{len(names)} model(s)" if names else "every model"
    if update:
        click.echo(f"bench check --update ({suite}, data {corpus.kind}): measuring {what} over seeds and threads...")
        measured = measure_baseline(corpus, suite, names, echo=click.echo, command=bench_command(sys.argv),
                                    workers=workers)
        if base is not None:
            click.echo(render_findings(compare(base, measured, tolerances), show_all=True))
        save_baseline(path, corpus.kind, merge_baseline(full, measured) if names else measured)
        click.echo(f"baseline written: {path} [{corpus.kind}]")
        return
    click.echo(f"bench check ({suite}, data {corpus.kind}): training {what}...")
    current = measure(corpus, suite, names, echo=click.echo, workers=workers)
    findings = compare(base, current, tolerances)
    click.echo(render_findings(findings, show_all))
    failed = [f for f in findings if f.status in FAILING]
    if failed:
        click.echo(f"REGRESSION: {len(failed)} metric(s) outside tolerance "
                   f"({', '.join(sorted({f.model for f in failed}))})", err=True)
        sys.exit(1)
    click.echo("OK: no regression")

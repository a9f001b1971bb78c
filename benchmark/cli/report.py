"""``bench report`` and ``bench plot``: a table rendered or plotted from the stored results."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from benchmark.cli.common import emit, warn
from benchmark.cli.options import Execution, JobSelection, job_options, strict_code_option
from benchmark.errors import ConfigError


@click.command(epilog="""\b
Examples:
  bench report --table 5 --compare-paper                 # your runs (results/local)
  bench report --table 5 --results results/reference      # the committed reference runs
  bench report --table 5 --format latex --output tables/table5.tex""")
@job_options()
@click.option("--format", "fmt", type=click.Choice(["markdown", "latex", "csv"]), default="markdown")
@click.option("--compare-paper", is_flag=True, help="Print the paper's value and the difference beside ours.")
@click.option("--mode", type=click.Choice(["conlleval", "strict"]), default="conlleval", show_default=True,
              help="conlleval = seqeval mode=None (the paper); strict = IOB2 strict.")
@click.option("--selection", type=click.Choice(["dev", "test_max"]), default="dev", show_default=True,
              help="Epoch selection: best dev (paper) or best test (authors' code; every value marked †).")
@click.option("--significance", is_flag=True,
              help="Test every row against its block's reference row (2M-NER) on the stored test predictions.")
@click.option("--test", "sig_test", type=click.Choice(["bootstrap", "randomisation"]), default="bootstrap",
              show_default=True, help="With --significance: paired bootstrap or approximate randomisation.")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05,
              show_default=True, help="With --significance: p-value threshold for the * mark.")
@click.option("--samples", type=click.IntRange(min=1), default=1000, show_default=True,
              help="With --significance: bootstrap resamples / randomisation shuffles.")
@click.option("--by-source", is_flag=True, help="Split each row's test metrics into Twitter-2017 and CC12M sentences.")
@click.option("--allow-empty", is_flag=True,
              help="Render the table even when no stored result matches (our cells '–', the paper's beside).")
@click.option("--all-blocks", is_flag=True,
              help="Also render the blocks the plan has no job for (a language the corpus lacks or --languages "
                   "leaves out) as rows of dashes beside the paper's values (what tables/ holds).")
@click.option("--output", type=click.Path(dir_okay=False), help="Write here (atomically) instead of stdout.")
@strict_code_option
def report(job_opts: JobSelection, execution: Execution, results: str, fmt: str, compare_paper: bool, mode: str,
           selection: str, significance: bool, sig_test: str, alpha: float, samples: int, by_source: bool,
           allow_empty: bool, all_blocks: bool, output: str | None, strict_code: bool) -> None:
    """Render a table from the stored results of exactly the jobs `bench run` plans with these options
    (Table 2: counted from the data files)."""
    if job_opts.table_no == 2:
        from benchmark.corpora.resolve import resolve_corpus
        from benchmark.report.stats import dataset_stats, render_stats

        corpus = resolve_corpus(job_opts.data_dir, echo=lambda m: click.echo(m, err=True), corpus=job_opts.corpus_name)
        emit(render_stats(dataset_stats(corpus), fmt, corpus.kind, compare_paper), output)
        return
    from benchmark.report.breakdown import report_frame, strict_code as check_code
    from benchmark.report.render import code_rows, render

    plan, store = _report_plan(job_opts, results, execution)
    frame, _bad = report_frame(plan, store, mode, selection, sig_test if significance else None, alpha, samples,
                               by_source, allow_empty, warn=warn, all_blocks=all_blocks)
    if strict_code:  # before anything is written
        check_code(code_rows(frame.rows), f"Table {job_opts.table_no}")
    emit(render(frame, fmt, compare_paper), output)


@click.command(epilog="""\b
Example:
  bench plot --table 5 --results results/reference --curves""")
@job_options()
@click.option("--output-dir", default="plots", show_default=True, type=click.Path(file_okay=False))
@click.option("--mode", type=click.Choice(["conlleval", "strict"]), default="conlleval", show_default=True)
@click.option("--selection", type=click.Choice(["dev", "test_max"]), default="dev", show_default=True)
@click.option("--curves", is_flag=True, help="Also a learning-curve figure (F1 and loss by epoch) per stored job.")
def plot(job_opts: JobSelection, execution: Execution, results: str, output_dir: str, mode: str, selection: str,
         curves: bool) -> None:
    """Figures (PNG and PDF) of a table's stored results: bars, heat map (6), per-subset spread (8)."""
    from benchmark.report.breakdown import report_frame
    from benchmark.report.plots import plot_table

    plan, store = _report_plan(job_opts, results, execution)
    frame, _ = report_frame(plan, store, mode, selection)
    from benchmark.run.store import lookup

    found, _ = lookup(store, [p.job for p in plan.known])
    for path in plot_table(frame, list(found.values()), Path(output_dir), curves):
        click.echo(f"wrote {path}")


def _stored_hf_models(jobs: list[dict[str, Any]]) -> list[str]:
    """The ``hf:`` forms of the stored ``hf:`` jobs whose encoder is still here (one warning per
    encoder that is not: its rows need ``--models`` with where it is now)."""
    from benchmark.errors import MissingArtifactError
    from benchmark.registry import get_model, hf_ref_of_job

    found = []
    for ref in dict.fromkeys(filter(None, map(hf_ref_of_job, jobs))):
        try:
            found.append(get_model(ref).name)
        except MissingArtifactError:
            warn(f"stored results of {ref}: that encoder is not found now; give --models hf:<where it is> "
                  "to show them")
    return found


def _report_plan(job_opts: JobSelection, results: str, execution: Execution):
    """The plan a report renders and its store. Without --models, registered models outside the paper
    that have results in the folder get rows of their own (the cells still come from planned jobs only)."""
    from benchmark.registry import MODELS
    from benchmark.tables import paper_models
    from benchmark.run.plan import make_plan
    from benchmark.run.store import ResultStore

    store = ResultStore(results)
    if not store.root.is_dir():
        raise ConfigError(f"results folder {store.root} does not exist (run `bench run` with the same options first)")
    extend: tuple[str, ...] = ()
    if not job_opts.model_names:
        paper = paper_models()
        jobs = [job for _, job in store.scan() if job]
        extend = tuple(dict.fromkeys(job["model"] for job in jobs
                                     if job.get("model") in MODELS and job["model"] not in paper))
        extend += tuple(_stored_hf_models(jobs))
    plan = make_plan(job_opts.plan_options(execution, extend), echo=lambda m: click.echo(m, err=True))
    return plan, store

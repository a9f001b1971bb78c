"""``bench rank``: a model's stored configurations ranked by dev F1."""
from __future__ import annotations

import click

from benchmark.cli.common import DEFAULT_RESULTS, emit, split_csv
from benchmark.cli.options import at_least_one, plugin_option, scale_options
from benchmark.errors import ConfigError


@click.command(epilog="""\b
Examples:
  bench rank bilstm-crf --results results/experiments --languages en
  bench rank hbilstm-crf --results results/experiments --min-seeds 3 --format csv""")
@click.argument("model")
@click.option("--results", default=DEFAULT_RESULTS, show_default=True, type=click.Path(file_okay=False))
@scale_options(default="paper")
@click.option("--languages", help="Comma-separated test languages to keep (default: every stored setting).")
@click.option("--mode", type=click.Choice(["conlleval", "strict"]), default="conlleval", show_default=True)
@click.option("--min-seeds", type=int, default=1, show_default=True, callback=at_least_one("--min-seeds"),
              help="Leave out configurations with fewer stored seeds.")
@click.option("--include-dirty", is_flag=True, help="Also runs from a tree with uncommitted changes.")
@click.option("--format", "fmt", type=click.Choice(["markdown", "csv"]), default="markdown")
@click.option("--output", type=click.Path(dir_okay=False), help="Write here (atomically) instead of stdout.")
@plugin_option
def rank(model: str, results: str, scale: str, languages: str | None, mode: str, min_seeds: int,
         include_dirty: bool, fmt: str, output: str | None) -> None:
    """Every stored configuration of MODEL (runs differing in --hp), ranked by mean dev F1 over seeds.

    Choose recipes, schemes and caps from this ranking (dev decides); the test column is shown
    for the record and is read for the chosen configuration only."""
    from benchmark.registry import get_model
    from benchmark.report.rank import rank as rank_configurations, render_ranking
    from benchmark.run.store import ResultStore

    spec = get_model(model)
    store = ResultStore(results)
    if not store.root.is_dir():
        raise ConfigError(f"results folder {store.root} does not exist")
    langs = set(split_csv(languages) or ())
    stored = [r for r in store.all() if r.job.scale == scale
              and (not langs or r.job.setting.test_language in langs)]
    blocks = rank_configurations(stored, spec, mode, clean_only=not include_dirty, min_seeds=min_seeds)
    if not blocks:
        raise ConfigError(f"no stored {scale}-scale run of {model} in {store.root}"
                          + (f" tested on {','.join(sorted(langs))}" if langs else "")
                          + ("" if include_dirty else " from a clean committed tree (--include-dirty counts the others)")
                          + (f" with >= {min_seeds} seeds" if min_seeds > 1 else ""))
    emit(render_ranking(blocks, spec, mode, fmt), output)

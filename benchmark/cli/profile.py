"""``bench profile``: measure and record performance figures in results/benchmarks/."""
from __future__ import annotations

import click

from benchmark.cli.common import parse_hp, resolve_device, set_threads
from benchmark.cli.options import plugin_option, scale_options
from benchmark.errors import ConfigError


@click.command(epilog="""\b
Examples:
  bench profile --model 2m-ner --threads 1
  bench profile --grid 5 --fallback --threads 1
  bench profile --reader                 # bench validate: peak memory and time vs file size""")
@click.option("--grid", "grid_table", type=int, help="Time a table's whole grid (every job, one seed).")
@scale_options(default="smoke")
@click.option("--data-dir", type=click.Path(file_okay=False),
              help="Corpus root (default: $MMNERD_DIR; --fallback forces the built-in corpus).")
@click.option("--fallback", is_flag=True, help="Use the built-in fallback corpus (all four languages).")
@click.option("--device", default="auto", show_default=True)
@click.option("--threads", type=int, envvar="BENCH_THREADS")
@click.option("--results", default="results", show_default=True, type=click.Path(file_okay=False),
              help="Records go to RESULTS/benchmarks/.")
@click.option("--name", help="Record name under results/benchmarks/ (default derived from the options).")
@click.option("--viterbi", is_flag=True, help="Time CRF decoding + scoring of the English test set (both decoders).")
@click.option("--reader", is_flag=True, help="Peak memory and time of `bench validate` on generated files of "
              "one-token sentences (12.5, 25 and 50 MB), one fresh process each.")
@click.option("--model", "model_name", help="Parameters, sentences/s and peak memory of a model (e.g. 2m-ner).")
@plugin_option
@click.option("--fit-steps", type=int, help="With --model: time N steps per epoch through the real trainer "
              "(2 epochs: cold, then warm feature cache; checkpoints written; stand-in weights when absent).")
@click.option("--hp", "profile_hp", multiple=True, help="With --fit-steps: hyperparameter override KEY=VALUE.")
@click.option("--random-weights", is_flag=True,
              help="With --model and --scale paper: when pretrained weights are absent, profile the paper "
                   "architectures with random weights of the real shapes (paper-size parameter counts).")
def profile(grid_table: int | None, scale: str, data_dir: str | None, fallback: bool, device: str,
            threads: int | None, results: str, name: str | None, viterbi: bool, reader: bool,
            model_name: str | None, fit_steps: int | None, profile_hp: tuple[str, ...], random_weights: bool) -> None:
    """Measure and record performance figures in results/benchmarks/ (no timed tests)."""
    from benchmark.corpora.resolve import resolve_corpus
    from benchmark.corpora.fallback import ensure_fallback_corpus
    from benchmark.run.timing import record, time_table_grid
    from benchmark.util.io import dumps

    set_threads(threads)
    if sum(x is not None and x is not False for x in (grid_table, viterbi or None, reader or None, model_name)) != 1:
        raise ConfigError("bench profile: choose exactly one of --grid N, --viterbi, --reader, --model NAME")
    if reader:
        from benchmark.profiling.reader import format_reader_profile, profile_reader
        out = profile_reader()
        click.echo(format_reader_profile(out))
        path = record(results, name or "reader_validate", out)
        click.echo(f"-> {path}")
        return
    corpus = ensure_fallback_corpus() if fallback else resolve_corpus(data_dir, echo=lambda m: click.echo(m, err=True))
    if viterbi:
        from benchmark.profiling.viterbi import format_profile, profile_viterbi
        lang = "en" if corpus.has_language("en") else corpus.available_languages()[0]
        out = profile_viterbi(corpus.load([lang], "test"), threads=threads)
        click.echo(format_profile(out))
        path = record(results, name or f"viterbi_{corpus.kind}_{lang}", {"data_kind": corpus.kind, **out})
        click.echo(f"-> {path}")
        return
    if model_name and fit_steps:
        from benchmark.profiling.fit import profile_fit
        out = profile_fit(model_name, scale, resolve_device(device), fit_steps, overrides=parse_hp(profile_hp))
        click.echo(dumps(out))
        path = record(results, name or f"fit_{out['model']}_{scale}_{out['device']}", out)
        click.echo(f"-> {path}")
        return
    if model_name:
        from benchmark.registry import get_model
        from benchmark.profiling.model import profile_model
        spec = get_model(model_name)
        out = profile_model(spec.name, scale, resolve_device(device), random_weights=random_weights)
        click.echo(dumps(out))
        path = record(results, name or f"model_{spec.name}_{scale}_{out.get('device', device)}", out)
        click.echo(f"-> {path}")
        return
    click.echo(f"timing Table {grid_table} grid, scale {scale}, data {corpus.kind}")
    payload = time_table_grid(grid_table, corpus, scale, resolve_device(device), echo=click.echo)
    path = record(results, name or f"grid_table{grid_table}_{scale}_{corpus.kind}", payload)
    click.echo(f"{payload['jobs']} jobs in {payload['total_seconds']:.1f}s -> {path}")
    for reason in payload["not_run"]:
        click.echo(f"  not run: {reason}")

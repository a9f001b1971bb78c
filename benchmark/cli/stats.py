"""``bench stats``: Table 2 counted from the data files."""
from __future__ import annotations

import click

from benchmark.cli.common import emit
from benchmark.cli.options import corpus_options


@click.command(epilog="""\b
Example:
  bench stats --data-dir ../shared/data/MMNERD --format latex""")
@click.option("--data-dir", type=click.Path(file_okay=False), help="MMNERD root (default: $MMNERD_DIR).")
@click.option("--format", "fmt", type=click.Choice(["markdown", "latex", "csv"]), default="markdown")
@click.option("--output", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@corpus_options()
def stats(data_dir: str | None, fmt: str, output: str | None, corpus_name: str, label_map: tuple[str, ...]) -> None:
    """Reproduce Table 2 (entities per type, sentences) from the files, beside the paper's values."""
    from benchmark.corpora.labels import parse_label_map
    from benchmark.corpora.resolve import resolve_corpus
    from benchmark.report.stats import dataset_stats, render_stats

    corpus = resolve_corpus(data_dir, echo=lambda m: click.echo(m, err=True), corpus=corpus_name,
                            label_map=parse_label_map(label_map))
    text = render_stats(dataset_stats(corpus), fmt, corpus.kind)
    emit(text, output)

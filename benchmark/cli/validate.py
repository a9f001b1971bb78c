"""``bench validate``: check MMNERD/CoNLL files."""
from __future__ import annotations

import click

from benchmark.cli.options import corpus_options


@click.command(epilog="""\b
Example:
  bench validate $MMNERD_DIR/train_valid_test_en/train_conll_format.txt""")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--max-warnings", default=10, show_default=True, help="Warnings printed per file.")
@click.option("--scheme", type=click.Choice(["iob2", "iob1", "bioes"]),
              help="Tag scheme of the files (default: the corpus's, IOB2 for MMNERD).")
@corpus_options()
def validate(files: tuple[str, ...], max_warnings: int, scheme: str | None, corpus_name: str,
             label_map: tuple[str, ...]) -> None:
    """Check MMNERD/CoNLL files: counts, or the first error as FILE:LINE: message (exit 2)."""
    from benchmark.corpora.labels import check_label_map, parse_label_map
    from benchmark.corpora.reader import ReadReport, iter_conll
    from benchmark.corpora.registry import get_corpus_entry

    entry = get_corpus_entry(corpus_name)
    labels = {**entry.label_map, **parse_label_map(label_map)}
    check_label_map(labels, entry.entity_types, entry.name)
    for path in files:
        report = ReadReport(path)
        for _ in iter_conll(path, report=report, scheme=scheme or entry.tag_scheme, label_map=labels,
                            entity_types=entry.entity_types):
            pass  # streamed: counts and warnings gather in `report`, no sentence is kept
        warn = f", {report.warning_count} warning(s)" if report.warning_count else ""
        click.echo(f"{path}: {report.sentences} sentences, {report.tokens} tokens, {report.entities} entities{warn}")
        for w in report.warnings[:max_warnings]:
            click.echo(f"  warning: {w}")
        if report.warning_count > max_warnings:
            click.echo(f"  ... {report.warning_count - max_warnings} more warning(s)")
        for note in report.notes:
            click.echo(f"  note: {note}")

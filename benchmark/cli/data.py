"""``bench data``: public corpora (``bench data fetch NAME``)."""
from __future__ import annotations

from pathlib import Path

import click


@click.group(epilog="""\b
Example:
  bench data fetch mmnerd""")
def data() -> None:
    """Public corpora: `bench data fetch NAME` downloads one at its pinned revision."""


@data.command(name="fetch", epilog="""\b
Example:
  bench data fetch mmnerd     # the public English MMNERD text, checked by SHA-256""")
@click.argument("name")
@click.option("--dest", type=click.Path(file_okay=False), help="Corpus root (default: $MMNER_BENCH_CACHE/data/NAME).")
@click.option("--base-url", help="Download from this mirror instead of the registered source (same file paths).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True,
              help="Seconds a stalled connection may wait before the fetch fails.")
def data_fetch(name: str, dest: str | None, base_url: str | None, timeout: float) -> None:
    """Download a registered public corpus, check every file's SHA-256, lay it out for --data-dir."""
    from benchmark.corpora.fetch import default_data_root, fetch_corpus
    from benchmark.corpora.registry import get_corpus_entry

    entry = get_corpus_entry(name)
    root = Path(dest) if dest else default_data_root(entry.name)
    report = fetch_corpus(entry, root, base_url=base_url, timeout=timeout)
    for path in report.downloaded:
        click.echo(f"fetched {root / path} (SHA-256 checked)")
    if not report.downloaded:
        click.echo(f"{entry.display}: all {len(report.present)} file(s) already at {root} with the pinned "
                   "checksums; nothing to download")
    env = f"{entry.data_env}={root} " if entry.data_env else ""
    click.echo(f"Next: {env}bench run --corpus {entry.name} ...   (or --data-dir {root})")

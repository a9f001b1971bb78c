"""``bench readme``: regenerate the README's results section."""
from __future__ import annotations

from pathlib import Path

import click

from benchmark.cli.common import REFERENCE_RESULTS
from benchmark.cli.options import strict_code_option


@click.command(epilog="""\b
Example:
  bench readme           # refresh README.md from results/reference""")
@click.option("--results", default=REFERENCE_RESULTS, show_default=True, type=click.Path(file_okay=False))
@click.option("--readme", default="README.md", show_default=True, type=click.Path(dir_okay=False))
@click.option("--data-dir", type=click.Path(file_okay=False), help="MMNERD root (default: $MMNERD_DIR).")
@strict_code_option
def readme(results: str, readme: str, data_dir: str | None, strict_code: bool) -> None:
    """Regenerate the README's results section from the stored paper-scale results."""
    from benchmark.report.readme import update_readme
    from benchmark.run.store import ResultStore

    changed = update_readme(Path(readme), ResultStore(results), data_dir, strict_code=strict_code)
    click.echo(f"{readme}: results section {'updated' if changed else 'already up to date'}")

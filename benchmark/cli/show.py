"""``bench show``: one job's settings, metrics per epoch and log tail."""
from __future__ import annotations

import click

from benchmark.cli.common import DEFAULT_RESULTS, REFERENCE_RESULTS
from benchmark.errors import ConfigError

SHOW_SEARCH = (DEFAULT_RESULTS, REFERENCE_RESULTS, "results/experiments")


@click.command(epilog="""\b
Examples:
  bench show 886bdf61                      # a prefix of the job id is enough
  bench show 886b --results results/reference --log-lines 30""")
@click.argument("job_id")
@click.option("--results", "results_dirs", multiple=True, type=click.Path(file_okay=False),
              help=f"Results folder(s) to search (default: {', '.join(SHOW_SEARCH)}).")
@click.option("--log-lines", default=12, show_default=True, help="Lines of train.log to print.")
def show(job_id: str, results_dirs: tuple[str, ...], log_lines: int) -> None:
    """A job's settings, metrics per epoch and the tail of its log (finished or unfinished)."""
    from benchmark.report.job import describe_job, terminal_safe
    from benchmark.run.store import find_job

    try:
        folder = find_job(job_id, results_dirs or SHOW_SEARCH)
    except ConfigError as exc:
        raise ConfigError(f"bench show: {exc}") from None
    click.echo(terminal_safe(describe_job(folder, log_lines)))



"""``bench code``: each stored run's code digest beside this checkout's."""
from __future__ import annotations

import click

from benchmark.cli.common import DEFAULT_RESULTS, split_csv
from benchmark.cli.options import plugin_option
from benchmark.errors import ConfigError


@click.command(epilog="""\b
Examples:
  bench code --results results/reference              # each run's code digest vs this checkout's
  bench code --results results/reference --backfill   # add the digest to runs that predate it""")
@click.option("--results", default=DEFAULT_RESULTS, show_default=True, type=click.Path(file_okay=False))
@click.option("--models", "model_names", help="Comma-separated registry names (default: every stored model).")
@click.option("--backfill", is_flag=True, help="Write the digest, computed from the recorded clean git commit "
              "(`git show COMMIT:path`), into each stored result that predates it.")
@plugin_option
def code(results: str, model_names: str | None, backfill: bool) -> None:
    """Each stored run's code digest (benchmark/run/code.py: the model's modules and the layers,
    trainer, reader and metric it runs through) beside this checkout's: current, stale or unknown."""
    from tabulate import tabulate

    from benchmark.registry import get_model
    from benchmark.run.code import backfill as code_of, current_digest
    from benchmark.run.store import ResultStore

    store = ResultStore(results)
    if not store.root.is_dir():
        raise ConfigError(f"results folder {store.root} does not exist")
    wanted = {get_model(n).name for n in split_csv(model_names) or []}
    rows, counts, readers = [], {}, {}
    for res in store.all():
        if wanted and res.job.model not in wanted:
            continue
        digest, source = code_of(store.run_dir(res.job), res.job.model, res.environment, backfill, readers)
        current = current_digest(res.job.model)
        state = "unknown" if digest is None else "current" if digest == current else "stale"
        counts[state] = counts.get(state, 0) + 1
        rows.append([res.job.model, res.job.job_id, res.job.setting.label(), res.job.seed,
                     str(res.environment.get("commit") or "-")[:7], digest or "-", current or "-", state, source])
    if not rows:
        raise ConfigError(f"no stored result in {store.root}" + (f" for {', '.join(sorted(wanted))}" if wanted else ""))
    click.echo(tabulate(rows, headers=["model", "job", "setting", "seed", "commit", "code", "current", "state",
                                       "source"], tablefmt="github", disable_numparse=True))
    click.echo(", ".join(f"{n} {s}" for s, n in sorted(counts.items())))

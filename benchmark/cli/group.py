"""The ``bench`` group: one-line errors (exit 2) for every subcommand, and ``bench --plugin``."""
from __future__ import annotations

import os
from typing import Any

import click

from benchmark.cli.options import plugin_option
from benchmark.errors import BenchError


class OneLineUsageError(click.ClickException):
    """A click usage error (bad option value, unknown option, ...) shown as one ``bench: ...`` line."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"bench: {self.format_message()}", err=True)


class BenchGroup(click.Group):
    """Turns ``BenchError`` and click's usage errors into ``bench: <message>`` + exit 2, no traceback."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:  # options of `bench` itself
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise OneLineUsageError(exc.format_message()) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # a subcommand's options are parsed inside Group.invoke
            raise OneLineUsageError(exc.format_message()) from None
        except BenchError as exc:
            click.echo(f"bench: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except OSError as exc:  # disk full, read-only folder, no permission: one line, exit 2
            from benchmark.util.io import DISK_ERRNOS, write_error
            if exc.errno not in DISK_ERRNOS:
                raise
            click.echo(f"bench: {write_error(exc)}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("bench: interrupted (finished jobs are stored; unfinished ones resume next time)", err=True)
            ctx.exit(130)


@click.group(cls=BenchGroup, epilog="""\b
Examples:
  bench run --table 5 --models bilstm-crf --languages en --threads 1
  bench report --table 5 --compare-paper
  bench --plugin my_tagger:SPEC models""")
@click.version_option(package_name="mmner-bench")
@plugin_option
def main() -> None:
    """mmner-bench: reproduce Tables 2 and 5-9 of the 2M-NER paper on MMNERD."""
    # OpenMP threads that spin while waiting make small CPU models many times slower when another
    # process shares the cores; passive waiting costs nothing measurable otherwise. Set before
    # torch is imported (subcommands import it lazily); an explicit user setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from benchmark.registry import load_entry_points
    load_entry_points()  # models that installed packages advertise (group mmner_bench.models)

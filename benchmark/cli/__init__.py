"""The ``bench`` command line: validate, stats, models, run, report (and more subcommands below).

Every user-facing error is one line on stderr with exit code 2 (``BenchError``); results already
stored are never touched by a failure.

One module per command (``plan`` holds plan and status, ``report`` holds report and plot, ``data``
the ``bench data`` group); ``group`` is the ``bench`` group itself, ``options`` the option
declarations several commands share, ``common`` their shared helpers.
"""
from __future__ import annotations

from benchmark.cli import (check, code, data, models, plan, profile, rank, readme, report, run, show, stats,
                           validate, weights)
from benchmark.cli.group import main

__all__ = ["main"]

main.add_command(data.data)
main.add_command(validate.validate)
main.add_command(stats.stats)
main.add_command(models.models)
main.add_command(run.run)
main.add_command(plan.plan_cmd)
main.add_command(plan.status)
main.add_command(report.report)
main.add_command(report.plot)
main.add_command(readme.readme)
main.add_command(rank.rank)
main.add_command(code.code)
main.add_command(show.show)
main.add_command(check.check)
main.add_command(profile.profile)
main.add_command(weights.weights)

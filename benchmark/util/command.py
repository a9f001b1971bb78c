"""How the harness writes down the command line that produced a result."""
from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Sequence

# set by an executor in the process that trains a job for the command that planned it: a worker
# process's or a Slurm task's own argv is the executor's machinery, not what the user typed
COMMAND_ENV = "MMNER_BENCH_COMMAND"


def bench_command(argv: Sequence[str]) -> str:
    """The command line as a user types it: ``bench ...`` for the console script and for ``python -m
    benchmark.cli`` (whose ``argv[0]`` is the local path of ``benchmark/cli/__main__.py``, of
    ``benchmark/cli.py`` before the CLI became a package), else unchanged."""
    argv = list(argv)
    if argv and (Path(argv[0]).name == "bench"
                 or Path(argv[0]).as_posix().endswith(("benchmark/cli/__main__.py", "benchmark/cli.py"))):
        return shlex.join(["bench", *argv[1:]])
    return shlex.join(argv)


def recorded_command() -> str:
    """The command a result records: the planning ``bench`` command handed over by the executor
    (``COMMAND_ENV``), else this process's own command line."""
    return os.environ.get(COMMAND_ENV) or bench_command(sys.argv)


def is_executor_command(command: str) -> bool:
    """Whether a stored command is an executor's machinery (a worker process, a submitit task) rather
    than what the user typed: results stored before the command was handed over record those."""
    return any(part in command for part in ("benchmark/run/worker.py", "benchmark.run.worker", "submitit"))

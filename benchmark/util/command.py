"""How the harness writes down the command line that produced a result."""
from __future__ import annotations

import shlex
from pathlib import Path
from typing import Sequence


def bench_command(argv: Sequence[str]) -> str:
    """The command line as a user types it: ``bench ...`` for the console script and for ``python -m
    benchmark.cli`` (whose ``argv[0]`` is the local path of ``benchmark/cli/__main__.py``, of
    ``benchmark/cli.py`` before the CLI became a package), else unchanged."""
    argv = list(argv)
    if argv and (Path(argv[0]).name == "bench"
                 or Path(argv[0]).as_posix().endswith(("benchmark/cli/__main__.py", "benchmark/cli.py"))):
        return shlex.join(["bench", *argv[1:]])
    return shlex.join(argv)

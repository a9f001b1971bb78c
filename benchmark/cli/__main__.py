"""``python -m benchmark.cli``: the ``bench`` command line from a checkout."""
from __future__ import annotations

import os

from benchmark.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
    os._exit(0)

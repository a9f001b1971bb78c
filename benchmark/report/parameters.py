"""Recorded parameter counts of the models (``bench models``): read, never built to count them."""
from __future__ import annotations

import json
from pathlib import Path


def _human(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.0f}k" if n >= 1e3 else str(n)


def recorded_parameters(results: Path) -> dict[str, str]:
    """Model name -> recorded parameter count with its source; nothing is built to count them.

    Paper-size figures first: a paper-scale ``bench profile --model`` record in
    ``results/benchmarks``, then ``counts.parameters`` of a stored paper-scale run in
    ``results/reference``, then a smoke-profile ``bench profile`` record.
    """
    candidates: list[tuple[int, str, int, str]] = []  # (priority, model, count, source)
    for path in sorted((results / "benchmarks").glob("model_*.json")):
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
            paper = rec["profile"] == "paper"
            candidates.append((0 if paper else 2, rec["model"], int(rec["parameters"]["total"]),
                               f"{rec['profile']} profile, bench profile"))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    from benchmark.run.store import ResultStore
    for res in ResultStore(results / "reference").all():
        total = res.counts.get("parameters")
        if res.job.scale == "paper" and isinstance(total, int):
            candidates.append((1, res.job.model, total, f"paper run on {res.job.corpus_name}"))
    found: dict[str, str] = {}
    for _, model, total, source in sorted(candidates):
        found.setdefault(model, f"{_human(total)} ({source})")
    return found

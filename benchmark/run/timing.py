"""Recorded performance figures (``bench profile``), stored under ``results/benchmarks/``.

Speed goals are met by measurements recorded here, never by timed tests. Each record carries the
machine facts (CPU count, torch threads, device) and the command that produced it.
"""
from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from benchmark.corpora.reader import Corpus
from benchmark.util.command import bench_command
from benchmark.util.machine import cpu_facts
from benchmark.util.io import write_json


def machine() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                            "platform": platform.platform(), "python": platform.python_version(),
                            "torch": torch.__version__, "cuda": torch.cuda.is_available(), **cpu_facts()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def record(results: str | Path, name: str, payload: dict[str, Any]) -> Path:
    """Write ``results/benchmarks/<name>.json`` atomically, with machine facts and the command."""
    path = Path(results) / "benchmarks" / f"{name}.json"
    doc = {"name": name, "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "command": bench_command(sys.argv), "machine": machine(), **payload}
    return write_json(path, doc)


def time_table_grid(table_no: int, corpus: Corpus, scale: str = "smoke", device: str = "cpu",
                    echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every ready job of a table's grid in a throw-away store; wall time in total and per job."""
    from benchmark.run.plan import plan_table
    from benchmark.run.executors import execute_job
    from benchmark.run.store import ResultStore
    from benchmark.tables import get_table

    planned = plan_table(get_table(table_no), corpus, scale, seeds=1)
    jobs = [p.job for p in planned if p.status == "ready"]
    skipped = sorted({f"{p.row.model}: {p.reason}" for p in planned if p.status != "ready"})
    per_job = []
    with tempfile.TemporaryDirectory(prefix="bench-grid-") as tmp:
        store = ResultStore(tmp)
        t0 = time.perf_counter()
        for job in jobs:
            t = time.perf_counter()
            res = execute_job(job, corpus, store, device)
            per_job.append({"model": job.model, "setting": job.setting.label(), "seconds": round(time.perf_counter() - t, 2),
                            "test_f1": round(100 * res.test["conlleval"]["f1"], 2)})
            echo(f"  {job.model:18s} {job.setting.label():45s} {per_job[-1]['seconds']:7.1f}s")
        total = time.perf_counter() - t0
    return {"table": table_no, "profile": scale, "data_kind": corpus.kind, "jobs": len(jobs),
            "total_seconds": round(total, 1), "per_job": per_job, "not_run": skipped}

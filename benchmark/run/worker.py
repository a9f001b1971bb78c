"""One job in its own process: ``python -m benchmark.run.worker <work>/payload.json``.

Started by ``LocalExecutor`` with ``CUDA_VISIBLE_DEVICES`` set to the job's GPU (or empty for a
CPU slot). The payload is plain JSON (job spec, corpus paths, store, device, threads); the worker
stores the result itself (exit 0, work folder removed) or leaves ``outcome.json`` in the work
folder: ``skipped`` (already stored), ``failed`` (traceback in ``error.txt``) or ``bench-error``
(a user-facing one-line error).
"""
from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path


def _write_outcome(work: Path, outcome: dict) -> None:
    from benchmark.util.io import write_json

    write_json(work / "outcome.json", outcome)


def _write_traceback(work: Path) -> None:
    from benchmark.util.io import write_text

    write_text(work / "error.txt", traceback.format_exc())


def main(payload_path: str) -> int:
    work = Path(payload_path).parent
    payload = json.loads(Path(payload_path).read_text())
    import torch

    from benchmark.errors import BenchError, JobError
    from benchmark.run.executors import adopt_command, corpus_from_payload, execute_job
    from benchmark.run.specs import JobSpec
    from benchmark.run.store import ResultStore

    try:  # the parent's models: installed entry points and its --plugin references
        from benchmark.registry import load_plugins_again
        load_plugins_again(payload.get("plugins", []), payload.get("sys_path"))
    except BenchError as exc:
        _write_outcome(work, {"status": "bench-error", "error": str(exc)})
        return 2
    adopt_command(payload)
    if payload.get("threads"):
        torch.set_num_threads(int(payload["threads"]))
    job = JobSpec.from_json(payload["job"])
    store = ResultStore(payload["results"])
    overwrite = bool(payload.get("overwrite"))
    if not overwrite and store.has(job):
        _write_outcome(work, {"status": "skipped"})
        return 0
    try:
        result = execute_job(job, corpus_from_payload(payload["corpus"]), store, payload["device"],
                             Path(payload["cache_dir"]) if payload.get("cache_dir") else None, overwrite=overwrite)
        if result is None:  # another process holds the job's lock or has just stored it
            _write_outcome(work, {"status": "skipped"})
            return 0
    except JobError as exc:  # this job only (diverged, work folder gone): the parent goes on
        from benchmark.run.executors import failed_job
        failed_job(store, job, str(exc))
        _write_outcome(work, {"status": "failed", "error": str(exc)})
        return 1
    except BenchError as exc:
        _write_outcome(work, {"status": "bench-error", "error": str(exc)})
        return 2
    except Exception as exc:  # noqa: BLE001 - recorded for the parent, which goes on with other jobs
        _write_traceback(work)
        _write_outcome(work, {"status": "failed", "error": f"{type(exc).__name__}: {exc}"})
        return 1
    return 0  # execute_job stored the result and removed the work folder


if __name__ == "__main__":  # pragma: no cover - exercised through LocalExecutor in tests
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    sys.exit(main(sys.argv[1]))

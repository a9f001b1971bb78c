"""The result store: one folder per finished job, written atomically.

``<root>/runs/<model>/<job_id>/{job.json,result.json,train.log}``. A job still running (or
interrupted) lives in ``<root>/.work/<job_id>/`` with its epoch checkpoint, so nothing already
computed is lost and the next ``bench run`` resumes it.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from benchmark.errors import BenchError
from benchmark.run.specs import JobSpec, Result


class ResultStore:
    """Finished results under ``root/runs``; work folders under ``root/.work``."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    # -- paths --------------------------------------------------------------------------------
    def run_dir(self, job: JobSpec) -> Path:
        return self.root / "runs" / job.model / job.job_id

    def work_dir(self, job: JobSpec) -> Path:
        path = self.root / ".work" / job.job_id
        path.mkdir(parents=True, exist_ok=True)
        job_file = path / "job.json"
        if not job_file.exists():
            job_file.write_text(json.dumps(job.to_json(), indent=1, sort_keys=True))
        return path

    # -- queries ------------------------------------------------------------------------------
    def has(self, job: JobSpec) -> bool:
        return (self.run_dir(job) / "result.json").is_file()

    def get(self, job: JobSpec) -> Result | None:
        path = self.run_dir(job) / "result.json"
        return self._read(path) if path.is_file() else None

    def _read(self, path: Path) -> Result:
        try:
            return Result.from_json(json.loads(path.read_text()))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise BenchError(f"{path}: unreadable result ({exc})") from None

    def all(self) -> Iterator[Result]:
        """Every stored result (unreadable files are skipped with no effect on the others)."""
        runs = self.root / "runs"
        if not runs.is_dir():
            return
        for path in sorted(runs.glob("*/*/result.json")):
            try:
                yield self._read(path)
            except BenchError:
                continue

    # -- writing ------------------------------------------------------------------------------
    def put(self, result: Result, log_file: Path | None = None, predictions: Path | None = None) -> Path:
        """Write ``result`` (and its log and test predictions) atomically: temp folder, then rename."""
        final = self.run_dir(result.job)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{result.job_id}.", dir=final.parent))
        try:
            (tmp / "job.json").write_text(json.dumps(result.job.to_json(), indent=1, sort_keys=True))
            (tmp / "result.json").write_text(json.dumps(result.to_json(), indent=1, sort_keys=True,
                                                        default=str))
            if log_file is not None and log_file.is_file():
                shutil.copyfile(log_file, tmp / "train.log")
            if predictions is not None and predictions.is_file():
                shutil.copyfile(predictions, tmp / predictions.name)
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return final

    def clear_work(self, job: JobSpec) -> None:
        shutil.rmtree(self.root / ".work" / job.job_id, ignore_errors=True)

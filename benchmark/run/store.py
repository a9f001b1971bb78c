"""The result store: one folder per finished job, written atomically, one runner per job.

``<root>/runs/<model>/<job_id>/{job.json,result.json,train.log}``. A job still running (or
interrupted) lives in ``<root>/.work/<job_id>/`` with its epoch checkpoint, so nothing already
computed is lost and the next ``bench run`` resumes it. ``<root>/.work/<job_id>/error.txt`` marks a
failed job, ``submitted.json`` one queued on Slurm.

Concurrency: a job is trained only while its lock ``<root>/.locks/<job_id>.lock`` is held (a
``filelock`` lock: ``flock`` where the file system has it). The owner's pid, host and start time
are recorded beside it (``<job_id>.owner.json``), so ``bench plan`` can say who runs a job and a
lock left by a process that died on this host is taken over.

A stored result that cannot be trusted (truncated or corrupt JSON, unknown schema, a missing or
non-numeric metric, a result of another job) is a ``BadResult`` naming its path and the problem;
``bench run`` moves its folder aside (``<job_id>.bad-<UTC time>``) and re-runs the job.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

from benchmark.errors import BenchError, ConfigError
from benchmark.run.specs import JobSpec, Result, check_result_dict
from benchmark.util.io import StoreWriteError, ensure_dir, write_error, write_json

JOB_STATES = ("done", "running", "queued", "failed", "bad", "missing")


@dataclass(frozen=True)
class BadResult:
    """A stored result that cannot be trusted: where it is and what is wrong with it."""

    path: Path
    reason: str

    def message(self) -> str:
        return f"{self.path}: {self.reason}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class JobLock:
    """The per-job lock: ``acquire()`` never waits; ``owner()`` says who holds it."""

    def __init__(self, folder: Path, job_id: str) -> None:
        from filelock import FileLock

        self.path = folder / f"{job_id}.lock"
        self.owner_path = folder / f"{job_id}.owner.json"
        try:  # keep the lock file on release: a waiter never ends up locking an unlinked inode
            self._lock = FileLock(str(self.path), timeout=0, thread_local=False, preserve_lock_file=True)
        except TypeError:  # filelock before the option existed
            self._lock = FileLock(str(self.path), timeout=0, thread_local=False)
        self.took_over: dict[str, Any] | None = None  # the stale owner this lock replaced, if any

    def owner(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.owner_path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _stale(self, owner: dict[str, Any] | None) -> bool:
        return (owner is not None and owner.get("host") == socket.gethostname()
                and isinstance(owner.get("pid"), int) and owner["pid"] != os.getpid()
                and not _pid_alive(owner["pid"]))

    def acquire(self) -> bool:
        """Take the lock if nobody (alive) holds it; record this process as its owner."""
        from filelock import Timeout

        ensure_dir(self.path.parent)
        previous = self.owner()
        try:
            self._lock.acquire()
        except Timeout:
            if not self._stale(previous):
                return False
            # the holder died on this host without the kernel freeing the lock (soft lock file)
            try:
                self.path.unlink()
                self._lock.acquire()
            except (OSError, Timeout):
                return False
        except OSError as exc:
            raise write_error(exc, self.path) from None
        if previous is not None and previous.get("pid") != os.getpid():
            self.took_over = previous
        write_json(self.owner_path, {"pid": os.getpid(), "host": socket.gethostname(),
                                     "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        return True

    def release(self) -> None:
        if self._lock.is_locked:
            try:
                self.owner_path.unlink()
            except OSError:
                pass
            self._lock.release()

    def is_held_elsewhere(self) -> bool:
        """True when another live process holds the lock now (probes without keeping it)."""
        if not self.path.exists():
            return False
        from filelock import Timeout

        try:
            self._lock.acquire()
        except Timeout:
            return not self._stale(self.owner())
        except OSError:
            return False
        self._lock.release()
        return False


class ResultStore:
    """Finished results under ``root/runs``; work folders under ``root/.work``; locks in ``root/.locks``."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    # -- paths --------------------------------------------------------------------------------
    def run_dir(self, job: JobSpec) -> Path:
        return self.root / "runs" / job.model / job.job_id

    def work_path(self, job: JobSpec) -> Path:
        """The job's work folder (not created)."""
        return self.root / ".work" / job.job_id

    def work_dir(self, job: JobSpec) -> Path:
        path = ensure_dir(self.work_path(job))
        job_file = path / "job.json"
        if not job_file.exists():
            write_json(job_file, job.to_json())
        return path

    def lock(self, job: JobSpec) -> JobLock:
        return JobLock(self.root / ".locks", job.job_id)

    # -- queries ------------------------------------------------------------------------------
    def read(self, job: JobSpec) -> Result | BadResult | None:
        """The stored result of ``job``; a ``BadResult`` when it exists but cannot be trusted."""
        folder = self.run_dir(job)
        path = folder / "result.json"
        if not path.is_file():
            return BadResult(folder, "folder without result.json") if folder.is_dir() else None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            return BadResult(path, "not UTF-8 text (corrupt file)")
        except json.JSONDecodeError as exc:
            what = "truncated" if exc.pos >= len(exc.doc.rstrip()) else "corrupt"
            return BadResult(path, f"{what} JSON at line {exc.lineno} ({exc.msg})")
        except OSError as exc:
            return BadResult(path, f"unreadable ({exc.strerror or exc})")
        try:
            check_result_dict(data)
            result = Result.from_json(data)
        except (ValueError, KeyError, TypeError, BenchError) as exc:
            return BadResult(path, f"incomplete or unknown result ({exc})")
        if result.job_id != job.job_id:
            return BadResult(path, f"holds job {result.job_id}, not {job.job_id}")
        return result

    def has(self, job: JobSpec) -> bool:
        """True when a trustworthy result of ``job`` is stored."""
        return isinstance(self.read(job), Result)

    def get(self, job: JobSpec) -> Result | None:
        """The stored result, None when absent; a ``BenchError`` naming the file when it is bad."""
        found = self.read(job)
        if isinstance(found, BadResult):
            raise BenchError(f"{found.message()}; `bench run` with the same options moves it aside and re-runs the job")
        return found

    def state(self, job: JobSpec) -> tuple[str, str]:
        """``(state, detail)``: done / running / queued / failed / bad / missing (see ``JOB_STATES``)."""
        found = self.read(job)
        if isinstance(found, Result):
            return "done", f"test F1 {100 * found.test['conlleval']['f1']:.2f}"
        if isinstance(found, BadResult):
            return "bad", found.message()
        lock = self.lock(job)
        if lock.is_held_elsewhere():
            owner = lock.owner() or {}
            return "running", f"pid {owner.get('pid', '?')} on {owner.get('host', '?')} since {owner.get('started_at', '?')}"
        work = self.work_path(job)
        if (work / "error.txt").is_file():
            lines = (work / "error.txt").read_text(errors="replace").strip().splitlines()
            return "failed", f"{lines[-1] if lines else 'error'} (see {work / 'error.txt'})"
        if (work / "submitted.json").is_file():
            return "queued", f"submitted ({work / 'submitted.json'})"
        return "missing", ""

    def scan(self) -> Iterator[tuple[Path, dict[str, Any] | None]]:
        """Every stored job description (``runs/*/*/job.json`` or the result's ``job``); None if unreadable."""
        runs = self.root / "runs"
        if not runs.is_dir():
            return
        for folder in sorted(p for p in runs.glob("*/*") if p.is_dir()):
            job = None
            for name in ("job.json", "result.json"):
                try:
                    data = json.loads((folder / name).read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    continue
                job = data.get("job", data) if isinstance(data, dict) else None
                if isinstance(job, dict) and "model" in job:
                    break
                job = None
            yield folder, job

    # -- writing ------------------------------------------------------------------------------
    def all(self) -> Iterator[Result]:
        """Every readable stored result, for listings (``bench models``); tables read a plan's jobs."""
        for _folder, job in self.scan():
            if job is None:
                continue
            try:
                res = self.read(JobSpec.from_json(job))
            except (BenchError, KeyError, TypeError, ValueError):
                continue
            if isinstance(res, Result):
                yield res

    def quarantine(self, bad: BadResult) -> Path:
        """Move a bad result's folder aside (``<job_id>.bad-<UTC time>``); returns the new path."""
        folder = bad.path if bad.path.is_dir() else bad.path.parent
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        target = folder.with_name(f"{folder.name}.bad-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = folder.with_name(f"{folder.name}.bad-{stamp}-{n}")
        try:
            os.replace(folder, target)
        except OSError as exc:
            raise write_error(exc, folder) from None
        return target

    def put(self, result: Result, log_file: Path | None = None, predictions: Path | None = None) -> Path:
        """Write ``result`` (and its log and test predictions) atomically: a temp folder renamed into place.

        A result already there is renamed away first and restored if the new one cannot be put in
        place, so a failure (disk full, read-only) leaves the store exactly as it was.
        """
        final = self.run_dir(result.job)
        ensure_dir(final.parent)
        stamp = f"{os.getpid()}.{time.time_ns()}"
        tmp = final.with_name(f".{result.job_id}.tmp-{stamp}")
        old = final.with_name(f".{result.job_id}.old-{stamp}")
        try:
            try:
                tmp.mkdir()
                write_json(tmp / "job.json", result.job.to_json())
                write_json(tmp / "result.json", result.to_json())
                if log_file is not None and log_file.is_file():
                    shutil.copyfile(log_file, tmp / "train.log")
                if predictions is not None and predictions.is_file():
                    shutil.copyfile(predictions, tmp / predictions.name)
                if final.exists():
                    os.replace(final, old)
                try:
                    os.replace(tmp, final)
                except OSError:
                    if old.exists():
                        os.replace(old, final)
                    raise
            except OSError as exc:
                raise write_error(exc, final) from None
            except StoreWriteError as exc:  # name the result, not its temporary folder
                raise StoreWriteError(final, exc.reason) from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)
        return final

    def clear_work(self, job: JobSpec) -> None:
        shutil.rmtree(self.work_path(job), ignore_errors=True)



def lookup(store: ResultStore, jobs: Iterable[JobSpec]) -> tuple[dict[str, Result], list[BadResult]]:
    """The trustworthy stored results of ``jobs`` (by job id) and the bad ones found on the way."""
    found: dict[str, Result] = {}
    bad: list[BadResult] = []
    for job in jobs:
        res = store.read(job)
        if isinstance(res, Result):
            found[job.job_id] = res
        elif isinstance(res, BadResult):
            bad.append(res)
    return found, bad


def find_job(prefix: str, roots: "tuple[str, ...] | list[str]") -> Path:
    """The one job folder whose id starts with ``prefix`` (finished runs and unfinished work folders)."""
    prefix = prefix.strip().lower()
    if len(prefix) < 4 or any(c not in "0123456789abcdef" for c in prefix):
        raise ConfigError(f"{prefix!r} is not a job id prefix (at least 4 hex digits)")
    hits: list[Path] = []
    for root in roots:
        base = Path(root)
        hits += sorted(p for p in base.glob(f"runs/*/{prefix}*") if (p / "job.json").is_file())
        hits += sorted(p for p in base.glob(f".work/{prefix}*") if (p / "job.json").is_file())
    if not hits:
        raise ConfigError(f"no job {prefix}* in {', '.join(map(str, roots))}")
    ids = sorted({p.name for p in hits})
    if len(ids) > 1:
        raise ConfigError(f"{prefix} is ambiguous: {', '.join(ids[:8])}{' ...' if len(ids) > 8 else ''}")
    return hits[0]  # a finished run is listed before the same job's work folder

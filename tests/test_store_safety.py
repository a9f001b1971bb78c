"""A store that never lies: one runner per job, bad results named and re-run, failed writes harmless.

Tests run as root, so a chmod'ed folder would not stop a write: disk-full and read-only folders are
simulated by making the write itself raise the OSError the kernel would raise.
"""
from __future__ import annotations

import errno
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import benchmark.util.io as bio
from benchmark.cli import main
from benchmark.run.plan import PlanOptions, make_plan
from benchmark.run.store import BadResult, ResultStore
from benchmark.util.io import StoreWriteError, write_text
from tests.test_identity import fake_result

ROOT = Path(__file__).resolve().parent.parent
RUN = ["run", "--table", "5", "--models", "bilstm-crf", "--languages", "en,de", "--scale", "smoke",
       "--hp", "epochs=1", "--hp", "w2v_epochs=1", "--threads", "1", "--device", "cpu"]


def plan_jobs(corpus):
    plan = make_plan(PlanOptions(table=5, models=("bilstm-crf",), languages=("en", "de"), scale="smoke",
                                 hp=(("epochs", 1), ("w2v_epochs", 1)), data_dir=str(corpus.root)))
    return {j.setting.test_language: j for j in plan.ready}


def bench_process(corpus, results: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "benchmark.cli", *RUN, "--data-dir", str(corpus.root),
                             "--results", str(results), *extra], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


class Lines:
    """A running process's stdout, line by line, with a deadline (a thread reads the pipe)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc, self.seen, self._q = proc, [], queue.Queue()
        threading.Thread(target=lambda: [self._q.put(x) for x in proc.stdout] + [self._q.put(None)],
                         daemon=True).start()

    def until(self, text: str, timeout: float = 300) -> str:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.seen):
            line = self._q.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, f"ended without {text!r}: " + "".join(self.seen) + self.proc.stderr.read()
            self.seen.append(line)
        return "".join(self.seen)

    def rest(self, timeout: float = 600) -> tuple[str, str]:
        self.proc.wait(timeout=timeout)
        while (line := self._q.get(timeout=30)) is not None:
            self.seen.append(line)
        return "".join(self.seen), self.proc.stderr.read()


def wait_for(predicate, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".tmp" in p.name or ".old-" in p.name]


# -- one runner per job ---------------------------------------------------------------------------

def locked_en(corpus, results: Path):
    """The planned jobs, the store, and the English job's lock, held by this test process."""
    jobs = plan_jobs(corpus)
    store = ResultStore(results)
    lock = store.lock(jobs["en"])
    assert lock.acquire()
    return jobs, store, lock


def test_a_job_locked_by_another_process_is_not_trained(tiny_corpus, tmp_path):
    jobs, store, lock = locked_en(tiny_corpus, tmp_path)
    try:
        assert store.state(jobs["en"])[0] == "running"
        shown = CliRunner().invoke(main, ["plan", *RUN[1:], "--data-dir", str(tiny_corpus.root),
                                          "--results", str(tmp_path)])
        assert f"| running | {jobs['en'].job_id}" in shown.output and f"pid {os.getpid()}" in shown.output
        lines = Lines(bench_process(tiny_corpus, tmp_path))
        seen = lines.until(f"waiting for pid {os.getpid()}, which runs it")  # after the other job
        assert "skipped, another process runs it" in seen and f"pid {os.getpid()}" in seen, seen
        assert not store.has(jobs["en"]) and store.has(jobs["de"])
    finally:
        lock.release()  # the holder ends without storing: the waiting run trains the job itself
    out, err = lines.rest()
    assert lines.proc.returncode == 0 and "ran 2 job(s)" in out, out + err
    assert store.has(jobs["en"]) and "Traceback" not in err


@pytest.mark.slow
def test_a_run_whose_lock_holder_is_killed_takes_its_job_over(tiny_corpus, tmp_path):
    """Two `bench run`s of one table; the first is kill -9'ed during its first job, which the second
    had skipped as running elsewhere: the survivor trains it too, so every planned job is stored."""
    jobs = plan_jobs(tiny_corpus)
    store = ResultStore(tmp_path)
    first = bench_process(tiny_corpus, tmp_path)
    try:
        wait_for(lambda: (store.lock(jobs["en"]).owner() or {}).get("pid") == first.pid)
        os.kill(first.pid, signal.SIGSTOP)  # alive and holding the lock while the second one plans
        second = Lines(bench_process(tiny_corpus, tmp_path))
        second.until("skipped, another process runs it")
        second.until(f"waiting for pid {first.pid}")
        assert store.has(jobs["de"]) and not store.has(jobs["en"])
    finally:
        first.kill()  # kill -9, while stopped inside its first job
        first.communicate(timeout=60)
    out, err = second.rest()
    assert second.proc.returncode == 0 and "Traceback" not in err, out + err
    assert f"took over the stale lock of job {jobs['en'].job_id}" in err, err
    assert "ran 2 job(s)" in out and "finished: 2 done, 0 failed" in out, out
    assert store.has(jobs["en"]) and store.has(jobs["de"])


def test_a_job_held_on_another_host_is_counted_as_not_stored(tiny_corpus, tmp_path):
    """A holder this run cannot watch (another host): exit 1, the job named, the next command given."""
    jobs, store, lock = locked_en(tiny_corpus, tmp_path)
    try:
        lock.owner_path.write_text(json.dumps({"pid": 4242, "host": "elsewhere"}))
        out, err = bench_process(tiny_corpus, tmp_path).communicate(timeout=600)
    finally:
        lock.release()
    assert "Traceback" not in err, err
    assert f"not stored {jobs['en'].job_id}: another process runs it (pid 4242 on elsewhere)" in out, out
    assert "ran 1 job(s)" in out and "1 not stored" in out and "Next: bench run --table 5" in out, out
    assert "1 planned job(s) not stored (0 failed)" in err
    assert store.has(jobs["de"]) and not store.has(jobs["en"])


@pytest.mark.slow
def test_a_vanished_work_folder_fails_that_job_only(tiny_corpus, tmp_path):
    """`rm -rf .work/<id>` while the job trains: that job fails in one line, the next one runs."""
    jobs = plan_jobs(tiny_corpus)
    store = ResultStore(tmp_path)
    proc = bench_process(tiny_corpus, tmp_path)
    log = store.work_path(jobs["en"]) / "train.log"
    wait_for(lambda: log.is_file() and f"job {jobs['en'].job_id}:" in log.read_text())
    shutil.rmtree(store.work_path(jobs["en"]))
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 1 and "Traceback" not in err, out + err
    assert (f"FAILED (its work folder {store.work_path(jobs['en'])} was removed while it ran, so nothing is "
            "stored; `bench run` again starts it afresh)") in out, out
    assert store.has(jobs["de"]) and not store.has(jobs["en"])
    assert "ran 1 job(s)" in out and "1 failed" in out


@pytest.mark.slow
def test_two_concurrent_runs_train_each_job_once(tiny_corpus, tmp_path):
    """Two real `bench run` processes on one results folder: every job trained exactly once."""
    procs = [bench_process(tiny_corpus, tmp_path) for _ in range(2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0 and "Traceback" not in err, out + err
    trained = sum(out.count("test F1") for out, _ in outputs)
    assert trained == 2, outputs
    store = ResultStore(tmp_path)
    for job in plan_jobs(tiny_corpus).values():
        assert store.has(job)
        log = (store.run_dir(job) / "train.log").read_text()
        assert log.count(f"job {job.job_id}:") == 1, log  # never two writers on one log
    assert not leftovers(tmp_path)


def test_stale_lock_of_a_dead_process_is_taken_over(tiny_corpus, tmp_path):
    job = plan_jobs(tiny_corpus)["en"]
    store = ResultStore(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = store.lock(job)
    lock.path.parent.mkdir(parents=True)
    lock.path.write_text("")
    lock.owner_path.write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    assert store.state(job)[0] == "missing"  # not "running": its owner is gone
    assert lock.acquire()
    try:
        assert lock.took_over is not None and lock.took_over["pid"] == dead.pid
        assert lock.owner()["pid"] == os.getpid()
    finally:
        lock.release()


# -- results that cannot be trusted ---------------------------------------------------------------

def _corrupt(path: Path, kind: str, other_job) -> None:
    data = json.loads(path.read_text())
    if kind == "truncated":
        path.write_text(path.read_text()[:200])
    elif kind == "garbage":
        path.write_bytes(b"\x00\xff\xfe garbage")
    elif kind == "schema":
        data["schema_version"] = 99
        path.write_text(json.dumps(data))
    elif kind == "f1-null":
        data["test"]["conlleval"]["f1"] = None
        path.write_text(json.dumps(data))
    elif kind == "no-result":
        path.unlink()
    elif kind == "other-job":
        data["job"] = other_job.to_json()
        path.write_text(json.dumps(data))


@pytest.mark.parametrize("kind, words", [
    ("truncated", "truncated JSON"), ("garbage", "corrupt"), ("schema", "schema_version 99 is unknown"),
    ("f1-null", "test.conlleval.f1 is null"), ("no-result", "without result.json"), ("other-job", "holds job"),
])
def test_bad_result_is_named_never_a_silent_dash(tiny_corpus, tmp_path, kind, words):
    jobs = plan_jobs(tiny_corpus)
    store = ResultStore(tmp_path)
    folder = store.put(fake_result(jobs["en"], 0.5))
    _corrupt(folder / "result.json", kind, jobs["de"])
    bad = store.read(jobs["en"])
    assert isinstance(bad, BadResult) and words in bad.reason
    assert str(folder) in bad.message()
    out = CliRunner().invoke(main, ["report", *RUN[1:], "--data-dir", str(tiny_corpus.root), "--results", str(tmp_path)])
    assert out.exit_code == 2 and "Traceback" not in out.output and out.exception is None or \
        isinstance(out.exception, SystemExit)
    assert f"bad stored result {folder}" in out.stderr and words in out.stderr


def test_bad_result_is_moved_aside_and_rerun(tiny_corpus, tmp_path):
    jobs = plan_jobs(tiny_corpus)
    store = ResultStore(tmp_path)
    folder = store.put(fake_result(jobs["en"], 0.5))
    (folder / "result.json").write_text('{"schema_version": 2, "job": {')
    out = CliRunner().invoke(main, [*RUN, "--languages", "en", "--data-dir", str(tiny_corpus.root),
                                    "--results", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert "truncated JSON" in out.stderr and "moved aside to" in out.stderr
    (aside,) = folder.parent.glob(f"{folder.name}.bad-*")
    assert (aside / "result.json").read_text() == '{"schema_version": 2, "job": {'  # kept for inspection
    assert store.has(jobs["en"]) and store.get(jobs["en"]).test["conlleval"]["f1"] != 0.5


# -- failed writes: one line, exit 2, nothing damaged, no temp files -------------------------------

def _fail_fsync(monkeypatch, code=errno.ENOSPC):
    def boom(fd):
        raise OSError(code, os.strerror(code))
    monkeypatch.setattr(bio.os, "fsync", boom)


def test_disk_full_during_put_keeps_the_old_result(tiny_corpus, tmp_path, monkeypatch):
    job = plan_jobs(tiny_corpus)["en"]
    store = ResultStore(tmp_path)
    store.put(fake_result(job, 0.5))
    _fail_fsync(monkeypatch)
    with pytest.raises(StoreWriteError, match="No space left on device") as exc:
        store.put(fake_result(job, 0.9))
    assert str(store.run_dir(job)) in str(exc.value) and "\n" not in str(exc.value)
    monkeypatch.undo()
    assert store.get(job).test["conlleval"]["f1"] == 0.5
    assert not leftovers(tmp_path)


def test_failed_final_rename_restores_the_old_result(tiny_corpus, tmp_path, monkeypatch):
    import benchmark.run.store as store_mod
    job = plan_jobs(tiny_corpus)["en"]
    store = ResultStore(tmp_path)
    store.put(fake_result(job, 0.5))
    real = os.replace

    def flaky(src, dst):
        if ".tmp-" in str(src) and Path(dst) == store.run_dir(job):
            raise OSError(errno.EIO, "Input/output error")
        return real(src, dst)

    monkeypatch.setattr(store_mod.os, "replace", flaky)
    with pytest.raises(StoreWriteError, match="Input/output error"):
        store.put(fake_result(job, 0.9))
    monkeypatch.undo()
    assert store.get(job).test["conlleval"]["f1"] == 0.5
    assert not leftovers(tmp_path)


def test_report_output_on_a_full_disk_keeps_the_old_table(tiny_corpus, tmp_path, monkeypatch):
    store = ResultStore(tmp_path / "res")
    store.put(fake_result(plan_jobs(tiny_corpus)["en"], 0.5))
    table = tmp_path / "tables" / "table5.md"
    write_text(table, "OLD TABLE\n")
    _fail_fsync(monkeypatch)
    out = CliRunner().invoke(main, ["report", *RUN[1:], "--data-dir", str(tiny_corpus.root),
                                    "--results", str(tmp_path / "res"), "--output", str(table)])
    assert out.exit_code == 2 and "Traceback" not in out.output
    assert out.stderr.strip() == f"bench: {table}: cannot write (No space left on device)"
    assert table.read_text() == "OLD TABLE\n" and not leftovers(tmp_path)


def test_read_only_results_folder_is_one_line_before_any_job(tiny_corpus, tmp_path, monkeypatch):
    results = tmp_path / "res"
    store = ResultStore(results)
    store.put(fake_result(plan_jobs(tiny_corpus)["en"], 0.5))
    real_mkdir = Path.mkdir

    def read_only(self, *a, **kw):
        if str(self).startswith(str(results)) and not self.exists():
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_mkdir(self, *a, **kw)

    monkeypatch.setattr(Path, "mkdir", read_only)
    out = CliRunner().invoke(main, [*RUN, "--data-dir", str(tiny_corpus.root), "--results", str(results)])
    assert out.exit_code == 2 and "Traceback" not in out.output, out.output
    assert out.stderr.strip().count("\n") == 0 and "Read-only file system" in out.stderr
    assert "test F1" not in out.output  # no job trained
    assert store.get(plan_jobs(tiny_corpus)["en"]).test["conlleval"]["f1"] == 0.5  # stored result intact


def test_unwritable_cache_is_one_line(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MMNER_BENCH_CACHE", str(blocker / "cache"))
    monkeypatch.delenv("MMNERD_DIR", raising=False)
    out = CliRunner().invoke(main, [*RUN, "--results", str(tmp_path / "res"), "--dry-run"])
    assert out.exit_code == 2 and "Traceback" not in out.output
    assert out.stderr.strip().startswith("bench: ") and "cannot write (Not a directory)" in out.stderr
    assert out.stderr.strip().count("\n") == 0


# -- bench plan / bench status --------------------------------------------------------------------

def test_plan_and_status_show_every_state(tiny_corpus, tmp_path):
    """done / queued (Slurm submitted.json) / failed (error.txt) / bad / missing, per job and per table."""
    plan = make_plan(PlanOptions(table=5, models=("bilstm-crf",), languages=("all", "en", "fr", "es", "de"),
                                 scale="smoke", hp=(("epochs", 1), ("w2v_epochs", 1)), data_dir=str(tiny_corpus.root)))
    jobs = {j.setting.test_language: j for j in plan.ready}
    store = ResultStore(tmp_path)
    store.put(fake_result(jobs["en"], 0.5))
    write_text(store.work_path(jobs["de"]) / "submitted.json", "{}")
    write_text(store.work_path(jobs["fr"]) / "error.txt", "Traceback ...\nRuntimeError: boom\n")
    (store.put(fake_result(jobs["es"], 0.5)) / "result.json").write_text("{")
    args = ["--table", "5", "--models", "bilstm-crf", "--scale", "smoke", "--hp", "epochs=1", "--hp", "w2v_epochs=1",
            "--data-dir", str(tiny_corpus.root), "--results", str(tmp_path)]
    shown = CliRunner().invoke(main, ["plan", *args])
    assert shown.exit_code == 0, shown.output
    for lang, state in (("en", "done"), ("de", "queued"), ("fr", "failed"), ("es", "bad"), ("all", "missing")):
        assert f"| {state:<7} | {jobs[lang].job_id}" in shown.output, (state, shown.output)
    assert "RuntimeError: boom" in shown.output and "1 bad, 1 done, 1 failed, 1 missing, 1 queued" in shown.output
    status = CliRunner().invoke(main, ["status", *args])
    assert status.exit_code == 0, status.output
    assert "Table 5: 5 job(s): 1 done, 0 running, 1 queued, 1 failed, 1 bad, 1 missing, 0 blocked" in status.output
    assert f"{tmp_path}: 2 stored result folder(s), 0 outside these plans" in status.output


# -- unit checks found by the mutation pass (survivors of the first run) ---------------------------

def _good_dict(job) -> dict:
    return fake_result(job, 0.5).to_json()


@pytest.mark.parametrize("path, value, words", [
    (("job",), None, "job is missing"),
    (("job", "profile"), "huge", "job.profile 'huge' is unknown"),
    (("test", "strict"), None, "test.strict is missing"),
    (("dev", "conlleval", "precision"), 1.5, "dev.conlleval.precision is 1.5, expected 0.0..1.0"),
    (("test", "conlleval", "recall"), True, "test.conlleval.recall is true, expected a number"),
    (("test_max", "conlleval", "per_type", "PER", "f1"), None, "test_max.conlleval.per_type.PER.f1 is null"),
    (("test", "conlleval", "per_type"), None, "test.conlleval.per_type is missing"),
    (("selected_epoch",), 0, "selected_epoch is 0, expected an integer >= 1"),
    (("epochs_run",), True, "epochs_run is true"),
    (("history",), None, "history is missing"),
    (("environment",), [], "environment is missing"),
    (("wall_time_s",), -1.0, "wall_time_s is -1.0"),
])
def test_incomplete_result_fields_are_named(tiny_corpus, path, value, words):
    from benchmark.run.specs import check_result_dict
    d = _good_dict(plan_jobs(tiny_corpus)["en"])
    check_result_dict(d)  # the complete one passes
    target = d
    for key in path[:-1]:
        target = target[key]
    if value is None:
        target.pop(path[-1])
    else:
        target[path[-1]] = value
    with pytest.raises(ValueError) as exc:
        check_result_dict(d)
    assert words in str(exc.value)


def test_job_field_missing_and_epoch_order(tiny_corpus):
    from benchmark.run.specs import check_result_dict
    d = _good_dict(plan_jobs(tiny_corpus)["en"])
    del d["job"]["data_fingerprint"]
    with pytest.raises(ValueError, match="job.data_fingerprint is missing"):
        check_result_dict(d)
    d = _good_dict(plan_jobs(tiny_corpus)["en"])
    d["selected_epoch"], d["epochs_run"] = 3, 2
    with pytest.raises(ValueError, match="selected_epoch 3 > epochs_run 2"):
        check_result_dict(d)
    with pytest.raises(ValueError, match="not a JSON object"):
        check_result_dict([])


def test_schema_v1_results_are_upgraded(tiny_corpus, tmp_path):
    """A v1 text-job result (no image_source) still reads; a v1 image job never matches a new plan."""
    from benchmark.run.specs import SCHEMA_VERSION, JobSpec, Setting
    store = ResultStore(tmp_path)
    job = plan_jobs(tiny_corpus)["en"]
    folder = store.put(fake_result(job, 0.5))
    d = json.loads((folder / "result.json").read_text())
    d["schema_version"] = 1
    del d["job"]["image_source"]
    (folder / "result.json").write_text(json.dumps(d))
    res = store.read(job)
    assert not isinstance(res, BadResult) and res.schema_version == SCHEMA_VERSION == 2
    assert res.job.image_source == "none" and res.job_id == job.job_id
    v1_image = {**d["job"], "setting": {**d["job"]["setting"], "use_image": True}}
    assert JobSpec.from_json(v1_image).image_source == "unrecorded"
    assert Setting.from_json(d["job"]["setting"]) == job.setting


def test_setting_labels():
    from benchmark.run.specs import Setting
    assert Setting(("en", "de"), "en", True, fold=2).label() == "train en+de -> test en (text+image) fold 2/5"
    assert Setting(("fr",), "fr").label() == "train fr -> test fr (text)"


def test_lock_is_exclusive_and_released(tiny_corpus, tmp_path):
    """Two lock objects (as two processes would hold): the second never gets it while the first holds it."""
    import time
    job = plan_jobs(tiny_corpus)["en"]
    store = ResultStore(tmp_path)
    first, second = store.lock(job), store.lock(job)
    assert first.acquire()
    t0 = time.monotonic()
    assert not second.acquire() and time.monotonic() - t0 < 2  # never waits
    assert second.is_held_elsewhere() and store.state(job)[0] == "running"
    assert first.owner()["pid"] == os.getpid() and first.owner()["host"] == socket.gethostname()
    first.release()
    assert first.path.exists()  # the lock file stays: a waiter never locks an unlinked inode
    assert not first.owner_path.exists()
    assert not second.is_held_elsewhere() and second.acquire()
    second.release()


def test_quarantine_moves_aside_without_overwriting(tiny_corpus, tmp_path):
    job = plan_jobs(tiny_corpus)["en"]
    store = ResultStore(tmp_path)
    names = set()
    for _ in range(2):
        folder = store.put(fake_result(job, 0.5))
        (folder / "result.json").write_text("{")
        bad = store.read(job)
        aside = store.quarantine(bad)
        assert aside.parent == folder.parent and aside.name.startswith(f"{job.job_id}.bad-")
        assert (aside / "result.json").read_text() == "{" and not folder.exists()
        names.add(aside.name)
    assert len(names) == 2  # the second bad folder did not replace the first
    assert store.read(job) is None


# -- issue 27 item 5: a real full, read-only or forbidden results folder: one line, exit 2 -------------

def _mount_tmpfs(target: Path, options: str) -> None:
    """Mount a tmpfs at ``target`` or skip, saying why (needs root and a kernel that allows it)."""
    target.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (tests run as root in CI)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")


@pytest.fixture()
def tmpfs():
    """``mount(name, options)``: a fresh tmpfs in a folder anyone may enter (pytest's tmp_path is 0700)."""
    import tempfile
    base = Path(tempfile.mkdtemp(prefix="bench-tmpfs-"))
    base.chmod(0o755)
    mounts: list[Path] = []

    def mount(name: str, options: str) -> Path:
        target = base / name
        _mount_tmpfs(target, options)
        mounts.append(target)
        return target

    yield mount
    for target in reversed(mounts):
        subprocess.run(["umount", "-l", str(target)], capture_output=True)
    shutil.rmtree(base, ignore_errors=True)


def _one_line_exit_2(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 2, (out, err)
    assert "Traceback" not in err and err.strip().count("\n") == 0 and err.startswith("bench: "), err
    assert "FAILED" not in out and "test F1" not in out, out
    return err.strip()


def test_a_full_results_disk_is_one_line_naming_the_file(tiny_corpus, tmpfs):
    """The defect: `RuntimeError: ... inline_container.cc:672 unexpected pos` from torch.save, job FAILED,
    exit 1. Now: `bench: <file>: cannot write (No space left on device)`, exit 2; the stored result stays."""
    results = tmpfs("small", "size=300k") / "res"
    jobs = plan_jobs(tiny_corpus)
    ResultStore(results).put(fake_result(jobs["de"], 0.5))
    err = _one_line_exit_2(bench_process(tiny_corpus, results))
    assert re.fullmatch(rf"bench: {re.escape(str(results))}/\S+: cannot write \(No space left on device\)", err), err
    assert ResultStore(results).get(jobs["de"]).test["conlleval"]["f1"] == 0.5
    assert not leftovers(results)


def test_a_read_only_results_disk_is_one_line_and_keeps_the_result(tiny_corpus, tmpfs):
    disk = tmpfs("ro", "size=4m")
    results = disk / "res"
    job = plan_jobs(tiny_corpus)["en"]
    ResultStore(results).put(fake_result(job, 0.5))
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    proc = bench_process(tiny_corpus, results, "--overwrite", "always")
    err = _one_line_exit_2(proc)
    assert err.startswith(f"bench: {results}") and err.endswith("cannot write (Read-only file system)"), err
    assert ResultStore(results).get(job).test["conlleval"]["f1"] == 0.5


def test_a_results_folder_without_write_permission_is_one_line(tiny_corpus, tmpfs):
    """Root ignores permissions: the run goes as `nobody` (setpriv) on a folder owned by root, mode 755."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) not installed: cannot run the command as an unprivileged user")
    disk = tmpfs("perm", "size=64m,mode=1777")
    corpus = disk / "corpus"
    shutil.copytree(tiny_corpus.root, corpus)
    for path in [corpus, *corpus.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    cache = disk / "cache"
    cache.mkdir(mode=0o777)
    cache.chmod(0o777)
    results = disk / "res"
    job = plan_jobs(tiny_corpus)["en"]
    ResultStore(results).put(fake_result(job, 0.5))
    for path in [results, *results.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MMNER_BENCH_CACHE": str(cache), "HOME": str(cache)}
    proc = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m",
                             "benchmark.cli", *RUN, "--data-dir", str(corpus), "--results", str(results)],
                            cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = _one_line_exit_2(proc)
    assert err.startswith(f"bench: {results}") and err.endswith("cannot write (Permission denied)"), err
    assert ResultStore(results).get(job).test["conlleval"]["f1"] == 0.5


def test_torch_save_failures_become_one_line_write_errors(tmp_path, monkeypatch):
    """torch.save wraps the kernel's ENOSPC in a RuntimeError: write_stream names the file and the reason,
    keeps the old file and leaves no temp file; an unrelated RuntimeError is not disguised."""
    import torch

    target = tmp_path / "ck" / "last.pt"
    bio.write_bytes(target, b"OLD")

    def full(fh):
        fh.write(b"partial")
        try:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")

    with pytest.raises(StoreWriteError) as exc:
        bio.write_stream(target, full)
    assert str(exc.value) == f"{target}: cannot write (No space left on device)"
    assert target.read_bytes() == b"OLD" and not leftovers(tmp_path)

    def bug(fh):
        raise RuntimeError("not a disk problem")

    with pytest.raises(RuntimeError, match="not a disk problem"):
        bio.write_stream(target, bug)
    monkeypatch.setattr(bio, "_disk_full", lambda folder: True)  # no OSError behind it, but the disk is full
    with pytest.raises(StoreWriteError, match="No space left on device"):
        bio.write_stream(target, bug)
    monkeypatch.undo()
    bio.write_stream(target, lambda fh: torch.save({"x": torch.ones(2)}, fh))
    assert torch.load(target, weights_only=True)["x"].sum() == 2


def test_feature_cache_and_predictions_on_a_full_disk_name_their_file(tmp_path, monkeypatch):
    import torch

    from benchmark.corpora.reader import Sentence
    from benchmark.run.predictions import write_predictions
    from baselines.layers.images import FeatureCache

    cache = FeatureCache(tmp_path / "features", "resnet-test")
    real_replace = os.replace

    def no_space(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(StoreWriteError, match=r"features/two_m_ner/resnet-test/.*\.pt: cannot write \(No space left"):
        cache.put("img1", torch.ones(3))
    preds = tmp_path / "predictions.conll"
    with pytest.raises(StoreWriteError, match=rf"{re.escape(str(preds))}: cannot write \(No space left on device\)"):
        write_predictions(preds, [Sentence(("x",), ("O",))], [("O",)])
    monkeypatch.setattr(os, "replace", real_replace)
    assert not leftovers(tmp_path)


def test_checkpoints_keep_the_mode_a_plain_torch_save_gives(tmp_path):
    import torch

    from benchmark.run import checkpoints

    checkpoints.save({"format": checkpoints.FORMAT, "x": torch.ones(1)}, tmp_path / "last.pt")
    plain = tmp_path / "plain.pt"
    torch.save({"x": torch.ones(1)}, plain)
    assert (tmp_path / "last.pt").stat().st_mode & 0o777 == plain.stat().st_mode & 0o777

"""Executors: parallel worker processes on fake CPU device slots (one killed with SIGKILL), the
Slurm path (golden sbatch script, a fake sbatch, submitit's debug executor), device parsing and
the grid progress line.

The golden script ``tests/golden/slurm_array.sbatch`` is refreshed only by this documented command:
    python -c "import sys; sys.path.insert(0, 'tests'); import test_executors as t; print(t.golden_text(), end='')" \
        > tests/golden/slurm_array.sbatch
"""
from __future__ import annotations

import io
import json
import os
import shlex
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmark.cli import main
from benchmark.errors import BenchError, ConfigError
from benchmark.registry import get_model
from benchmark.run.executors import (SUBMITTED, GridProgress, LocalExecutor, SlurmExecutor, execute_job,
                                     parse_devices, parse_slurm_extra, parse_slurm_time, render_sbatch,
                                     slurm_available, slurm_parameters)
from benchmark.hparams import trainer_overrides
from benchmark.run.specs import JobSpec, Setting
from benchmark.run.store import ResultStore

GOLDEN = Path(__file__).parent / "golden" / "slurm_array.sbatch"
GOLDEN_OPTIONS = dict(partition="gpu", gpus=2, time="2:00:00", mem="64G", account="proj42",
                      extra="--qos=high --constraint=a100")


def golden_text() -> str:
    return render_sbatch(slurm_parameters(**GOLDEN_OPTIONS), 5, Path("/shared/results/.slurm"), python="python3")


def _job(corpus, lang: str, **hp) -> JobSpec:
    spec = get_model("bilstm-crf")
    return JobSpec("bilstm-crf", Setting((lang,), lang), 1, "smoke", spec.hparams("smoke", hp or None),
                   corpus.kind, corpus.fingerprint([lang]))


# ---------------------------------------------------------------------------------------------
# Local executor: one process per device slot
# ---------------------------------------------------------------------------------------------

def test_parse_devices():
    assert parse_devices("cpu,cpu", cuda_count=0) == ["cpu", "cpu"]
    assert parse_devices("0,1", cuda_count=2) == ["cuda:0", "cuda:1"]
    assert parse_devices(None, "cuda", cuda_count=3) == ["cuda:0", "cuda:1", "cuda:2"]
    assert parse_devices(None, "cpu", cuda_count=3) == ["cpu"]
    with pytest.raises(ConfigError, match="not visible"):
        parse_devices("cuda:2", cuda_count=2)
    with pytest.raises(ConfigError, match="not a device"):
        parse_devices("gpu0", cuda_count=2)


def test_precision_comes_from_the_options_only():
    """Catches precision inferred from the executor or the planning machine (issue 22): fp32 adds
    nothing (job ids stay what they were), bf16 and compile only when asked for."""
    assert trainer_overrides() == {} and trainer_overrides("fp32") == {}
    assert trainer_overrides("bf16", True) == {"precision": "bf16", "compile": True}
    with pytest.raises(ConfigError, match="--precision auto"):
        trainer_overrides("auto")


def test_the_same_options_plan_the_same_ids_under_every_executor(tiny_corpus, tmp_path):
    """``bench plan`` with --executor slurm / --device cuda / --slurm-gpus lists the ids the local CPU run has."""
    base = ["plan", "--table", "5", "--models", "bilstm-crf", "--languages", "en", "--scale", "smoke",
            "--data-dir", str(tiny_corpus.root), "--results", str(tmp_path)]
    outs = [CliRunner().invoke(main, base + extra).output for extra in
            ([], ["--executor", "slurm", "--slurm-gpus", "1"], ["--device", "cuda", "--devices", "0,1"])]
    ids = [sorted(w for w in out.split() if len(w) == 16 and w.isalnum()) for out in outs]
    assert ids[0] and ids[0] == ids[1] == ids[2], outs


def test_worker_processes_store_the_same_result_and_a_killed_job_loses_only_itself(tiny_corpus, tmp_path):
    """Two CPU slots, three jobs: the in-process result of a job equals the worker's bit for bit; a
    job that raises is one failed job (traceback kept); a worker killed with SIGKILL is one failed
    job whose work folder stays for a resume; the other jobs are stored."""
    quick, bad, slow = _job(tiny_corpus, "en"), _job(tiny_corpus, "fr", batch_size=0), _job(tiny_corpus, "de", epochs=400)
    here = execute_job(quick, tiny_corpus, ResultStore(tmp_path / "inproc"))
    store = ResultStore(tmp_path / "results")
    lines: list[str] = []
    executor = LocalExecutor(devices=["cpu", "cpu"], poll_s=0.05)
    out: dict = {}
    thread = threading.Thread(target=lambda: out.setdefault("summary", executor.run([slow, quick, bad], tiny_corpus,
                                                                                        store, lines.append)))
    thread.start()
    pid_file = store.root / ".work" / slow.job_id / "worker.pid"
    bad_error = store.root / ".work" / bad.job_id / "error.txt"
    deadline = time.time() + 240
    while time.time() < deadline and not (store.has(quick) and bad_error.is_file() and pid_file.is_file()):
        time.sleep(0.1)
    assert store.has(quick), "the other jobs did not finish while the slow one was running"
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    thread.join(timeout=120)
    summary = out["summary"]
    assert summary.done == [quick.job_id]
    failed = dict(summary.failed)
    assert set(failed) == {slow.job_id, bad.job_id} and "SIGKILL" in failed[slow.job_id]
    assert not store.has(slow) and (store.root / ".work" / slow.job_id).is_dir()
    assert bad_error.is_file() and not store.has(bad)
    assert not (store.root / ".work" / quick.job_id).exists()
    assert lines[-1] == "finished: 1 done, 2 failed, 0 skipped"
    assert any("FAILED (worker killed by SIGKILL)" in line for line in lines)
    assert any("FAILED" in line and "error.txt" in line for line in lines)
    stored = store.get(quick)
    assert stored.test == here.test and [h["loss"] for h in stored.history] == [h["loss"] for h in here.history]


def test_cli_runs_jobs_on_two_cpu_worker_slots(tiny_corpus, tmp_path, monkeypatch):
    """Two worker processes run the two jobs; each result records the `bench run` that planned it.
    Bug: a worker recording its own command line (python -m benchmark.run.worker payload.json)."""
    from benchmark.util.command import COMMAND_ENV

    res = tmp_path / "results"
    args = ["run", "--table", "5", "--models", "bilstm-crf", "--languages", "en,fr", "--scale", "smoke",
            "--data-dir", str(tiny_corpus.root), "--results", str(res), "--device", "cpu", "--devices", "cpu,cpu",
            "--hp", "epochs=2"]
    monkeypatch.delenv(COMMAND_ENV, raising=False)
    monkeypatch.setattr(sys, "argv", ["/somewhere/bin/bench", *args])
    out = CliRunner().invoke(main, args, catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert out.output.count("test F1") == 2 and "on cpu" in out.output
    assert "finished: 2 done, 0 failed, 0 skipped" in out.output
    stored = [json.loads(p.read_text()) for p in (res / "runs" / "bilstm-crf").glob("*/result.json")]
    assert len(stored) == 2
    assert {r["environment"]["command"] for r in stored} == {shlex.join(["bench", *args])}


def test_grid_progress_line_and_quiet_off_terminal():
    stream = io.StringIO()
    grid = GridProgress(total=10, slots=2, stream=stream, enabled=True)
    grid.update(running=2)
    grid.update(finished=1, running=-1, seconds=60)
    assert grid.text() == "grid: 1 done, 0 failed, 1 running, 8 left, ETA 4m30s"  # 9 left x 60 s / 2 slots
    assert "grid: 1 done" in stream.getvalue()
    quiet = io.StringIO()
    GridProgress(total=3, slots=1, stream=quiet).update(running=1)  # StringIO is not a terminal
    assert quiet.getvalue() == ""


# ---------------------------------------------------------------------------------------------
# Slurm
# ---------------------------------------------------------------------------------------------

def _fake_slurm(tmp_path: Path, monkeypatch) -> Path:
    """``sbatch`` that records its script and answers like Slurm; ``srun`` for submitit's check."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(f"#!/bin/sh\ncp \"$1\" {tmp_path}/submitted.sh\necho 'Submitted batch job 4242'\n")
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "scontrol").write_text("#!/bin/sh\necho 'PartitionName=gpu Default=YES MaxTime=2-00:00:00 Nodes=g1'\n")
    (bin_dir / "sinfo").write_text("#!/bin/sh\necho 'g1|64|512000|gpu:a100:4(S:0-1)|idle'\n")
    (bin_dir / "squeue").write_text("#!/bin/sh\nexit 0\n")
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir


def test_golden_sbatch_script():
    text = golden_text()
    assert text == GOLDEN.read_text()
    for expected in ("#SBATCH --partition=gpu", "#SBATCH --gpus-per-node=2", "#SBATCH --time=120",
                     "#SBATCH --mem=64G", "#SBATCH --account=proj42", "#SBATCH --qos=high",
                     "#SBATCH --constraint=a100", "#SBATCH --array=0-4%5"):
        assert expected in text


def test_slurm_options_parse_and_fail_clearly():
    assert parse_slurm_time("90") == 90 and parse_slurm_time("1:30:00") == 90 and parse_slurm_time("1-00:00:00") == 1440
    assert parse_slurm_extra("--qos=high --requeue") == {"qos": "high", "requeue": True}
    with pytest.raises(ConfigError, match="--slurm-time"):
        parse_slurm_time("soon")
    with pytest.raises(ConfigError, match="--slurm-extra"):
        parse_slurm_extra("qos=high")
    with pytest.raises(ConfigError, match="--slurm-mem"):
        slurm_parameters(mem="lots")


def test_no_slurm_is_an_error_not_a_local_run(tiny_corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch anywhere
    assert not slurm_available()
    with pytest.raises(ConfigError, match="sbatch"):
        SlurmExecutor(tmp_path / ".slurm")
    out = CliRunner().invoke(main, ["run", "--table", "5", "--models", "bilstm-crf", "--languages", "en",
                                    "--scale", "smoke", "--data-dir", str(tiny_corpus.root),
                                    "--results", str(tmp_path / "res"), "--executor", "slurm"])
    assert out.exit_code == 2 and "no Slurm on this machine" in out.output
    assert not (tmp_path / "res" / "runs").exists()


def test_submission_through_a_fake_sbatch_writes_the_golden_script_and_submitted_json(tiny_corpus, tmp_path,
                                                                                        monkeypatch):
    _fake_slurm(tmp_path, monkeypatch)
    assert slurm_available()
    store = ResultStore(tmp_path / "results")
    jobs = [_job(tiny_corpus, lang) for lang in ("en", "fr", "es", "de", "all")]
    folder = store.root / ".slurm"
    executor = SlurmExecutor(folder, cpus=8, **GOLDEN_OPTIONS)
    lines: list[str] = []
    executor.run(jobs, tiny_corpus, store, lines.append)
    sent = (tmp_path / "submitted.sh").read_text()
    assert sent == render_sbatch(executor.params, len(jobs), folder, python=shlex.quote(sys.executable))
    assert sent.replace(str(folder), "/shared/results/.slurm").replace(shlex.quote(sys.executable), "python3") \
        == GOLDEN.read_text()
    for i, job in enumerate(jobs):
        record = json.loads((store.root / ".work" / job.job_id / SUBMITTED).read_text())
        assert record["slurm_job_id"] == f"4242_{i}" and record["job_id"] == job.job_id and record["submitted_at"]
    assert "submitted 5 slurm task(s) (array 4242; each 8 CPU(s), 64G, 2 GPU(s), 120 min)" in lines[-1]


def test_debug_executor_stores_results_under_the_same_ids(tiny_corpus, tmp_path):
    pytest.importorskip("submitit")
    store = ResultStore(tmp_path / "results")
    jobs = [_job(tiny_corpus, "en", epochs=1), _job(tiny_corpus, "de", epochs=1)]
    summary = SlurmExecutor(store.root / ".slurm", cluster="debug", wait=True).run(jobs, tiny_corpus, store,
                                                                                    lambda m: None)
    assert summary.done == [j.job_id for j in jobs]
    for job in jobs:
        stored = store.get(job)
        assert stored is not None and stored.job_id == job.job_id
        assert store.run_dir(job).name == job.job_id
        assert not (store.root / ".work" / job.job_id).exists()  # submitted.json gone with the finished work


def test_a_user_facing_error_in_a_worker_stops_the_grid_with_its_line(tiny_corpus, tmp_path):
    """Missing pretrained weights inside a worker: one line, no traceback, no further job started."""
    spec = get_model("bert")
    missing = JobSpec("bert", Setting(("en",), "en"), 1, "paper", spec.hparams("paper"), tiny_corpus.kind,
                      tiny_corpus.fingerprint(["en"]))
    later = _job(tiny_corpus, "fr")
    store = ResultStore(tmp_path)
    lines: list[str] = []
    with pytest.raises(BenchError, match="bert-base-multilingual-cased"):
        LocalExecutor(devices=["cpu"], poll_s=0.05, processes=True).run([missing, later], tiny_corpus, store,
                                                                         lines.append)
    assert not store.has(later) and not (tmp_path / ".work" / later.job_id).exists()
    assert any("FAILED" in line for line in lines)


def _records(store: ResultStore, tiny_corpus, n: int) -> list[Path]:
    works = []
    for i, lang in enumerate(("en", "fr", "es", "de", "all")[:n]):
        work = store.work_dir(_job(tiny_corpus, lang))
        folder = store.root / ".slurm" / f"7_{i}"
        (work / SUBMITTED).write_text(json.dumps({
            "executor": "slurm", "slurm_job_id": f"7_{i}", "submitted_at": "2026-01-01T00:00:00+00:00",
            "folder": str(folder), "stdout": str(folder / f"7_{i}_0_log.out"),
            "stderr": str(folder / f"7_{i}_0_log.err"), "result_pickle": str(folder / f"7_{i}_0_result.pkl")}))
        works.append(work)
    return works


def test_slurm_states_as_squeue_tells_them(tiny_corpus, tmp_path, monkeypatch):
    """pending (with Slurm's reason), running (node), timeout, out-of-memory and cancelled, each
    naming the task's log; catches a state read from the presence of submitted.json alone."""
    from benchmark.run.executors import submitted_states

    bin_dir = _fake_slurm(tmp_path, monkeypatch)
    (bin_dir / "squeue").write_text("#!/bin/sh\nprintf '7_0|PENDING|Resources|\\n7_1|RUNNING|None|node3\\n"
                                    "7_2|TIMEOUT|TimeLimit|node3\\n7_3|OUT_OF_MEMORY|OutOfMemory|node3\\n"
                                    "7_4|CANCELLED|None|node3\\n'\n")
    (bin_dir / "sacct").write_text("#!/bin/sh\necho 'sacct: error: Slurm accounting storage is disabled' >&2\nexit 1\n")
    (bin_dir / "sacct").chmod(0o755)
    works = _records(ResultStore(tmp_path / "results"), tiny_corpus, 5)
    states = submitted_states(works)
    assert [states[w][0] for w in works] == ["queued", "running", "timeout", "out-of-memory", "cancelled"]
    assert states[works[0]][1].startswith("Slurm 7_0 pending (Resources); log ")
    assert states[works[1]][1].startswith("Slurm 7_1 running on node3; log ")
    assert all(f"log {tmp_path / 'results' / '.slurm'}" in states[w][1] for w in works)


def test_slurm_states_from_the_tasks_files_once_slurm_forgot_them(tiny_corpus, tmp_path, monkeypatch):
    """Without squeue/sacct knowledge: submitit's result pickle and slurmstepd's lines in the log say
    completed / failed / timeout / cancelled; with no file saying anything the state is 'unknown'."""
    import pickle

    from benchmark.run.executors import submitted_states

    _fake_slurm(tmp_path, monkeypatch)  # squeue knows nothing
    works = _records(ResultStore(tmp_path / "results"), tiny_corpus, 5)
    logs = [json.loads((w / SUBMITTED).read_text()) for w in works]
    for r in logs:
        Path(r["folder"]).mkdir(parents=True)
    Path(logs[0]["result_pickle"]).write_bytes(pickle.dumps(("error", "Traceback ...\nValueError: bad")))
    Path(logs[1]["stderr"]).write_text("slurmstepd-vm: error: *** JOB 7 ON vm CANCELLED AT 2026-12-03T13:14:28 "
                                       "DUE TO TIME LIMIT ***\n")
    Path(logs[2]["stderr"]).write_text("slurmstepd-vm: error: *** STEP 7.0 ON vm CANCELLED AT 2026-12-03T13:12:11 ***\n")
    (works[0] / "error.txt").write_text("Traceback ...\nValueError: bad\n")
    Path(logs[3]["result_pickle"]).write_bytes(pickle.dumps(("success", "x")))
    states = submitted_states(works)
    assert [states[w][0] for w in works] == ["failed", "timeout", "cancelled", "missing", "queued"]
    assert "Slurm 7_0 FAILED: ValueError: bad; log " in states[works[0]][1] and "error.txt" in states[works[0]][1]
    assert "state unknown (Slurm no longer knows it)" in states[works[4]][1]


def test_a_failed_task_whose_log_names_its_memory_or_time_limit_is_shown_as_that(tiny_corpus, tmp_path,
                                                                                 monkeypatch):
    """Without cgroups Slurm calls a memory-limit kill and a time limit after the last requeue
    FAILED; the task's log says which (slurmstepd's and submitit's own lines, as the .ci cluster
    wrote them). A FAILED task whose log names neither stays failed: a requeue note is not a timeout,
    and a path holding the words out_of_memory is not a kill. Catches out-of-memory and timeout shown as a plain failure, or a failure as a timeout."""
    from benchmark.run.executors import submitted_states

    bin_dir = _fake_slurm(tmp_path, monkeypatch)
    (bin_dir / "squeue").write_text("#!/bin/sh\nprintf '7_0|FAILED|NonZeroExitCode|\\n7_1|FAILED|NonZeroExitCode|\\n"
                                    "7_2|FAILED|NonZeroExitCode|\\n7_3|OUT_OF_MEMORY|OutOfMemory|\\n'\n")
    works = _records(ResultStore(tmp_path / "results"), tiny_corpus, 4)
    logs = [json.loads((w / SUBMITTED).read_text()) for w in works]
    for r in logs:
        Path(r["folder"]).mkdir(parents=True)
    Path(logs[0]["stderr"]).write_text("slurmstepd-vm: error: StepId=7.0 exceeded memory limit (223375360 > "
                                       "209715200), being killed\nslurmstepd-vm: error: Exceeded job memory limit\n")
    Path(logs[1]["stderr"]).write_text(
        "submitit WARNING (2026-12-03 18:40:01,000) - Caught signal SIGUSR2 on vm: this job is timed-out.\n"
        "submitit INFO (2026-12-03 18:40:01,001) - Job not requeued because: timed-out too many times.\n")
    Path(logs[2]["stderr"]).write_text(  # words of a path (a test's name) or a requeue note say nothing
        "submitit INFO (2026-12-03 18:40:00,000) - Loading pickle: /tmp/test_out_of_memory_0/7_submitted.pkl\n"
        "submitit WARNING (2026-12-03 18:40:01,000) - Caught signal SIGUSR2 on vm: this job is timed-out.\n"
        "Traceback ...\nValueError: hidden_size must be greater than zero\n")
    states = submitted_states(works)
    assert [states[w][0] for w in works] == ["out-of-memory", "timeout", "failed", "out-of-memory"]
    assert states[works[0]][1].startswith("Slurm 7_0 FAILED (OUT_OF_MEMORY); log ")
    assert states[works[1]][1].startswith("Slurm 7_1 FAILED (TIMEOUT); log ")
    assert states[works[3]][1].startswith("Slurm 7_3 OUT_OF_MEMORY; log ")

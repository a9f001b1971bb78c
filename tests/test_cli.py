"""End-to-end through the `bench` CLI: smoke run -> stored result -> report; errors exit 2."""
from __future__ import annotations

import json

from click.testing import CliRunner

from benchmark.cli import main


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_smoke_run_then_report(tiny_corpus, tmp_path):
    res = str(tmp_path / "results")
    out = invoke("run", "--table", "5", "--models", "bilstm-crf", "--languages", "en,de", "--scale", "smoke",
                 "--data-dir", str(tiny_corpus.root), "--results", res, "--device", "cpu")
    assert out.exit_code == 0, out.output
    assert "2 to run" in out.output and "test F1" in out.output
    stored = sorted((tmp_path / "results" / "runs" / "bilstm-crf").glob("*/result.json"))
    assert len(stored) == 2
    result = json.loads(stored[0].read_text())
    f1 = 100 * result["test"]["conlleval"]["f1"]
    lang = result["job"]["setting"]["test_language"]
    assert result["counts"]["train"] == 60 and (stored[0].parent / "train.log").is_file()
    assert not list((tmp_path / "results" / ".work").glob("*/*.pt"))  # cleaned after success

    again = invoke("run", "--table", "5", "--models", "bilstm-crf", "--languages", "en,de", "--scale", "smoke",
                   "--data-dir", str(tiny_corpus.root), "--results", res)
    assert "2 already stored, 0 to run" in again.output

    same = ["--models", "bilstm-crf", "--languages", "en,de", "--scale", "smoke", "--data-dir", str(tiny_corpus.root)]
    other = CliRunner().invoke(main, ["report", "--table", "5", "--results", res, "--scale", "smoke"])
    assert other.exit_code == 2 and "no stored result" in other.output  # another corpus: nothing matches
    rep = invoke("report", "--table", "5", "--results", res, *same, "--format", "markdown")
    assert rep.exit_code == 0, rep.output
    assert f"{f1:.2f}" in rep.output
    assert "fallback corpus" in rep.output  # never passes synthetic numbers off as MMNERD
    group = {"en": "English", "de": "German"}[lang]
    row = next(line for line in rep.output.splitlines() if "BiLSTM-CRF" in line and
               (group in line or line.startswith("|            | BiLSTM")))
    assert "–" not in row.split("|")[4]
    tex = invoke("report", "--table", "5", "--results", res, *same, "--format", "latex", "--compare-paper")
    assert r"\toprule" in tex.output and f"{f1:.2f}" in tex.output


def test_profile_is_a_deprecated_alias_of_scale(tiny_corpus, tmp_path):
    """Issue 24 item 6: ``--scale`` names the paper/smoke setting; ``--profile`` still plans the same
    job ids, says once on stderr that it is deprecated, and may not contradict ``--scale``."""
    args = ["run", "--table", "5", "--models", "bilstm-crf", "--languages", "en", "--data-dir",
            str(tiny_corpus.root), "--results", str(tmp_path), "--dry-run"]
    new = CliRunner().invoke(main, args + ["--scale", "smoke"])
    old = CliRunner().invoke(main, args + ["--profile", "smoke"])
    assert new.exit_code == old.exit_code == 0, old.output
    ids = [line.split()[2] for line in new.stdout.splitlines() if line.lstrip().startswith("would run")]
    assert ids and old.stdout == new.stdout and "--profile" not in new.stderr
    assert old.stderr.count("\n") - new.stderr.count("\n") == 1
    assert "bench: --profile is deprecated; use --scale\n" in old.stderr
    assert "--profile" not in CliRunner().invoke(main, ["run", "--help"]).output
    both = CliRunner().invoke(main, args + ["--scale", "paper", "--profile", "smoke"])
    assert both.exit_code == 2 and "--profile smoke contradicts --scale paper" in both.output


def test_validate_ok_and_bad(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("IMGID:1\nA\tB-PER\nb\tI-LOC\n\n")
    out = invoke("validate", str(good))
    assert out.exit_code == 0
    assert f"{good}: 1 sentences, 2 tokens, 2 entities, 1 warning(s)" in out.output
    bad = tmp_path / "bad.txt"
    bad.write_text("IMGID:1\nA\tB-PER\nb\tX-LOC\n\n")
    runner = CliRunner()
    res = runner.invoke(main, ["validate", str(good), str(bad)])
    assert res.exit_code == 2
    assert f"bench: {bad}:3: bad tag 'X-LOC'" in res.output
    assert "Traceback" not in res.output


def test_unknown_model_and_missing_data_dir(tmp_path):
    res = CliRunner().invoke(main, ["run", "--table", "5", "--models", "bilstm", "--scale", "smoke",
                                    "--data-dir", str(tmp_path)])
    assert res.exit_code == 2 and "Traceback" not in res.output
    res = CliRunner().invoke(main, ["run", "--table", "5", "--models", "bilstmcrf", "--scale", "smoke",
                                    "--data-dir", str(tmp_path / "nope")])
    assert res.exit_code == 2 and res.output.count("\n") == 1


def test_stats_on_fallback(tiny_corpus):
    out = invoke("stats", "--data-dir", str(tiny_corpus.root), "--format", "csv")
    lines = out.output.strip().splitlines()
    assert lines[0].startswith("language,split,PER,PER_paper")
    assert len(lines) == 1 + 12 + 1  # 4 languages x 3 splits + All
    en_train = next(line for line in lines if line.startswith("English,train"))
    assert en_train.split(",")[-2] == "60" and en_train.split(",")[-1] == "19966"


def test_models_lists_registry():
    out = invoke("models")
    assert "bilstm-crf" in out.output and "BiLSTM-CRF" in out.output


def test_slurm_executor_path_with_submitit_debug_cluster(tiny_corpus, tmp_path):
    """The Slurm path (JSON payload -> task -> shared store) run by submitit's in-process debug cluster."""
    import pytest
    pytest.importorskip("submitit")
    from benchmark.run.plan import plan_table
    from benchmark.run.executors import SlurmExecutor
    from benchmark.run.store import ResultStore
    from benchmark.tables import get_table

    jobs = [p.job for p in plan_table(get_table(5), tiny_corpus, "smoke", models=["bilstm-crf"], languages=["en"])]
    store = ResultStore(tmp_path / "res")
    lines: list[str] = []
    SlurmExecutor(tmp_path / "slurm", cluster="debug", wait=True).run(jobs, tiny_corpus, store, echo=lines.append)
    assert "submitted 1 debug task(s)" in lines[0]
    assert store.has(jobs[0]) and store.get(jobs[0]).job.job_id == jobs[0].job_id


def test_bad_file_mid_run_is_one_line_and_keeps_finished_jobs(tiny_corpus, tmp_path):
    """A broken German file: the English job (run first) stays stored; then FILE:LINE and exit 2."""
    import shutil
    root = tmp_path / "data"
    shutil.copytree(tiny_corpus.root, root)
    bad = root / "train_valid_test_de" / "train_conll_format.txt"
    lines = bad.read_text().splitlines()
    lines[1] = lines[1].split("\t")[0] + "\tX-PER"
    bad.write_text("\n".join(lines) + "\n")
    res = str(tmp_path / "results")
    out = CliRunner().invoke(main, ["run", "--table", "5", "--models", "bilstm-crf", "--languages", "en,de",
                                    "--scale", "smoke", "--data-dir", str(root), "--results", res])
    assert out.exit_code == 2
    assert f"bench: {bad}:2: bad tag 'X-PER'" in out.output
    assert "Traceback" not in out.output
    assert len(list((tmp_path / "results" / "runs" / "bilstm-crf").glob("*/result.json"))) == 1

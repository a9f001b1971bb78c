"""`bench rank`: stored configurations ranked by mean dev F1 (issue 23 item 1, "dev decides")."""
from __future__ import annotations

import dataclasses
import statistics

from click.testing import CliRunner

from benchmark.cli import main
from benchmark.registry import get_model
from benchmark.report.rank import default_hparams, rank, render_ranking
from report_cases import fake, write_store

CLEAN = {"commit": "a" * 40, "dirty": False}


def run(hparams: dict, seed: int, dev: float, test: float, env: dict = CLEAN):
    """A stored bilstm-crf result (train en -> test en, text) with its own dev and test F1 (fractions)."""
    r = fake("bilstm-crf", ("en",), "en", False, seed, test)
    dev_metrics = {mode: {**m, "f1": dev} for mode, m in r.dev.items()}
    job = dataclasses.replace(r.job, hparams=hparams)
    return dataclasses.replace(r, job=job, dev=dev_metrics, environment={**r.environment, **env})


def test_configurations_are_ranked_by_mean_dev_f1_never_by_test():
    spec = get_model("bilstm-crf")
    default = default_hparams(spec, "paper")
    dev_best = {**default, "dropout": 0.3}  # best on dev, worst on test
    test_best = {**default, "epochs": 40}   # best on test, worst on dev
    results = [run(dev_best, s, 0.70 + 0.01 * s, 0.50) for s in (1, 2, 3)]
    results += [run(test_best, s, 0.60, 0.90) for s in (1, 2, 3)]
    results += [run(default, s, 0.65, 0.70) for s in (1, 2, 3)]
    [block] = rank(results, spec)
    assert [c.hparams for c in block.configurations] == [dev_best, default, test_best]
    assert [len(c.runs) for c in block.configurations] == [3, 3, 3]
    text = render_ranking([block], spec)
    lines = [line for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert lines[0].split("|")[2].strip() == "dropout=0.3" and "72.00 ± 1.00" in lines[0] and "50.00" in lines[0]
    assert lines[1].split("|")[2].strip() == "default"
    assert lines[2].split("|")[2].strip() == "epochs=40"
    csv_rows = render_ranking([block], spec, fmt="csv").splitlines()
    assert csv_rows[1].split(",")[4:7] == ["1", "dropout=0.3", "3"]


def test_runs_before_an_optional_hp_existed_join_the_configuration_at_its_unset_value():
    """A run stored without label_scheme and one with label_scheme=iob2 are one configuration (as in
    the job identity); bioes is another. Dirty-tree runs are left out unless asked for."""
    spec = get_model("bilstm-crf")
    default = default_hparams(spec, "paper")
    old = {k: v for k, v in default.items() if k != "label_scheme"}
    results = [run(old, 1, 0.6, 0.6), run({**old, "label_scheme": "iob2"}, 2, 0.62, 0.6),
               run(default, 1, 0.5, 0.5), run(default, 2, 0.5, 0.5, env={"commit": "b" * 40, "dirty": True})]
    [block] = rank(results, spec)
    assert [len(c.runs) for c in block.configurations] == [2, 1]
    assert "label_scheme unset" in render_ranking([block], spec)
    [block] = rank(results, spec, clean_only=False)
    assert [len(c.runs) for c in block.configurations] == [2, 2]
    assert rank(results, spec, min_seeds=2) and len(rank(results, spec, min_seeds=2)[0].configurations) == 1


def test_bench_rank_prints_the_ranking_and_refuses_an_empty_one(tmp_path):
    spec = get_model("bilstm-crf")
    default = default_hparams(spec, "paper")
    write_store(tmp_path, [run(default, s, 0.6, 0.6) for s in (1, 2, 3)] + [run({**default, "lr": 0.01}, 1, 0.7, 0.5)])
    out = CliRunner().invoke(main, ["rank", "bilstm-crf", "--results", str(tmp_path), "--languages", "en"])
    assert out.exit_code == 0, out.output
    assert "train en -> test en (text)" in out.output and "ranked by mean dev F1" in out.output
    body = [line for line in out.output.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [line.split("|")[2].strip() for line in body] == ["lr=0.01", "default"]
    out = CliRunner().invoke(main, ["rank", "bilstm-crf", "--results", str(tmp_path), "--min-seeds", "3"])
    assert out.exit_code == 0 and "lr=0.01" not in out.output
    out = CliRunner().invoke(main, ["rank", "bilstm-crf", "--results", str(tmp_path), "--languages", "de"])
    assert out.exit_code == 2 and "no stored paper-scale run of bilstm-crf" in out.output


def test_the_lstm_defaults_are_the_dev_best_of_their_stored_trials_as_lstm_recipes_shows():
    """The registered defaults of the LSTM taggers are rank 1 on dev among the committed trials
    (results/experiments), and baselines/lstm_recipes.md shows that ranking, dev beside test: changing
    a default to a configuration that is not dev-best, or editing the numbers, fails here."""
    from pathlib import Path

    from benchmark.run.store import ResultStore

    root = Path(__file__).resolve().parents[1]
    doc = (root / "baselines" / "lstm_recipes.md").read_text(encoding="utf-8")
    stored = [r for r in ResultStore(root / "results" / "experiments").all()
              if r.job.scale == "paper" and r.job.setting.test_language == "en"]
    for name in ("bilstm-crf", "hbilstm-crf"):
        spec = get_model(name)
        [block] = rank(stored, spec, clean_only=False)  # the trials are word2vec runs, whatever is installed here
        assert block.configurations[0].hparams == default_hparams(spec, "paper", pretrained_vectors=False)
        assert len(block.configurations[0].runs) >= 3
        def fmt(v: list[float]) -> str:
            return f"{statistics.fmean(v):.2f}" + (f" ± {statistics.stdev(v):.2f}" if len(v) > 1 else "")

        for i, config in enumerate(block.configurations, 1):
            dev, test = config.dev("conlleval"), config.test("conlleval")
            row = next(line for line in doc.splitlines() if line.startswith(f"| {i} |") and fmt(dev) in line)
            assert fmt(test) in row

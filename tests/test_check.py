"""`bench check`: passes on an unchanged tree, fails readably on a real regression, and its committed
baseline is measured (tolerances from the seed/thread spread, no checked figure near zero)."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import benchmark.registry as registry
import benchmark.run.check as check
from benchmark.cli import main
from benchmark.corpora.labels import ENTITY_TYPES
from benchmark.errors import ConfigError
from benchmark.run.check import SUITES, compare, parse_tolerances, tolerance_from_spread

COMMITTED = Path(__file__).resolve().parent.parent / "results" / "baselines" / "smoke.json"


def run_check(*args: str):
    return CliRunner().invoke(main, ["check", "--models", "bilstm-crf", *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def baseline(tiny_corpus, tmp_path_factory):
    path = tmp_path_factory.mktemp("check") / "smoke.json"
    out = run_check("--update", "--baseline", str(path), "--data-dir", str(tiny_corpus.root))
    assert out.exit_code == 0, out.output
    assert "baseline written" in out.output
    return path


def test_update_measures_spread_and_unchanged_tree_passes_twice(tiny_corpus, baseline):
    stored = json.loads(baseline.read_text())["fallback"]
    assert stored["spread"]["bilstm-crf"]["test_f1"]["n"] == 4  # seeds 1-3 at 1 thread + seed 1 at 2 threads
    assert stored["tolerances"]["bilstm-crf"]["test_f1"] >= check.FLOORS["test_f1"]
    assert stored["models"]["bilstm-crf"]["test_f1"] > 20.0  # the smoke model really learns
    for _ in range(2):
        out = run_check("--baseline", str(baseline), "--data-dir", str(tiny_corpus.root))
        assert out.exit_code == 0, out.output
        assert "OK: no regression" in out.output


def test_frozen_model_fails_with_readable_message(tiny_corpus, baseline, monkeypatch):
    spec = registry.MODELS["bilstm-crf"]
    # weights that (practically) never move; lr 0 itself is refused by the hp rules, which bench check
    # applies as bench run does
    broken = dataclasses.replace(spec, smoke={**spec.smoke, "lr": 1e-12})
    monkeypatch.setitem(registry.MODELS, "bilstm-crf", broken)
    out = run_check("--baseline", str(baseline), "--data-dir", str(tiny_corpus.root))
    assert out.exit_code == 1
    assert "REGRESSION" in out.output and "bilstm-crf" in out.output
    assert "| bilstm-crf | test_f1" in out.output and "REGRESSED" in out.output


def test_check_pins_one_thread_whatever_the_caller_set(tiny_corpus, monkeypatch):
    import torch

    seen = []
    real = check.job_metrics

    def spy(res):
        seen.append(torch.get_num_threads())
        return real(res)

    monkeypatch.setattr(check, "job_metrics", spy)
    torch.set_num_threads(2)
    try:
        check.measure(tiny_corpus, models=["bilstm-crf"], echo=lambda m: None)
        assert torch.get_num_threads() == 2  # restored afterwards
    finally:
        torch.set_num_threads(1)
    assert seen == [SUITES["smoke"].threads] == [1]


def test_changed_reader_output_is_caught(tiny_corpus, monkeypatch):
    """A reader that changes its output (here: lower-cases tokens) changes the measured data digest."""
    import benchmark.corpora.reader as reader
    from benchmark.run.check import check_jobs, data_digest
    from benchmark.run.train import job_data

    base = check.measure(tiny_corpus, models=["bilstm-crf"], echo=lambda m: None)
    real = reader.read_conll

    def lowercasing(*args, **kwargs):
        return [dataclasses.replace(s, tokens=tuple(t.lower() for t in s.tokens)) for s in real(*args, **kwargs)]

    monkeypatch.setattr(reader, "read_conll", lowercasing)
    train, dev, test = job_data(check_jobs(tiny_corpus, models=["bilstm-crf"])[0], tiny_corpus)
    current = json.loads(json.dumps(base))
    current["data"]["digest"] = data_digest(train + dev + test)  # measured through the changed reader
    findings = compare(base, current)
    assert [f.status for f in findings if f.model == "(data)"] == ["changed"]
    assert all(f.status == "ok" for f in findings if f.model != "(data)")


def test_higher_loss_is_a_regression_lower_is_an_improvement():
    base = {"data": {"digest": "d"}, "models": {"a": {"final_loss": 2.0}}}
    worse = {"data": {"digest": "d"}, "models": {"a": {"final_loss": 2.2}}}  # +10% > 5% floor
    better = {"data": {"digest": "d"}, "models": {"a": {"final_loss": 1.8}}}
    assert [f.status for f in compare(base, worse)] == ["regressed"]
    assert [f.status for f in compare(base, better)] == ["improved"]


def test_measured_tolerance_is_used_and_override_wins():
    base = {"data": {"digest": "d"}, "models": {"a": {"test_f1": 50.0}},
            "tolerances": {"a": {"test_f1": 6.0}}}
    cur = {"data": {"digest": "d"}, "models": {"a": {"test_f1": 45.0}}}  # -5: within the measured 6
    assert [f.status for f in compare(base, cur)] == ["ok"]
    assert [f.status for f in compare(base, cur, parse_tolerances("test_f1=1"))] == ["regressed"]
    no_measure = {k: v for k, v in base.items() if k != "tolerances"}  # floor (1.0) applies
    assert [f.status for f in compare(no_measure, cur)] == ["regressed"]


def test_missing_model_new_model_and_changed_data():
    base = {"data": {"digest": "d"}, "models": {"a": {"test_f1": 50.0}, "b": {"test_f1": 40.0}}}
    cur = {"data": {"digest": "e"}, "models": {"a": {"test_f1": 49.5}, "c": {"test_f1": 1.0}}}
    status = {(f.model, f.status) for f in compare(base, cur)}
    assert status == {("(data)", "changed"), ("a", "ok"), ("b", "missing"), ("c", "new")}
    with pytest.raises(ConfigError):
        parse_tolerances("nope=1")
    with pytest.raises(ConfigError):
        parse_tolerances("test_f1=-1")


def test_tolerance_from_spread_hand_computed():
    cfg = SUITES["smoke"]
    assert tolerance_from_spread("test_f1", [50.0, 52.0, 54.0], cfg) == 6.0  # std 2 -> 3 sigma
    assert tolerance_from_spread("test_f1", [50.0, 50.1, 50.2], cfg) == 1.0  # floor
    assert tolerance_from_spread("final_loss", [1.0, 2.0, 3.0], cfg) == 1.5  # std 1 / mean 2 -> 3 x 0.5


def test_rare_or_weak_types_are_recorded_but_not_checked(monkeypatch, tiny_corpus):
    cfg = SUITES["smoke"]
    support = {t: 100 for t in ENTITY_TYPES}
    support["MISC"] = cfg.min_support - 1
    metrics = {"test_f1": 60.0, "test_precision": 60.0, "test_recall": 60.0, "test_f1_strict": 60.0,
               "dev_f1": 60.0, "final_loss": 1.0, "test_PER": 80.0, "test_LOC": 5.0, "test_ORG": 50.0,
               "test_MISC": 70.0}
    monkeypatch.setattr(check, "_data_record", lambda corpus, cfg: ({"digest": "d"}, support))
    monkeypatch.setattr(check, "_runs", lambda corpus, cfg, names, seeds, threads, workers: iter(
        [("m", s, 1, metrics) for s in seeds] + [("m", cfg.seed, t, metrics) for t in threads]))
    out = check.measure_baseline(tiny_corpus, models=["bilstm-crf"], echo=lambda m: None)
    assert set(out["models"]["m"]) == {"test_f1", "test_precision", "test_recall", "test_f1_strict", "dev_f1",
                                       "final_loss", "test_PER", "test_ORG"}
    assert set(out["info"]["m"]) == {"test_LOC", "test_MISC"}  # LOC too weak, MISC too rare


def test_committed_baseline_is_measured_and_far_from_zero():
    """Every registered model has a measured entry for both data kinds; every checked F1 is far from
    zero and a collapse of test F1 to <= 5 is outside its tolerance (so the check can catch it); a
    model whose F1 on the check slice is noise is checked on its loss only, and says so."""
    data = json.loads(COMMITTED.read_text())
    cfg = SUITES["smoke"]
    for kind in ("mmnerd", "fallback"):
        entry = data[kind]
        assert entry["format"] == check.BASELINE_FORMAT
        assert set(entry["models"]) == set(check.builtin_models()), kind
        for model, metrics in entry["models"].items():
            tols = entry["tolerances"][model]
            assert set(metrics) <= set(tols), (kind, model)
            assert entry["spread"][model]["test_f1"]["n"] >= 4
            assert "final_loss" in metrics
            if "test_f1" not in metrics:
                assert entry["info"][model]["test_f1"] < cfg.min_checked_headline, (kind, model)
                continue
            assert metrics["test_f1"] - tols["test_f1"] > 5.0, (kind, model, metrics["test_f1"], tols["test_f1"])
            for metric, value in metrics.items():
                if metric.startswith("test_") and metric[5:] in ENTITY_TYPES:
                    assert value >= cfg.min_checked_f1, (kind, model, metric, value)
                elif metric != "final_loss":
                    assert value >= cfg.min_checked_headline, (kind, model, metric, value)


def test_reader_and_slice_match_the_committed_digest_mmnerd(mmnerd):
    """The parsed check slice of the real MMNERD is what the baseline was measured on."""
    record, _ = check._data_record(mmnerd, SUITES["smoke"])
    assert record["digest"] == json.loads(COMMITTED.read_text())["mmnerd"]["data"]["digest"]


def test_reader_and_slice_match_the_committed_digest_fallback():
    from benchmark.corpora.fallback import ensure_fallback_corpus

    record, _ = check._data_record(ensure_fallback_corpus(), SUITES["smoke"])
    assert record["digest"] == json.loads(COMMITTED.read_text())["fallback"]["data"]["digest"]


def test_worker_processes_give_the_same_figures(tiny_corpus):
    """--workers only spreads models over processes; every figure is bitwise the same."""
    names = ["bilstm-crf", "hbilstm-crf"]
    one = check.measure(tiny_corpus, models=names, echo=lambda m: None)
    two = check.measure(tiny_corpus, models=names, echo=lambda m: None, workers=2)
    assert one == two


def test_a_setting_outside_the_hp_rules_is_refused_before_any_job(tiny_corpus, baseline, monkeypatch):
    """bench check resolves each model's hyperparameters through the same path as bench run
    (benchmark.hparams.resolve_hparams): lr 0 is one line naming the key, exit 2, nothing trained.
    Bug: check building its jobs from the unchecked merge, training a model that cannot learn."""
    spec = registry.MODELS["bilstm-crf"]
    monkeypatch.setitem(registry.MODELS, "bilstm-crf", dataclasses.replace(spec, smoke={**spec.smoke, "lr": 0.0}))
    out = run_check("--baseline", str(baseline), "--data-dir", str(tiny_corpus.root))
    assert out.exit_code == 2 and "lr must be a number > 0" in out.output, out.output
    assert "REGRESSION" not in out.output

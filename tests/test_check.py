"""`bench check`: passes on an unchanged tree (twice), fails readably on a broken model or reader."""
from __future__ import annotations

import dataclasses
import json

import pytest
from click.testing import CliRunner

import benchmark.registry as registry
from benchmark.run.check import compare, measure, parse_tolerances
from benchmark.cli import main
from benchmark.errors import ConfigError


def run_check(*args: str):
    return CliRunner().invoke(main, ["check", "--models", "bilstm-crf", *args], catch_exceptions=False)


@pytest.fixture()
def baseline(tiny_corpus, tmp_path):
    path = tmp_path / "smoke.json"
    out = run_check("--update", "--baseline", str(path), "--data-dir", str(tiny_corpus.root))
    assert out.exit_code == 0, out.output
    assert "baseline written" in out.output
    return path


def test_unchanged_tree_passes_twice(tiny_corpus, baseline):
    for _ in range(2):
        out = run_check("--baseline", str(baseline), "--data-dir", str(tiny_corpus.root))
        assert out.exit_code == 0, out.output
        assert "OK: no regression" in out.output
    stored = json.loads(baseline.read_text())["fallback"]
    assert stored["models"]["bilstm-crf"]["test_f1"] > 20.0  # the smoke model really learns


def test_frozen_model_fails_with_readable_message(tiny_corpus, baseline, monkeypatch):
    spec = registry.MODELS["bilstm-crf"]
    broken = dataclasses.replace(spec, smoke={**spec.smoke, "lr": 0.0})  # weights never move
    monkeypatch.setitem(registry.MODELS, "bilstm-crf", broken)
    out = run_check("--baseline", str(baseline), "--data-dir", str(tiny_corpus.root))
    assert out.exit_code == 1
    assert "REGRESSION" in out.output and "bilstm-crf" in out.output
    assert "| bilstm-crf | test_f1" in out.output and "REGRESSED" in out.output


def test_changed_reader_output_is_caught(tiny_corpus, monkeypatch):
    """A reader that changes its output (here: lower-cases tokens) changes the measured data digest."""
    import benchmark.corpora.reader as reader
    from benchmark.run.check import check_jobs, data_digest
    from benchmark.run.train import job_data

    base = measure(tiny_corpus, models=["bilstm-crf"], echo=lambda m: None)
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


def test_missing_model_and_tolerances():
    base = {"data": {"digest": "d"}, "models": {"a": {"test_f1": 50.0}, "b": {"test_f1": 40.0}}}
    cur = {"data": {"digest": "d"}, "models": {"a": {"test_f1": 49.5}, "c": {"test_f1": 1.0}}}
    status = {(f.model, f.status) for f in compare(base, cur)}
    assert status == {("a", "ok"), ("b", "missing"), ("c", "new")}
    tight = parse_tolerances("test_f1=0.1")
    assert [f.status for f in compare(base, cur, tight) if f.model == "a"] == ["regressed"]
    with pytest.raises(ConfigError):
        parse_tolerances("nope=1")


def test_no_baseline_is_a_one_line_error(tiny_corpus, tmp_path):
    out = CliRunner().invoke(main, ["check", "--models", "bilstm-crf", "--baseline", str(tmp_path / "none.json"),
                                    "--data-dir", str(tiny_corpus.root)])
    assert out.exit_code == 2 and "bench check --update" in out.output

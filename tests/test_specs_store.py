"""Job identity, planning and the result store."""
from __future__ import annotations

import json

import pytest

from benchmark.run.plan import plan_table
from benchmark.registry import get_model
from benchmark.run.specs import JobSpec, Result, Setting
from benchmark.run.store import BadResult, ResultStore
from benchmark.tables import get_table
from benchmark.errors import ConfigError


def make_job(**kw) -> JobSpec:
    base = dict(model="bilstm-crf", setting=Setting(("en",), "en"), seed=1, scale="smoke",
                hparams=get_model("bilstm-crf").hparams("smoke"), corpus_name="fallback", data_fingerprint="abc")
    base.update(kw)
    return JobSpec(**base)


def make_result(job: JobSpec, f1: float = 0.5) -> Result:
    m = {"precision": f1, "recall": f1, "f1": f1, "support": 10,
         "per_type": {t: {"precision": f1, "recall": f1, "f1": f1, "support": 2} for t in ("PER", "LOC", "ORG", "MISC")}}
    metrics = {"conlleval": m, "strict": m}
    return Result(job=job, test=metrics, dev=metrics, selected_epoch=1, epochs_run=1,
                  test_max={"epoch": 1, **metrics}, history=[], wall_time_s=1.0, peak_memory_mb=1.0,
                  environment={"finished_at": "2026-01-01T00:00:00+00:00"})


def test_job_id_is_stable_and_sensitive():
    a, b = make_job(), make_job()
    assert a.job_id == b.job_id and len(a.job_id) == 16
    assert make_job(seed=2).job_id != a.job_id
    assert make_job(data_fingerprint="abd").job_id != a.job_id
    assert make_job(setting=Setting(("en",), "en", use_image=True)).job_id != a.job_id
    hp = dict(a.hparams, lr=0.1)
    assert make_job(hparams=hp).job_id != a.job_id
    assert JobSpec.from_json(json.loads(json.dumps(a.to_json()))).job_id == a.job_id


def test_store_round_trip_is_atomic(tmp_path):
    store = ResultStore(tmp_path)
    job = make_job()
    assert not store.has(job) and store.get(job) is None
    log = tmp_path / "x.log"
    log.write_text("epoch 1\n")
    path = store.put(make_result(job, 0.7), log)
    assert store.has(job)
    assert (path / "train.log").read_text() == "epoch 1\n"
    back = store.get(job)
    assert back.job_id == job.job_id and back.test["conlleval"]["f1"] == 0.7
    assert [folder.name for folder, _ in store.scan()] == [job.job_id]
    assert not list(path.parent.glob(".*"))  # no temp folders left behind
    store.put(make_result(job, 0.8))  # overwrite replaces
    assert store.get(job).test["conlleval"]["f1"] == 0.8


def test_newer_schema_is_refused(tmp_path):
    store = ResultStore(tmp_path)
    job = make_job()
    path = store.put(make_result(job)) / "result.json"
    d = json.loads(path.read_text())
    d["schema_version"] = 99
    path.write_text(json.dumps(d))
    bad = store.read(job)
    assert isinstance(bad, BadResult) and bad.path == path and "schema_version 99 is unknown" in bad.reason
    assert not store.has(job)


def test_plan_table5_counts(tiny_corpus):
    planned = plan_table(get_table(5), tiny_corpus, scale="smoke")
    ready = [p for p in planned if p.status == "ready"]
    assert len(planned) == 45  # 5 language blocks x 9 methods, one seed each
    assert {p.job.setting.test_language for p in ready if p.job.model == "bilstm-crf"} == {"all", "en", "fr", "es", "de"}
    assert all(p.reason for p in planned if p.status != "ready")
    only = plan_table(get_table(5), tiny_corpus, scale="smoke", models=["bilstm-crf"], languages=["en"], seeds=3)
    assert [p.job.seed for p in only] == [1, 2, 3]


def test_plan_marks_missing_languages(tiny_corpus, tmp_path):
    import shutil
    from benchmark.corpora.reader import Corpus
    root = tmp_path / "c"
    shutil.copytree(tiny_corpus.root / "train_valid_test_en", root / "train_valid_test_en")
    corpus = Corpus(root)
    planned = [p for p in plan_table(get_table(5), corpus, "smoke") if p.row.model == "bilstm-crf"]
    status = {p.row.test_language: p.status for p in planned}
    assert status == {"all": "no-data", "en": "ready", "fr": "no-data", "es": "no-data", "de": "no-data"}


def test_table8_has_two_repeats_per_fold(tiny_corpus):
    t8 = get_table(8)
    assert [r.fold for r in t8.rows] == [1, 2, 3, 4, 5, None]
    assert [r.repeats for r in t8.rows] == [2, 2, 2, 2, 2, 1]
    assert t8.rows[-1].paper["f1"] == 70.49


def test_unknown_names_suggest():
    with pytest.raises(ConfigError, match="did you mean bilstm-crf"):
        get_model("bilstm_crf")
    with pytest.raises(ConfigError, match="unknown table 4"):
        get_table(4)
    with pytest.raises(ConfigError, match="unknown hyperparameter"):
        get_model("bilstm-crf").hparams("paper", {"no_such": 1})

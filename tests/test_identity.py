"""One identity from plan to report: what the job id covers, and protocol bugs that change numbers.

Each test names the planted bug it catches. Job ids are compared with committed literals (never
recomputed by the test): changing what goes into the hash must be a deliberate, reviewed change.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmark.cli import main
from benchmark.report.render import build_frame
from benchmark.tables import get_table
from benchmark.run.plan import PlanOptions, image_source, make_plan
from benchmark.run.specs import JobSpec, Result, Setting
from benchmark.run.store import ResultStore, lookup
from benchmark.run.train import job_data

HP = {"epochs": 2, "lr": 0.01, "select_on": "dev"}


def image_job(**kw) -> JobSpec:
    base = dict(model="2m-ner", setting=Setting(("en", "de"), "en", True), seed=1, scale="smoke",
                hparams=dict(HP), corpus_name="fallback", data_fingerprint="f" * 16,
                image_source="listing:0123456789abcdef")
    base.update(kw)
    return JobSpec(**base)


def fake_result(job: JobSpec, f1: float, finished: str = "2026-01-01T00:00:00+00:00",
                images: dict | None = None) -> Result:
    per = {t: {"precision": f1, "recall": f1, "f1": f1, "support": 2} for t in ("PER", "LOC", "ORG", "MISC")}
    m = {"precision": f1, "recall": f1, "f1": f1, "support": 8, "per_type": per}
    metrics = {"conlleval": m, "strict": m}
    counts = {"images": images} if images is not None else {}
    return Result(job=job, test=metrics, dev=metrics, selected_epoch=1, epochs_run=1,
                  test_max={"epoch": 1, **metrics}, history=[], wall_time_s=1.0, peak_memory_mb=1.0,
                  environment={"finished_at": finished}, counts=counts)


# -- the job id -----------------------------------------------------------------------------------

def test_job_ids_match_committed_values():
    """Catches any change of what the id hashes (a field dropped, renamed or added)."""
    assert image_job().job_id == "ded7584574cd2f60"
    fold = JobSpec("2m-ner", Setting(("all",), "all", True, fold=3), 2, "paper", dict(HP), "mmnerd", "a" * 16, "none")
    assert fold.job_id == "128d34d4bc6a875d"
    text = JobSpec("bilstm-crf", Setting(("en",), "en"), 1, "paper", dict(HP), "mmnerd", "a" * 16)
    assert text.job_id == "8ed7f9829c2324a1"


@pytest.mark.parametrize("change", [
    dict(model="2m-ner-code"),
    dict(hparams={**HP, "lr": 0.02}),
    dict(hparams={**HP, "select_on": "test_max"}),  # the selection protocol
    dict(setting=Setting(("en",), "en", True)),  # training languages
    dict(setting=Setting(("en", "de"), "de", True)),  # test language
    dict(setting=Setting(("en", "de"), "en", False)),  # modality
    dict(setting=Setting(("en", "de"), "en", True, fold=1)),  # fold
    dict(seed=2),
    dict(scale="paper"),
    dict(corpus_name="mmnerd"),  # the corpus's name
    dict(data_fingerprint="e" * 16),  # the files read
    dict(image_source="listing:fedcba9876543210"),  # the image folder
    dict(image_source="none"),  # no image folder at all
], ids=lambda c: ",".join(c))
def test_every_identity_field_changes_the_id(change):
    """Catches a field left out of the hash (e.g. the image folder, the fold, the selection)."""
    assert image_job(**change).job_id != image_job().job_id


def test_fold_assignment_is_part_of_a_fold_jobs_id():
    """Catches 'fold ignored in job id': fold number, fold count and the fold shuffle seed all count."""
    base = image_job(setting=Setting(("all",), "all", True, fold=1))
    ids = {base.job_id,
           image_job(setting=Setting(("all",), "all", True, fold=2)).job_id,
           image_job(setting=Setting(("all",), "all", True, fold=1, n_folds=10)).job_id,
           image_job(setting=Setting(("all",), "all", True, fold=1, fold_seed=7)).job_id}
    assert len(ids) == 4


def test_fields_a_job_does_not_read_leave_its_id_alone():
    """A text-only job ignores the image folder; a job without a fold ignores the fold shuffle."""
    text = image_job(model="bilstm-crf", setting=Setting(("en",), "en", False), image_source="none")
    assert dataclasses.replace(text, image_source="listing:x").job_id == text.job_id
    assert image_job(setting=Setting(("en", "de"), "en", True, fold_seed=7)).job_id == image_job().job_id


def test_json_round_trip_keeps_the_id():
    for job in (image_job(), image_job(setting=Setting(("all",), "all", True, fold=2))):
        assert JobSpec.from_json(json.loads(json.dumps(job.to_json()))).job_id == job.job_id


def test_reference_run_keeps_its_committed_id(mmnerd):
    """results/reference/runs/bilstm-crf/fd51db5f3d9ae227 is what `bench run --table 5 --models bilstm-crf
    --languages en` plans on MMNERD: the id of a committed run must not drift."""
    plan = make_plan(PlanOptions(table=5, models=("bilstm-crf",), languages=("en",), data_dir=str(mmnerd.root)))
    assert [j.job_id for j in plan.ready] == ["fd51db5f3d9ae227"]


# -- the plan -------------------------------------------------------------------------------------

def copy_corpus(src, dst, images: bool = True):
    shutil.copytree(src.root, dst, ignore=None if images else shutil.ignore_patterns("images"))
    return dst


def test_image_folder_listing_changes_the_plan(tiny_corpus, tmp_path):
    """Catches 'a run on broken images reuses the clean run's id'."""
    root = copy_corpus(tiny_corpus, tmp_path / "c")
    opts = PlanOptions(table=5, models=("2m-ner", "bilstm-crf"), languages=("en",), scale="smoke",
                       data_dir=str(root))
    before = {j.model: j.job_id for j in make_plan(opts).ready}
    first = sorted((root / "images").iterdir())[0]
    first.write_bytes(b"broken")  # same name, new size and time
    os.utime(first, ns=(1, 1))
    after = {j.model: j.job_id for j in make_plan(opts).ready}
    assert after["2m-ner"] != before["2m-ner"]
    assert after["bilstm-crf"] == before["bilstm-crf"]  # text-only: images do not matter
    assert image_source(root / "images").startswith("listing:")
    assert image_source(tmp_path / "nothing") == "none"


def test_data_files_change_the_plan(tiny_corpus, tmp_path):
    root = copy_corpus(tiny_corpus, tmp_path / "c")
    opts = PlanOptions(table=5, models=("bilstm-crf",), languages=("en", "de"), scale="smoke", data_dir=str(root))
    before = {j.setting.test_language: j.job_id for j in make_plan(opts).ready}
    path = root / "train_valid_test_de" / "train_conll_format.txt"
    path.write_text(path.read_text().replace("\tO\n", "\tB-MISC\n", 1))
    after = {j.setting.test_language: j.job_id for j in make_plan(opts).ready}
    assert after["de"] != before["de"] and after["en"] == before["en"]


def test_fold_changes_the_training_data(tiny_corpus):
    """Catches 'fold ignored in the data': each fold trains on a different fifth of the training split."""
    plan = make_plan(PlanOptions(table=8, scale="smoke", data_dir=str(tiny_corpus.root)))
    by_fold = {}
    for job in plan.ready:
        by_fold.setdefault(job.setting.fold, job)
    full = {s.sid for s in job_data(by_fold[None], tiny_corpus)[0]}
    kept = {k: {s.sid for s in job_data(by_fold[k], tiny_corpus)[0]} for k in range(1, 6)}
    assert all(len(kept[k]) == len(full) // 5 for k in kept)  # one fifth each (the paper's Table 8)
    subsets = [kept[k] for k in range(1, 6)]
    assert len(set().union(*subsets)) == len(full) and sum(map(len, subsets)) == len(full)  # a partition
    assert len({j.job_id for j in plan.ready}) == len(plan.ready)  # 5 folds x 2 seeds + ALL, all distinct


def test_table6_dev_comes_from_the_training_languages(tiny_corpus):
    """Catches 'the dev split taken from the test language in Table 6'."""
    plan = make_plan(PlanOptions(table=6, scale="smoke", data_dir=str(tiny_corpus.root), allow_missing_images=True))
    pairs = [j for j in plan.ready if len(j.setting.train_languages) == 2]
    assert len(pairs) == 12
    for job in pairs:
        train, dev, test = job_data(job, tiny_corpus)
        assert {s.language for s in dev} == set(job.setting.train_languages), job.setting.label()
        assert {s.language for s in train} == set(job.setting.train_languages)
        assert {s.language for s in test} == {job.setting.test_language}


def test_best_dev_epoch_is_selected_not_best_test(tiny_corpus, monkeypatch):
    """Catches 'best-test-epoch selection used where dev is asked' (and test_max kept beside it)."""
    import benchmark.run.train as train_mod
    from tests.helpers import build_model

    dev_f1, test_f1 = iter([0.5, 0.7, 0.6]), iter([0.9, 0.4, 0.8])

    def scripted(model, sentences, hp):
        f1 = next(dev_f1) if sentences is dev else next(test_f1)
        m = {"precision": f1, "recall": f1, "f1": f1, "support": 1, "per_type": {}}
        return {"conlleval": m, "strict": m}

    train, dev, test = (tiny_corpus.load(["en"], s)[:20] for s in ("train", "dev", "test"))
    monkeypatch.setattr(train_mod, "score", scripted)
    model, hp = build_model("bilstm-crf", train, epochs=3)
    out = train_mod.fit(model, hp, train, dev, test, seed=1)
    assert out["selected_epoch"] == 2 and out["test"]["conlleval"]["f1"] == 0.4
    assert out["test_max"]["epoch"] == 1 and out["test_max"]["conlleval"]["f1"] == 0.9
    # and the report's --selection picks the matching stored number
    job = image_job(model="bilstm-crf", setting=Setting(("en",), "en"), image_source="none")
    res = dataclasses.replace(fake_result(job, 0.4), test_max={"epoch": 1, **fake_result(job, 0.9).test})
    row = next(r for r in get_table(5).rows if r.model == "bilstm-crf" and r.test_language == "en")
    for selection, expected in (("dev", 40.0), ("test_max", 90.0)):
        frame = build_frame(get_table(5), [(row, job)], {job.job_id: res}, selection=selection)
        assert next(fr for fr in frame.rows if fr.row == row).cells["f1"].value == pytest.approx(expected)


# -- the report shows exactly the planned jobs ----------------------------------------------------

def _store_variants(tiny_corpus, root):
    """Results of one Table 5 cell under four identities: default, other hp, other profile, other corpus."""
    store = ResultStore(root)
    base = dict(table=5, models=("bilstm-crf",), languages=("en",), scale="smoke", data_dir=str(tiny_corpus.root))
    variants = {"default": (PlanOptions(**base), 0.5957), "hp": (PlanOptions(**base, hp=(("lr", 0.5),)), 0.0206),
                "paper": (PlanOptions(**{**base, "scale": "paper"}), 0.31)}
    for opts, f1 in variants.values():
        store.put(fake_result(make_plan(opts).ready[0], f1))
    other_corpus = dataclasses.replace(make_plan(variants["default"][0]).ready[0], corpus_name="mmnerd",
                                       data_fingerprint="0" * 16)
    store.put(fake_result(other_corpus, 0.77))
    return store, base


def test_report_shows_only_the_planned_jobs(tiny_corpus, tmp_path):
    """Catches 'newest result per row from the whole folder': an --hp run moved a cell 59.57 -> 2.06."""
    _, base = _store_variants(tiny_corpus, tmp_path / "res")
    args = ["report", "--table", "5", "--results", str(tmp_path / "res"), "--models", "bilstm-crf",
            "--languages", "en", "--scale", "smoke", "--data-dir", str(tiny_corpus.root), "--format", "csv"]

    def en_f1(extra=()):
        out = CliRunner().invoke(main, args + list(extra))
        assert out.exit_code == 0, out.output
        line = next(ln for ln in out.stdout.splitlines() if ln.startswith("5,English,BiLSTM-CRF"))
        return line

    assert ",59.5700," in en_f1()
    assert ",2.0600," in en_f1(["--hp", "lr=0.5"])
    md = CliRunner().invoke(main, args[:-2] + ["--hp", "lr=0.5"])
    assert "Hyperparameter overrides: lr=0.5" in md.stdout


def test_newer_result_replaces_the_older_one(tmp_path):
    """Catches 'the oldest result kept': a re-run's result is what the store and the report return."""
    store = ResultStore(tmp_path)
    job = image_job(model="bilstm-crf", setting=Setting(("en",), "en"), image_source="none")
    store.put(fake_result(job, 0.30, "2026-01-01T00:00:00+00:00"))
    store.put(fake_result(job, 0.60, "2026-02-01T00:00:00+00:00"))
    found, bad = lookup(store, [job])
    assert not bad and found[job.job_id].test["conlleval"]["f1"] == 0.60
    assert len([p for p in (tmp_path / "runs" / "bilstm-crf").iterdir()]) == 1  # no leftover copies


def test_overwrite_always_reruns_a_stored_job(tiny_corpus, tmp_path):
    """Catches '--overwrite ignored'."""
    args = ["run", "--table", "5", "--models", "bilstm-crf", "--languages", "en", "--scale", "smoke",
            "--hp", "epochs=1", "--data-dir", str(tiny_corpus.root), "--results", str(tmp_path), "--device", "cpu",
            "--threads", "1"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    (path,) = (tmp_path / "runs" / "bilstm-crf").glob("*/result.json")
    inode = path.stat().st_ino
    again = CliRunner().invoke(main, args)
    assert "1 already stored, 0 to run" in again.output and path.stat().st_ino == inode
    forced = CliRunner().invoke(main, args + ["--overwrite", "always"])
    assert forced.exit_code == 0, forced.output
    assert "0 already stored, 1 to run" in forced.output and "test F1" in forced.output
    assert path.stat().st_ino != inode  # a new result folder replaced the old one


def test_image_substitution_is_a_footnote(tmp_path):
    job = image_job()
    row = next(r for r in get_table(6).rows if r.train_languages == ("en", "de"))
    res = fake_result(job, 0.5, images={"loaded": 30, "missing": 10, "default_used": 10})
    frame = build_frame(get_table(6), [(row, job)], {job.job_id: res})
    assert any("10 of 40 image loads substituted" in n for n in frame.notes())
    clean = fake_result(job, 0.5, images={"loaded": 40})
    assert not any("substituted" in n for n in build_frame(get_table(6), [(row, job)], {job.job_id: clean}).notes())


# -- committed expectations: fingerprints and digests are literals, never recomputed ---------------

def test_data_fingerprint_matches_committed_value(tmp_path):
    """Corpus.fingerprint hashes the files' content: a committed literal for three hand-written files."""
    from benchmark.corpora.reader import Corpus
    folder = tmp_path / "train_valid_test_en"
    folder.mkdir()
    for name, tag in (("train", "B-PER"), ("valid", "B-LOC"), ("test", "B-ORG")):
        (folder / f"{name}_conll_format.txt").write_text(f"IMGID:1\nParis\t{tag}\nrocks\tO\n\n", encoding="utf-8")
    assert Corpus(tmp_path).fingerprint(["en"]) == "0e55694c8ebe00f1"
    (folder / "test_conll_format.txt").write_text("IMGID:1\nParis\tB-LOC\nrocks\tO\n\n", encoding="utf-8")
    assert Corpus(tmp_path).fingerprint(["en"]) != "0e55694c8ebe00f1"




def test_text_only_rows_need_no_image_encoder(monkeypatch):
    """Table 7's text-only UMT row is not blocked by an absent ResNet; its Table 5 row is."""
    from benchmark import weights
    from benchmark.registry import get_model
    from benchmark.run.plan import missing_weights

    monkeypatch.setattr(weights, "locate", lambda a: ("/here", []) if a == "bert-base-multilingual-cased" else (None, []))
    spec = get_model("umt")
    hp = spec.hparams("paper")
    assert missing_weights(spec.needs, hp, use_image=False) == []
    assert missing_weights(spec.needs, hp, use_image=True) == ["torchvision/resnet152"]

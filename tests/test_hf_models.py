"""``--models hf:<hub id or folder>[+crf]``: any encoder as BERT / BERT-CRF (issue 25 item 1).

Tiny random encoders are written with ``save_pretrained`` (tests/hf_encoders.py); every run uses the
smoke slice of the built-in corpus (generated into a temporary cache) and one epoch. The hub is
switched off (``HF_HUB_OFFLINE=1``, an empty HF cache).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmark import registry
from benchmark.cli import main
from tests.hf_encoders import save_encoder
from tests.helpers import hand_made_sentences, registry_restored

TEXTS = [" ".join(s.tokens) for s in hand_made_sentences()]
SMOKE = ["--table", "5", "--languages", "en", "--scale", "smoke", "--hp", "epochs=1"]


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    """No data dir (the built-in corpus), no hub, a fresh cache; the registry restored afterwards."""
    monkeypatch.delenv("MMNERD_DIR", raising=False)
    monkeypatch.setenv("MMNER_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("MMNER_WEIGHTS_DIR", str(tmp_path / "weights"))
    with registry_restored():
        yield


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    return save_encoder("bert", tmp_path_factory.mktemp("enc") / "tiny-bert", TEXTS)


def bench(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def stored_jobs(results: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in results.glob("runs/*/*/job.json")}


def test_run_adds_rows_named_after_the_encoder(tiny_bert, tmp_path):
    """Catches an hf row printed as the paper's BERT (with its value and delta), rows placed among the
    paper's, the +crf form not giving BERT-CRF's head, and worker processes that do not know hf: models."""
    res = tmp_path / "res"
    models = f"hf:{tiny_bert},hf:{tiny_bert}+crf"
    out = bench("run", *SMOKE, "--models", models, "--results", str(res), "--devices", "cpu,cpu")
    assert out.exit_code == 0, out.output
    jobs = stored_jobs(res)
    assert sorted(j["model"] for j in jobs.values()) == ["hf-tiny-bert", "hf-tiny-bert-crf"]
    for job in jobs.values():  # the encoder and its identity, BERT's protocol otherwise
        hp = job["hparams"]
        assert hp["text_encoder"] == "tiny-bert" and hp["text_encoder_revision"].startswith("sha256:")
        assert hp["text_encoder_dir"] == str(tiny_bert.resolve())
        assert hp["word_gather"] == "first" and hp["select_on"] == "dev" and hp["window_overlap"] == 0.5
    table = [line for line in out.output.splitlines() if line.startswith("|")]
    methods = [line.split("|")[2].strip() for line in table[2:]]
    assert methods[-2:] == ["tiny-bert‡", "tiny-bert-CRF‡"] or methods[-2:] == ["tiny-bert", "tiny-bert-CRF"]
    assert methods[:9] == ["BiLSTM-CRF", "HBiLSTM-CRF", "BERT", "BERT-CRF", "AdaCAN", "UMT", "UMGF",
                           "MKGFormer", "2M-NER"]
    for line in table[-2:]:  # no paper value beside an encoder the paper did not run
        assert all(cell.strip().endswith("(–)") for cell in line.split("|")[4:-1]), line
    crf_spec = registry.MODELS["hf-tiny-bert-crf"]
    assert crf_spec.factory == registry.MODELS["bert-crf"].factory
    assert registry.MODELS["hf-tiny-bert"].factory == registry.MODELS["bert"].factory

    # plan, status and report see the same job ids
    planned = bench("run", *SMOKE, "--models", models, "--results", str(res), "--dry-run")
    assert "2 already stored, 0 to run" in planned.output, planned.output
    status = bench("status", *SMOKE, "--models", models, "--results", str(res))
    assert "Table 5: 2 job(s): 2 done" in status.output, status.output
    report = bench("report", *SMOKE, "--models", models, "--results", str(res), "--format", "csv")
    assert report.exit_code == 0 and "tiny-bert-CRF" in report.output, report.output
    registry.MODELS.pop("hf-tiny-bert")  # a fresh process: stored hf: results still get their rows
    registry.MODELS.pop("hf-tiny-bert-crf")
    registry.PLUGIN_SOURCES.clear()
    report = bench("report", *SMOKE, "--results", str(res))
    rows = [line.split("|")[2].strip() for line in report.output.splitlines()
            if line.startswith("|") and "tiny-bert" in line and line.split("|")[-2].strip() != "–"]
    assert rows == ["tiny-bert‡", "tiny-bert-CRF‡"], report.output  # the stored English runs


def test_job_id_follows_the_encoders_files_not_its_path(tiny_bert, tmp_path):
    """Catches a job id that names the folder (a moved copy re-runs) or ignores its weights (replaced
    weights reuse the old result)."""
    from benchmark.run.plan import PlanOptions, make_plan

    def ids(folder: Path) -> list[str]:
        registry.MODELS.pop("hf-tiny-bert", None)
        registry.PLUGIN_SOURCES.pop("hf-tiny-bert", None)
        plan = make_plan(PlanOptions(table=5, models=(f"hf:{folder}",), languages=("en",), scale="smoke"))
        return [p.job.job_id for p in plan.jobs]

    first = ids(tiny_bert)
    moved = tmp_path / "elsewhere" / "tiny-bert"
    shutil.copytree(tiny_bert, moved)
    assert ids(moved) == first
    other = save_encoder("bert", tmp_path / "other" / "tiny-bert", TEXTS + ["new words change the vocabulary"])
    assert ids(other) != first
    from safetensors.torch import load_file, save_file
    weights = load_file(moved / "model.safetensors")
    name = next(iter(weights))
    weights[name] = weights[name] + 1.0
    save_file(weights, moved / "model.safetensors", metadata={"format": "pt"})
    assert ids(moved) != first


def test_missing_encoder_is_one_line_before_any_job(tmp_path):
    """Catches a traceback, a download attempt, or jobs started for an encoder that is not here."""
    res = tmp_path / "res"
    absent = tmp_path / "no-such-model"
    out = bench("run", *SMOKE, "--models", f"hf:{absent}", "--results", str(res))
    assert out.exit_code == 2 and len(out.output.strip().splitlines()) == 1, out.output
    assert str(absent) in out.output and "save_pretrained" in out.output
    out = bench("run", *SMOKE, "--models", "hf:someone/not-cached+crf", "--results", str(res))
    assert out.exit_code == 2 and len(out.output.strip().splitlines()) == 1, out.output
    assert "someone/not-cached" in out.output and "HF cache" in out.output and "hf download" in out.output
    assert not res.exists()


def test_models_and_weights_list_hf_encoders(tiny_bert):
    out = bench("models")
    assert "hf:<hub id or folder>" in out.output and "+crf" in out.output
    out = bench("weights")
    assert "hf:<hub id or folder>" in out.output
    out = bench("weights", "--models", f"hf:{tiny_bert}+crf")
    line = next(line for line in out.output.splitlines() if line.startswith("| hf-tiny-bert-crf"))
    assert "hf:tiny-bert @ sha256:" in line and str(tiny_bert.resolve()) in line and "yes" in line


def test_an_encoder_called_bert_is_not_printed_as_the_papers_bert(tmp_path):
    folder = save_encoder("bert", tmp_path / "BERT", TEXTS)
    spec = registry.get_model(f"hf:{folder}")
    assert spec.display == "BERT (hf)" and spec.name == "hf-bert"
    assert registry.get_model("bert").display == "BERT"


def test_hf_encoder_hyperparameters_cannot_be_swapped(tiny_bert, tmp_path):
    """Catches `--hp text_encoder=...` silently replacing the named encoder under the hf row's name."""
    out = bench("run", *SMOKE, "--models", f"hf:{tiny_bert}", "--hp", "text_encoder=tiny",
                "--results", str(tmp_path / "res"))
    assert out.exit_code == 2 and "text_encoder" in out.output, out.output

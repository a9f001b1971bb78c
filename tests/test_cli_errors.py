"""Loud, never silent: every bad option or environment is one line, exit 2, before any job starts.

One test per silent case measured in issue 9; each asserts the exact message a user sees.
"""
from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from benchmark.cli import main
from benchmark.run.plan import PlanOptions, make_plan
from benchmark.run.store import ResultStore
from tests.test_identity import fake_result

BASE = ["--table", "5", "--models", "bilstm-crf", "--languages", "en", "--scale", "smoke"]


def bench(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env=env)


def one_line_error(out, *needles: str) -> str:
    """The run failed with exit 2 and exactly one `bench: ...` line on stderr, no traceback."""
    assert out.exit_code == 2, out.output
    assert "Traceback" not in out.output
    err = out.stderr.strip()
    assert err.count("\n") == 0 and err.startswith("bench: "), err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.fixture()
def data(tiny_corpus):
    return ["--data-dir", str(tiny_corpus.root)]


@pytest.fixture()
def en_only(tiny_corpus, tmp_path):
    root = tmp_path / "en_only"
    shutil.copytree(tiny_corpus.root / "train_valid_test_en", root / "train_valid_test_en")
    return root


# -- report ---------------------------------------------------------------------------------------

def test_report_on_a_missing_results_folder(data, tmp_path):
    one_line_error(bench("report", *BASE, *data, "--results", str(tmp_path / "nope")),
                   f"results folder {tmp_path / 'nope'} does not exist")


def test_report_after_a_smoke_run_without_scale_says_what_is_there(tiny_corpus, data, tmp_path):
    opts = PlanOptions(table=5, models=("bilstm-crf",), languages=("en",), scale="smoke",
                       data_dir=str(tiny_corpus.root))
    ResultStore(tmp_path).put(fake_result(make_plan(opts).ready[0], 0.5))
    args = ["report", "--table", "5", "--models", "bilstm-crf", "--languages", "en", *data, "--results", str(tmp_path)]
    one_line_error(bench(*args), "no stored result", "matches the 1 job(s) of Table 5", "1 with scale smoke")
    assert bench(*args, "--scale", "smoke").exit_code == 0


def test_report_names_other_hyperparameters(tiny_corpus, data, tmp_path):
    opts = PlanOptions(table=5, models=("bilstm-crf",), languages=("en",), scale="smoke",
                       hp=(("lr", 0.5),), data_dir=str(tiny_corpus.root))
    ResultStore(tmp_path).put(fake_result(make_plan(opts).ready[0], 0.02))
    one_line_error(bench("report", *BASE, *data, "--results", str(tmp_path)), "1 with hp lr=0.5")


# -- languages, data dir --------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["french", "xx"])
def test_unknown_language_code(data, lang):
    one_line_error(bench("run", "--table", "5", "--languages", lang, "--scale", "smoke", *data, "--dry-run"),
                   f"--languages: unknown language {lang!r}", "expected codes: all, en, fr, es, de")


def test_language_absent_from_the_corpus(en_only):
    one_line_error(bench("run", *BASE[:4], "--languages", "fr", "--scale", "smoke", "--data-dir", str(en_only),
                         "--dry-run"), "--languages fr: not in the corpus", "(it has: en)")


def test_mmnerd_dir_typo_is_an_error_not_a_fallback(tmp_path):
    one_line_error(bench("run", *BASE, "--dry-run", env={"MMNERD_DIR": str(tmp_path / "MMNRED")}),
                   f"MMNERD_DIR {tmp_path / 'MMNRED'}: no such folder")


def test_data_dir_without_split_files(tmp_path):
    (tmp_path / "empty").mkdir()
    one_line_error(bench("run", *BASE, "--data-dir", str(tmp_path / "empty"), "--dry-run"),
                   f"--data-dir {tmp_path / 'empty'}: no", "files found")


def test_fallback_corpus_only_without_any_data_dir_and_announced(tiny_corpus, monkeypatch, tmp_path):
    import benchmark.corpora.resolve as resolve
    monkeypatch.setattr(resolve, "generate_corpus", lambda entry: tiny_corpus)
    monkeypatch.delenv("MMNERD_DIR", raising=False)
    out = bench("run", *BASE, "--results", str(tmp_path), "--dry-run")
    assert out.exit_code == 0, out.output
    assert "notice:" in out.stderr and f"using the {tiny_corpus.display} at {tiny_corpus.root}" in out.stderr
    assert f"data {tiny_corpus.display} at {tiny_corpus.root}" in out.stdout


# -- option values --------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["0", "-1"])
def test_seeds_below_one(data, value):
    one_line_error(bench("run", *BASE, *data, "--seeds", value, "--dry-run"), f"--seeds must be >= 1, got {value}")


@pytest.mark.parametrize("value", ["0", "-1"])
def test_threads_below_one(data, value):
    one_line_error(bench("run", *BASE, *data, "--threads", value, "--dry-run"), f"--threads must be >= 1, got {value}")


@pytest.mark.parametrize("hp, message", [
    ("lr=abc", "--hp lr=abc: lr must be a number > 0, got \"abc\""),
    ("lr=0", "lr must be a number > 0, got 0"),
    ("epochs=0", "--hp epochs=0: epochs must be an integer >= 1, got 0"),
    ("batch_size=0", "batch_size must be an integer >= 1, got 0"),
    ("epochs=2.5", "epochs must be an integer >= 1, got 2.5"),
    ("select_on=test", "select_on must be one of dev, test_max"),
    ("lrr=0.1", "--hp lrr: unknown hyperparameter for bilstm-crf; did you mean lr"),
    ("hidden_size=big", "hidden_size must be an integer (like its default 32), got \"big\""),
    ("normalize_digits=1", "normalize_digits must be true or false"),
])
def test_hp_values_are_checked_before_any_job(data, hp, message):
    one_line_error(bench("run", *BASE, *data, "--hp", hp), message)


def test_hp_is_checked_even_without_data(tmp_path):
    one_line_error(bench("run", *BASE, "--hp", "epochs=0", env={"MMNERD_DIR": str(tmp_path / "none")}),
                   "epochs must be an integer >= 1")


def test_slurm_without_slurm(data, monkeypatch):
    import shutil as sh
    monkeypatch.setattr(sh, "which", lambda name, *a, **k: None)
    one_line_error(bench("run", *BASE, *data, "--executor", "slurm"),
                   "--executor slurm: no Slurm on this machine (sbatch is not on PATH)")


def test_cuda_without_cuda(data):
    import torch
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    one_line_error(bench("run", *BASE, *data, "--device", "cuda", "--dry-run"), "--device cuda: no CUDA device")


# -- nothing to run -------------------------------------------------------------------------------

def test_zero_jobs_says_why(data, monkeypatch):
    one_line_error(bench("run", "--table", "5", "--models", "umt", *data, "--dry-run"),
                   "Table 5: 0 jobs can run", "pretrained weights not found: bert-base-multilingual-cased")
    import benchmark.registry as registry
    monkeypatch.delitem(registry.MODELS, "umt")  # a paper row whose model is not registered
    one_line_error(bench("run", "--table", "5", "--models", "umt", *data, "--dry-run"),
                   "Table 5: 0 jobs can run", "model 'umt' is not implemented")
    one_line_error(bench("run", "--table", "6", "--models", "bilstm-crf", *data, "--dry-run"),
                   "Table 6 has no row for bilstm-crf")


def test_multimodal_without_images_is_refused_unless_allowed(tiny_corpus, tmp_path):
    root = tmp_path / "noimg"
    shutil.copytree(tiny_corpus.root, root, ignore=shutil.ignore_patterns("images"))
    args = ["run", "--table", "5", "--models", "2m-ner", "--languages", "en", "--scale", "smoke",
            "--data-dir", str(root), "--results", str(tmp_path / "res"), "--dry-run"]
    one_line_error(bench(*args, env={"MMNERD_IMAGE_DIR": ""}), "0 jobs can run", "no images found",
                   "--allow-missing-images")
    ok = bench(*args, "--allow-missing-images", env={"MMNERD_IMAGE_DIR": ""})
    assert ok.exit_code == 0, ok.output
    assert "bench: warning: 1 multimodal job(s) run WITHOUT images" in ok.stderr
    assert "would run" in ok.stdout


@pytest.mark.slow
def test_missing_images_are_counted_in_the_result_and_the_table(tiny_corpus, tmp_path):
    """A real 2M-NER smoke job without images: the result counts the substitutions, the table says so."""
    root = tmp_path / "noimg"
    shutil.copytree(tiny_corpus.root, root, ignore=shutil.ignore_patterns("images"))
    args = ["--table", "5", "--models", "2m-ner", "--languages", "en", "--scale", "smoke", "--hp", "epochs=1",
            "--data-dir", str(root), "--results", str(tmp_path / "res"), "--allow-missing-images"]
    env = {"MMNERD_IMAGE_DIR": ""}
    out = bench("run", *args, "--threads", "1", "--device", "cpu", env=env)
    assert out.exit_code == 0, out.output
    (result,) = ResultStore(tmp_path / "res").scan()
    import json
    counts = json.loads((result[0] / "result.json").read_text())["counts"]["images"]
    assert counts.get("loaded", 0) == 0 and counts.get("blank_used", 0) > 0
    rep = bench("report", *args, env=env)
    assert rep.exit_code == 0, rep.output
    assert "Images substituted by the default/blank image: English 2M-NER" in rep.stdout
    assert "no image folder" in rep.stdout


# -- click's usage errors and --device: the same single line (issue 27 item 7) ------------------

@pytest.mark.parametrize("args, needle", [
    (["report", "--format", "xx"], "Invalid value for '--format'"),
    (["run", "--table", "5", "--seeds", "abc"], "Invalid value for '--seeds'"),
    (["report", "--results", "pyproject.toml"], "Invalid value for '--results'"),
    (["run", "--no-such-option"], "No such option '--no-such-option'"),
    (["--no-such-option"], "No such option '--no-such-option'"),
    (["no-such-command"], "No such command 'no-such-command'"),
])
def test_click_usage_errors_are_one_bench_line(args, needle):
    one_line_error(bench(*args), needle)


@pytest.mark.parametrize("extra", [[], ["--dry-run"]])
def test_unknown_device_is_one_line_before_any_job(data, extra):
    one_line_error(bench("run", *BASE, *data, "--device", "tpu", *extra), "--device tpu: not a device")


# -- hyperparameter ranges, a repeated --hp key, a label map that cannot apply (issue 27 item 7) --

@pytest.mark.parametrize("hp, needle", [
    ("dropout=2", "dropout must be a number >= 0 and < 1"),
    ("dropout=1", "dropout must be a number >= 0 and < 1"),
    ("dropout=-0.1", "dropout must be a number >= 0 and < 1"),
    ("lr=Infinity", "lr must be a number > 0, got Infinity"),
    ("lr=0", "lr must be a number > 0"),
    ("epochs=0", "epochs must be an integer >= 1"),
    ("batch_size=1.5", "batch_size must be an integer >= 1"),
    ("unk_replace=1.5", "unk_replace must be a number >= 0 and < 1"),
    ("weight_decay=-1", "weight_decay must be a number >= 0"),
])
def test_hyperparameter_out_of_range_is_refused_at_planning(data, hp, needle):
    one_line_error(bench("run", *BASE, *data, "--dry-run", "--hp", hp), f"--hp {hp.split('=')[0]}=", needle)


def test_dropout_zero_is_in_range(data):
    assert bench("run", *BASE, *data, "--dry-run", "--hp", "dropout=0").exit_code == 0


def test_a_repeated_hp_key_is_an_error(data):
    one_line_error(bench("run", *BASE, *data, "--dry-run", "--hp", "lr=0.1", "--hp", "lr=0.2"),
                   "--hp lr given twice (lr=0.1 and lr=0.2)")


@pytest.mark.parametrize("entry, needle", [
    ("O=PER", "--label-map O=PER: O is not an entity type"),
    ("B-PER=LOC", "--label-map B-PER=LOC: 'B-PER' is a tag, not an entity type"),
    ("PER=I-LOC", "--label-map PER=I-LOC: 'I-LOC' is a tag, not an entity type"),
])
def test_a_label_map_entry_that_cannot_apply_is_an_error(data, entry, needle):
    one_line_error(bench("run", *BASE, *data, "--dry-run", "--label-map", entry), needle)


# -- issue 27 item 6: an image folder is used or refused, never ignored -----------------------------

def test_a_nonexistent_image_dir_is_refused(data, tmp_path):
    args = ["run", *BASE, "--results", str(tmp_path / "res"), "--dry-run"]
    one_line_error(bench(*args, *data, "--image-dir", "/nonexist"), "--image-dir /nonexist: no such folder")
    one_line_error(bench(*args, *data, env={"MMNERD_IMAGE_DIR": "/nonexist"}),
                   "$MMNERD_IMAGE_DIR /nonexist: no such folder", "unset MMNERD_IMAGE_DIR")
    afile = tmp_path / "a_file"
    afile.write_text("x")
    one_line_error(bench(*args, *data, "--image-dir", str(afile)), f"'{afile}' is a file")
    one_line_error(bench(*args, *data, env={"MMNERD_IMAGE_DIR": str(afile)}), f"$MMNERD_IMAGE_DIR {afile}: not a folder")
    one_line_error(bench(*args, "--image-dir", "/nonexist", env={"MMNERD_DIR": None}),
                   "--image-dir /nonexist: no such folder")


def test_an_image_dir_with_the_built_in_corpus_is_refused(tiny_corpus, tmp_path):
    args = ["run", *BASE, "--results", str(tmp_path / "res"), "--dry-run"]
    images = str(tiny_corpus.image_dir)
    one_line_error(bench(*args, "--image-dir", images, env={"MMNERD_DIR": None}),
                   f"--image-dir {images}: no corpus is named", "built-in corpus", "--data-dir")
    one_line_error(bench(*args, env={"MMNERD_DIR": None, "MMNERD_IMAGE_DIR": images}),
                   f"$MMNERD_IMAGE_DIR {images}: no corpus is named", "unset MMNERD_IMAGE_DIR")


def test_an_image_dir_with_a_corpus_is_used(tiny_corpus, tmp_path):
    root = tmp_path / "noimg"
    shutil.copytree(tiny_corpus.root, root, ignore=shutil.ignore_patterns("images"))
    plan = make_plan(PlanOptions(table=5, models=("2m-ner",), languages=("en",), scale="smoke",
                                 data_dir=str(root), image_dir=str(tiny_corpus.image_dir)))
    assert plan.corpus.image_dir == tiny_corpus.image_dir and [p.status for p in plan.jobs] == ["ready"]

"""Code identity (issue 23 item 4): each result records a digest of the code that can change its
numbers; report / plan / status / readme mark rows whose runs are mixed or stale; --strict-code
makes them an error; the digest never enters the job id."""
from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmark.cli import main
from benchmark.report.readme import END, START, update_readme
from benchmark.report.render import CODE_MARK, build_frame, render
from benchmark.tables import get_table
from benchmark.errors import BenchError
from benchmark.run.code import CODE_RULE, REPO, backfill, code_identity, current_digest, tree_reader
from benchmark.run.plan import PlanOptions, make_plan
from benchmark.run.store import ResultStore
from tests.report_cases import fake, fake_for


def with_code(result, digest: str | None, **env):
    environment = {**result.environment, **env}
    if digest is not None:
        environment["code"] = {"digest": digest, "rule": CODE_RULE, "files": []}
    return dataclasses.replace(result, environment=environment)


# -- the digest and its boundary ---------------------------------------------------------------

def test_boundary_is_the_model_its_layers_trainer_reader_and_metric():
    files = code_identity("bilstm-crf")["files"]
    for path in ("baselines/bilstm_crf.py", "baselines/layers/lstm.py", "baselines/layers/crf.py",
                 "benchmark/run/train.py", "benchmark/corpora/reader.py", "benchmark/metrics.py", "benchmark/api.py"):
        assert path in files
    for path in ("benchmark/registry.py", "benchmark/report/render.py", "benchmark/run/code.py",
                 "baselines/umt.py", "models/two_m_ner/model.py"):  # other models, rendering
        assert path not in files
    assert not [path for path in files if path.startswith("benchmark/cli")]  # the CLI
    assert "models/two_m_ner/model.py" in code_identity("2m-ner")["files"]


def test_a_change_inside_the_boundary_changes_the_digest_and_outside_does_not():
    base = tree_reader()

    def edited(target: str):
        return lambda rel: (base(rel) or b"") + b"\n# edited\n" if rel == target else base(rel)

    digest = code_identity("bilstm-crf")["digest"]
    assert code_identity("bilstm-crf", edited("baselines/layers/crf.py"))["digest"] != digest
    assert code_identity("bilstm-crf", edited("benchmark/metrics.py"))["digest"] != digest
    assert code_identity("bilstm-crf", edited("benchmark/registry.py"))["digest"] == digest
    assert code_identity("bilstm-crf", edited("baselines/umt.py"))["digest"] == digest


def test_a_run_records_the_digest_and_the_job_id_ignores_it(tiny_corpus, tmp_path):
    """Catches a result without its code digest, and a digest that leaks into the job id."""
    from benchmark.run.train import run_job

    plan = make_plan(PlanOptions(table=5, models=("bilstm-crf",), languages=("en",), scale="smoke",
                                 data_dir=str(tiny_corpus.root), hp=(("epochs", 1),)))
    job = plan.ready[0]
    before = job.job_id
    result = run_job(job, tiny_corpus)
    assert result.environment["code"]["digest"] == current_digest("bilstm-crf")
    assert result.environment["code"]["rule"] == CODE_RULE
    assert result.job_id == before == make_plan(plan.options).ready[0].job_id
    changed = with_code(result, "0" * 16)
    assert changed.job_id == result.job_id


# -- marks in every render format --------------------------------------------------------------

def _code_cases():
    """English BiLSTM-CRF mixed (two digests), English HBiLSTM-CRF stale, All BiLSTM-CRF current."""
    current = current_digest("bilstm-crf")
    mixed = [with_code(fake("bilstm-crf", ("en",), "en", False, 1, 0.63), "a" * 16),
             with_code(fake("bilstm-crf", ("en",), "en", False, 2, 0.64), "b" * 16)]
    stale = [with_code(fake("hbilstm-crf", ("en",), "en", False, 1, 0.65), "c" * 16)]
    fine = [with_code(fake("bilstm-crf", ("all",), "all", False, 1, 0.62), current)]
    return mixed + stale + fine


def _frame(results):
    table = get_table(5)
    jobs = [(row, r.job) for r in results for row in table.rows
            if (row.model, row.train_languages, row.test_language, row.use_image)
            == (r.job.model, r.job.setting.train_languages, r.job.setting.test_language, r.job.setting.use_image)]
    return build_frame(table, jobs, {r.job_id: r for r in results}, "paper", "mmnerd")


def test_mixed_and_stale_rows_carry_the_mark_in_every_format():
    frame = _frame(_code_cases())
    md, tex, csv = (render(frame, f) for f in ("markdown", "latex", "csv"))
    assert f"BiLSTM-CRF{CODE_MARK}" in md and f"HBiLSTM-CRF{CODE_MARK}" in md
    assert "English BiLSTM-CRF (mixed: 2 code versions over 2 runs, 0 at the current code)" in md
    assert "English HBiLSTM-CRF (stale: 1 run(s) at one code version, not the current one)" in md
    assert "All BiLSTM-CRF (" not in md  # one version, the current one: no mark
    assert r"BiLSTM-CRF$^{\S}$" in tex and "code changed" in tex
    lines = csv.splitlines()
    header = lines[0].split(",")
    states = {(rec.split(",")[1], rec.split(",")[3]): rec.split(",")[header.index("code_state")] for rec in lines[1:]}
    assert states[("English", "bilstm-crf")] == "mixed" and states[("English", "hbilstm-crf")] == "stale"
    assert states[("All", "bilstm-crf")] == ""


def test_rows_at_one_current_version_or_without_digests_are_not_marked():
    current = current_digest("bilstm-crf")
    results = [with_code(fake("bilstm-crf", ("en",), "en", False, s, 0.63), current) for s in (1, 2)]
    results.append(fake("hbilstm-crf", ("en",), "en", False, 1, 0.65))  # predates the digest: unknown
    frame = _frame(results)
    for fmt in ("markdown", "latex", "csv"):
        out = render(frame, fmt)
        assert CODE_MARK not in out and r"\S" not in out and "code_state" not in out


# -- the commands ------------------------------------------------------------------------------

@pytest.fixture()
def code_store(tiny_corpus, tmp_path):
    """A results folder with Table 5's English BiLSTM-CRF row mixed (seeds 1, 2) and HBiLSTM-CRF stale."""
    store = ResultStore(tmp_path / "r")
    opts = PlanOptions(table=5, models=("bilstm-crf", "hbilstm-crf"), languages=("en",), scale="smoke",
                       seeds=2, data_dir=str(tiny_corpus.root))
    for job in make_plan(opts).ready:
        digest = ("a" if job.seed == 1 else "b") * 16 if job.model == "bilstm-crf" else "c" * 16
        store.put(with_code(fake_for(job, 0.6), digest))
    return store


def _bench(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize("command", ["report", "plan", "status"])
def test_commands_mark_and_strict_code_exits_2(command, code_store, tiny_corpus):
    args = [command, "--table", "5", "--models", "bilstm-crf,hbilstm-crf", "--languages", "en", "--scale", "smoke",
            "--seeds", "2", "--data-dir", str(tiny_corpus.root), "--results", str(code_store.root)]
    ok = _bench(*args)
    assert ok.exit_code == 0, ok.output
    assert CODE_MARK in ok.output and "mixed" in ok.output and "stale" in ok.output
    strict = _bench(*args, "--strict-code")
    assert strict.exit_code == 2
    assert "--strict-code: 2 row(s)" in strict.output and "English BiLSTM-CRF (mixed" in strict.output


def test_readme_marks_and_strict_code_refuses_to_write(tiny_corpus, tmp_path):
    store = ResultStore(tmp_path / "r")
    opts = PlanOptions(table=5, models=("bilstm-crf",), languages=("en",), seeds=3, data_dir=str(tiny_corpus.root))
    for job in make_plan(opts).ready:  # paper profile, clean tree, 3 seeds: shown in the README
        store.put(with_code(fake_for(job, 0.6), ("a" if job.seed == 1 else "b") * 16, commit="f" * 40, dirty=False))
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{START}\n{END}\n", encoding="utf-8")
    with pytest.raises(BenchError, match="strict-code: 1 row"):
        update_readme(readme, store, str(tiny_corpus.root), strict_code=True)
    assert readme.read_text(encoding="utf-8") == f"# x\n{START}\n{END}\n"
    assert update_readme(readme, store, str(tiny_corpus.root))
    text = readme.read_text(encoding="utf-8")
    assert f"BiLSTM-CRF{CODE_MARK}" in text and "English BiLSTM-CRF (mixed: 2 code versions over 3 runs" in text


# -- stored results that predate the digest --------------------------------------------------------

BILSTM_AT_3E158BC = "b3b4439af8ce9b16"  # bench code --results results/reference, at the rule 1 boundary


def _has_commit(commit: str) -> bool:
    out = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=REPO, capture_output=True)
    return out.returncode == 0


def test_backfill_computes_the_digest_from_the_recorded_commit(tmp_path):
    """Catches a backfill that reads the current tree instead of the run's commit, or that rewrites
    anything but ``environment.code``."""
    commit = "3e158bc00568ddf660243ba16f81e2ebe2166807"
    if not _has_commit(commit):
        pytest.skip("git history without the reference runs' commit (shallow clone)")
    store = ResultStore(tmp_path / "r")
    result = fake("bilstm-crf", ("en",), "en", False, 1, 0.63)
    result = dataclasses.replace(result, environment={**result.environment, "commit": commit, "dirty": False})
    folder = store.put(result)
    before = json.loads((folder / "result.json").read_text())
    digest, source = backfill(folder, "bilstm-crf", result.environment, write=True)
    assert digest == BILSTM_AT_3E158BC != current_digest("bilstm-crf")
    after = json.loads((folder / "result.json").read_text())
    assert after["environment"].pop("code")["digest"] == BILSTM_AT_3E158BC
    assert after == before
    assert store.read(result.job).job_id == result.job_id
    dirty = {**result.environment, "dirty": True}
    assert backfill(folder, "bilstm-crf", dirty, write=False) == (None, "unknown: 3e158bc had uncommitted changes")


def test_bench_code_lists_states(code_store):
    out = _bench("code", "--results", str(code_store.root))
    assert out.exit_code == 0, out.output
    assert "4 stale" in out.output  # a/b/c digests: none is this checkout's
    assert current_digest("bilstm-crf") in out.output

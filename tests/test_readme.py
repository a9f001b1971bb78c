"""The README stays true: its test command is what CI runs; its results block matches results/."""
from __future__ import annotations

import re
from pathlib import Path

from benchmark.report.readme import current_block, results_block
from benchmark.run.store import ResultStore

ROOT = Path(__file__).resolve().parent.parent
TABLE_SEEDS = 3  # tables/ render seeds 1..3 of each reference row (README, Results)


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
    test_cmd = next(b for b in blocks if "pytest" in b)
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmd.strip() in ci


def test_results_section_is_generated_from_results_dir(mmnerd):
    expected = results_block(ResultStore(ROOT / "results" / "reference"), str(mmnerd.root))
    assert current_block(ROOT / "README.md") == expected, "README results are stale: run `bench readme`"


def test_rendered_tables_are_up_to_date(mmnerd):
    """tables/tableN.{md,tex,csv} are `bench report --compare-paper --seeds 3 --results results/reference`
    renders on MMNERD (see README): the jobs `make_plan` plans with three seeds, and nothing else."""
    from benchmark.report.render import build_frame, render
    from benchmark.tables import TABLES
    from benchmark.run.plan import PlanOptions, make_plan
    from benchmark.run.store import lookup

    store = ResultStore(ROOT / "results" / "reference")
    for number in TABLES:
        plan = make_plan(PlanOptions(table=number, data_dir=str(mmnerd.root), seeds=TABLE_SEEDS))
        found, bad = lookup(store, [p.job for p in plan.known])
        assert not bad, bad
        frame = build_frame(plan.table, [(p.row, p.job) for p in plan.known], found, "paper", plan.corpus.kind)
        for fmt, ext, compare in (("markdown", "md", True), ("latex", "tex", True), ("csv", "csv", False)):
            path = ROOT / "tables" / f"table{number}.{ext}"
            assert path.read_text(encoding="utf-8") == render(frame, fmt, compare), f"{path} is stale"


def test_committed_tables_show_every_stored_seed(mmnerd):
    """Issue 23 item 3: no row of tables/tableN.csv shows fewer runs than the reference store holds for it
    (counted over seeds 1..20, so a fourth stored seed fails this until the tables render it)."""
    import csv

    from benchmark.tables import TABLES
    from benchmark.run.plan import PlanOptions, make_plan
    from benchmark.run.store import lookup

    store = ResultStore(ROOT / "results" / "reference")
    for number in TABLES:
        plan = make_plan(PlanOptions(table=number, data_dir=str(mmnerd.root), seeds=20))
        found, _ = lookup(store, [p.job for p in plan.known])
        stored: dict[tuple[str, str, str, str], int] = {}
        for p in plan.known:
            if p.job.job_id in found:
                key = (p.row.method, p.row.modality, ",".join(p.job.setting.train_languages),
                       p.job.setting.test_language)
                stored[key] = stored.get(key, 0) + 1
        with (ROOT / "tables" / f"table{number}.csv").open(encoding="utf-8") as fh:
            shown = {(r["method"], r["modality"], r["train_languages"], r["test_language"]): int(r["runs"] or 0)
                     for r in csv.DictReader(fh)}
        for key, n in stored.items():
            assert shown.get(key, 0) >= n, f"tables/table{number}.csv row {key} shows {shown.get(key, 0)} run(s), store holds {n}"


def test_results_block_shows_only_clean_tree_runs_with_enough_seeds(tmp_path, tiny_corpus):
    """Issue 11 item 8: a dirty-tree or commit-less run never reaches the README; rows need >= 3 seeds."""
    from dataclasses import replace

    from benchmark.run.plan import PlanOptions, make_plan
    from tests.report_cases import fake_for

    plan = make_plan(PlanOptions(table=5, data_dir=str(tiny_corpus.root), seeds=3))
    jobs = {(p.job.model, p.job.setting.test_language, p.job.seed): p.job for p in plan.known}

    def stored(model: str, lang: str, seed: int, f1: float, commit: str | None, dirty: bool | None):
        r = fake_for(jobs[(model, lang, seed)], f1)
        # as stored by a run started with `python -m benchmark.cli` from a checkout
        return replace(r, environment={**r.environment, "commit": commit, "dirty": dirty,
                                       "command": "/home/me/mmner-bench/benchmark/cli.py run --table 5 --seeds 3"})

    store = ResultStore(tmp_path)
    for seed, f1 in ((1, 0.60), (2, 0.62), (3, 0.64)):
        store.put(stored("bilstm-crf", "en", seed, f1, "a" * 40, False))
    for seed in (1, 2):  # clean, but with the third seed dirty: two clean seeds, no README row
        store.put(stored("bilstm-crf", "all", seed, 0.70, "a" * 40, False))
    store.put(stored("bilstm-crf", "all", 3, 0.99, "b" * 40, True))  # uncommitted changes: left out
    for seed in (1, 2):  # clean, but only two seeds: no README row
        store.put(stored("hbilstm-crf", "en", seed, 0.70, "c" * 40, False))
    store.put(stored("hbilstm-crf", "all", 1, 0.99, None, None))  # no recorded commit: left out
    block = results_block(store, str(tiny_corpus.root))
    assert "62.00±2.00" in block  # Table 5 cell: mean ± std of the three clean seeds only
    run_rows = [line for line in block.splitlines() if line.startswith("| bilstm-crf")]
    assert len(run_rows) == 1 and "| 3 " in run_rows[0] and "62.00 ± 2.00" in run_rows[0]
    assert "aaaaaaa" in run_rows[0] and "bbbbbbb" not in block
    assert "`bench run --table 5 --seeds 3`" in run_rows[0] and "/home/me" not in block  # as a user types it
    assert "hbilstm-crf" not in block and "HBiLSTM" not in block
    assert "6 stored paper-profile run(s) left out" in block


def _section(title: str) -> str:
    readme = (ROOT / "README.md").read_text()
    body = readme.split(f"\n## {title}\n", 1)[1]
    return body.split("\n## ", 1)[0]


def _bench_script(folder: Path) -> Path:
    """A `bench` like the installed console script (sys.path[0] is its own folder, not the cwd)."""
    import sys
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "bench"
    script.write_text(f"#!{sys.executable}\nimport sys\nfrom benchmark.cli import main\nsys.exit(main())\n")
    script.chmod(0o755)
    return script


def test_add_your_model_section_runs_literally(tiny_corpus, tmp_path):
    """The README's model file and its commands, copied out and run as written (plugin path, entry point)."""
    import os
    import subprocess
    import tomllib

    section = _section("Add your model")
    code = next(b for b in re.findall(r"```python\n(.*?)```", section, flags=re.S) if b.startswith("# my_tagger.py"))
    commands = [line for b in re.findall(r"```bash\n(.*?)```", section, flags=re.S) for line in b.splitlines()
                if line.startswith("bench ")]
    assert len(commands) == 2 and all("--plugin my_tagger:SPEC" in c for c in commands)
    work = tmp_path / "work"
    work.mkdir()
    (work / "my_tagger.py").write_text(code)
    bin_dir = tmp_path / "bin"
    _bench_script(bin_dir)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT),
           "MMNERD_DIR": str(tiny_corpus.root), "MMNER_BENCH_CACHE": str(tmp_path / "cache")}
    outs = [subprocess.run(c, shell=True, cwd=work, env=env, capture_output=True, text=True, timeout=300)
            for c in commands]
    assert outs[0].returncode == 0, outs[0].stderr
    assert re.search(r"^\| my-tagger +\| MyTagger +\| text .*\| --plugin my_tagger:SPEC +\|$", outs[0].stdout, re.M)
    assert outs[1].returncode == 0, outs[1].stderr
    assert "ran 1 job(s)" in outs[1].stdout
    stored = list((work / "results" / "local" / "runs" / "my-tagger").glob("*/result.json"))
    assert len(stored) == 1
    import json
    result = json.loads(stored[0].read_text())
    f1 = 100 * result["test"]["conlleval"]["f1"]
    capped = result["selected_epoch"] == result["epochs_run"] == result["job"]["hparams"].get("epochs")
    assert f1 > 5  # it learned something on the built-in corpus (a constant-O tagger scores 0)
    rows = [line.split("|")[2].strip() for line in outs[1].stdout.splitlines() if line.startswith("| ")][1:]
    assert rows[0] == "BiLSTM-CRF" and rows[-1] == "MyTagger" + ("‡" if capped else "") and len(rows) == 10  # beside the 9 paper rows
    assert re.search(rf"^\| +\| MyTagger{'‡' if capped else ''} +\| Text +\| .*\| +{f1:.2f} \(–\) \|$", outs[1].stdout, re.M)

    # the entry-point snippet: the same module, installed as a distribution instead of --plugin
    toml = next(b for b in re.findall(r"```toml\n(.*?)```", section, flags=re.S))
    eps = tomllib.loads(toml)["project"]["entry-points"]["mmner_bench.models"]
    site = tmp_path / "site"
    info = site / "my_tagger-0.1.dist-info"
    info.mkdir(parents=True)
    (site / "my_tagger.py").write_text(code)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-tagger\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[mmner_bench.models]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()))
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{site}"
    out = subprocess.run("bench models", shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert re.search(r"^\| my-tagger .*\| entry point my-tagger = my_tagger:SPEC \(my-tagger\) +\|$", out.stdout, re.M)


def test_readme_main_command_plans_one_english_job(tiny_corpus, tmp_path):
    """The main command is a valid `bench run` that plans exactly the English BiLSTM-CRF row."""
    import shlex

    from click.testing import CliRunner

    from benchmark.cli import main

    section = _section("The two commands")
    line = next(b for b in re.findall(r"```bash\n(.*?)\n```", section, flags=re.S) if "bench run" in b)
    args = shlex.split(line.split("bench ", 1)[1])
    assert args[:2] == ["run", "--table"]
    out = CliRunner().invoke(main, args + ["--dry-run", "--data-dir", str(tiny_corpus.root), "--results", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert "Table 5: 1 planned, 0 already stored, 1 to run" in out.output
    assert re.search(r"would run [0-9a-f]{16} bilstm-crf train en -> test en \(text\) seed 1", out.output)


def test_readme_reference_report_command_shows_the_committed_runs():
    from click.testing import CliRunner

    from benchmark.cli import main

    section = _section("The two commands")
    line = next(b for b in re.findall(r"```bash\n(.*?)\n```", section, flags=re.S) if "bench report" in b)
    import os
    cwd = os.getcwd()
    os.chdir(ROOT)  # the README's relative path results/reference
    try:
        out = CliRunner().invoke(main, line.split()[1:])
    finally:
        os.chdir(cwd)
    assert out.exit_code == 0, out.output
    row = next(r for r in out.output.splitlines() if "| BiLSTM-CRF" in r and "English" in r)
    assert row.rstrip("| ").endswith("63.49 (62.68, +0.81)")  # results/reference/runs/bilstm-crf/fd51db5f... (seed 1)


def test_compare_an_encoder_section_runs(tmp_path, monkeypatch):
    """Issue 25 item 4: the section's command, run as written plus `--scale smoke --hp epochs=1`, on
    the built-in corpus with xlm-roberta-base a tiny random XLM-R in an offline HF cache: two rows
    named after the encoder after the paper's, its hub revision in the job's identity."""
    import json
    import shlex

    from click.testing import CliRunner

    from benchmark.cli import main
    from tests.hf_encoders import save_encoder
    from tests.helpers import hand_made_sentences, registry_restored

    section = _section("Compare an encoder")
    line = next(b for b in re.findall(r"```bash\n(.*?)\n```", section, flags=re.S) if b.startswith("bench run"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hf-cache" / "models--xlm-roberta-base"
    save_encoder("xlm-roberta", repo / "snapshots" / commit, [" ".join(s.tokens) for s in hand_made_sentences()])
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    for key, value in {"HF_HUB_CACHE": tmp_path / "hf-cache", "HF_HUB_OFFLINE": "1",
                       "MMNER_BENCH_CACHE": tmp_path / "cache", "MMNER_WEIGHTS_DIR": tmp_path / "weights"}.items():
        monkeypatch.setenv(key, str(value))
    monkeypatch.delenv("MMNERD_DIR", raising=False)
    res = tmp_path / "res"
    with registry_restored():
        out = CliRunner().invoke(main, shlex.split(line)[1:] + ["--scale", "smoke", "--hp", "epochs=1",
                                                                "--results", str(res)])
    assert out.exit_code == 0, out.output
    methods = [row.split("|")[2].strip().rstrip("‡") for row in out.output.splitlines() if row.startswith("| ")]
    assert methods[-3:] == ["2M-NER", "xlm-roberta-base", "xlm-roberta-base-CRF"], methods
    jobs = [json.loads(p.read_text()) for p in res.glob("runs/*/*/job.json")]
    assert sorted(j["model"] for j in jobs) == ["hf-xlm-roberta-base", "hf-xlm-roberta-base-crf"]
    assert {j["hparams"]["text_encoder_revision"] for j in jobs} == {commit}


def test_glove_50d_runs_are_rows_of_their_own_never_merged_with_word2vec(tmp_path, tiny_corpus):
    """Issue 26 item 3: runs with `--hp embeddings=glove.6B.50d` (the plan then sets embedding_dim 50)
    are their own README rows, labelled, below the table: never averaged into the word2vec row, and
    found without the vectors installed (the block is the same on a machine without the wheel)."""
    from dataclasses import replace

    from benchmark.report.readme import VECTOR_VARIANTS
    from benchmark.run.plan import PlanOptions, make_plan
    from tests.report_cases import fake_for

    assert VECTOR_VARIANTS == ({"embeddings": "glove.6B.50d", "embedding_dim": 50},)
    plan = make_plan(PlanOptions(table=5, data_dir=str(tiny_corpus.root), seeds=3))
    jobs = {(p.job.model, p.job.setting.test_language, p.job.seed): p.job for p in plan.known}
    store = ResultStore(tmp_path)
    for seed, (w2v, glove) in enumerate(((0.60, 0.70), (0.62, 0.72), (0.64, 0.74)), start=1):
        base = jobs[("bilstm-crf", "en", seed)]
        variant = replace(base, hparams={**base.hparams, "embeddings": "glove.6B.50d", "embedding_dim": 50})
        for job, f1 in ((base, w2v), (variant, glove)):
            r = fake_for(job, f1)
            store.put(replace(r, environment={**r.environment, "commit": "a" * 40, "dirty": False}))
    block = results_block(store, str(tiny_corpus.root))
    tables = block.split("Stored runs")[0].split("**Table 5.**")
    assert len(tables) == 3 and "Word-vector variant: GloVe 6B 50d (not the papers' GloVe 6B 300d)." in tables[2]
    assert "BiLSTM-CRF (GloVe 6B 50d)" in tables[2] and "72.00±2.00" in tables[2] and "62.00" not in tables[2]
    assert "62.00±2.00" in tables[1] and "72.00" not in tables[1] and "GloVe 6B 50d" not in tables[1]
    run_rows = {line.split("|")[1].strip(): line for line in block.splitlines() if line.startswith("| bilstm-crf")}
    assert set(run_rows) == {"bilstm-crf", "bilstm-crf (GloVe 6B 50d)"}, run_rows
    assert "62.00 ± 2.00" in run_rows["bilstm-crf"] and "72.00 ± 2.00" in run_rows["bilstm-crf (GloVe 6B 50d)"]

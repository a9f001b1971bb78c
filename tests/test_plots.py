"""Figures render from a small stored result set (valid PNG and PDF, not empty); a real job stores
its test predictions and they reproduce its stored metrics; `bench plot` / `report` options."""
from __future__ import annotations

from click.testing import CliRunner

from benchmark.cli import main
from benchmark.report.plots import plot_table
from tests.report_cases import build_frame
from benchmark.tables import get_table
from tests.report_cases import fake, write_store

PNG, PDF = b"\x89PNG\r\n\x1a\n", b"%PDF-"


def _check(paths, names):
    by_name = {p.name: p for p in paths}
    for name in names:
        data = by_name[name].read_bytes()
        assert data.startswith(PNG if name.endswith(".png") else PDF), name
        assert len(data) > 8000, (name, len(data))  # axes, bars and text, not a blank canvas


def test_table_plots_render(tmp_path):
    cases = {
        5: [fake("bilstm-crf", ("en",), "en", False, s, 0.60 + 0.01 * s) for s in (1, 2, 3)]
           + [fake("2m-ner", (lang,), lang, True, 1, 0.7) for lang in ("en", "fr")],
        6: [fake("2m-ner", ("en", "de"), "en", True, 1, 0.70), fake("2m-ner", ("fr",), "fr", True, 1, 0.64)],
        8: [fake("2m-ner", ("all",), "all", True, s, 0.68 + 0.01 * s, fold=k) for k in (1, 2) for s in (1, 2)]
           + [fake("2m-ner", ("all",), "all", True, 1, 0.70)],
        9: [fake("2m-ner", ("all",), "all", True, 1, 0.70), fake("2m-ner-no-vit", ("all",), "all", True, 1, 0.69)],
    }
    for number, results in cases.items():
        frame = build_frame(get_table(number), results)
        paths = plot_table(frame, results, tmp_path / str(number), curves=number == 9)
        names = [f"table{number}.png", f"table{number}.pdf"]
        if number == 9:
            names += [f"2m-ner_{results[0].job_id}.png", f"2m-ner_{results[0].job_id}.pdf"]
            assert len(paths) == 6  # the table + a learning curve (PNG, PDF) for each of the 2 jobs
        _check(paths, names)


def test_cli_plot_report_and_table2(tmp_path, tiny_corpus):
    from benchmark.run.plan import PlanOptions, make_plan
    from tests.report_cases import fake_for

    plan = make_plan(PlanOptions(table=9, data_dir=str(tiny_corpus.root)))
    jobs = {p.job.model: p.job for p in plan.known}
    write_store(tmp_path / "res", [fake_for(jobs["2m-ner"], 0.70), fake_for(jobs["2m-ner-no-vit"], 0.69)])
    runner = CliRunner()
    same = ["--data-dir", str(tiny_corpus.root)]  # the options the runs were planned with
    out = runner.invoke(main, ["plot", "--table", "9", "--results", str(tmp_path / "res"),
                               "--output-dir", str(tmp_path / "plots"), *same])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "plots" / "table9.pdf").is_file()
    empty = runner.invoke(main, ["plot", "--table", "5", "--results", str(tmp_path / "none"), *same])
    assert empty.exit_code == 2 and "does not exist" in empty.output
    rep = runner.invoke(main, ["report", "--table", "9", "--results", str(tmp_path / "res"), "--significance", *same])
    assert rep.exit_code == 0 and "Not tested (no stored predictions): -ViT." in rep.output
    t2 = runner.invoke(main, ["report", "--table", "2", "--data-dir", str(tiny_corpus.root), "--format", "csv"])
    assert t2.exit_code == 0 and t2.output.startswith("language,split,PER,PER_paper")
    run2 = runner.invoke(main, ["run", "--table", "2"])
    assert run2.exit_code == 2 and "Table 2 has no jobs" in run2.output  # a run that would do nothing


def test_job_stores_predictions_that_reproduce_its_metrics(tmp_path, tiny_corpus):
    from benchmark.metrics import evaluate
    from benchmark.registry import get_model
    from benchmark.run.executors import execute_job
    from benchmark.run.predictions import read_predictions
    from benchmark.run.specs import JobSpec, Setting
    from benchmark.run.store import ResultStore

    spec = get_model("bilstm-crf")
    job = JobSpec("bilstm-crf", Setting(("en",), "en"), 1, "smoke", spec.hparams("smoke", {"epochs": 2}),
                  tiny_corpus.kind, tiny_corpus.fingerprint(["en"]))
    store = ResultStore(tmp_path)
    result = execute_job(job, tiny_corpus, store)
    preds = read_predictions(store.run_dir(job) / "predictions.conll")
    assert len(preds) == result.counts["test"]
    assert evaluate([p.gold for p in preds], [p.pred for p in preds]) == result.test  # the selected epoch's
    assert {p.source for p in preds} <= {"twitter2017", "cc12m-mbart50", "unknown"}

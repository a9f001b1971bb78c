"""Report layout: golden Markdown/LaTeX renders from fixed fake results; LaTeX compiles."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from benchmark.report.render import build_frame as _build_frame
from benchmark.report.render import latex_document, render, to_csv
from benchmark.run.plan import seeds_for
from benchmark.run.specs import JobSpec, Result, Setting
from benchmark.report.tables import get_table

GOLDEN = Path(__file__).parent / "golden"
TYPES = ("PER", "LOC", "ORG", "MISC")


def fake(model: str, train: tuple[str, ...], test: str, image: bool, seed: int, f1: float,
         fold: int | None = None, profile: str = "paper", kind: str = "mmnerd") -> Result:
    """A stored result whose every metric is derived from ``f1`` (a fraction)."""
    per = {t: {"precision": f1, "recall": f1, "f1": round(f1 - 0.01 * i, 6), "support": 5} for i, t in enumerate(TYPES)}
    m = {"precision": f1 + 0.01, "recall": f1 - 0.01, "f1": f1, "support": 20, "per_type": per}
    metrics = {"conlleval": m, "strict": {**m, "f1": f1 - 0.02}}
    job = JobSpec(model, Setting(train, test, image, fold), seed, profile,
                  {"epochs": 1}, kind, "fp", "listing:test" if image else "none")
    return Result(job=job, test=metrics, dev=metrics, selected_epoch=1, epochs_run=1,
                  test_max={"epoch": 1, **metrics}, history=[], wall_time_s=1.0, peak_memory_mb=1.0,
                  environment={"finished_at": f"2026-01-0{seed}T00:00:00"})


def results_t5() -> list[Result]:
    return [
        fake("bilstm-crf", ("all",), "all", False, 1, 0.6210),
        fake("bilstm-crf", ("en",), "en", False, 1, 0.6300),
        fake("bilstm-crf", ("en",), "en", False, 2, 0.6400),  # two seeds -> mean ± std
        fake("hbilstm-crf", ("en",), "en", False, 1, 0.6500),
        fake("2m-ner", ("en",), "en", True, 1, 0.7100),
        fake("2m-ner", ("en",), "en", False, 1, 0.9900),  # text-only run: must not land in Table 5
        fake("bilstm-crf", ("de",), "de", False, 1, 0.5000, profile="smoke"),  # other profile: ignored
        fake("bilstm-crf", ("fr",), "fr", False, 1, 0.4000, kind="fallback"),  # other corpus: ignored
    ]


def planned(table, seeds: int | None = None, profile: str = "paper", kind: str = "mmnerd"):
    """The (row, job) pairs a plan of ``table`` holds when every job has the fakes' identity."""
    return [(row, JobSpec(row.model, Setting(row.train_languages, row.test_language, row.use_image, row.fold),
                          seed, profile, {"epochs": 1}, kind, "fp", "listing:test" if row.use_image else "none"))
            for row in table.rows for seed in seeds_for(row, seeds)]


def build_frame(table, results, mode: str = "conlleval", selection: str = "dev", seeds: int | None = None):
    """The frame of the paper-profile MMNERD plan of ``table`` over the fake stored ``results``."""
    return _build_frame(table, planned(table, seeds), {r.job_id: r for r in results}, "paper", "mmnerd",
                        mode, selection)


def check_golden(name: str, text: str) -> None:
    """Compare with the committed golden file (refresh: `python tests/refresh_golden.py`, then review the diff)."""
    path = GOLDEN / name
    assert path.is_file(), f"golden file {path} missing"
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt, compare, name", [
    ("markdown", False, "table5.md"), ("markdown", True, "table5_compare.md"),
    ("latex", False, "table5.tex"), ("latex", True, "table5_compare.tex"),
])
def test_table5_golden(fmt, compare, name):
    frame = build_frame(get_table(5), results_t5())
    check_golden(name, render(frame, fmt, compare))


def test_table5_frame_semantics():
    frame = build_frame(get_table(5), results_t5())
    rows = {(fr.row.group, fr.row.method): fr for fr in frame.rows}
    en = rows[("English", "BiLSTM-CRF")]
    assert en.runs == 1 and en.cells["f1"].value == pytest.approx(63.0)  # seed 2 is not in a 1-seed plan
    assert en.cells["f1"].paper == 62.68 and en.cells["f1"].delta == pytest.approx(0.32)
    assert rows[("English", "2M-NER")].cells["f1"].value == pytest.approx(71.0)  # image run, not text-only
    assert "f1" in rows[("English", "2M-NER")].best and "f1" not in en.best
    assert rows[("German", "BiLSTM-CRF")].cells["f1"].value is None  # smoke result not mixed in
    assert rows[("French", "BiLSTM-CRF")].cells["f1"].value is None  # fallback result not mixed in
    two = {(fr.row.group, fr.row.method): fr for fr in build_frame(get_table(5), results_t5(), seeds=2).rows}
    en2 = two[("English", "BiLSTM-CRF")]
    assert en2.runs == 2 and en2.expected == 2 and en2.cells["f1"].value == pytest.approx(63.5)
    assert en2.cells["f1"].std == pytest.approx(0.7071, abs=1e-3)
    strict = build_frame(get_table(5), results_t5(), mode="strict")
    assert {(fr.row.group, fr.row.method): fr for fr in strict.rows}[("All", "BiLSTM-CRF")].cells["f1"].value == pytest.approx(60.1)


def results_t8() -> list[Result]:
    return [fake("2m-ner", ("all",), "all", True, 1, 0.69, fold=1), fake("2m-ner", ("all",), "all", True, 2, 0.70, fold=1),
            fake("2m-ner", ("all",), "all", True, 1, 0.68, fold=2)]


def test_table8_flags_missing_repeats():
    frame = build_frame(get_table(8), results_t8())
    md = render(frame, "markdown")
    check_golden("table8.md", md)
    assert "K-fold-2 (1/2 runs)" in md
    assert "69.50±0.71" in md


def test_csv_has_paper_and_delta_columns():
    text = to_csv(build_frame(get_table(5), results_t5()))
    header, *lines = text.splitlines()
    assert "f1_paper" in header.split(",") and "f1_delta" in header.split(",")
    assert len(lines) == 45
    en = next(line for line in lines if line.startswith("5,English,BiLSTM-CRF"))
    assert ",63.0000," in en and ",62.68," in en


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
@pytest.mark.parametrize("compare", [False, True])
def test_latex_compiles(tmp_path, compare):
    body = render(build_frame(get_table(5), results_t5()), "latex", compare)
    (tmp_path / "t.tex").write_text(latex_document(body), encoding="utf-8")
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert (tmp_path / "t.pdf").stat().st_size > 1000


OTHER_TABLES = [
    (6, [fake("2m-ner", ("en", "de"), "en", True, 1, 0.7012), fake("2m-ner", ("fr",), "fr", True, 1, 0.6433)]),
    (7, [fake("2m-ner-text", ("es",), "es", False, 1, 0.7021), fake("umt", ("all",), "all", False, 1, 0.6990)]),
    (9, [fake("2m-ner", ("all",), "all", True, 1, 0.7049), fake("2m-ner-no-vit", ("all",), "all", True, 1, 0.6923)]),
]


@pytest.mark.parametrize("number, results", OTHER_TABLES)
def test_other_tables_golden(number, results):
    frame = build_frame(get_table(number), results)
    check_golden(f"table{number}.md", render(frame, "markdown", compare_paper=True))
    check_golden(f"table{number}.tex", render(frame, "latex"))
    assert sum(fr.runs for fr in frame.rows) == len(results)

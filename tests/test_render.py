"""Report layout: golden renders of every table and format; the LaTeX compiles in a plain article
and fits its text width; marks, n, extension rows and job counts per table spec."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from benchmark.report.render import SignificanceInfo, latex_document, render, to_csv
from benchmark.tables import ALL_TABLES, TABLES, extend_with, get_table
from benchmark.run.plan import seeds_for
from tests.report_cases import GOLDEN, build_frame, fake, golden_cases, results_t5


@pytest.mark.parametrize("name", sorted(golden_cases()))
def test_golden(name):
    """Each render equals its committed golden file (refresh: `python -m tests.refresh_golden`)."""
    path = GOLDEN / name
    assert path.is_file(), f"golden file {path} missing: run `python -m tests.refresh_golden`"
    assert golden_cases()[name]() == path.read_text(encoding="utf-8"), \
        f"{name} differs from its golden render; if intended, `python -m tests.refresh_golden` and commit"


def test_every_table_has_goldens_in_every_format():
    names = set(golden_cases())
    for number in ALL_TABLES:
        assert {f"table{number}.csv", f"table{number}_compare.md" if number != 2 else "table2.md",
                f"table{number}_compare.tex" if number != 2 else "table2.tex"} <= names


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


def test_cells_show_n_and_incomplete_rows():
    res = [fake("2m-ner", ("all",), "all", True, 1, 0.69, fold=1), fake("2m-ner", ("all",), "all", True, 2, 0.70, fold=1),
           fake("2m-ner", ("all",), "all", True, 1, 0.68, fold=2)]
    md = render(build_frame(get_table(8), res), "markdown")
    assert re.search(r"\| K-fold-1 +\| 2 +\|", md)  # n column
    assert re.search(r"\| K-fold-2 +\| 1/2 +\|", md)  # 1 of the 2 planned runs
    assert "K-fold-2 (1/2 runs)" in md and "69.50±0.71" in md
    tex = render(build_frame(get_table(8), res), "latex")
    assert "± is the sample standard deviation" in md and r"$\pm$ is the sample standard deviation" in tex


def test_csv_has_paper_delta_and_in_paper_columns():
    text = to_csv(build_frame(get_table(5), results_t5()))
    header, *lines = text.splitlines()
    assert {"f1_paper", "f1_delta", "in_paper", "runs"} <= set(header.split(","))
    assert len(lines) == 45
    en = next(line for line in lines if line.startswith("5,English,BiLSTM-CRF"))
    assert ",63.0000," in en and ",62.68," in en


def test_test_max_selection_marks_every_value():
    frame = build_frame(get_table(9), [fake("2m-ner", ("all",), "all", True, 1, 0.7049)], selection="test_max")
    md, tex = render(frame, "markdown"), render(frame, "latex")
    row = next(line for line in md.splitlines() if line.startswith("| 2M-NER"))
    assert row.count("†") == 7  # every measured value of the row
    assert "best TEST epoch" in md and r"\dagger" in tex and "best TEST F1" in tex
    dev = render(build_frame(get_table(9), [fake("2m-ner", ("all",), "all", True, 1, 0.7049)]), "markdown")
    assert "†" not in dev


def test_caption_names_corpus_protocol_and_spread():
    tex = render(build_frame(get_table(5), results_t5(), seeds=2), "latex", True)
    caption = tex[tex.index(r"\caption{"):].split("\n", 1)[0]
    assert "Data: MMNERD (test sets: all, en)" in caption
    assert "best dev F1 (the paper's protocol)" in caption
    assert r"$\pm$ is the sample standard deviation" in caption
    fallback = render(build_frame(get_table(5), [fake("bilstm-crf", ("en",), "en", False, 1, 0.5, kind="fallback")],
                                  kind="fallback"), "latex")
    assert "fallback corpus, NOT MMNERD" in fallback


def test_extension_rows_follow_each_block_and_leave_paper_rows_alone():
    results = results_t5() + [fake("my-ner", ("en",), "en", True, 1, 0.80), fake("my-ner", ("all",), "all", True, 1, 0.6)]
    table = extend_with(get_table(5), [r.job.model for r in results], {"my-ner"})
    order = [(r.group, r.method) for r in table.rows]
    for group in ("All", "English", "French", "Spanish", "German"):
        i = order.index((group, "my-ner"))
        assert order[i - 1] == (group, "2M-NER")  # appended after the paper's rows of the block
    assert [r for r in table.rows if not r.extension] == list(get_table(5).rows)
    frame = build_frame(table, results)
    mine = next(fr for fr in frame.rows if fr.row.group == "English" and fr.row.model == "my-ner")
    assert mine.cells["f1"].value == pytest.approx(80.0) and mine.row.use_image and mine.cells["f1"].paper is None
    assert "Rows not in the paper: my-ner." in render(frame, "markdown")
    assert ",my-ner,my-ner,Text + Image," in to_csv(frame) and ",False," in to_csv(frame).splitlines()[10]
    # paper-only tables take no extension rows; models of any paper table never become extensions
    assert extend_with(get_table(9), ["my-ner"]).rows == get_table(9).rows
    assert extend_with(get_table(5), ["2m-ner-text", "umt"]).rows == get_table(5).rows
    assert len(extend_with(get_table(7), ["my-ner"], {"my-ner"}).rows) == 30
    assert len(extend_with(get_table(7), ["text-only-ner"]).rows) == 25  # a text model has no "Only Text" row


@pytest.mark.parametrize("number, jobs", [(5, 45), (6, 16), (7, 25), (8, 11), (9, 3)])
def test_job_count_per_table_spec(number, jobs):
    """Jobs a table plans once every row's model exists (5 x 2 fold runs + ALL in Table 8)."""
    table = get_table(number)
    assert sum(len(seeds_for(r, None)) for r in table.rows) == jobs
    assert sum(len(seeds_for(r, 3)) for r in table.rows) == 3 * len(table.rows)
    assert len({(r.model, r.train_languages, r.test_language, r.use_image, r.fold) for r in table.rows}) == len(table.rows)


def _full_results() -> list:
    """Three seeds for every row of every table, with the widest realistic cells: 100.00, a two-digit
    std, a two-digit negative delta."""
    spreads = ((0.30, 0.75, 1.0), (1.0, 1.0, 1.0), (0.01, 0.02, 0.99))
    out = []
    for number in TABLES:
        for r in get_table(number).rows:
            for seed, f1 in enumerate(spreads[len(r.method) % 3], 1):
                out.append(fake(r.model, r.train_languages, r.test_language, r.use_image, seed, f1, fold=r.fold))
    return out


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_latex_compiles_and_fits_a_plain_article(tmp_path):
    """Every table, with and without the paper comparison, in a default-margin article: no overfull
    box, no float taller than its page."""
    from tests.report_cases import table2_records
    from benchmark.report.stats import render_stats

    results = _full_results()
    bodies = {"2": render_stats(table2_records(), "latex", "mmnerd", True)}
    for number in TABLES:
        for compare in (False, True):
            bodies[f"{number}{'c' if compare else ''}"] = render(build_frame(get_table(number), results), "latex", compare)
    for number in (5, 6, 7):  # every mark on every value: test-selected (†) and significant (*)
        frame = build_frame(get_table(number), results, selection="test_max")
        frame.significance = SignificanceInfo("bootstrap", 0.05, 1000, "2M-NER")
        for fr in frame.rows:
            for cell in fr.cells.values():
                cell.p = 0.001
        bodies[f"{number}m"] = render(frame, "latex", True)
    body = "\n\\clearpage\n".join(bodies.values())
    (tmp_path / "t.tex").write_text(latex_document(body), encoding="utf-8")
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    log = (tmp_path / "t.log").read_text(errors="replace")
    assert proc.returncode == 0, proc.stdout[-2000:]
    bad = re.findall(r"Overfull \\hbox \([\d.]+pt too wide\)[^\n]*|Float too large for page by [\d.]+pt[^\n]*", log)
    assert not bad, bad
    assert (tmp_path / "t.pdf").stat().st_size > 10000


def test_markdown_escapes_pipes_and_html_from_display_names():
    """A plugin's display name with `|` or HTML must not split a column or inject markup (issue 27 item 8)."""
    frame = build_frame(get_table(5), results_t5())
    first = frame.rows[0]
    first.labels = ("My|Tagger <script>x</script>",) + tuple(first.labels[1:])
    md = render(frame, "markdown")
    line = next(x for x in md.splitlines() if "Tagger" in x)
    header = next(x for x in md.splitlines() if x.startswith("|"))
    unescaped = lambda text: len(re.findall(r"(?<!\\)\|", text))  # noqa: E731
    assert unescaped(line) == unescaped(header)  # same number of columns as the header
    assert r"My\|Tagger &lt;script&gt;x&lt;/script&gt;" in line and "<script>" not in md
def test_cap_reached_rows_carry_the_mark_in_every_format():
    """Issue 23 item 2: a row whose best dev epoch is the epochs cap in any run is marked (‡) in markdown,
    LaTeX and CSV; a row whose runs stopped early (or selected an earlier epoch) is not."""
    import dataclasses

    from benchmark.report.render import CAP_MARK

    def with_epochs(result, selected: int, run: int, cap: int):
        job = dataclasses.replace(result.job, hparams={"epochs": cap})
        return dataclasses.replace(result, job=job, selected_epoch=selected, epochs_run=run)

    capped = with_epochs(fake("hbilstm-crf", ("en",), "en", False, 1, 0.65), 16, 16, 16)  # still improving at 16
    free = [with_epochs(fake("bilstm-crf", ("en",), "en", False, s, 0.63), 23, 28, 28) for s in (1, 2)]
    early = with_epochs(fake("hbilstm-crf", ("en",), "en", False, 2, 0.64), 15, 16, 16)
    table = get_table(5)
    from benchmark.report.render import build_frame as real_build_frame
    jobs = [(row, r.job) for r in [capped, early, *free] for row in table.rows
            if (row.model, row.test_language, row.use_image) == (r.job.model, "en", False)]
    frame = real_build_frame(table, jobs, {r.job_id: r for r in [capped, early, *free]}, "paper", "mmnerd")
    md = render(frame, "markdown", True)
    assert f"HBiLSTM-CRF{CAP_MARK}" in md and f"BiLSTM-CRF{CAP_MARK}" not in md.replace(f"HBiLSTM-CRF{CAP_MARK}", "")
    assert "cap reached" in md and "English HBiLSTM-CRF (1 of 2 runs)" in md
    tex = render(frame, "latex", True)
    assert r"HBiLSTM-CRF$^{\ddagger}$" in tex and "cap reached" in tex
    rows = {line.split(",")[2]: line for line in render(frame, "csv").splitlines()[1:] if ",en,en," in line}
    header = render(frame, "csv").splitlines()[0].split(",")
    col = header.index("cap_reached_runs")
    assert rows["HBiLSTM-CRF"].split(",")[col] == "1" and rows["BiLSTM-CRF"].split(",")[col] == "0"
    # without a binding cap: no mark, no note, no column
    frame = real_build_frame(table, [j for j in jobs if j[1].model == "bilstm-crf"],
                             {r.job_id: r for r in free}, "paper", "mmnerd")
    assert CAP_MARK not in render(frame, "markdown") and "cap_reached_runs" not in render(frame, "csv")


def test_word_vectors_other_than_the_papers_are_named_and_a_50d_run_is_a_labelled_variant():
    """Issue 26 item 2: a row trained with GloVe 6B 50d is labelled as such in every format (never shown
    as the papers' 300d recipe); word2vec rows get a note; rows with the papers' 300d vectors neither."""
    import dataclasses

    def with_vectors(result, vectors):
        return dataclasses.replace(result, job=dataclasses.replace(result.job, hparams={"epochs": 1, "embeddings": vectors}))

    table = get_table(5)
    from benchmark.report.render import build_frame as real_build_frame

    def frame_for(vectors_by_model):
        results = [with_vectors(fake(m, ("en",), "en", False, 1, 0.6), v) for m, v in vectors_by_model.items()]
        jobs = [(row, r.job) for r in results for row in table.rows
                if (row.model, row.test_language, row.use_image) == (r.job.model, "en", False)]
        return real_build_frame(table, jobs, {r.job_id: r for r in results}, "paper", "mmnerd")

    frame = frame_for({"bilstm-crf": "glove.6B.50d", "hbilstm-crf": None})
    md, tex, csv_text = render(frame, "markdown", True), render(frame, "latex", True), render(frame, "csv")
    assert "BiLSTM-CRF (GloVe 6B 50d)" in md and "BiLSTM-CRF (GloVe 6B 50d)" in tex
    header = csv_text.splitlines()[0].split(",")
    by_method = {line.split(",")[2]: line.split(",") for line in csv_text.splitlines()[1:] if ",en,en," in line}
    assert by_method["BiLSTM-CRF"][header.index("word_vectors")] == "GloVe 6B 50d"
    assert by_method["HBiLSTM-CRF"][header.index("word_vectors")] == "word2vec"
    assert "HBiLSTM-CRF (" not in md  # word2vec, the registered default: a note, not a new name
    note = next(line for line in md.splitlines() if "Word vectors" in line)
    assert "GloVe 6B 50d: English BiLSTM-CRF" in note and "word2vec trained here" in note and "HBiLSTM-CRF" in note
    frame = frame_for({"bilstm-crf": "glove.6B.300d"})
    assert "Word vectors" not in render(frame, "markdown") and "BiLSTM-CRF (" not in render(frame, "markdown")


# -- issue 27 item 8: titles name the corpus; blocks without a planned job are not rendered ----------

@pytest.mark.parametrize("kind, name", [("twitter2017", "Twitter-2017"), ("fallback", "built-in synthetic corpus")])
def test_titles_name_the_corpus_the_table_was_computed_on(kind, name):
    frame = build_frame(get_table(5), [fake("bilstm-crf", ("en",), "en", False, 1, 0.5, kind=kind)], kind=kind)
    md, tex = render(frame, "markdown"), render(frame, "latex")
    assert md.splitlines()[0] == f"**Table 5.** Main results on {name}: per-type F1 and overall micro P/R/F1 (%)."
    assert rf"\caption{{Main results on {name}: per-type" in tex and "on MMNERD" not in md + tex
    t7 = render(build_frame(get_table(7), [fake("2m-ner", ("en",), "en", False, 1, 0.5, kind=kind)], kind=kind),
                "markdown")
    assert t7.splitlines()[0] == f"**Table 7.** Multimodal methods run on text only (%). Computed on {name}."
    mmnerd = render(build_frame(get_table(7), [fake("2m-ner", ("en",), "en", False, 1, 0.5)]), "markdown")
    assert mmnerd.splitlines()[0] == "**Table 7.** Multimodal methods run on text only (%)."  # the paper's


def test_report_renders_only_the_blocks_the_plan_has_jobs_for(tiny_corpus, tmp_path):
    from click.testing import CliRunner

    from benchmark.cli import main
    from benchmark.run.plan import PlanOptions, make_plan
    from benchmark.run.store import ResultStore
    from tests.report_cases import fake_for

    en_only = tmp_path / "en_only"
    shutil.copytree(tiny_corpus.root / "train_valid_test_en", en_only / "train_valid_test_en")
    results = tmp_path / "res"
    opts = dict(table=5, models=("bilstm-crf",), languages=("en",), scale="smoke")
    ResultStore(results).put(fake_for(make_plan(PlanOptions(**opts, data_dir=str(en_only))).ready[0], 0.5))
    args = ["report", "--table", "5", "--models", "bilstm-crf", "--scale", "smoke", "--results", str(results),
            "--data-dir", str(en_only)]

    def blocks(out) -> list[str]:
        assert out.exit_code == 0, out.output
        return [line.split("|")[1].strip() for line in out.stdout.splitlines()
                if line.startswith("| ") and line.split("|")[1].strip() not in ("", "Language")]

    for extra in ([], ["--languages", "en"]):  # the corpus lacks fr/es/de/all; --languages leaves them out
        out = CliRunner().invoke(main, args + extra)
        assert blocks(out) == ["English"], out.stdout
        assert "Blocks without a planned job not shown: All, French, Spanish, German (--all-blocks shows them)." \
            in out.stdout
    out = CliRunner().invoke(main, args + ["--languages", "en", "--all-blocks"])
    assert blocks(out) == ["All", "English", "French", "Spanish", "German"] and "not shown" not in out.stdout
    # on the four-language corpus, --languages en leaves the other blocks out too
    ResultStore(results).put(fake_for(make_plan(PlanOptions(**opts, data_dir=str(tiny_corpus.root))).ready[0], 0.5))
    out = CliRunner().invoke(main, args[:-1] + [str(tiny_corpus.root), "--languages", "en"])
    assert blocks(out) == ["English"]


def test_documented_tables_command_reproduces_the_committed_render(mmnerd, tmp_path):
    """The `tables/` command of the README / CONTRIBUTING (with --all-blocks) writes tables/table5.md."""
    from pathlib import Path

    from click.testing import CliRunner

    from benchmark.cli import main

    root = Path(__file__).resolve().parent.parent
    contributing = (root / "CONTRIBUTING.md").read_text(encoding="utf-8")
    command = re.search(r"`(bench report --table N [^`]*--output tables/tableN\.F)`", contributing).group(1)
    assert "--all-blocks" in command
    out_file = tmp_path / "table5.md"
    args = command.replace("--table N", "--table 5").replace("--format F", "--format markdown").replace(
        "--output tables/tableN.F", f"--output {out_file}").replace("results/reference", str(root / "results/reference"))
    result = CliRunner().invoke(main, args.split()[1:] + ["--data-dir", str(mmnerd.root)])
    assert result.exit_code == 0, result.output
    assert out_file.read_text(encoding="utf-8") == (root / "tables" / "table5.md").read_text(encoding="utf-8")

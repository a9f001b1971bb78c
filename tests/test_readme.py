"""The README stays true: its test command is what CI runs; its results block matches results/."""
from __future__ import annotations

import re
from pathlib import Path

from benchmark.report.readme import current_block, results_block
from benchmark.run.store import ResultStore

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
    test_cmd = next(b for b in blocks if "pytest" in b)
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmd.strip() in ci


def test_results_section_is_generated_from_results_dir():
    expected = results_block(ResultStore(ROOT / "results" / "reference"))
    assert current_block(ROOT / "README.md") == expected, "README results are stale: run `bench readme`"


def test_rendered_tables_are_up_to_date():
    """tables/tableN.{md,tex,csv} are `bench report --compare-paper` renders of results/ (see README)."""
    from benchmark.report.render import build_frame, render
    from benchmark.report.tables import TABLES, get_table

    results = list(ResultStore(ROOT / "results" / "reference").all())
    for number in TABLES:
        frame = build_frame(get_table(number), results, "paper")
        for fmt, ext, compare in (("markdown", "md", True), ("latex", "tex", True), ("csv", "csv", False)):
            path = ROOT / "tables" / f"table{number}.{ext}"
            assert path.read_text(encoding="utf-8") == render(frame, fmt, compare), f"{path} is stale"


def test_results_block_shows_only_clean_tree_runs_with_enough_seeds(tmp_path):
    """Issue 11 item 8: a dirty-tree or commit-less run never reaches the README; rows need >= 3 seeds."""
    from dataclasses import replace

    from tests.test_render import fake

    def stored(seed: int, f1: float, commit: str | None, dirty: bool | None, model: str = "bilstm-crf"):
        r = fake(model, ("en",), "en", False, seed, f1)
        return replace(r, environment={**r.environment, "commit": commit, "dirty": dirty,
                                       "command": "bench run --table 5 --seeds 3"})

    store = ResultStore(tmp_path)
    for seed, f1 in ((1, 0.60), (2, 0.62), (3, 0.64)):
        store.put(stored(seed, f1, "a" * 40, False))
    store.put(stored(4, 0.99, "b" * 40, True))  # uncommitted changes: must be left out
    store.put(stored(5, 0.99, None, None))  # no recorded commit: left out
    for seed in (1, 2):  # clean, but only two seeds: no README row
        store.put(stored(seed, 0.70, "c" * 40, False, model="hbilstm-crf"))
    block = results_block(store)
    assert "62.00±2.00" in block  # Table 5 cell: mean ± std of the three clean seeds only
    run_rows = [line for line in block.splitlines() if line.startswith("| bilstm-crf")]
    assert len(run_rows) == 1 and "| 3 " in run_rows[0] and "62.00 ± 2.00" in run_rows[0]
    assert "aaaaaaa" in run_rows[0] and "bbbbbbb" not in block
    assert "hbilstm-crf" not in block and "HBiLSTM" not in block
    assert "4 stored paper-profile run(s) left out" in block

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
    from benchmark.report.breakdown import report_frame
    from benchmark.report.render import render
    from benchmark.report.tables import TABLES

    root = ROOT / "results" / "reference"
    results = list(ResultStore(root).all())
    for number in TABLES:
        frame = report_frame(number, results, root, "paper")
        for fmt, ext, compare in (("markdown", "md", True), ("latex", "tex", True), ("csv", "csv", False)):
            path = ROOT / "tables" / f"table{number}.{ext}"
            assert path.read_text(encoding="utf-8") == render(frame, fmt, compare), f"{path} is stale"

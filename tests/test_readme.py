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


def test_results_section_is_generated_from_results_dir(mmnerd):
    expected = results_block(ResultStore(ROOT / "results" / "reference"), str(mmnerd.root))
    assert current_block(ROOT / "README.md") == expected, "README results are stale: run `bench readme`"


def test_rendered_tables_are_up_to_date(mmnerd):
    """tables/tableN.{md,tex,csv} are `bench report --compare-paper --results results/reference` renders
    on MMNERD (see README): the jobs `make_plan` plans with the default options, and nothing else."""
    from benchmark.report.render import build_frame, render
    from benchmark.report.tables import TABLES
    from benchmark.run.plan import PlanOptions, make_plan
    from benchmark.run.store import lookup

    store = ResultStore(ROOT / "results" / "reference")
    for number in TABLES:
        plan = make_plan(PlanOptions(table=number, data_dir=str(mmnerd.root)))
        found, bad = lookup(store, [p.job for p in plan.known])
        assert not bad, bad
        frame = build_frame(plan.table, [(p.row, p.job) for p in plan.known], found, "paper", plan.corpus.kind)
        for fmt, ext, compare in (("markdown", "md", True), ("latex", "tex", True), ("csv", "csv", False)):
            path = ROOT / "tables" / f"table{number}.{ext}"
            assert path.read_text(encoding="utf-8") == render(frame, fmt, compare), f"{path} is stale"

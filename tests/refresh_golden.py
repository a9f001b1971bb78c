"""Rewrite the golden renders in tests/golden/ from the fake results of tests/test_render.py.

The tests only ever *read* these files. After an intended layout change run
``python tests/refresh_golden.py`` from the repository root and review ``git diff tests/golden``.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import test_render as t  # noqa: E402

from benchmark.report.render import render  # noqa: E402
from benchmark.report.tables import get_table  # noqa: E402


def main() -> None:
    out = {}
    frame5 = t.build_frame(get_table(5), t.results_t5())
    for fmt, compare, name in (("markdown", False, "table5.md"), ("markdown", True, "table5_compare.md"),
                               ("latex", False, "table5.tex"), ("latex", True, "table5_compare.tex")):
        out[name] = render(frame5, fmt, compare)
    out["table8.md"] = render(t.build_frame(get_table(8), t.results_t8()), "markdown")
    for number, results in t.OTHER_TABLES:
        frame = t.build_frame(get_table(number), results)
        out[f"table{number}.md"] = render(frame, "markdown", compare_paper=True)
        out[f"table{number}.tex"] = render(frame, "latex")
    for name, text in out.items():
        (t.GOLDEN / name).write_text(text, encoding="utf-8")
        print(f"wrote {t.GOLDEN / name}")


if __name__ == "__main__":
    main()

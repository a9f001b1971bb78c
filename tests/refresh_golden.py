"""Rewrite tests/golden/ from tests/report_cases.py: ``python -m tests.refresh_golden``.

The golden test never writes these files; run this only for an intended change of the layout,
review the diff, and commit the refreshed files in a commit of their own.
"""
from __future__ import annotations

from tests.report_cases import GOLDEN, golden_cases


def main() -> None:
    GOLDEN.mkdir(exist_ok=True)
    for name, make in golden_cases().items():
        path = GOLDEN / name
        text = make()
        old = path.read_text(encoding="utf-8") if path.is_file() else None
        if old != text:
            path.write_text(text, encoding="utf-8")
            print(f"{'updated' if old is not None else 'created'} {path}")


if __name__ == "__main__":
    main()

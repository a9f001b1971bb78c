"""The README's results section, generated from the result store (``bench readme``).

The block between ``<!-- results:start -->`` and ``<!-- results:end -->`` is replaced by the
measured rows of every table (ours beside the paper's) and one line per stored run with the
command that produced it. The runs shown are exactly those ``bench report`` shows: each table is
planned with the paper profile and default options on the given corpus (``make_plan``) and only
those jobs' results are read. A test re-renders it from ``results/`` so it can never go stale.
"""
from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

from benchmark.util.io import write_text

from benchmark.report.render import build_frame, to_markdown
from benchmark.run.plan import PlanOptions, make_plan
from benchmark.run.specs import Result
from benchmark.run.store import ResultStore, lookup
from benchmark.report.tables import TABLES

START, END = "<!-- results:start -->", "<!-- results:end -->"


def results_block(store: ResultStore, data_dir: str | None = None, image_dir: str | None = None) -> str:
    results: dict[str, Result] = {}
    parts: list[str] = []
    for number in TABLES:
        plan = make_plan(PlanOptions(table=number, data_dir=data_dir, image_dir=image_dir))
        found, _ = lookup(store, [p.job for p in plan.known])
        results.update(found)
        frame = build_frame(plan.table, [(p.row, p.job) for p in plan.known], found, "paper", plan.corpus.kind)
        frame.rows = [fr for fr in frame.rows if fr.runs > 0]
        if frame.rows:
            parts.append(to_markdown(frame, compare_paper=True))
    if not parts:
        return "_No paper-profile results stored yet: run `bench run --table 5`._\n"
    runs = []
    for r in sorted(results.values(), key=lambda r: (r.job.model, r.job.setting.label(), r.job.seed)):
        env = r.environment
        runs.append([r.job.model, r.job.setting.label(), r.job.seed, f"{100 * r.test['conlleval']['f1']:.2f}",
                     f"{100 * r.test['strict']['f1']:.2f}", f"{r.selected_epoch}/{r.epochs_run}",
                     f"{r.wall_time_s / 60:.1f}", f"{env.get('device', '?')}, {env.get('torch_threads', '?')} thr",
                     f"`{env.get('command', '?')}`",
                     f"{str(env.get('commit', '?'))[:7]}{' (dirty)' if env.get('dirty') else ''}"])
    parts.append("Stored runs (`results/reference/runs/<model>/<job_id>/`), test F1 at the best dev epoch:\n\n" + tabulate(
        runs, headers=["model", "setting", "seed", "F1", "F1 strict", "epoch/run", "minutes", "hardware", "command",
                      "commit"],
        tablefmt="github", disable_numparse=True) + "\n")
    return "\n".join(parts)


def update_readme(readme: Path, store: ResultStore, data_dir: str | None = None) -> bool:
    """Rewrite the results block in place; returns True when the file changed."""
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        from benchmark.errors import BenchError
        raise BenchError(f"{readme}: no {START} ... {END} block to fill")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{START}\n{results_block(store, data_dir)}{END}{tail}"
    if new != text:
        write_text(readme, new)
        return True
    return False


def current_block(readme: Path) -> str:
    text = readme.read_text(encoding="utf-8")
    return text.split(START, 1)[1].split(END, 1)[0].lstrip("\n")

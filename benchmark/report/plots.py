"""Figures of stored results (matplotlib, PNG and PDF): ``bench plot --table N``.

- Tables 5, 7, 9: F1 per language block, one bar per model, error bars = std over runs.
- Table 6: train-languages x test-language heat map of F1.
- Table 8: F1 of each run per subset (points), their mean, and the ALL row.
- Learning curves per job: dev/test F1 and training loss by epoch, from ``Result.history``.

Figures are built on ``matplotlib.figure.Figure`` (no pyplot state, no backend switch).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Mapping

from benchmark.report.render import Frame, corpus_phrase
from benchmark.run.specs import Result

FORMATS = ("png", "pdf")


def _figure(width: float, height: float):
    from matplotlib.figure import Figure
    return Figure(figsize=(width, height), dpi=120, layout="constrained")


def save(fig, stem: Path) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf``; returns the paths."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for fmt in FORMATS:
        path = stem.with_suffix(f".{fmt}")
        fig.savefig(path, format=fmt)
        out.append(path)
    return out


def _subtitle(frame: Frame) -> str:
    sel = "best-dev epoch" if frame.selection == "dev" else "best-TEST epoch (authors' code)"
    return f"{corpus_phrase(frame)}; profile {frame.scale}; {sel}"


def bars(frame: Frame, column: str = "f1"):
    """Grouped bars: one group per block (language), one bar per measured method, ± std."""
    groups = list(dict.fromkeys(fr.row.group for fr in frame.rows if fr.runs > 0))
    methods = list(dict.fromkeys(fr.row.method for fr in frame.rows if fr.runs > 0))
    fig = _figure(max(6.0, 1.4 * len(groups) + 0.3 * len(methods) * len(groups)), 4.0)
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(methods))
    for k, method in enumerate(methods):
        xs, ys, errs = [], [], []
        for g, group in enumerate(groups):
            fr = next((f for f in frame.rows if f.row.group == group and f.row.method == method and f.runs > 0), None)
            if fr is None or fr.cells[column].value is None:
                continue
            xs.append(g - 0.4 + width * (k + 0.5))
            ys.append(fr.cells[column].value)
            errs.append(fr.cells[column].std or 0.0)
        ax.bar(xs, ys, width, yerr=errs, capsize=2, label=method)
    ax.set_xticks(range(len(groups)), [g or "All" for g in groups])
    ax.set_ylabel(f"{'F1' if column == 'f1' else column} (%)")
    ax.set_title(f"Table {frame.table.number}: {column.upper() if column == 'f1' else column} by model "
                 f"(mean ± std over runs)\n{_subtitle(frame)}", fontsize=9)
    if methods:
        ax.legend(fontsize=7, ncols=min(3, len(methods)))
    return fig


def heatmap(frame: Frame, column: str = "f1"):
    """Table 6: rows = the set of training languages (``English & German`` tested on English and
    ``German & English`` tested on German share one row), columns = test language, colour/text = F1."""
    from benchmark.tables import GROUPS

    names = {code: name for name, code in GROUPS}
    order = [code for _, code in GROUPS]

    def train_key(fr) -> str:
        return " + ".join(names[c] for c in sorted(set(fr.row.train_languages), key=order.index))

    rows = sorted(frame.rows, key=lambda fr: (len(fr.row.train_languages),
                                              [order.index(c) for c in sorted(fr.row.train_languages, key=order.index)]))
    trains = list(dict.fromkeys(train_key(fr) for fr in rows))
    tests = list(dict.fromkeys(fr.row.group for fr in frame.rows))  # blocks = test languages
    grid = [[math.nan] * len(tests) for _ in trains]
    for fr in frame.rows:
        v = fr.cells[column].value
        if v is not None:
            grid[trains.index(train_key(fr))][tests.index(fr.row.group)] = v
    fig = _figure(1.2 * len(tests) + 3.0, 0.35 * len(trains) + 1.8)
    ax = fig.add_subplot()
    im = ax.imshow(grid, aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(tests)), tests)
    ax.set_yticks(range(len(trains)), trains, fontsize=7)
    ax.set_xlabel("test language")
    ax.set_ylabel("training languages")
    for i, row in enumerate(grid):
        for j, v in enumerate(row):
            if not math.isnan(v):
                ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=7, color="white")
    fig.colorbar(im, ax=ax, label="F1 (%)")
    ax.set_title(f"Table {frame.table.number}: F1, train x test\n{_subtitle(frame)}", fontsize=9)
    return fig


def spread(frame: Frame, results: Mapping[str, Result], column: str = "f1"):
    """Table 8: each run's score per row (points), the row mean (bar), the paper's value (x)."""
    from benchmark.metrics import headline

    fig = _figure(6.0, 3.6)
    ax = fig.add_subplot()
    for i, fr in enumerate(frame.rows):
        runs = [headline(results[j].test_max if frame.selection == "test_max" else results[j].test, frame.mode)[column]
                for j in fr.job_ids if j in results]
        ax.scatter([i] * len(runs), runs, s=18, color="tab:blue", zorder=3, label="run" if i == 0 else None)
        if fr.cells[column].value is not None:
            ax.hlines(fr.cells[column].value, i - 0.3, i + 0.3, color="tab:blue", label="mean" if i == 0 else None)
        if fr.cells[column].paper is not None:
            ax.scatter([i], [fr.cells[column].paper], marker="x", color="tab:red", label="paper" if i == 0 else None)
    ax.set_xticks(range(len(frame.rows)), [fr.labels[0] for fr in frame.rows])
    ax.set_ylabel("F1 (%)")
    ax.legend(fontsize=7)
    ax.set_title(f"Table {frame.table.number}: F1 per training subset (each run, mean, paper)\n{_subtitle(frame)}",
                 fontsize=9)
    return fig


def learning_curve(result: Result, mode: str = "conlleval"):
    """Dev and test F1 and the training loss by epoch; the selected epoch marked."""
    hist = result.history
    epochs = [h["epoch"] for h in hist]
    fig = _figure(7.0, 3.0)
    ax_f1, ax_loss = fig.subplots(1, 2)
    for split, style in (("dev", "-o"), ("test", "-s")):
        ax_f1.plot(epochs, [100 * h[split][mode]["f1"] for h in hist], style, markersize=3, label=f"{split} F1")
    ax_f1.axvline(result.selected_epoch, color="grey", linestyle=":", label="selected epoch")
    ax_f1.set_xlabel("epoch")
    ax_f1.set_ylabel("F1 (%)")
    ax_f1.legend(fontsize=7)
    ax_loss.plot(epochs, [h["loss"] for h in hist], "-o", markersize=3, color="tab:red")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("training loss")
    job = result.job
    fig.suptitle(f"{job.model} {job.setting.label()} seed {job.seed} ({job.scale}, {job.corpus_name}) "
                 f"[{result.job_id}]", fontsize=8)
    return fig


def plot_table(frame: Frame, results: Iterable[Result], out_dir: Path, curves: bool = False) -> list[Path]:
    """The table's figure (and, with ``curves``, a learning-curve figure per stored job) under ``out_dir``."""
    by_id = {r.job_id: r for r in results}
    number = frame.table.number
    if number == 6:
        fig = heatmap(frame)
    elif number == 8:
        fig = spread(frame, by_id)
    else:
        fig = bars(frame)
    written = save(fig, out_dir / f"table{number}")
    if curves:
        for fr in frame.rows:
            for job_id in fr.job_ids:
                res = by_id[job_id]
                if res.history:
                    written += save(learning_curve(res, frame.mode), out_dir / "curves" / f"{res.job.model}_{job_id}")
    return written

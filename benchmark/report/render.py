"""From stored results to tables: ``store -> Frame -> Markdown | LaTeX | CSV``.

Reporting runs no model code. A ``Frame`` holds, for each row of a ``TableSpec``, the mean (and
standard deviation over seeds/repeats) of the stored test metrics, the paper's value, and whether
the cell is the best of its column within its block. Rows with fewer runs than the table expects
are flagged, never silently averaged over fewer.
"""
from __future__ import annotations

import csv
import io
import json
import statistics
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from tabulate import tabulate

from benchmark.corpora.registry import corpus_display, corpus_note
from benchmark.metrics import headline
from benchmark.run.specs import JobSpec, Result, Setting
from benchmark.report.tables import COLUMN_LABELS, COLUMNS, Row, TableSpec

DASH = "–"


@dataclass
class Cell:
    value: float | None
    std: float | None
    paper: float | None

    @property
    def delta(self) -> float | None:
        return None if self.value is None or self.paper is None else self.value - self.paper


@dataclass
class FrameRow:
    row: Row
    labels: tuple[str, ...]
    cells: dict[str, Cell]
    runs: int
    expected: int
    job_ids: list[str] = field(default_factory=list)
    best: set[str] = field(default_factory=set)


@dataclass
class Frame:
    table: TableSpec
    rows: list[FrameRow]
    profile: str
    data_kind: str | None
    mode: str
    selection: str
    extra_notes: list[str] = field(default_factory=list)  # hp overrides, substituted images, ...

    def notes(self) -> list[str]:
        out = [f"Ours: entity-level micro P/R/F1 and per-type F1 (%), seqeval "
               f"{'mode=None, scheme=IOB2 (conlleval-style, as the paper)' if self.mode == 'conlleval' else 'strict IOB2'}; "
               f"test score at the {'best dev epoch' if self.selection == 'dev' else 'best test epoch (authors code)'}; "
               f"profile {self.profile}; data {corpus_display(self.data_kind)}."]
        if corpus_note(self.data_kind):
            out.append(corpus_note(self.data_kind))
        if self.profile == "smoke":
            out.append("Smoke profile (small subsets, tiny models): for regression checks, not comparable to the paper.")
        partial = [f"{fr.row.group + ' ' if fr.row.group else ''}{fr.row.method} ({fr.runs}/{fr.expected} runs)"
                   for fr in self.rows if 0 < fr.runs < fr.expected]
        if partial:
            out.append("Incomplete rows, mean of the runs present: " + "; ".join(partial) + ".")
        multi = any(fr.runs > 1 for fr in self.rows)
        if multi:
            out.append("± is the sample standard deviation over runs (seeds or repeats), not a confidence interval.")
        return out + list(self.extra_notes)


def image_note(rows: Iterable[FrameRow], results: Mapping[str, Result]) -> str | None:
    """A footnote for rows whose runs used substituted images (or none at all)."""
    parts = []
    for fr in rows:
        real = substituted = 0
        no_folder = False
        for job_id in fr.job_ids:
            res = results[job_id]
            if not res.job.setting.use_image:
                continue
            imgs = res.counts.get("images") or {}
            real += int(imgs.get("loaded", 0))
            substituted += int(imgs.get("default_used", 0)) + int(imgs.get("blank_used", 0))
            no_folder = no_folder or res.job.image_source == "none"
        if substituted or no_folder:
            label = f"{fr.row.group + ' ' if fr.row.group else ''}{fr.row.method}"
            why = ", no image folder" if no_folder else ""
            parts.append(f"{label} ({substituted} of {real + substituted} image loads substituted{why})")
    if not parts:
        return None
    return "Images substituted by the default/blank image: " + "; ".join(parts) + "."


def build_frame(table: TableSpec, jobs: Iterable[tuple[Row, JobSpec]], results: Mapping[str, Result],
                profile: str = "paper", data_kind: str | None = None, mode: str = "conlleval",
                selection: str = "dev", notes: Iterable[str] = ()) -> Frame:
    """The table's cells from exactly the given jobs' stored results (``results`` keyed by job id).

    ``jobs`` are ``(row, job)`` pairs from the plan (``benchmark.run.plan.make_plan``); a result
    that is not one of them never reaches a cell, whatever else the results folder holds.
    """
    by_row: dict[Row, list[JobSpec]] = {}
    for row, job in jobs:
        by_row.setdefault(row, []).append(job)
    rows: list[FrameRow] = []
    for row in table.rows:
        planned = by_row.get(row, [])
        found = [results[j.job_id] for j in planned if j.job_id in results]
        metrics = [headline(r.test_max if selection == "test_max" else r.test, mode) for r in found]
        cells = {}
        for col in COLUMNS:
            vals = [m[col] for m in metrics]
            value = statistics.fmean(vals) if vals else None
            std = statistics.stdev(vals) if len(vals) > 1 else None
            cells[col] = Cell(value, std, row.paper.get(col))
        expected = len(planned) if planned else max(row.repeats, 1)
        rows.append(FrameRow(row, table.label_of(row), cells, len(found), expected,
                             sorted(r.job_id for r in found)))
    if table.bold_best:
        for group in dict.fromkeys(fr.row.group for fr in rows):
            members = [fr for fr in rows if fr.row.group == group]
            for col in COLUMNS:
                vals = [fr.cells[col].value for fr in members if fr.cells[col].value is not None]
                if len(vals) < 2:
                    continue
                top = max(vals)
                for fr in members:
                    if fr.cells[col].value is not None and round(fr.cells[col].value, 2) == round(top, 2):
                        fr.best.add(col)
    extra = list(notes)
    img = image_note(rows, results)
    if img:
        extra.append(img)
    return Frame(table, rows, profile, data_kind, mode, selection, extra)


def _differences(planned: JobSpec, stored: Mapping[str, Any]) -> list[str]:
    """How a stored job description differs from a planned job of the same model and setting."""
    out = []
    for key, label in (("profile", "profile"), ("data_kind", "corpus"), ("data_fingerprint", "corpus files"),
                       ("seed", "seed")):
        if stored.get(key) != getattr(planned, key):
            out.append(f"{label} {stored.get(key)}")
    if planned.setting.use_image and stored.get("image_source", "unrecorded") != planned.image_source:
        out.append(f"image source {stored.get('image_source', 'unrecorded')}")
    hp = stored.get("hparams") or {}
    changed = [k for k in sorted(set(hp) | set(planned.hparams)) if hp.get(k) != planned.hparams.get(k)]
    if 0 < len(changed) <= 3:
        out.append("hp " + ",".join(f"{k}={json.dumps(hp.get(k))}" for k in changed))
    elif changed:
        out.append(f"hp differing in {len(changed)} keys ({', '.join(changed[:3])}, ...)")
    return out


def describe_other_results(jobs: Iterable[JobSpec], stored: Iterable[tuple[Any, Mapping[str, Any] | None]]) -> str:
    """What a results folder holds instead of the planned jobs (for 'no result matches')."""
    planned = {}
    for job in jobs:
        planned.setdefault((job.model, json.dumps(job.setting.to_json(), sort_keys=True)), job)
    counts: dict[str, int] = {}
    others = 0
    for _, job in stored:
        if job is None:
            continue
        try:

            key = (job["model"], json.dumps(Setting.from_json(job["setting"]).to_json(), sort_keys=True))
        except (KeyError, TypeError, ValueError):
            continue
        match = planned.get(key)
        if match is None:
            others += 1
            continue
        for diff in _differences(match, job) or ["the same identity (unreadable result)"]:
            counts[diff] = counts.get(diff, 0) + 1
    parts = [f"{n} with {what}" for what, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:6]]
    if others:
        parts.append(f"{others} of other models/settings")
    return "; ".join(parts) if parts else "no results at all"


# ---------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------

def _fmt(value: float | None) -> str:
    return DASH if value is None else f"{value:.2f}"


def _signed(value: float) -> str:
    return f"{value:+.2f}".replace("-", "−")


def _md_cell(cell: Cell, bold: bool, compare: bool) -> str:
    if cell.value is None:
        text = DASH
    else:
        text = _fmt(cell.value) + (f"±{cell.std:.2f}" if cell.std is not None else "")
        if bold:
            text = f"**{text}**"
    if compare:
        paper = _fmt(cell.paper)
        delta = f", {_signed(cell.delta)}" if cell.delta is not None else ""
        text = f"{text} ({paper}{delta})"
    return text


def _has_groups(frame: Frame) -> bool:
    return frame.table.show_groups and any(fr.row.group for fr in frame.rows)


def to_markdown(frame: Frame, compare_paper: bool = False) -> str:
    grouped = _has_groups(frame)
    headers = (["Language"] if grouped else []) + list(frame.table.label_columns) + [COLUMN_LABELS[c] for c in COLUMNS]
    body = []
    last_group = None
    for fr in frame.rows:
        lead = []
        if grouped:
            lead = [fr.row.group if fr.row.group != last_group else ""]
            last_group = fr.row.group
        body.append(lead + list(fr.labels) + [_md_cell(fr.cells[c], c in fr.best, compare_paper) for c in COLUMNS])
    title = f"**Table {frame.table.number}.** {frame.table.caption}"
    if compare_paper:
        title += " Each cell: ours (paper, Δ = ours − paper)."
    table = tabulate(body, headers=headers, tablefmt="github", disable_numparse=True,
                     colalign=["left"] * (len(headers) - len(COLUMNS)) + ["right"] * len(COLUMNS))
    notes = "\n".join(f"- {n}" for n in frame.notes())
    return f"{title}\n\n{table}\n\n{notes}\n"


# ---------------------------------------------------------------------------------------------
# LaTeX (booktabs)
# ---------------------------------------------------------------------------------------------

_TEX_ESCAPES = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}


def tex_escape(text: str) -> str:
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in text)


def _tex_num(value: float) -> str:
    return f"{value:.2f}".replace("-", "$-$")


def _tex_cell(cell: Cell, bold: bool, compare: bool) -> str:
    if cell.value is None:
        text = "--"
    else:
        text = _tex_num(cell.value)
        if cell.std is not None:
            text += r"$\pm$" + f"{cell.std:.2f}"
        if bold:
            text = r"\textbf{" + text + "}"
    if compare:
        paper = "--" if cell.paper is None else f"{cell.paper:.2f}"
        delta = "" if cell.delta is None else ", " + (f"{cell.delta:+.2f}".replace("-", "$-$"))
        text += r" {\scriptsize(" + paper + delta + ")}"
    return text


def to_latex(frame: Frame, compare_paper: bool = False) -> str:
    labels = list(frame.table.label_columns)
    ncols = len(labels) + len(COLUMNS)
    lines = [
        "% Generated by `bench report` (mmner-bench). Requires \\usepackage{booktabs}.",
        r"\begin{table*}[t]",
        r"\centering",
        r"\caption{" + tex_escape(frame.table.caption)
        + (r" Each cell: ours (paper, $\Delta$ = ours $-$ paper)." if compare_paper else "") + "}",
        rf"\label{{tab:mmner-bench-{frame.table.number}}}",
        r"\begin{tabular}{" + "l" * len(labels) + "r" * len(COLUMNS) + "}",
        r"\toprule",
        " & ".join([tex_escape(x) for x in labels] + [COLUMN_LABELS[c] for c in COLUMNS]) + r" \\",
        r"\midrule",
    ]
    grouped = _has_groups(frame)
    last_group = None
    for fr in frame.rows:
        if grouped and fr.row.group != last_group:
            if last_group is not None:
                lines.append(r"\midrule")
            lines.append(rf"\multicolumn{{{ncols}}}{{l}}{{\textit{{{tex_escape(fr.row.group)}}}}} \\")
            last_group = fr.row.group
        cells = [tex_escape(x) for x in fr.labels] + [_tex_cell(fr.cells[c], c in fr.best, compare_paper) for c in COLUMNS]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines.append(r"\par\smallskip\footnotesize " + tex_escape(" ".join(frame.notes())))
    lines.append(r"\end{table*}")
    return "\n".join(lines) + "\n"


def latex_document(body: str) -> str:
    """A minimal standalone document around a rendered table (used to test it compiles)."""
    return ("\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage[utf8]{inputenc}\n"
            "\\usepackage{booktabs}\n\\usepackage[margin=1cm,landscape]{geometry}\n"
            "\\begin{document}\n" + body + "\\end{document}\n")


# ---------------------------------------------------------------------------------------------
# CSV (one row per table row, for machines)
# ---------------------------------------------------------------------------------------------

def to_csv(frame: Frame) -> str:
    buf = io.StringIO()
    fields = ["table", "group", "method", "model", "modality", "train_languages", "test_language", "use_image",
              "fold", "runs", "expected_runs", "profile", "data_kind", "metric_mode", "selection"]
    for c in COLUMNS:
        fields += [c, f"{c}_std", f"{c}_paper", f"{c}_delta"]
    fields.append("job_ids")
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for fr in frame.rows:
        r = fr.row
        rec = {"table": frame.table.number, "group": r.group, "method": r.method, "model": r.model,
               "modality": r.modality, "train_languages": "+".join(r.train_languages),
               "test_language": r.test_language, "use_image": r.use_image, "fold": r.fold or "",
               "runs": fr.runs, "expected_runs": fr.expected, "profile": frame.profile,
               "data_kind": frame.data_kind or "", "metric_mode": frame.mode, "selection": frame.selection,
               "job_ids": " ".join(fr.job_ids)}
        for c in COLUMNS:
            cell = fr.cells[c]
            rec[c] = "" if cell.value is None else f"{cell.value:.4f}"
            rec[f"{c}_std"] = "" if cell.std is None else f"{cell.std:.4f}"
            rec[f"{c}_paper"] = "" if cell.paper is None else f"{cell.paper:.2f}"
            rec[f"{c}_delta"] = "" if cell.delta is None else f"{cell.delta:.4f}"
        writer.writerow(rec)
    return buf.getvalue()


def render(frame: Frame, fmt: str, compare_paper: bool = False) -> str:
    if fmt == "markdown":
        return to_markdown(frame, compare_paper)
    if fmt == "latex":
        return to_latex(frame, compare_paper)
    if fmt == "csv":
        return to_csv(frame)
    raise ValueError(f"unknown format {fmt!r}")

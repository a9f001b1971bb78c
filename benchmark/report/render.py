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
import re
import statistics
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Callable, Iterable, Mapping, Sequence

from tabulate import tabulate

from benchmark.corpora.registry import corpus_display, corpus_note
from benchmark.metrics import headline
from benchmark.run.code import current_digest, stored_digest
from benchmark.run.specs import JobSpec, Result, Setting
from benchmark.tables import COLUMN_LABELS, COLUMNS, Row, TableSpec
from benchmark.weights import AUTO_EMBEDDINGS

DASH = "–"
SELECTION_MARK = "†"  # a value selected on the test set (--selection test_max)
SIGNIFICANCE_MARK = "*"  # differs significantly from the block's reference row
CAP_MARK = "‡"  # a run of the row selected its last allowed epoch: the epochs cap bound (issue 23)
CODE_MARK = "§"  # the row's runs differ in their code digest (mixed) or from this checkout's (stale)


@dataclass(frozen=True)
class SignificanceInfo:
    """How ``Cell.p`` was computed (for the caption)."""

    test: str  # "bootstrap" or "randomisation"
    alpha: float
    samples: int
    reference: str  # printed name of the reference row, e.g. "2M-NER"
    skipped: tuple[str, ...] = ()  # rows without stored predictions

    def note(self) -> str:
        name = ("paired bootstrap over test sentences" if self.test == "bootstrap"
                else "approximate randomisation (paired, sentence-level swaps)")
        text = (f"{SIGNIFICANCE_MARK} differs from {self.reference} of the same block on the same test sentences: "
                f"{name}, {self.samples} samples, two-sided p < {self.alpha:g} (runs pooled over seeds).")
        if self.skipped:
            text += " Not tested (no stored predictions): " + ", ".join(self.skipped) + "."
        return text


@dataclass
class Cell:
    value: float | None
    std: float | None
    paper: float | None
    p: float | None = None  # p-value of the difference to the block's reference row (--significance)

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
    capped: int = 0  # runs whose selected (best dev) epoch is the last allowed one (hparams["epochs"])
    vectors: str | None = None  # word vectors when not the papers' GloVe 6B 300d (``vectors_label``)
    code: str = ""  # "mixed" / "stale" (see code_state), "" when one known version equals the current code
    code_detail: str = ""


@dataclass
class Frame:
    table: TableSpec
    rows: list[FrameRow]
    scale: str
    corpus_name: str | None
    mode: str
    selection: str
    significance: "SignificanceInfo | None" = None
    extra_notes: list[str] = field(default_factory=list)

    def notes(self) -> list[str]:
        # the rendered text calls the scale "profile", as the committed renders and goldens have it
        out = [f"Ours: entity-level micro P/R/F1 and per-type F1 (%), seqeval "
               f"{'mode=None, scheme=IOB2 (conlleval-style, as the paper)' if self.mode == 'conlleval' else 'strict IOB2'}; "
               f"test score at the {'best dev epoch' if self.selection == 'dev' else 'best test epoch (authors code)'}; "
               f"profile {self.scale}; data {corpus_display(self.corpus_name)}."]
        if corpus_note(self.corpus_name):
            out.append(corpus_note(self.corpus_name))
        if self.scale == "smoke":
            out.append("Smoke profile (small subsets, tiny models): for regression checks, not comparable to the paper.")
        partial = [f"{fr.row.group + ' ' if fr.row.group else ''}{fr.row.method} ({fr.runs}/{fr.expected} runs)"
                   for fr in self.rows if 0 < fr.runs < fr.expected]
        if partial:
            out.append("Incomplete rows, mean of the runs present: " + "; ".join(partial) + ".")
        multi = any(fr.runs > 1 for fr in self.rows)
        if multi:
            out.append("± is the sample standard deviation over runs (seeds or repeats), not a confidence interval.")
        if self.selection == "test_max":
            out.append(f"{SELECTION_MARK} every value is the test score at the best TEST epoch (the authors' "
                       "released code), not the paper's dev-based selection: optimistic.")
        if self.significance is not None:
            out.append(self.significance.note())
        capped = [f"{fr.row.group + ' ' if fr.row.group else ''}{fr.row.method} ({fr.capped} of {fr.runs} runs)"
                  for fr in self.rows if fr.capped]
        if capped:
            out.append(f"{CAP_MARK} cap reached: the best dev epoch is the last allowed epoch (the epochs cap) in "
                       "some runs, so the model may not have converged: " + "; ".join(capped) + ".")
        vectors = vectors_note(self.rows)  # from the rows shown (a caller may drop some, as `bench readme` does)
        if vectors:
            out.append(vectors)
        coded = code_rows(self.rows)
        if coded:
            out.append(f"{CODE_MARK} code changed: the runs of a row ran at different versions of the code that can "
                       "change their numbers (mixed), or at another version than this checkout's (stale); "
                       "bench code lists each run's digest: " + "; ".join(coded) + ".")
        extra = [fr.row.method for fr in self.rows if fr.row.extension and fr.runs > 0]
        if extra:
            out.append("Rows not in the paper: " + ", ".join(dict.fromkeys(extra)) + ".")
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


def row_label(fr: FrameRow) -> str:
    return f"{fr.row.group + ' ' if fr.row.group else ''}{fr.row.method}"


def code_state(results: Sequence[Result], current: str | None) -> tuple[str, str]:
    """``(state, detail)`` of a row's runs: ``mixed`` (more than one recorded code digest),
    ``stale`` (one, and it differs from ``current``, this checkout's) or ``""``. A run that recorded
    no digest (it predates it: ``bench code --backfill``) is counted in the detail, never guessed.
    The detail names no digest, so a render changes only when a row's state does."""
    digests = [stored_digest(r.environment) for r in results]
    known = [d for d in digests if d]
    unknown = len(digests) - len(known)
    tail = f", {unknown} without a digest" if unknown else ""
    at_current = sum(d == current for d in known)
    if len(set(known)) > 1:
        return "mixed", (f"mixed: {len(set(known))} code versions over {len(known)} runs, "
                         f"{at_current} at the current code{tail}")
    if known and current is not None and known[0] != current:
        return "stale", f"stale: {len(known)} run(s) at one code version, not the current one{tail}"
    return "", ""


def code_rows(rows: Iterable[FrameRow]) -> list[str]:
    """``"label (detail)"`` of every mixed or stale row (the footnote and ``--strict-code``)."""
    return [f"{row_label(fr)} ({fr.code_detail})" for fr in rows if fr.code]


def cap_reached(result: Result) -> bool:
    """Whether the run stopped at its epochs cap with the cap as its best dev epoch
    (``selected_epoch == epochs_run == hparams["epochs"]``): it was still improving when stopped."""
    cap = result.job.hparams.get("epochs")
    return isinstance(cap, int) and result.selected_epoch == result.epochs_run == cap


PAPER_VECTORS = AUTO_EMBEDDINGS  # glove.6B.300d: the word vectors of the papers' LSTM taggers and AdaCAN


def vectors_label(value: Any) -> str | None:
    """A short name of a job's word vectors (``hparams["embeddings"]``) when they are not the papers'
    GloVe 6B 300d: ``word2vec`` (trained here on the training split), ``GloVe 6B 50d``, or a file's name."""
    if value in (PAPER_VECTORS, "auto"):
        return None
    if value is None:
        return "word2vec"
    match = re.fullmatch(r"glove\.(\d+B)\.(\d+)d", str(value))
    return f"GloVe {match[1]} {match[2]}d" if match else f"vectors {PurePath(str(value)).name}"


def variant_vectors(label: str | None) -> str | None:
    """``label`` (a ``vectors_label``) when it makes a row a word-vector variant of the registered
    recipe, to be named beside the row (anything but word2vec trained here, the default); else None."""
    return label if label and label != "word2vec" else None


def _vectors(planned: Sequence[JobSpec]) -> str | None:
    """The row's word vectors' label (see ``vectors_label``); None for models without word vectors."""
    values = {json.dumps(j.hparams["embeddings"]) for j in planned if "embeddings" in j.hparams}
    labels = sorted({str(vectors_label(json.loads(v))) for v in values})
    return " / ".join(labels) if labels and labels != ["None"] else None


def vectors_note(rows: Iterable[FrameRow]) -> str | None:
    """Which rows' word vectors differ from the papers' GloVe 6B 300d (a variant, never the papers' recipe)."""
    groups: dict[str, list[str]] = {}
    for fr in rows:
        if fr.vectors and fr.runs:
            groups.setdefault(fr.vectors, []).append(f"{fr.row.group + ' ' if fr.row.group else ''}{fr.row.method}")
    if not groups:
        return None
    names = {"word2vec": "word2vec trained here on the training split (the suite's default while GloVe 6B 300d "
                         "is not in the weights folder)"}
    return ("Word vectors: the papers used GloVe 6B 300d; these rows did not: "
            + "; ".join(f"{names.get(k, k)}: {', '.join(dict.fromkeys(v))}" for k, v in sorted(groups.items())) + ".")


def build_frame(table: TableSpec, jobs: Iterable[tuple[Row, JobSpec]], results: Mapping[str, Result],
                scale: str = "paper", corpus_name: str | None = None, mode: str = "conlleval",
                selection: str = "dev", notes: Iterable[str] = (),
                current_code: Callable[[str], str | None] = current_digest) -> Frame:
    """The table's cells from exactly the given jobs' stored results (``results`` keyed by job id);
    ``current_code(model)`` is the digest a row's runs are compared with (``code_state``).

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
        capped = sum(cap_reached(r) for r in found)
        labels = table.label_of(row)
        vectors = _vectors(planned)
        if variant_vectors(vectors):  # a variant of the registered recipe: named in the row
            labels = (f"{labels[0]} ({vectors})",) + tuple(labels[1:])
        if capped:
            labels = (labels[0] + CAP_MARK,) + tuple(labels[1:])
        code, code_detail = code_state(found, current_code(row.model)) if found else ("", "")
        if code:
            labels = (labels[0] + CODE_MARK,) + tuple(labels[1:])
        rows.append(FrameRow(row, labels, cells, len(found), expected,
                             sorted(r.job_id for r in found), capped=capped, vectors=vectors, code=code,
                             code_detail=code_detail))
    if table.bold_best:
        mark_best(rows)
    extra = list(notes)
    img = image_note(rows, results)
    if img:
        extra.append(img)
    return Frame(table, rows, scale, corpus_name, mode, selection, extra_notes=extra)


def _differences(planned: JobSpec, stored: Mapping[str, Any]) -> list[str]:
    """How a stored job description differs from a planned job of the same model and setting."""
    out = []
    ident = planned.identity()  # keyed as stored (JobSpec.identity)
    for key, label in (("profile", "scale"), ("data_kind", "corpus"), ("data_fingerprint", "corpus files"),
                       ("seed", "seed")):
        if stored.get(key) != ident[key]:
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


def mark_best(rows: list[FrameRow]) -> None:
    """Flag the best value (2 decimals, ties all flagged) of each column within each block."""
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


# ---------------------------------------------------------------------------------------------
# Shared pieces: marks, n, captions
# ---------------------------------------------------------------------------------------------

def _marks(frame: Frame, cell: Cell) -> str:
    """``†`` for a test-selected value, ``*`` for a significant difference to the block's reference."""
    if cell.value is None:
        return ""
    out = SELECTION_MARK if frame.selection == "test_max" else ""
    if frame.significance is not None and cell.p is not None and cell.p < frame.significance.alpha:
        out += SIGNIFICANCE_MARK
    return out


def _show_n(frame: Frame) -> bool:
    return any(fr.runs > 1 or fr.expected > 1 for fr in frame.rows)


def _n(fr: FrameRow) -> str:
    if fr.runs == 0:
        return DASH
    return str(fr.runs) if fr.runs >= fr.expected else f"{fr.runs}/{fr.expected}"


def corpus_phrase(frame: Frame) -> str:
    """The corpus the numbers come from, in words."""
    langs = sorted({fr.row.test_language for fr in frame.rows if fr.runs > 0})
    where = f" (test sets: {', '.join(langs)})" if langs else ""
    if frame.corpus_name is None:
        return "no stored results"
    note = corpus_note(frame.corpus_name)
    return f"{corpus_display(frame.corpus_name)}{where}" + (f" ({note.rstrip('.')})" if note else "")


def table_caption(frame: Frame) -> str:
    """The table's caption naming the corpus the frame was computed on: ``{corpus}`` in a caption
    is that corpus's name; a caption without it gets "Computed on <corpus>." off MMNERD."""
    name = corpus_display(frame.corpus_name) if frame.corpus_name else "MMNERD"
    caption = frame.table.caption
    if "{corpus}" in caption:
        return caption.replace("{corpus}", name)
    return caption if frame.corpus_name in (None, "mmnerd") else f"{caption} Computed on {name}."


def caption_text(frame: Frame, compare_paper: bool) -> str:
    """The full caption: the table's own, the corpus, metric, selection protocol, ±, n, marks."""
    parts = [table_caption(frame), f"Data: {corpus_phrase(frame)}; profile {frame.scale}."]
    metric = ("seqeval mode=None, scheme=IOB2 (conlleval-style, as the paper)" if frame.mode == "conlleval"
              else "seqeval strict IOB2")
    parts.append(f"Entity-level micro P/R/F1 and per-type F1, {metric}.")
    if frame.selection == "dev":
        parts.append("Each run: the test score at the epoch with the best dev F1 (the paper's protocol).")
    else:
        parts.append(f"{SELECTION_MARK} Each run: the test score at the epoch with the best TEST F1 (the authors' "
                     "released code's protocol), an optimistic estimate.")
    if _show_n(frame):
        parts.append("Values are means over the n runs of a row (seeds or repeats); ± is the sample standard "
                     "deviation over those runs (not a confidence interval); a/b = a of the b planned runs.")
    else:
        parts.append("One run per row; no ± (a single run has no spread).")
    if compare_paper:
        parts.append("Under each value: the paper's value and Δ = ours − paper.")
    if frame.table.bold_best:
        parts.append("Bold: the best value of each column within a block.")
    if frame.significance is not None:
        parts.append(frame.significance.note())
    for note in frame.notes()[1:]:  # fallback/smoke/incomplete/extension notes
        if note.startswith(("±", SELECTION_MARK, SIGNIFICANCE_MARK)):
            continue
        parts.append(note)
    return " ".join(parts)


# ---------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------

def _fmt(value: float | None) -> str:
    return DASH if value is None else f"{value:.2f}"


def _signed(value: float) -> str:
    return f"{value:+.2f}".replace("-", "−")


def _md_cell(cell: Cell, bold: bool, compare: bool, marks: str = "") -> str:
    if cell.value is None:
        text = DASH
    else:
        text = _fmt(cell.value) + (f"±{cell.std:.2f}" if cell.std is not None else "")
        if bold:
            text = f"**{text}**"
        text += marks
    if compare:
        paper = _fmt(cell.paper)
        delta = f", {_signed(cell.delta)}" if cell.delta is not None else ""
        text = f"{text} ({paper}{delta})"
    return text


_MD_ESCAPES = str.maketrans({"|": r"\|", "<": "&lt;", ">": "&gt;"})


def md_escape(text: str) -> str:
    """Text from data or plugins (display names, groups) made safe for a Markdown table cell:
    a ``|`` cannot split the column, raw HTML is shown as text."""
    return text.translate(_MD_ESCAPES)


def _has_groups(frame: Frame) -> bool:
    return frame.table.show_groups and any(fr.row.group for fr in frame.rows)


def to_markdown(frame: Frame, compare_paper: bool = False) -> str:
    grouped = _has_groups(frame)
    show_n = _show_n(frame)
    headers = (([frame.table.group_label] if grouped else []) + list(frame.table.label_columns) + (["n"] if show_n else [])
               + [COLUMN_LABELS[c] for c in COLUMNS])
    body = []
    last_group = None
    for fr in frame.rows:
        lead = []
        if grouped:
            lead = [md_escape(fr.row.group) if fr.row.group != last_group else ""]
            last_group = fr.row.group
        body.append(lead + [md_escape(label) for label in fr.labels] + ([_n(fr)] if show_n else [])
                    + [_md_cell(fr.cells[c], c in fr.best, compare_paper, _marks(frame, fr.cells[c])) for c in COLUMNS])
    title = f"**Table {frame.table.number}.** {md_escape(table_caption(frame))}"
    if compare_paper:
        title += " Each cell: ours (paper, Δ = ours − paper)."
    table = tabulate(body, headers=headers, tablefmt="github", disable_numparse=True,
                     colalign=["left"] * (len(headers) - len(COLUMNS)) + ["right"] * len(COLUMNS))
    notes = "\n".join(f"- {n}" for n in frame.notes())
    return f"{title}\n\n{table}\n\n{notes}\n"


# ---------------------------------------------------------------------------------------------
# LaTeX (booktabs; Table 5 on landscape pages with pdflscape)
# ---------------------------------------------------------------------------------------------

_TEX_ESCAPES = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
                "±": r"$\pm$", "Δ": r"$\Delta$", "−": r"$-$", "–": "--", "†": r"$^{\dagger}$", "‡": r"$^{\ddagger}$", "§": r"$^{\S}$", "×": r"$\times$",
                "≥": r"$\geq$", "≤": r"$\leq$"}
TEX_PREAMBLE = r"\usepackage{booktabs}" + "\n" + r"\usepackage{pdflscape}"
# Float height budgets (pt) for the rows of one float: a portrait page (article: 550pt text height)
# and a landscape page (345pt), less caption and header. Longer tables continue in further floats.
_PAGE = {"portrait": 550.0, "landscape": 345.0}  # article text height / text width (pt)
_CAPTION_CHARS = {"portrait": 90, "landscape": 140}  # caption characters per line (10pt)
_RESERVED = 60.0  # rules, header row, caption skip
_LINE = 9.0  # one \scriptsize line in a tabular
_SMALL_LINE = 6.5  # each further \tiny line of a stacked cell


def tex_escape(text: str) -> str:
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in text)


def _tex_num(value: float) -> str:
    return f"{value:.2f}".replace("-", "$-$")


def _tex_signed(value: float) -> str:
    return f"{value:+.2f}".replace("-", "$-$").replace("+", "$+$")


def _tex_marks(marks: str) -> str:
    return "" if not marks else "$^{" + marks.replace(SELECTION_MARK, r"\dagger").replace(SIGNIFICANCE_MARK, "*") + "}$"


def _tex_lines(cell: Cell, bold: bool, compare: bool, marks: str, wide: bool) -> list[str]:
    """The lines of one cell: the value (bold if best, marks), then in a smaller font the std and,
    with ``compare``, the paper's value and Δ (one line on a wide page, two otherwise)."""
    if cell.value is None:
        lines = ["--"]
    else:
        value = _tex_num(cell.value)
        lines = [(r"\textbf{" + value + "}" if bold else value) + _tex_marks(marks)]
        if cell.std is not None:
            std = r"{\tiny$\pm$" + f"{cell.std:.2f}" + "}"
            if wide:
                lines[0] += std
            else:
                lines.append(std)
    if compare:
        paper = "--" if cell.paper is None else f"{cell.paper:.2f}"
        delta = "" if cell.delta is None else _tex_signed(cell.delta)
        if wide:
            lines.append(r"{\tiny " + paper + (f" ({delta})" if delta else "") + "}")
        else:
            lines.append(r"{\tiny " + paper + "}")
            if delta:
                lines.append(r"{\tiny $\Delta$" + delta + "}")
    return lines


def _stack(lines: list[str]) -> str:
    if len(lines) == 1:
        return lines[0]
    return r"\begin{tabular}[t]{@{}r@{}}" + r"\\[-1pt]".join(lines) + r"\end{tabular}"


def _latex_chunks(frame: Frame, heights: list[float], budget: float, more: float) -> list[list[int]]:
    """Row indices per float: whole blocks (or single rows, for a block taller than a page)."""
    blocks: list[list[int]] = []
    for i, fr in enumerate(frame.rows):
        if blocks and frame.rows[blocks[-1][0]].row.group == fr.row.group:
            blocks[-1].append(i)
        else:
            blocks.append([i])
    chunks: list[list[int]] = [[]]
    used, first = 0.0, budget
    for block in blocks:
        need = sum(heights[i] for i in block) + _LINE
        if chunks[-1] and used + need > budget:
            chunks.append([])
            used, budget = 0.0, first + more
        for i in block:
            if chunks[-1] and used + heights[i] + _LINE > budget:
                chunks.append([])
                used, budget = 0.0, first + more
            chunks[-1].append(i)
            used += heights[i]
        used += _LINE
    return chunks


def _constant_labels(frame: Frame) -> dict[int, str]:
    """Label columns with one value in every row (printed once, in the caption, not per row)."""
    if len(frame.rows) < 2:
        return {}
    return {i: frame.rows[0].labels[i] for i in range(len(frame.table.label_columns))
            if len({fr.labels[i] for fr in frame.rows}) == 1 and len(frame.table.label_columns) > 1}


def to_latex(frame: Frame, compare_paper: bool = False) -> str:
    wide = frame.table.wide
    show_n = _show_n(frame)
    constant = _constant_labels(frame)
    kept = [i for i in range(len(frame.table.label_columns)) if i not in constant]
    label_cols = [frame.table.label_columns[i] for i in kept]
    labels = label_cols + (["$n$"] if show_n else [])
    ncols = len(labels) + len(COLUMNS)
    grouped = _has_groups(frame)
    rendered: list[list[str]] = []
    heights: list[float] = []
    for fr in frame.rows:
        cells = [_tex_lines(fr.cells[c], c in fr.best, compare_paper, _marks(frame, fr.cells[c]), wide) for c in COLUMNS]
        heights.append(_LINE + _SMALL_LINE * (max(len(c) for c in cells) - 1) + 1.0)
        rendered.append([tex_escape(fr.labels[i]) for i in kept] + ([tex_escape(_n(fr))] if show_n else [])
                        + [_stack(c) for c in cells])
    page = "landscape" if wide else "portrait"
    caption = caption_text(frame, compare_paper)
    caption_height = 12.0 * (len(caption) // _CAPTION_CHARS[page] + 1)
    chunks = _latex_chunks(frame, heights, _PAGE[page] - _RESERVED - caption_height, caption_height - 12.0)
    out = [f"% Generated by `bench report --table {frame.table.number}` (mmner-bench). "
           r"Requires \usepackage{booktabs}" + (r" and \usepackage{pdflscape}." if wide else ".")]
    if wide:
        out.append(r"\begin{landscape}")
    for k, chunk in enumerate(chunks):
        out += [r"\begin{table}[" + ("p" if wide else "tbp") + "]", r"\centering"]
        if k == 0:
            fixed = "".join(f" {frame.table.label_columns[i]}: {v} (every row)." for i, v in constant.items())
            out.append(r"\caption{" + tex_escape(caption + fixed) + "}")
            out.append(rf"\label{{tab:mmner-bench-{frame.table.number}}}")
        else:
            out.append(r"\addtocounter{table}{-1}")
            out.append(r"\caption{(continued)}")
        sep = "2pt" if len(labels) > 2 and not wide else "3pt"
        out += [r"\scriptsize\setlength{\tabcolsep}{" + sep + "}",
                r"\begin{tabular}{@{}" + "l" * len(label_cols) + "r" * (ncols - len(label_cols)) + "@{}}",
                r"\toprule", " & ".join([tex_escape(x) if x != "$n$" else x for x in labels]
                                        + [COLUMN_LABELS[c] for c in COLUMNS]) + r" \\", r"\midrule"]
        last_group = None
        for i in chunk:
            fr = frame.rows[i]
            if grouped and fr.row.group != last_group:
                if last_group is not None:
                    out.append(r"\midrule")
                heading = fr.row.group if frame.table.group_label == "Language" else f"{frame.table.group_label}: {fr.row.group}"
                out.append(rf"\multicolumn{{{ncols}}}{{@{{}}l}}{{\textit{{{tex_escape(heading)}}}}} \\")
                last_group = fr.row.group
            out.append(" & ".join(rendered[i]) + r" \\")
        out += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    if wide:
        out.append(r"\end{landscape}")
    return "\n".join(out) + "\n"


def latex_document(body: str) -> str:
    """A plain ``article`` (default margins) around a rendered table: what a paper would do."""
    return ("\\documentclass{article}\n" + TEX_PREAMBLE + "\n"
            "\\begin{document}\n" + body + "\\end{document}\n")


# ---------------------------------------------------------------------------------------------
# CSV (one row per table row, for machines)
# ---------------------------------------------------------------------------------------------

def to_csv(frame: Frame) -> str:
    buf = io.StringIO()
    # "data_kind" is the corpus name, a column name kept as committed renders have it
    fields = ["table", "group", "method", "model", "modality", "train_languages", "test_language", "use_image",
              "fold", "runs", "expected_runs", "profile", "data_kind", "metric_mode", "selection", "in_paper"]
    for c in COLUMNS:
        fields += [c, f"{c}_std", f"{c}_paper", f"{c}_delta"]
    if frame.significance is not None:
        fields += ["significance_test", "significance_reference"] + [f"{c}_p" for c in COLUMNS]
    show_cap = any(fr.capped for fr in frame.rows)  # the column appears only when a cap bound somewhere
    if show_cap:
        fields.append("cap_reached_runs")
    show_vectors = any(fr.vectors for fr in frame.rows)  # only where a row's vectors are not the papers'
    if show_vectors:
        fields.append("word_vectors")
    show_code = any(fr.code for fr in frame.rows)  # only when a row is mixed or stale
    if show_code:
        fields += ["code_state", "code_detail"]
    fields.append("job_ids")
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for fr in frame.rows:
        r = fr.row
        rec = {"table": frame.table.number, "group": r.group, "method": r.method, "model": r.model,
               "modality": r.modality, "train_languages": "+".join(r.train_languages),
               "test_language": r.test_language, "use_image": r.use_image, "fold": r.fold or "",
               "runs": fr.runs, "expected_runs": fr.expected, "profile": frame.scale,
               "data_kind": frame.corpus_name or "", "metric_mode": frame.mode, "selection": frame.selection,
               "in_paper": not r.extension, "job_ids": " ".join(fr.job_ids)}
        for c in COLUMNS:
            cell = fr.cells[c]
            rec[c] = "" if cell.value is None else f"{cell.value:.4f}"
            rec[f"{c}_std"] = "" if cell.std is None else f"{cell.std:.4f}"
            rec[f"{c}_paper"] = "" if cell.paper is None else f"{cell.paper:.2f}"
            rec[f"{c}_delta"] = "" if cell.delta is None else f"{cell.delta:.4f}"
            if frame.significance is not None:
                rec[f"{c}_p"] = "" if cell.p is None else f"{cell.p:.4f}"
        if show_cap:
            rec["cap_reached_runs"] = fr.capped
        if show_vectors:
            rec["word_vectors"] = fr.vectors or ""
        if show_code:
            rec["code_state"], rec["code_detail"] = fr.code, fr.code_detail
        if frame.significance is not None:
            rec["significance_test"] = frame.significance.test
            rec["significance_reference"] = frame.significance.reference
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

"""What a Frame gains from the stored test predictions: significance marks and a per-source split.

Both read ``predictions.conll`` beside each result (``benchmark.run.predictions``); rows whose runs
have no stored predictions (runs made before predictions were stored) are named, never guessed.
"""
from __future__ import annotations

import json

import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from benchmark.errors import BenchError
from benchmark.metrics import evaluate, headline
from benchmark.report.render import Cell, Frame, FrameRow, SignificanceInfo
from benchmark.report.significance import COLUMNS, paired_test, sentence_counts
from benchmark.run.predictions import PREDICTIONS_FILE, Predicted, read_predictions
from benchmark.run.specs import Result
from benchmark.run.store import ResultStore

SOURCE_LABELS = {"twitter2017": "Twitter-2017", "cc12m-mbart50": "CC12M (mBART50)", "unknown": "unknown"}


def predictions_of(root: str | Path, result: Result) -> list[Predicted] | None:
    """The stored test predictions of ``result`` in the store at ``root`` (None when absent)."""
    path = ResultStore(root).run_dir(result.job) / PREDICTIONS_FILE
    return read_predictions(path) if path.is_file() else None


def _label(fr: FrameRow) -> str:
    return f"{fr.row.group + ' ' if fr.row.group else ''}{fr.row.method}".strip()


def _runs(fr: FrameRow, results: Mapping[str, Result], root: str | Path) -> dict[int, list[Predicted]] | None:
    """Predictions per seed of a row's runs; None if any run lacks them."""
    out: dict[int, list[Predicted]] = {}
    for job_id in fr.job_ids:
        res = results[job_id]
        preds = predictions_of(root, res)
        if preds is None:
            return None
        out[res.job.seed] = preds
    return out


def _pooled_counts(runs: list[list[Predicted]], mode: str) -> np.ndarray:
    return sum(sentence_counts([s.gold for s in r], [s.pred for s in r], mode) for r in runs)


def attach_significance(frame: Frame, results: Iterable[Result], root: str | Path, test: str = "bootstrap",
                        alpha: float = 0.05, samples: int = 1000, seed: int = 0) -> Frame:
    """Set ``Cell.p`` of every measured row against its block's reference row (same test sentences).

    Runs are paired by seed (seed k of a row with seed k of the reference; unmatched seeds are
    paired in order) and pooled by summing their per-sentence counts.
    """
    by_id = {r.job_id: r for r in results}
    refs: dict[str, FrameRow] = {}
    for fr in frame.rows:
        if frame.table.is_reference(fr.row) and fr.runs > 0 and fr.row.group not in refs:
            refs[fr.row.group] = fr
    skipped: list[str] = []
    cache: dict[int, dict[int, list[Predicted]] | None] = {}

    def runs_of(fr: FrameRow) -> dict[int, list[Predicted]] | None:
        if id(fr) not in cache:
            cache[id(fr)] = _runs(fr, by_id, root)
        return cache[id(fr)]

    for fr in frame.rows:
        ref = refs.get(fr.row.group)
        if fr.runs == 0 or ref is None or fr is ref:
            continue
        mine, theirs = runs_of(fr), runs_of(ref)
        if mine is None or theirs is None:
            skipped.append(_label(fr) if mine is None else f"{_label(fr)} (reference {_label(ref)})")
            continue
        common = sorted(set(mine) & set(theirs))
        rest_a = [s for s in sorted(mine) if s not in common]
        rest_b = [s for s in sorted(theirs) if s not in common]
        pairs = [(s, s) for s in common] + list(zip(rest_a, rest_b))
        a_runs, b_runs = [mine[x] for x, _ in pairs], [theirs[y] for _, y in pairs]
        for ra, rb in zip(a_runs, b_runs):
            if [(s.tokens, s.gold) for s in ra] != [(s.tokens, s.gold) for s in rb]:
                raise BenchError(f"--significance: {_label(fr)} and {_label(ref)} were not tested on the same "
                                 "sentences (different test sets or data versions)")
        p = paired_test(test, _pooled_counts(a_runs, frame.mode), _pooled_counts(b_runs, frame.mode), samples, seed)
        for col, value in zip(COLUMNS, p):
            fr.cells[col].p = float(value)
    names = list(dict.fromkeys(fr.row.method for fr in refs.values()))
    reference = names[0] if len(names) == 1 else "the reference row of each block (" + ", ".join(names) + ")"
    frame.significance = SignificanceInfo(test, alpha, samples, reference or "(no reference row measured)",
                                          tuple(skipped))
    return frame


def by_source_frame(frame: Frame, results: Iterable[Result], root: str | Path) -> tuple[Frame, list[str]]:
    """The frame's measured rows, each split into its test sentences' sources (Twitter-2017 and
    mBART50-translated CC12M); metrics recomputed from the stored predictions. Returns the new
    frame and the rows left out for lack of predictions."""
    by_id = {r.job_id: r for r in results}
    rows: list[FrameRow] = []
    missing: list[str] = []
    for fr in frame.rows:
        if fr.runs == 0:
            continue
        runs = _runs(fr, by_id, root)
        if runs is None:
            missing.append(_label(fr))
            continue
        sources = sorted({s.source for preds in runs.values() for s in preds},
                         key=lambda x: list(SOURCE_LABELS).index(x) if x in SOURCE_LABELS else 99)
        for source in sources:
            metrics = []
            for preds in runs.values():
                part = [s for s in preds if s.source == source]
                metrics.append(headline(evaluate([s.gold for s in part], [s.pred for s in part]), frame.mode))
            sentences = sum(1 for s in next(iter(runs.values())) if s.source == source)
            cells = {}
            for col in metrics[0]:
                vals = [m[col] for m in metrics]
                cells[col] = Cell(statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else None, None)
            label = f"{SOURCE_LABELS.get(source, source)} ({sentences})"
            rows.append(FrameRow(fr.row, fr.labels + (label,), cells, fr.runs, fr.expected, list(fr.job_ids),
                                 capped=fr.capped, code=fr.code, code_detail=fr.code_detail))
    table = replace(frame.table, label_columns=frame.table.label_columns + ("Source (test sentences)",),
                    caption=frame.table.caption.rstrip(".") + ", split by the source of the test sentences "
                    "(from their image ids): Twitter-2017 and mBART50-translated CC12M.",
                    bold_best=False)
    out = Frame(table, rows, frame.scale, frame.corpus_name, frame.mode, frame.selection)
    return out, missing


def planned_blocks(plan: Any) -> tuple[Any, list[str]]:
    """``plan``'s table without the blocks (row groups) it has no job for, and those blocks' names.

    A ``ConfigError`` when no block is left (nothing to render; ``--all-blocks`` renders them all).
    """
    from benchmark.errors import ConfigError

    kept = {p.row.group for p in plan.known}
    dropped = list(dict.fromkeys(r.group or "(no block)" for r in plan.table.rows if r.group not in kept))
    if not kept:
        raise ConfigError(f"Table {plan.table.number}: the plan has no job in any block ({plan.why_nothing()}); "
                          "--all-blocks renders the paper's rows anyway")
    return replace(plan.table, rows=tuple(r for r in plan.table.rows if r.group in kept)), dropped


def code_frame(plan: Any, store: Any) -> Frame:
    """The rows of ``plan`` with their stored runs' code state only (``bench plan`` / ``status``)."""
    from benchmark.report.render import build_frame
    from benchmark.run.store import lookup

    found, _ = lookup(store, [p.job for p in plan.known])
    return build_frame(plan.table, [(p.row, p.job) for p in plan.known], found, plan.options.scale, plan.corpus.kind)


def strict_code(rows: list[str], where: str) -> None:
    """``--strict-code``: a BenchError (exit 2) naming the mixed or stale rows, if any."""
    from benchmark.errors import BenchError

    if rows:
        raise BenchError(f"--strict-code: {len(rows)} row(s) of {where} ran at mixed or stale code: "
                         + "; ".join(rows) + " (re-run them at one code version, or see `bench code`)")


def report_frame(plan: Any, store: Any, mode: str = "conlleval", selection: str = "dev",
                 significance: str | None = None, alpha: float = 0.05, samples: int = 1000,
                 by_source: bool = False, allow_empty: bool = False,
                 warn: Callable[[str], None] = lambda m: None, all_blocks: bool = False) -> tuple[Frame, list[Any]]:
    """What ``bench report`` and ``bench plot`` render: the stored results of exactly ``plan``'s jobs
    (``benchmark.run.plan.make_plan``), optionally with significance marks or split by source.
    Returns the frame and the bad stored results left out. No matching result is an error unless
    ``allow_empty`` (an empty table beside the paper's values). A block (row group) the plan has no
    job for (a language the corpus lacks, or one left out by ``--languages``) is left out, and named
    in a note, unless ``all_blocks``."""
    from benchmark.errors import ConfigError
    from benchmark.report.render import build_frame, describe_other_results
    from benchmark.run.store import lookup

    if selection == "test_max" and (significance or by_source):
        raise ConfigError("--significance and --by-source use the stored predictions of the selected "
                          "(best-dev) epoch; they cannot be combined with --selection test_max")
    jobs = [p.job for p in plan.known]
    found, bad = lookup(store, jobs)
    for b in bad:
        warn(f"bad stored result {b.message()} (left out; `bench run` with the same options re-runs it)")
    if not found and not allow_empty:
        raise ConfigError(f"no stored result in {store.root} matches the {len(jobs)} job(s) of Table "
                          f"{plan.table.number} ({plan.header()}); the folder holds: "
                          f"{describe_other_results(jobs, store.scan())} (--allow-empty renders the empty table)")
    notes = []
    if plan.options.hp:
        notes.append("Hyperparameter overrides: " + ", ".join(f"{k}={json.dumps(v)}" for k, v in plan.options.hp)
                     + " (not the paper's settings).")
    if bad:
        notes.append(f"{len(bad)} stored result(s) unreadable and left out: "
                     + "; ".join(str(b.path) for b in bad) + ".")
    table = plan.table
    if not all_blocks:
        table, dropped = planned_blocks(plan)
        if dropped:
            notes.append(f"Blocks without a planned job not shown: {', '.join(dropped)} (--all-blocks shows them).")
    frame = build_frame(table, [(p.row, p.job) for p in plan.known], found, plan.options.scale,
                        plan.corpus.kind, mode, selection, notes)
    results = list(found.values())
    if significance:
        frame = attach_significance(frame, results, store.root, significance, alpha, samples)
    if by_source:
        frame, missing = by_source_frame(frame, results, store.root)
        if missing:
            frame.extra_notes.append("Not split (no stored predictions): " + ", ".join(missing) + ".")
    return frame, bad


def render_selected_rows(plan: Any, store: Any) -> str:
    """The rows a run touched (``rows_to_show``) with their stored results, beside the paper's (Markdown)."""
    from dataclasses import replace

    from benchmark.report.render import build_frame, render
    from benchmark.run.store import lookup

    rows = rows_to_show(plan.table, plan.jobs)
    found, _ = lookup(store, [p.job for p in plan.known])
    if not rows or not found:
        return ""
    keep = set(rows)
    frame = build_frame(replace(plan.table, rows=tuple(rows)), [(p.row, p.job) for p in plan.known if p.row in keep],
                        found, plan.options.scale, plan.corpus.kind)
    return render(frame, "markdown", compare_paper=True)


def rows_to_show(table: Any, planned: list[Any]) -> list[Any]:
    """The rows a run renders: those it could run, plus the paper's rows of the settings where it ran
    a model that is not a paper row (so such a model is seen beside the paper's values)."""
    ready = {p.row for p in planned if p.status == "ready"}
    paper_models = {r.model for r in table.rows if not r.extension}
    settings = {(r.group, r.train_languages, r.test_language, r.fold) for r in ready if r.model not in paper_models}
    return [r for r in table.rows
            if r in ready or (r.model in paper_models and (r.group, r.train_languages, r.test_language, r.fold) in settings)]

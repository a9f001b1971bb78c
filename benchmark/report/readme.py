"""The README's results section, generated from the result store (``bench readme``).

The block between ``<!-- results:start -->`` and ``<!-- results:end -->`` is replaced by the
measured rows of every table (ours beside the paper's, mean ± std) and one line per model and
setting (n seeds, mean ± std, commit, command). The runs considered are exactly those ``bench report``
reads: each table is planned with the paper scale and default options on the given corpus
(``make_plan``). Only runs from a clean committed tree count, and only rows with at least
``MIN_SEEDS`` seeds. Word-vector variants of the LSTM and AdaCAN recipes (``VECTOR_VARIANTS``: GloVe
6B 50d) are tables of their own below each table, their rows labelled, never averaged with the
word2vec rows. A test re-renders it from ``results/`` so it can never go stale.
"""
from __future__ import annotations

import shlex
import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any

from tabulate import tabulate

from benchmark.report.render import build_frame, code_rows, to_markdown, variant_vectors, vectors_label
from benchmark.run.plan import PlanOptions, make_plan
from benchmark.run.specs import Result
from benchmark.weights import vector_hparams
from benchmark.run.store import ResultStore, lookup
from benchmark.tables import TABLES
from benchmark.util.command import bench_command, is_executor_command
from benchmark.util.io import write_text
from benchmark.util.machine import cpu_label

START, END = "<!-- results:start -->", "<!-- results:end -->"


MIN_SEEDS = 3  # a README row needs at least this many seeds (mean ± std)
# word-vector variants of the registered recipes shown as rows of their own, below each table: the
# hyperparameters a job planned with the variant differs by (GloVe 6B 50d: ``--hp
# embeddings=glove.6B.50d``, whose plan sets embedding_dim to the vectors' size). Given here rather
# than planned, so the block renders the same where the vectors are not installed.
VECTOR_VARIANTS: tuple[dict[str, Any], ...] = (vector_hparams("glove.6B.50d"),)


def _command(env: dict) -> str:
    """The run's command as typed, as a Markdown code span (runs stored before ``bench_command`` kept
    ``benchmark/cli.py``'s path; runs stored before executors handed the command to their workers
    kept the worker's own command line, which is not shown)."""
    command = env.get("command")
    if not command:
        return "?"
    if is_executor_command(str(command)):
        return "not recorded (an executor's worker process ran it and stored its own command line)"
    try:
        return f"`{bench_command(shlex.split(command))}`"
    except ValueError:  # not shell-quoted: show it as stored
        return f"`{command}`"


def clean_tree(result: Result) -> bool:
    """True when the run recorded its git commit and a tree without uncommitted changes."""
    env = result.environment
    return bool(env.get("commit")) and env.get("dirty") is False


def results_block(store: ResultStore, data_dir: str | None = None, image_dir: str | None = None,
                  seeds: int = MIN_SEEDS, flagged: list[str] | None = None) -> str:
    """Paper-scale, clean-tree runs of each table's plan (``seeds`` seeds per row) only; a row is
    shown when it has >= ``MIN_SEEDS`` of them. The shown rows whose code is mixed or stale are
    appended to ``flagged``."""
    stored: dict[str, Result] = {}
    results: list[Result] = []
    parts: list[str] = []
    shown: set[str] = set()
    for number in TABLES:
        plan = make_plan(PlanOptions(table=number, data_dir=data_dir, image_dir=image_dir, seeds=seeds,
                                     pretrained_vectors=False))
        blocks = [(plan.table, [(p.row, p.job) for p in plan.known], "")]
        for variant in VECTOR_VARIANTS:
            pairs = [(p.row, replace(p.job, hparams={**p.job.hparams, **variant})) for p in plan.known
                     if "embeddings" in p.job.hparams]
            label = vectors_label(variant["embeddings"])
            table = replace(plan.table, rows=tuple(dict.fromkeys(row for row, _ in pairs)), bold_best=False,
                            caption=f"{plan.table.caption} Word-vector variant: {label} (not the papers' GloVe 6B 300d).")
            blocks.append((table, pairs, f" ({label})"))
        for table, pairs, suffix in blocks:
            found, _ = lookup(store, [job for _, job in pairs])
            stored.update(found)
            clean = {job_id: r for job_id, r in found.items() if clean_tree(r)}
            results.extend(clean.values())
            frame = build_frame(table, pairs, clean, "paper", plan.corpus.kind)
            frame.rows = [fr for fr in frame.rows if fr.runs >= MIN_SEEDS]
            if flagged is not None:
                flagged += [f"Table {number} {row}{suffix}" for row in code_rows(frame.rows)]
            shown.update(job_id for fr in frame.rows for job_id in fr.job_ids)
            if frame.rows:
                parts.append(to_markdown(frame, compare_paper=True))
    if not parts:
        parts.append(f"_No paper-profile results from a clean committed tree with >= {MIN_SEEDS} seeds yet: "
                     f"commit, then `bench run --table 5 --seeds {MIN_SEEDS}`._\n")
    groups: dict[tuple[str, str], list[Result]] = {}
    for r in {r.job_id: r for r in results}.values():
        if r.job_id in shown:
            vectors = variant_vectors(vectors_label(r.job.hparams["embeddings"])) if "embeddings" in r.job.hparams else None
            name = r.job.model + (f" ({vectors})" if vectors else "")
            groups.setdefault((name, r.job.setting.label()), []).append(r)
    rows = []
    for (model, setting), runs in sorted(groups.items()):
        f1 = [100 * r.test["conlleval"]["f1"] for r in runs]
        env = runs[0].environment
        commits = sorted({str(r.environment.get("commit"))[:7] for r in runs})
        rows.append([model, setting, len(runs), _mean_std(f1),
                     _mean_std([100 * r.test["strict"]["f1"] for r in runs]),
                     f"{statistics.fmean(r.wall_time_s for r in runs) / 60:.1f}",
                     _hardware(runs), ", ".join(commits),
                     _command(env)])
    if rows:
        parts.append("Stored runs (`results/reference/runs/<model>/<job_id>/`, clean committed tree only), test F1 "
                     "at the best dev epoch, mean ± std over n seeds:\n\n" + tabulate(
                         rows, headers=["model", "setting", "n", "F1", "F1 strict", "minutes/seed", "hardware",
                                        "commit", "command"], tablefmt="github", disable_numparse=True) + "\n")
    left_out = len(stored) - len(shown)  # of the planned jobs' stored results
    if left_out:
        parts.append(f"{left_out} stored paper-profile run(s) left out: from a tree with uncommitted changes, "
                     f"without a recorded commit, or in a row with fewer than {MIN_SEEDS} seeds.\n")
    return "\n".join(parts)


def _hardware(runs: list[Result]) -> str:
    """Device, CPU type (when recorded: ``benchmark.util.machine``) and threads of a row's runs."""
    labels = []
    for r in runs:
        env = r.environment
        cpu = cpu_label(env)
        label = (f"{env.get('device', '?')}" + (f" ({cpu})" if cpu != "?" else "")
                 + f", {env.get('torch_threads', '?')} thr")
        if label not in labels:
            labels.append(label)
    return "; ".join(labels)


def _mean_std(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.2f}"
    return f"{statistics.fmean(values):.2f} ± {statistics.stdev(values):.2f}"


def update_readme(readme: Path, store: ResultStore, data_dir: str | None = None, strict_code: bool = False) -> bool:
    """Rewrite the results block in place; returns True when the file changed. ``strict_code``: a
    BenchError, with nothing written, when a shown row's code is mixed or stale."""
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        from benchmark.errors import BenchError
        raise BenchError(f"{readme}: no {START} ... {END} block to fill")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    flagged: list[str] = []
    block = results_block(store, data_dir, flagged=flagged)
    if strict_code:
        from benchmark.report.breakdown import strict_code as check_code
        check_code(flagged, "the README's results")
    new = f"{head}{START}\n{block}{END}{tail}"
    if new != text:
        write_text(readme, new)
        return True
    return False


def current_block(readme: Path) -> str:
    text = readme.read_text(encoding="utf-8")
    return text.split(START, 1)[1].split(END, 1)[0].lstrip("\n")

"""Stored configurations of one model ranked by dev F1 (``bench rank``): the tool behind the rule
"dev decides, test is read once".

A *configuration* is one set of hyperparameters: the stored runs of a model that differ only in
their seed. For each setting (train -> test languages, modality), scale and corpus, every
configuration is listed with n, mean ± std dev F1 at the selected epoch and the test F1 of the same
epoch, ranked by mean dev F1 (ties: more seeds first). The test column is printed for the record
only: the ranking, and any choice made from it, never reads it.
"""
from __future__ import annotations

import csv
import io
import json
import statistics
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from tabulate import tabulate

from benchmark.registry import ModelSpec
from benchmark.report.readme import clean_tree
from benchmark.run.specs import Result
from benchmark.hparams import resolve_hparams

SEED_FREE = ("seed",)


@dataclass
class Configuration:
    """The runs of one model, setting and hyperparameter set (seeds differ)."""

    hparams: dict[str, Any]
    runs: list[Result] = field(default_factory=list)

    def dev(self, mode: str) -> list[float]:
        return [100 * r.dev[mode]["f1"] for r in self.runs]

    def test(self, mode: str) -> list[float]:
        return [100 * r.test[mode]["f1"] for r in self.runs]

    def dev_mean(self, mode: str) -> float:
        return statistics.fmean(self.dev(mode))


@dataclass
class Block:
    """All configurations of one model in one setting / scale / corpus."""

    setting: str
    scale: str
    corpus: str
    configurations: list[Configuration]


def normalised_hparams(spec: ModelSpec, hparams: Mapping[str, Any]) -> dict[str, Any]:
    """``hparams`` with each optional hp at its unset behaviour left out, as the job identity does
    (a run stored before ``label_scheme`` existed and one with ``label_scheme=iob2`` are one
    configuration)."""
    out = dict(hparams)
    for key, values in spec.optional.items():
        if out.get(key, values[0]) == values[0]:
            out.pop(key, None)
    return out


def default_hparams(spec: ModelSpec, scale: str, pretrained_vectors: bool = True) -> dict[str, Any]:
    """The hyperparameters ``bench run`` plans here for ``spec`` (``embeddings=auto`` resolved over
    the vectors installed; ``pretrained_vectors=False``: as word2vec, whatever is installed)."""
    return normalised_hparams(spec, resolve_hparams(spec, scale, pretrained_vectors=pretrained_vectors))


def _value(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def describe(hparams: Mapping[str, Any], reference: Mapping[str, Any]) -> str:
    """``hparams`` as its differences from ``reference`` (``key=value``; ``key unset`` for a key the
    run did not have), or ``default`` when there are none."""
    parts = [f"{k}={_value(hparams[k])}" for k in sorted(hparams) if k not in reference or hparams[k] != reference[k]]
    parts += [f"{k} unset" for k in sorted(reference) if k not in hparams]
    return " ".join(parts) if parts else "default"


def rank(results: Iterable[Result], spec: ModelSpec, mode: str = "conlleval", clean_only: bool = True,
         min_seeds: int = 1) -> list[Block]:
    """Blocks of ``spec``'s stored configurations, each ranked by mean dev F1 (best first)."""
    blocks: dict[tuple[str, str, str], dict[str, Configuration]] = {}
    for result in results:
        job = result.job
        if job.model != spec.name or (clean_only and not clean_tree(result)):
            continue
        key = (job.setting.label(), job.scale, job.corpus_name)
        hp = normalised_hparams(spec, job.hparams)
        canon = json.dumps(hp, sort_keys=True, default=str)
        config = blocks.setdefault(key, {}).setdefault(canon, Configuration(hp))
        if all(r.job.seed != job.seed for r in config.runs):
            config.runs.append(result)
    out = []
    for (setting, scale, corpus), configs in sorted(blocks.items()):
        kept = [c for c in configs.values() if len(c.runs) >= min_seeds]
        for c in kept:
            c.runs.sort(key=lambda r: r.job.seed)
        kept.sort(key=lambda c: (-c.dev_mean(mode), -len(c.runs)))
        if kept:
            out.append(Block(setting, scale, corpus, kept))
    return out


def _mean_std(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.2f}"
    return f"{statistics.fmean(values):.2f} ± {statistics.stdev(values):.2f}"


HEADERS = ["rank", "configuration (vs today's default)", "n", "dev F1", "test F1", "best epoch / run", "commit"]


def _rows(block: Block, spec: ModelSpec, mode: str) -> list[list[Any]]:
    reference = default_hparams(spec, block.scale)
    rows = []
    for i, c in enumerate(block.configurations, 1):
        epochs = ", ".join(f"{r.selected_epoch}/{r.epochs_run}" for r in c.runs)
        commits = ", ".join(sorted({str(r.environment.get("commit") or "?")[:7] for r in c.runs}))
        rows.append([i, describe(c.hparams, reference), len(c.runs), _mean_std(c.dev(mode)),
                     _mean_std(c.test(mode)), epochs, commits])
    return rows


def render_ranking(blocks: list[Block], spec: ModelSpec, mode: str = "conlleval", fmt: str = "markdown") -> str:
    """Markdown (one table per block, with a heading line) or CSV (one row per configuration)."""
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["model", "setting", "profile", "corpus", "rank", "configuration", "n",
                         "dev_f1_mean", "dev_f1_std", "test_f1_mean", "test_f1_std", "seeds", "commits"])
        for block in blocks:
            reference = default_hparams(spec, block.scale)
            for i, c in enumerate(block.configurations, 1):
                dev, test = c.dev(mode), c.test(mode)
                writer.writerow([spec.name, block.setting, block.scale, block.corpus, i,
                                 describe(c.hparams, reference), len(c.runs), f"{statistics.fmean(dev):.4f}",
                                 f"{statistics.stdev(dev):.4f}" if len(dev) > 1 else "",
                                 f"{statistics.fmean(test):.4f}",
                                 f"{statistics.stdev(test):.4f}" if len(test) > 1 else "",
                                 " ".join(str(r.job.seed) for r in c.runs),
                                 " ".join(sorted({str(r.environment.get('commit') or '?')[:7] for r in c.runs}))])
        return buf.getvalue()
    parts = []
    for block in blocks:
        parts.append(f"{spec.display}, {block.setting}, scale {block.scale}, corpus {block.corpus}: "
                     f"ranked by mean dev F1 ({mode}); test F1 at the same epochs, for the record only\n\n"
                     + tabulate(_rows(block, spec, mode), headers=HEADERS, tablefmt="github",
                                disable_numparse=True) + "\n")
    return "\n".join(parts)

"""Paired significance tests between two systems on the same test sentences; pure functions.

Each system is summarised per sentence by entity counts ``[tp, predicted, gold]`` for the overall
micro scores and for each type (``sentence_counts``): an array of shape ``(sentences, 5, 3)``
(rows: overall, PER, LOC, ORG, MISC). Any column of the tables (per-type F1, micro P/R/F1) is a
function of the summed counts (``column_scores``), so a resample of sentences gives every column's
score at once. Runs of several seeds are pooled by summing their counts per sentence.

- ``paired_bootstrap``: resample sentences with replacement (the same indices for both systems);
  two-sided p = (1 + #{|δ_b − δ| ≥ |δ|}) / (B + 1), δ = score(A) − score(B) (Berg-Kirkpatrick et al.
  2012, shifted to a two-sided test; Koehn 2004).
- ``approximate_randomisation``: swap the two systems' outputs of each sentence with probability
  1/2; p = (1 + #{|δ_r| ≥ |δ|}) / (R + 1) (Noreen 1989; Riezler and Maxwell 2005).
- ``exact_randomisation``: the same over all 2^n swaps (small n; used to test the definitions).

Random draws come from an explicit ``numpy.random.Generator`` (or explicit index / swap arrays).
"""
from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np

from benchmark.tables import COLUMNS  # the tables' columns: per-type F1, then micro P/R/F1
from benchmark.types import ENTITY_TYPES

TYPES: tuple[str, ...] = ENTITY_TYPES
_EPS = 1e-12


def sentence_counts(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]],
                    mode: str = "conlleval") -> np.ndarray:
    """``(n, 5, 3)`` int array: per sentence, [tp, predicted, gold] overall and per type."""
    from benchmark.metrics import _chunks  # seqeval's own chunkers, as the stored metrics use

    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted")
    out = np.zeros((len(gold), 1 + len(TYPES), 3), dtype=np.int64)
    g, p = _chunks(gold, mode), _chunks(pred, mode)
    for which, chunks in ((1, p), (2, g)):
        for etype, sent, _, _ in chunks:
            out[sent, 0, which] += 1
            if etype in TYPES:
                out[sent, 1 + TYPES.index(etype), which] += 1
    for etype, sent, _, _ in g & p:
        out[sent, 0, 0] += 1
        if etype in TYPES:
            out[sent, 1 + TYPES.index(etype), 0] += 1
    return out


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape, dtype=float), where=den > 0)


def column_scores(totals: np.ndarray) -> np.ndarray:
    """Percent scores of ``COLUMNS`` from summed counts ``(..., 5, 3)`` -> ``(..., 7)``."""
    totals = np.asarray(totals, dtype=float)
    tp, npred, ngold = totals[..., 0], totals[..., 1], totals[..., 2]
    f1 = _ratio(2 * tp, npred + ngold)  # = 2PR/(P+R), and 0 when nothing is predicted or gold
    per_type = f1[..., 1:]
    precision = _ratio(tp[..., 0], npred[..., 0])
    recall = _ratio(tp[..., 0], ngold[..., 0])
    return 100.0 * np.concatenate([per_type, precision[..., None], recall[..., None], f1[..., :1]], axis=-1)


def _check(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"paired counts must have the same (n, groups, 3) shape, got {a.shape} and {b.shape}")
    return a, b


def observed_delta(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """score(A) − score(B) per column."""
    a, b = _check(a, b)
    return column_scores(a.sum(axis=0)) - column_scores(b.sum(axis=0))


def p_value(delta: np.ndarray, null_deltas: np.ndarray, centre: np.ndarray | None = None) -> np.ndarray:
    """(1 + #{|null − centre| ≥ |δ|}) / (R + 1) per column (``centre`` 0 for randomisation, δ for bootstrap)."""
    null = np.asarray(null_deltas) - (0.0 if centre is None else centre)
    hits = (np.abs(null) >= np.abs(delta) - _EPS).sum(axis=0)
    return (1.0 + hits) / (null.shape[0] + 1.0)


def bootstrap_deltas(a: np.ndarray, b: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """δ for each resample; ``indices`` is ``(B, n)`` sentence indices."""
    a, b = _check(a, b)
    d = (a - b)  # sums of a resample: counts summed over the drawn sentences, per system
    out = np.empty((len(indices), len(COLUMNS)))
    for k, idx in enumerate(indices):
        sa = a[idx].sum(axis=0)
        out[k] = column_scores(sa) - column_scores(sa - d[idx].sum(axis=0))
    return out


def paired_bootstrap(a: np.ndarray, b: np.ndarray, samples: int = 1000,
                     rng: np.random.Generator | None = None, indices: np.ndarray | None = None) -> np.ndarray:
    """Two-sided paired-bootstrap p-value per column (see the module docstring)."""
    a, b = _check(a, b)
    if indices is None:
        rng = rng if rng is not None else np.random.default_rng(0)
        indices = rng.integers(0, len(a), size=(samples, len(a)))
    delta = observed_delta(a, b)
    return p_value(delta, bootstrap_deltas(a, b, indices), centre=delta)


def randomisation_deltas(a: np.ndarray, b: np.ndarray, swaps: np.ndarray) -> np.ndarray:
    """δ for each swap pattern; ``swaps`` is ``(R, n)`` booleans (True: exchange the sentence's outputs)."""
    a, b = _check(a, b)
    sa, sb, d = a.sum(axis=0), b.sum(axis=0), b - a
    swaps = np.asarray(swaps, dtype=float)
    moved = np.tensordot(swaps, d, axes=(1, 0))  # (R, groups, 3): what A gains from the swaps
    return column_scores(sa + moved) - column_scores(sb - moved)


def approximate_randomisation(a: np.ndarray, b: np.ndarray, samples: int = 1000,
                              rng: np.random.Generator | None = None,
                              swaps: np.ndarray | None = None) -> np.ndarray:
    """Two-sided approximate-randomisation p-value per column (see the module docstring)."""
    a, b = _check(a, b)
    if swaps is None:
        rng = rng if rng is not None else np.random.default_rng(0)
        swaps = rng.random((samples, len(a))) < 0.5
    return p_value(observed_delta(a, b), randomisation_deltas(a, b, swaps))


def exact_randomisation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact randomisation p = #{|δ_s| ≥ |δ|} / 2^n over every swap pattern (n ≤ 16)."""
    a, b = _check(a, b)
    if len(a) > 16:
        raise ValueError("exact randomisation enumerates 2^n swaps: use at most 16 sentences")
    swaps = np.array(list(itertools.product((False, True), repeat=len(a))))
    null = randomisation_deltas(a, b, swaps)
    delta = observed_delta(a, b)
    return (np.abs(null) >= np.abs(delta) - _EPS).sum(axis=0) / len(swaps)


TESTS = {"bootstrap": paired_bootstrap, "randomisation": approximate_randomisation}


def paired_test(test: str, a: np.ndarray, b: np.ndarray, samples: int, seed: int = 0) -> np.ndarray:
    """p-values per column by ``test`` ("bootstrap" or "randomisation"), seeded."""
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; expected one of {', '.join(TESTS)}")
    return TESTS[test](a, b, samples=samples, rng=np.random.default_rng(seed))

"""Entity-level NER metrics, as the paper computed them.

Default (``conlleval``): seqeval ``classification_report(mode=None, scheme=IOB2)`` — with
``mode=None`` seqeval uses its lenient conlleval-style chunking and ignores ``scheme``; this is what
the authors' ``trainer.py`` printed. ``strict``: seqeval ``mode="strict", scheme=IOB2`` (an entity
must start with ``B-``). Both report micro precision/recall/F1 and per-type P/R/F1/support, as
fractions in [0, 1].
"""
from __future__ import annotations

import warnings
from typing import Any, Sequence

from seqeval.metrics import classification_report
from seqeval.metrics.sequence_labeling import get_entities
from seqeval.scheme import IOB2, Entities

from benchmark.types import ENTITY_TYPES

MODES = ("conlleval", "strict")


def _report(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], mode: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"mode": None, "scheme": IOB2} if mode == "conlleval" else \
        {"mode": "strict", "scheme": IOB2}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns on types absent from gold/pred
        rep = classification_report([list(g) for g in gold], [list(p) for p in pred],
                                    output_dict=True, zero_division=0, **kwargs)
    micro = rep.get("micro avg", {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 0})
    per_type = {k: {"precision": float(v["precision"]), "recall": float(v["recall"]),
                    "f1": float(v["f1-score"]), "support": int(v["support"])}
                for k, v in rep.items() if not k.endswith(" avg")}
    return {"precision": float(micro["precision"]), "recall": float(micro["recall"]),
            "f1": float(micro["f1-score"]), "support": int(micro["support"]), "per_type": per_type}


def _chunks(seqs: Sequence[Sequence[str]], mode: str) -> set[tuple[str, int, int, int]]:
    """Entities as (type, sentence, start, end) with seqeval's own chunkers.

    ``conlleval``: ``seqeval.metrics.sequence_labeling.get_entities`` (what ``mode=None`` uses);
    ``strict``: ``seqeval.scheme.Entities`` with IOB2 (what ``mode="strict"`` uses).
    """
    out: set[tuple[str, int, int, int]] = set()
    if mode == "conlleval":
        for i, seq in enumerate(seqs):
            for etype, start, end in get_entities(list(seq)):
                out.add((etype, i, start, end))
        return out
    ents = Entities([list(s) for s in seqs], IOB2)
    for e in ents.entities:
        for ent in e:
            out.add((ent.tag, ent.sent_id, ent.start, ent.end))
    return out


def _fast_report(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], mode: str) -> dict[str, Any]:
    """The numbers of seqeval's ``classification_report``, chunking each side once (5x faster)."""
    g, p = _chunks(gold, mode), _chunks(pred, mode)
    tp = g & p

    def prf(n_tp: int, n_pred: int, n_true: int) -> dict[str, float]:
        prec = n_tp / n_pred if n_pred else 0.0
        rec = n_tp / n_true if n_true else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        return {"precision": prec, "recall": rec, "f1": f1}

    per_type = {}
    for etype in sorted({e[0] for e in g} | {e[0] for e in p}):
        n_true = sum(1 for e in g if e[0] == etype)
        n_pred = sum(1 for e in p if e[0] == etype)
        n_tp = sum(1 for e in tp if e[0] == etype)
        per_type[etype] = {**prf(n_tp, n_pred, n_true), "support": n_true}
    return {**prf(len(tp), len(p), len(g)), "support": len(g), "per_type": per_type}


def evaluate(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]],
             backend: str = "fast") -> dict[str, Any]:
    """Metrics under both chunking modes. Lengths must match sentence by sentence.

    ``backend="fast"`` computes seqeval's numbers from seqeval's chunkers directly (tests pin it to
    ``classification_report``); ``backend="seqeval"`` calls ``classification_report`` itself.
    """
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted")
    for i, (g, p) in enumerate(zip(gold, pred)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(g)} gold tags but {len(p)} predicted")
    if not any(len(g) for g in gold):
        empty = {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0, "per_type": {}}
        return {m: dict(empty) for m in MODES}
    report = _fast_report if backend == "fast" else _report
    return {mode: report(gold, pred, mode) for mode in MODES}


def headline(metrics: dict[str, Any], mode: str = "conlleval",
             entity_types: Sequence[str] = ENTITY_TYPES) -> dict[str, float]:
    """Flat percentages for tables: F1 per entity type (PER/LOC/ORG/MISC), precision, recall, f1."""
    m = metrics[mode]
    out = {t: 100.0 * m["per_type"].get(t, {}).get("f1", 0.0) for t in entity_types}
    out.update(precision=100.0 * m["precision"], recall=100.0 * m["recall"], f1=100.0 * m["f1"])
    return out

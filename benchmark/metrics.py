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
from seqeval.scheme import IOB2

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


def evaluate(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Metrics under both chunking modes. Lengths must match sentence by sentence."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted")
    for i, (g, p) in enumerate(zip(gold, pred)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(g)} gold tags but {len(p)} predicted")
    if not any(len(g) for g in gold):
        empty = {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0, "per_type": {}}
        return {m: dict(empty) for m in MODES}
    return {mode: _report(gold, pred, mode) for mode in MODES}


def headline(metrics: dict[str, Any], mode: str = "conlleval") -> dict[str, float]:
    """Flat percentages for tables: PER/LOC/ORG/MISC F1, precision, recall, f1."""
    m = metrics[mode]
    out = {t: 100.0 * m["per_type"].get(t, {}).get("f1", 0.0) for t in ("PER", "LOC", "ORG", "MISC")}
    out.update(precision=100.0 * m["precision"], recall=100.0 * m["recall"], f1=100.0 * m["f1"])
    return out

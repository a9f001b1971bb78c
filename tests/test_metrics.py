"""Metrics pinned on a hand-made example (conlleval-style default and strict IOB2)."""
from __future__ import annotations

import pytest

from benchmark.metrics import evaluate, headline

GOLD = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "I-MISC"]]
PRED = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O", "O"]]


def test_conlleval_mode_counts_orphan_inside_as_entity():
    m = evaluate(GOLD, PRED)["conlleval"]
    # gold: PER, LOC, ORG, MISC (orphan I-MISC); pred: PER, ORG, ORG; correct: PER, ORG
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 4)
    assert m["f1"] == pytest.approx(4 / 7)
    assert m["per_type"]["PER"]["f1"] == pytest.approx(1.0)
    assert m["per_type"]["ORG"]["f1"] == pytest.approx(2 / 3)
    assert m["per_type"]["LOC"]["f1"] == 0.0 and m["per_type"]["MISC"]["support"] == 1


def test_strict_mode_drops_orphan_inside():
    m = evaluate(GOLD, PRED)["strict"]
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert "MISC" not in m["per_type"] or m["per_type"]["MISC"]["support"] == 0


def test_headline_in_percent():
    h = headline(evaluate(GOLD, PRED))
    assert h["f1"] == pytest.approx(400 / 7)
    assert h["PER"] == pytest.approx(100.0)


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="sentence 0"):
        evaluate([["O", "B-PER"]], [["O"]])


def test_fast_backend_equals_seqeval_classification_report():
    """Random (often invalid) tag sequences: our chunk-once path must give seqeval's exact numbers."""
    import random
    rng = random.Random(0)
    tags = ["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG", "B-MISC", "I-MISC"]
    for _ in range(40):
        gold = [[rng.choice(tags) for _ in range(rng.randint(1, 12))] for _ in range(rng.randint(1, 15))]
        pred = [[rng.choice(tags) if rng.random() < 0.5 else t for t in g] for g in gold]
        fast, slow = evaluate(gold, pred, "fast"), evaluate(gold, pred, "seqeval")
        for mode in ("conlleval", "strict"):
            for key in ("precision", "recall", "f1", "support"):
                assert fast[mode][key] == pytest.approx(slow[mode][key]), (mode, key)
            for etype, vals in slow[mode]["per_type"].items():
                for key, value in vals.items():
                    assert fast[mode]["per_type"][etype][key] == pytest.approx(value), (mode, etype, key)

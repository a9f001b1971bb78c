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

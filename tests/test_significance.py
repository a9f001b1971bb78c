"""Significance tests against hand-computed values; marks in the table from stored predictions;
the per-source split; predictions files; Table 8's subset rule."""
from __future__ import annotations

import random

import numpy as np
import pytest

from benchmark.corpora.reader import Sentence
from benchmark.report.breakdown import attach_significance, by_source_frame, report_frame
from benchmark.report.render import render
from tests.report_cases import build_frame
from benchmark.report.significance import (approximate_randomisation, column_scores, exact_randomisation,
                                           observed_delta, paired_bootstrap, sentence_counts)
from benchmark.tables import get_table
from benchmark.run.folds import fold_assignment, fold_subset, subset_digest
from benchmark.run.predictions import read_predictions, write_predictions
from tests.report_cases import fake, write_store

# Three sentences, PER entities only, counts [tp, predicted, gold] (worked out by hand below).
A = np.zeros((3, 5, 3), dtype=int)
B = np.zeros((3, 5, 3), dtype=int)
for arr, rows in ((A, [(1, 1, 1), (1, 1, 1), (0, 1, 1)]), (B, [(0, 1, 1), (0, 0, 1), (0, 1, 1)])):
    for i, c in enumerate(rows):
        arr[i, 0] = c  # overall
        arr[i, 1] = c  # PER
COL = {"PER": 0, "LOC": 1, "precision": 4, "recall": 5, "f1": 6}


def test_scores_and_delta_by_hand():
    # A: tp 2, predicted 3, gold 3 -> P = R = F1 = 2/3; B: tp 0, predicted 2, gold 3 -> all 0
    a = column_scores(A.sum(axis=0))
    assert a[COL["f1"]] == pytest.approx(200 / 3) and a[COL["precision"]] == pytest.approx(200 / 3)
    assert a[COL["PER"]] == pytest.approx(200 / 3) and a[COL["LOC"]] == 0.0  # no LOC anywhere: 0, no NaN
    d = observed_delta(A, B)
    assert d[COL["f1"]] == pytest.approx(200 / 3) and d[COL["recall"]] == pytest.approx(200 / 3)


def test_exact_randomisation_by_hand():
    # swap patterns of sentences 1, 2 (sentence 3 is identical in A and B, so x2):
    #   none: A (2,3,3) F1 66.7 vs B (0,2,3) 0    -> δ = +66.7
    #   s1:   A (1,3,3) 33.3   vs B (1,2,3) 40.0  -> δ = -6.7
    #   s2:   A (1,2,3) 40.0   vs B (1,3,3) 33.3  -> δ = +6.7
    #   both: A (0,2,3) 0      vs B (2,3,3) 66.7  -> δ = -66.7
    # |δ| >= 66.7 in 4 of the 8 patterns -> p = 0.5; LOC differs nowhere -> p = 1
    p = exact_randomisation(A, B)
    assert p[COL["f1"]] == pytest.approx(0.5) and p[COL["precision"]] == pytest.approx(0.5)
    assert p[COL["LOC"]] == pytest.approx(1.0)


def test_bootstrap_with_given_resamples_by_hand():
    # resamples [0,0,0]: δ = 100 - 0; [1,2,2]: A (1,3,3) 33.3 vs B (0,2,3) 0 -> 33.3; [2,2,2]: 0 - 0
    # |δ_b - δ| = 33.3, 33.3, 66.7; >= |δ| = 66.7 once -> p = (1 + 1) / (3 + 1)
    p = paired_bootstrap(A, B, indices=np.array([[0, 0, 0], [1, 2, 2], [2, 2, 2]]))
    assert p[COL["f1"]] == pytest.approx(0.5)


def test_randomisation_with_given_swaps_by_hand():
    # no swap: δ = 66.7; swap all: -66.7 -> both count -> p = (1 + 2) / (2 + 1) = 1
    p = approximate_randomisation(A, B, swaps=np.array([[False, False, False], [True, True, True]]))
    assert p[COL["f1"]] == pytest.approx(1.0)
    # only the "swap s1" pattern (|δ| 6.7 < 66.7): p = 1 / 2
    p = approximate_randomisation(A, B, swaps=np.array([[True, False, False]]))
    assert p[COL["f1"]] == pytest.approx(0.5)


def test_clearly_better_system_is_significant_and_identical_is_not():
    rng = np.random.default_rng(1)
    good = np.tile(np.array([[1, 1, 1]] * 5), (60, 1, 1))
    bad = np.tile(np.array([[0, 1, 1]] * 5), (60, 1, 1))
    assert paired_bootstrap(good, bad, 500, rng)[COL["f1"]] < 0.01
    assert approximate_randomisation(good, bad, 500, rng)[COL["f1"]] < 0.01
    assert paired_bootstrap(good, good, 200, rng)[COL["f1"]] == pytest.approx(1.0)


def test_sentence_counts_by_hand():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["O", "B-MISC"]]
    c = sentence_counts(gold, pred)
    assert c[0, 0].tolist() == [1, 2, 2] and c[1, 0].tolist() == [0, 1, 1]  # overall
    assert c[0, 1].tolist() == [1, 1, 1]  # PER matched
    assert c[0, 2].tolist() == [0, 0, 1] and c[0, 3].tolist() == [0, 1, 0]  # LOC missed, ORG spurious
    assert c[1, 4].tolist() == [0, 1, 0]  # MISC spurious


# ------------------------------------------------------------------ stored predictions
def _sentences(n: int) -> list[Sentence]:
    out = []
    for i in range(n):
        image, source = (f"16_05_01_{i}", "twitter2017") if i % 2 == 0 else (f"a---{i}", "cc12m-mbart50")
        out.append(Sentence(("Anna", f"visits{i}", "Rome"), ("B-PER", "O", "B-LOC"), image, "en", source, f"f:{i}"))
    return out


def test_predictions_round_trip(tmp_path):
    sents = _sentences(3)
    tags = [("B-PER", "O", "O"), ("O", "O", "B-LOC"), ("B-PER", "O", "B-LOC")]
    sents[0] = Sentence(sents[0].tokens, sents[0].tags, sents[0].image_id, "en", "twitter2017", "my dir/f.txt:3")
    write_predictions(tmp_path / "p.conll", sents, tags)
    back = read_predictions(tmp_path / "p.conll")
    assert [b.pred for b in back] == tags and [b.gold for b in back] == [s.tags for s in sents]
    assert back[0].sid == "my dir/f.txt:3" and back[1].source == "cc12m-mbart50" and back[0].image == "16_05_01_0"


def _store(tmp_path, good_f1_seeds=(1, 2)):
    """2M-NER perfect on 40 sentences, BiLSTM-CRF missing every LOC; stored with predictions."""
    sents = _sentences(40)
    perfect = [s.tags for s in sents]
    no_loc = [("B-PER", "O", "O") for _ in sents]
    ref = [fake("2m-ner", ("en",), "en", True, s, 0.9) for s in good_f1_seeds]
    other = [fake("bilstm-crf", ("en",), "en", False, s, 0.6) for s in (1, 2)]
    nopred = [fake("hbilstm-crf", ("en",), "en", False, 1, 0.6)]
    preds = {r.job_id: (sents, perfect) for r in ref} | {r.job_id: (sents, no_loc) for r in other}
    write_store(tmp_path, ref + other + nopred, preds)
    return ref + other + nopred


def test_significance_marks_and_caption(tmp_path):
    results = _store(tmp_path)
    frame = attach_significance(build_frame(get_table(5), results), results, tmp_path, "randomisation", 0.05, 300)
    rows = {(fr.row.group, fr.row.method): fr for fr in frame.rows}
    bl = rows[("English", "BiLSTM-CRF")]
    assert bl.cells["LOC"].p < 0.01 and bl.cells["f1"].p < 0.01  # 40 of 80 entities lost
    assert bl.cells["PER"].p == pytest.approx(1.0)  # PER identical in both
    assert rows[("English", "2M-NER")].cells["f1"].p is None  # the reference itself
    md, tex = render(frame, "markdown"), render(frame, "latex")
    line = next(x for x in md.splitlines() if "BiLSTM-CRF" in x and "60.00" in x)
    assert line.count("*") >= 2 and "approximate randomisation" in md and "p < 0.05" in md
    assert "Not tested (no stored predictions): English HBiLSTM-CRF." in md
    assert "$^{*}$" in tex and "p $<$ 0.05" not in tex and "p < 0.05" in tex


def test_report_significance_refuses_test_max(tmp_path):
    from benchmark.errors import ConfigError
    results = _store(tmp_path)
    with pytest.raises(ConfigError, match="test_max"):
        report_frame(5, results, tmp_path, selection="test_max", significance="bootstrap")


def test_by_source_split_from_predictions(tmp_path):
    results = _store(tmp_path)
    frame, missing = by_source_frame(build_frame(get_table(5), results), results, tmp_path)
    rows = {(fr.row.method, fr.labels[-1]): fr for fr in frame.rows}
    # 20 Twitter-2017 and 20 CC12M sentences, each with one PER and one LOC; BiLSTM-CRF finds only PER:
    # P 100, R 50, F1 66.67 on both sources
    tw = rows[("BiLSTM-CRF", "Twitter-2017 (20)")]
    assert tw.cells["f1"].value == pytest.approx(200 / 3) and tw.cells["recall"].value == pytest.approx(50.0)
    assert rows[("2M-NER", "CC12M (mBART50) (20)")].cells["f1"].value == pytest.approx(100.0)
    assert missing == ["English HBiLSTM-CRF"]
    assert "Source (test sentences)" in render(frame, "markdown")


# ------------------------------------------------------------------ Table 8 subsets
def test_fold_assignment_is_fixed_disjoint_and_balanced():
    assignment = fold_assignment(23, 5)
    assert sorted(assignment.count(k) for k in range(1, 6)) == [4, 4, 5, 5, 5]
    # the recorded rule: random.Random(20240426).shuffle(positions), subset = shuffled index mod 5 + 1
    order = list(range(23))
    random.Random(20240426).shuffle(order)
    assert assignment == [order.index(i) % 5 + 1 for i in range(23)]
    # pinned, so that a change of the rule (which would silently change Table 8's data) fails here
    assert assignment == [5, 3, 5, 3, 2, 4, 4, 4, 1, 3, 5, 2, 5, 3, 2, 3, 4, 1, 2, 1, 2, 1, 1]
    sents = _sentences(23)
    parts = [fold_subset(sents, k) for k in range(1, 6)]
    assert sorted(s.sid for p in parts for s in p) == sorted(s.sid for s in sents)
    assert len({subset_digest(p) for p in parts}) == 5
    with pytest.raises(ValueError):
        fold_subset(sents, 6)

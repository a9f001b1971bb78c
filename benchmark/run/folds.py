"""Table 8's subsets: the training split of All cut into five disjoint subsets of about equal size.

The paper (Sec. 5.4.5): "we divide the training dataset into five subsets of roughly equal size
without any intersection [...] train the 2M-NER model ten times with image, every two times using a
different subset as the training set". So a Table 8 job trains on ONE subset (a fifth of the data),
with the usual dev and test sets. The authors released no fold files or code (``models/two_m_ner/README.md``,
point 26), so the assignment is this fixed, documented rule:

    shuffle the positions 0..N-1 of the training sentences (in corpus order: en, fr, es, de, each
    in file order) with ``random.Random(FOLD_SEED)``; the sentence at shuffled position j belongs to
    subset (j mod n) + 1.

Sizes differ by at most one. ``subset_digest`` (a hash of the subset's languages, tokens and tags)
is recorded in every Table 8 result, so the assignment a number came from is on record.
"""
from __future__ import annotations

import hashlib
import random
from typing import Sequence

from benchmark.corpora.reader import Sentence

from benchmark.run.specs import FOLD_SEED  # noqa: E402 - one definition, in the job spec
RULE = f"random.Random({FOLD_SEED}).shuffle(positions); subset = shuffled index mod n + 1"


def fold_assignment(n_sentences: int, n_folds: int = 5, seed: int = FOLD_SEED) -> list[int]:
    """Subset number (1..n_folds) of each of ``n_sentences`` training sentences, in corpus order."""
    order = list(range(n_sentences))
    random.Random(seed).shuffle(order)
    subset = [0] * n_sentences
    for j, i in enumerate(order):
        subset[i] = j % n_folds + 1
    return subset


def fold_subset(sentences: Sequence[Sentence], fold: int, n_folds: int = 5,
                seed: int = FOLD_SEED) -> list[Sentence]:
    """The training sentences of subset ``fold`` (1..n_folds), in corpus order."""
    if not 1 <= fold <= n_folds:
        raise ValueError(f"fold must be in 1..{n_folds}, got {fold}")
    assignment = fold_assignment(len(sentences), n_folds, seed)
    return [s for s, k in zip(sentences, assignment) if k == fold]


def subset_digest(sentences: Sequence[Sentence]) -> str:
    """Content hash of a subset (language, tokens, tags of each sentence, in order)."""
    h = hashlib.sha256()
    for s in sentences:
        h.update(f"{s.language}\t{' '.join(s.tokens)}\t{' '.join(s.tags)}\n".encode())
    return h.hexdigest()[:16]

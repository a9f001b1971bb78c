"""BERT-CRF: BERT's word-level emissions fed to a linear-chain CRF.

With scheme B this is the architecture of 2M-NER's text-only model (``--use_image`` off; registered
as ``2m-ner-text``): mBERT last layer -> first-wordpiece gather -> dropout 0.1 -> Linear -> CRF over
words (mask = real words). The two differ by default in one switch: BERT-CRF decodes constrained,
``2m-ner-text`` does not; ``--hp crf_constrained=false`` makes BERT-CRF decode as ``2m-ner-text``
(README, Protocol switches). The CRF loss
is the NLL averaged over the sentences of a batch (pytorch-crf ``mean``, as 2M-NER); decoding is the
batched Viterbi. Optimiser and windowing as in ``baselines.bert``. The CRF scores start U(-0.1, 0.1)
(``crf_init=uniform``, pytorch-crf as in the authors' and UMT's code; ``crf_init=allennlp`` draws
start/end from N(0, 1) and transitions xavier-normal).

Decoding is **IOB2-constrained by default** (``crf_constrained=True``): the Viterbi never outputs
``O -> I-X``, ``B-X -> I-Y`` or a sentence starting with ``I-X`` (the likelihood itself is
unconstrained, as in allennlp). The authors' code (torchcrf) decodes without constraints, and its
lenient seqeval scoring then reads a stray ``I-X`` as an entity start. ``bert-crf-code`` is the
authors' recipe: ``crf_constrained=False``, ``crf_init=uniform``, ``word_gather=authors_off_by_one``,
batch 32, best-test-epoch selection.
"""
from __future__ import annotations

from typing import Any

import torch

from baselines.bert import BERTTagger
from baselines.layers.crf import crf_for


class BERTCRFTagger(BERTTagger):
    """BERT emissions -> CRF over words."""

    def build_head(self, config: dict[str, Any]) -> None:
        self.crf = crf_for(self.tags, config, constrained=True)

    def loss(self, batch: dict[str, Any]) -> torch.Tensor:
        return self.crf(self.emissions(batch), batch["tags"], batch["word_mask"])

    def decode(self, batch: dict[str, Any]) -> list[list[str]]:
        return self.crf.decode_tags(self.emissions(batch), batch["word_mask"])

"""BiLSTM-CRF (Huang, Xu & Yu 2015): word embeddings -> BiLSTM -> CRF.

Follows the suite's decisions in ``design/baselines.md`` §1: no hand-crafted spelling/context
features; embeddings from a GloVe/word2vec file when ``embeddings`` is given (the paper used 300-d
GloVe), else word2vec (skip-gram, 300-d) trained on the training split only; BiLSTM 100 per
direction, dropout 0.5, SGD lr 0.015 with lr/(1+0.05·epoch) decay, batch 10, summed CRF loss, L2 1e-8
(NCRF++); BIO-constrained CRF.

Choices the original papers leave open, measured on the English MMNERD dev split:
- Gradient clipping at 50 on the summed batch loss (Lample et al.'s per-sentence norm 5 times the
  batch of 10): clipping the *sum* at 5 shrinks nearly every step about tenfold.
- ``unk_replace=0.5``: training-set singletons are replaced by ``<unk>`` with probability 0.5
  (Lample et al. 2016). Without pretrained vectors every test word unseen in training maps to
  ``<unk>``, which the model otherwise never sees during training.
- At most 30 epochs, stopping after 8 without dev improvement, to stay within ~15 minutes on
  2 CPU cores; ``length_buckets`` batches sentences of similar length (same data, less padding).
A run with Huang et al.'s lr 0.1 and clipping at 5 reached dev 60.69 / test 59.81 (stored in
``results/experiments``), against dev 60.38 / test 59.44 for these defaults: within noise, so the
NCRF++ learning rate was kept.
"""
from __future__ import annotations

from baselines.layers.lstm import LSTMCRFTagger


class BiLSTMCRF(LSTMCRFTagger):
    """Word-only LSTM-CRF; all layers are the shared NCRF++-style ones."""

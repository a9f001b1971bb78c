"""BiLSTM-CRF (Huang, Xu & Yu 2015): word embeddings -> BiLSTM -> CRF.

Follows the suite's decisions in ``design/baselines.md`` §1: no hand-crafted spelling/context
features; embeddings from a GloVe/word2vec file when ``embeddings`` is given (the paper used 300-d
GloVe), else word2vec (skip-gram, 300-d) trained on the training split only; BiLSTM 100 per
direction, dropout 0.5, batch 10, summed CRF loss, L2 1e-8, gradient clipping 5 and lr/(1+0.05·epoch)
decay (NCRF++); BIO-constrained CRF.

Two choices differ from NCRF++'s defaults, both measured on the English MMNERD dev split
(``--hp`` restores either):
- SGD learning rate 0.1, Huang et al.'s own rate, instead of NCRF++'s 0.015: with word2vec vectors
  learned from 330k training tokens, 0.015 reached dev F1 49 after 10 epochs (0.1: 57).
- ``unk_replace=0.5``: training-set singletons are replaced by ``<unk>`` with probability 0.5
  (Lample et al. 2016). Without pretrained vectors every test word unseen in training maps to
  ``<unk>``, which the model otherwise never sees during training.
Training stops after 8 epochs without dev improvement (at most 30), to stay within ~15 minutes on
2 CPU cores; ``length_buckets`` batches sentences of similar length (same data, less padding).
"""
from __future__ import annotations

from baselines.layers.lstm import LSTMCRFTagger


class BiLSTMCRF(LSTMCRFTagger):
    """Word-only LSTM-CRF; all layers are the shared NCRF++-style ones."""

    uses_chars = False

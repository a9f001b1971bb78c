"""BiLSTM-CRF (Huang, Xu & Yu 2015): word embeddings -> BiLSTM -> CRF.

Follows the suite's decisions in ``design/baselines.md`` §1: no hand-crafted spelling/context
features; embeddings from a GloVe/word2vec file when ``embeddings`` is given (the paper used 300-d
GloVe), else word2vec trained on the training split only; BiLSTM 100 per direction, dropout 0.5,
SGD with lr/(1+0.05·epoch) decay, batch 10 (NCRF++ defaults); BIO-constrained CRF.
"""
from __future__ import annotations

from baselines.layers.lstm import LSTMCRFTagger


class BiLSTMCRF(LSTMCRFTagger):
    """Word-only LSTM-CRF; all layers are the shared NCRF++-style ones."""

    uses_chars = False

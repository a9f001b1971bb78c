"""HBiLSTM-CRF (Lample et al. 2016): character BiLSTM + word embedding -> BiLSTM -> CRF.

Architecture (``design/baselines.md`` §2): per word, a character BiLSTM (char embedding 25, 25 units
per direction, last forward + first backward state = 50-d) concatenated with the word embedding;
dropout 0.5 on that representation; word BiLSTM 100 per direction; dropout 0.5; Linear; CRF with
start/end scores and BIO-constrained transitions (loss summed over the batch). Singleton training
words are replaced by UNK with probability 0.5 (Lample). IOB2 tags (the dataset's own scheme).

Choices, recorded:

* Word embeddings: GloVe 300-d when ``embeddings`` names a file or ``glove.6B.300d`` (resolved by
  ``benchmark.weights``); else 300-d skip-gram word2vec trained on the training split (GloVe cannot
  be downloaded offline), as BiLSTM-CRF does. Lample used 100-d skip-n-gram vectors.
* Optimiser: SGD, L2 1e-8. Lample updated per sentence at lr 0.01 and clipped each sentence's
  gradient norm at 5. One-sentence updates cost too much on 2 CPU cores, so the default is NCRF++'s
  batch of 10 with the CRF loss summed over the batch, lr 0.015 and lr/(1 + 0.05 * epoch) decay;
  the clipping threshold is scaled with the summed loss to 5 x 10 = 50. (Clipping the 10-sentence
  sum at 5 is not Lample's setting: its gradient norm is 35-55 early in training, so every step was
  shrunk ~10x: English dev F1 45.2 after 5 epochs, against 56.3 with 50 and 60.7 by epoch 10.)
  ``batch_size=1, lr=0.01, lr_decay=0, grad_clip=5`` gives Lample's exact setting.
* Epochs: at most 15 (dev F1 plateaus after ~6-10 epochs on English MMNERD; 15 fit ~15 minutes
  on 2 CPU cores), early stop after 5 epochs without dev improvement; selection on dev F1.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from baselines.layers.chars import CharBiLSTM, CharVocab, char_inventory
from baselines.layers.lstm import LSTMCRFTagger
from benchmark.corpora.reader import Sentence


class HBiLSTMCRF(LSTMCRFTagger):
    """Lample-style LSTM-CRF with a character BiLSTM in the word representation."""

    def build_char_encoder(self, config: dict[str, Any]) -> nn.Module:
        self.char_vocab = CharVocab(config["chars"])
        return CharBiLSTM(len(self.char_vocab), int(config.get("char_embedding_dim", 25)),
                          int(config.get("char_hidden_size", 25)))

    def char_features(self, batch: dict[str, Any]) -> torch.Tensor:
        return self.char_encoder(batch["chars"], batch["char_lengths"])

    @classmethod
    def extra_config(cls, hp: dict[str, Any], train: Sequence[Sentence]) -> dict[str, Any]:
        return {"chars": char_inventory(t for s in train for t in s.tokens)}

    def collate_chars(self, sentences: Sequence[Sentence], batch: dict[str, Any]) -> None:
        batch["chars"], batch["char_lengths"] = self.char_vocab.batch([s.tokens for s in sentences])

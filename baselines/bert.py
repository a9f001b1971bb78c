"""BERT (Devlin et al. 2019) token classification with a softmax over words.

``bert-base-multilingual-cased`` (cased, 2M-NER's eight extra special tokens added) -> last layer
-> first-wordpiece state of each word (scheme B, ``baselines.layers.text_encoder``) -> dropout 0.1
-> Linear(H -> |tags|) -> softmax; cross-entropy averaged over the real words of the batch;
argmax per word at prediction. Long sentences are split into overlapping windows (see
``baselines.layers.text_encoder``) so every word is tagged; nothing is truncated.

Optimisation (the 2M-NER regime, ``models/two_m_ner/README.md``): Adam lr 5e-5 on every parameter,
no weight decay, no gradient clipping, linear decay to 0 over all steps with no warmup, batch 16,
8 epochs; model selection on dev. ``text_encoder="tiny"`` (the smoke scale) swaps in a tiny random BERT.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from baselines.layers.text_encoder import (SubwordAligner, encode_words, linear_warmup_decay, load_text_encoder,
                                          rebuild_text_encoder)
from benchmark.api import BuildContext, Tagger, pad_ids, tag_inventory
from benchmark.corpora.reader import Sentence


class BERTTagger(Tagger):
    """Transformer encoder -> first-wordpiece gather -> dropout -> Linear -> softmax over words."""

    def __init__(self, config: dict[str, Any], ctx: BuildContext,
                 encoder: tuple[Any, Any] | None = None) -> None:
        super().__init__(config, ctx)
        tokenizer, model = encoder if encoder is not None else rebuild_text_encoder(config["text_encoder_saved"], ctx)
        self.tokenizer = tokenizer
        self.encoder = model
        saved = config["text_encoder_saved"]
        self.aligner = SubwordAligner(tokenizer, int(saved["max_length"]), float(config.get("window_overlap", 0.5)),
                                      gather=str(config.get("word_gather", "first")))
        hidden = int(model.config.hidden_size)
        self.dropout = nn.Dropout(float(config.get("dropout", 0.1)))
        self.classifier = nn.Linear(hidden, len(self.tags))
        self.build_head(config)

    def build_head(self, config: dict[str, Any]) -> None:
        """Hook for the CRF variant."""

    # -- building -----------------------------------------------------------------------------
    @classmethod
    def from_training_data(cls, hp: dict[str, Any], train: Sequence[Sentence], ctx: BuildContext) -> "BERTTagger":
        tokenizer, encoder, saved = load_text_encoder(hp, train, ctx)
        config = {k: v for k, v in hp.items() if isinstance(v, (int, float, str, bool, type(None)))}
        config.update(tags=tag_inventory(train), text_encoder_saved=saved)
        model = cls(config, ctx, encoder=(tokenizer, encoder))
        model.run_notes = {"text_encoder": saved["source"], "max_length": saved["max_length"],
                           "vocab_size": len(tokenizer)}
        return model

    # -- data ---------------------------------------------------------------------------------
    def collate(self, sentences: Sequence[Sentence]) -> dict[str, Any]:
        batch: dict[str, Any] = self.aligner([s.tokens for s in sentences])
        tags, _ = pad_ids([[self.tag_to_id.get(t, 0) for t in s.tags] for s in sentences])
        batch["tags"] = tags[:, : batch["word_mask"].size(1)]
        return batch

    # -- model --------------------------------------------------------------------------------
    def emissions(self, batch: dict[str, Any]) -> torch.Tensor:
        """Tag scores ``[B, W, |tags|]``."""
        words, _ = encode_words(self.encoder, batch)
        return self.classifier(self.dropout(words))

    def loss(self, batch: dict[str, Any]) -> torch.Tensor:
        scores = self.emissions(batch)
        mask = batch["word_mask"]
        return nn.functional.cross_entropy(scores[mask], batch["tags"][mask])

    def decode(self, batch: dict[str, Any]) -> list[list[str]]:
        best = self.emissions(batch).argmax(dim=-1).tolist()
        lengths = batch["word_mask"].sum(dim=1).tolist()
        return [[self.tags[i] for i in row[:n]] for row, n in zip(best, lengths)]

    def configure_optimizer(self, hp: dict[str, Any], total_steps: int):
        """Adam (no weight decay) with a linear decay to 0 and no warmup, stepped every batch."""
        opt = torch.optim.Adam(self.parameters(), lr=float(hp.get("lr", 5e-5)))
        warmup = int(float(hp.get("warmup_ratio", 0.0)) * total_steps)
        return opt, linear_warmup_decay(opt, warmup, total_steps), "step"

"""AdaCAN (Zhang, Fu, Liu & Huang, AAAI 2018): CNN-BiLSTM-CRF with an adaptive co-attention network.

Every difference between the paper, the authors' Keras code and this implementation is listed in
``baselines/adacan.md``. In short:

* Text: word embedding (trained-here 300-d skip-gram word2vec, or a GloVe file via ``embeddings``)
  + character CNN (char embedding 30; parallel convolutions of widths 2, 3, 4 with 32 filters each,
  tanh, max over time -> Linear 100 + ReLU -> dropout 0.25 -> Linear 50) -> dropout -> BiLSTM (200 per
  direction) -> ``h_t``. ``text_stack="code"`` uses the Keras code's two BiLSTMs instead.
* Image: a frozen CNN's 7 x 7 grid (torchvision VGG-16 pool5, 49 x 512), ``v_I = tanh(W_I v + b)``.
* (a) word-guided visual attention, (b) image-guided textual attention, (c) gated multimodal fusion
  (scalar gate), (d) filtration gate (scalar) ``u_t = s_t tanh(W_m m_t + b)``; output
  ``Linear([h_t ; u_t])`` -> CRF (loss averaged over the batch, as Keras).
* Text-only variant (Table 7, built when the job has no images: ``ctx.images is None``): (a)-(d) are
  dropped and ``h_t`` feeds the CRF, i.e. CNN-BiLSTM-CRF.
* RMSprop lr 1e-3 (Keras defaults), batch 10, 25 epochs, best dev epoch. Sentences are padded per
  batch (no 35-word truncation).
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from baselines.layers.chars import CHAR_PAD, CharVocab, char_inventory
from baselines.layers.lstm import BiLSTMEncoder, LSTMCRFTagger
from baselines.layers.optim import RowwiseRMSprop
from baselines.layers.visual_regions import RegionFeatures, build_cnn, rebuild_cnn
from benchmark.api import BuildContext
from benchmark.corpora.reader import Sentence
from benchmark.errors import ConfigError


class CharCNN(nn.Module):
    """``chars [B, W, C]`` -> ``[B, W, out]``: parallel convolutions, max over time, two Linears."""

    def __init__(self, num_chars: int, embedding_dim: int = 30, filters: int = 32,
                 widths: Sequence[int] = (2, 3, 4), hidden: int = 100, out: int = 50,
                 dropout: float = 0.25) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_chars, embedding_dim, padding_idx=CHAR_PAD)
        self.convs = nn.ModuleList(nn.Conv1d(embedding_dim, filters, w) for w in widths)
        self.widest = max(widths)
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Sequential(nn.Linear(filters * len(widths), hidden), nn.ReLU(), nn.Dropout(dropout),
                                  nn.Linear(hidden, out))
        self.output_size = out

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        b, w, c = chars.shape
        if c < self.widest:
            chars = nn.functional.pad(chars, (0, self.widest - c), value=CHAR_PAD)
        x = self.embedding(chars.reshape(b * w, -1)).transpose(1, 2)  # [N, E, C]
        pooled = [torch.tanh(conv(x)).max(dim=2).values for conv in self.convs]
        return self.proj(self.dropout(torch.cat(pooled, dim=-1))).reshape(b, w, -1)


class CoAttention(nn.Module):
    """(a)-(d) of AdaCAN: h ``[B, T, Dh]`` and regions ``[B, R, C]`` -> ``u_t`` ``[B, T, d]``.

    ``last_gates`` keeps the fusion gate g_t and the filtration gate s_t of the last forward pass.
    """

    def __init__(self, text_size: int, region_size: int, d: int) -> None:
        super().__init__()
        self.region_proj = nn.Linear(region_size, d)  # v_I = tanh(W_I v + b_I)
        # (a) word-guided visual attention
        self.a_img = nn.Linear(d, d, bias=False)
        self.a_txt = nn.Linear(text_size, d)
        self.a_score = nn.Linear(d, 1)
        # (b) image-guided textual attention
        self.b_txt = nn.Linear(text_size, d, bias=False)
        self.b_img = nn.Linear(d, d)
        self.b_score = nn.Linear(d, 1)
        # (c) gated multimodal fusion
        self.fuse_v = nn.Linear(d, d)
        self.fuse_h = nn.Linear(text_size, d)
        self.fuse_gate = nn.Linear(2 * d, 1, bias=False)
        # (d) filtration gate
        self.filter_h = nn.Linear(text_size, 1, bias=False)
        self.filter_m = nn.Linear(d, 1)
        self.filter_out = nn.Linear(d, d)
        self.last_gates: dict[str, torch.Tensor] = {}

    def forward(self, h: torch.Tensor, mask: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
        v = torch.tanh(self.region_proj(regions))  # [B, R, d]
        # (a) alpha_t over the regions, v_hat_t = sum_i alpha_ti v_i
        z = torch.tanh(self.a_img(v).unsqueeze(1) + self.a_txt(h).unsqueeze(2))  # [B, T, R, d]
        alpha = torch.softmax(self.a_score(z).squeeze(-1), dim=-1)  # [B, T, R]
        v_hat = alpha @ v  # [B, T, d]
        # (b) beta_t over the words, h_hat_t = sum_j beta_tj h_j
        z2 = torch.tanh(self.b_txt(h).unsqueeze(1) + self.b_img(v_hat).unsqueeze(2))  # [B, T(query), T(key), d]
        scores = self.b_score(z2).squeeze(-1).masked_fill(~mask.unsqueeze(1), float("-inf"))
        h_hat = torch.softmax(scores, dim=-1) @ h  # [B, T, Dh]
        # (c) m_t = g h_v + (1 - g) h_h
        h_v, h_h = torch.tanh(self.fuse_v(v_hat)), torch.tanh(self.fuse_h(h_hat))
        g = torch.sigmoid(self.fuse_gate(torch.cat([h_v, h_h], dim=-1)))  # [B, T, 1]
        m = g * h_v + (1 - g) * h_h
        # (d) s_t = sigma(W_sh h_t + W_ms m_t + b); u_t = s_t tanh(W_m m_t + b_m)
        s = torch.sigmoid(self.filter_h(h) + self.filter_m(m))  # [B, T, 1]
        self.last_gates = {"fusion": g, "filtration": s}
        return s * torch.tanh(self.filter_out(m))


class AdaCAN(LSTMCRFTagger):
    """CNN-BiLSTM-CRF with AdaCAN's co-attention over a frozen CNN grid (text-only without images)."""

    def __init__(self, config: dict[str, Any], ctx: BuildContext) -> None:
        super().__init__(config, ctx)
        hidden = int(config["hidden_size"])
        stack = config.get("text_stack", "paper")
        if stack == "code":  # Keras: words -> BiLSTM; [that ; chars] -> BiLSTM
            self.word_lstm = BiLSTMEncoder(int(config["embedding_dim"]), hidden)
            self.encoder = BiLSTMEncoder(self.word_lstm.output_size + self.char_encoder.output_size, hidden)
        if config.get("optimizer", "rmsprop") == "rmsprop":
            self.word_embedding.sparse = True  # RowwiseRMSprop updates only the rows of a batch's words
        text_size = self.encoder.output_size
        self.use_image = bool(config["use_image"])
        if self.use_image:
            saved = {"source": config["cnn_source"], "arch": config["cnn_arch"]}
            self.regions = RegionFeatures(rebuild_cnn(saved), saved, "grid", int(config.get("image_size", 224)))
            d = int(config["attention_size"])
            self.coattention = CoAttention(text_size, self.regions.out_channels, d)
            self.hidden2tag = nn.Linear(text_size + d, len(self.tags))

    # -- LSTMCRFTagger hooks ------------------------------------------------------------------
    def build_char_encoder(self, config: dict[str, Any]) -> nn.Module:
        self.char_vocab = CharVocab(config["chars"])
        return CharCNN(len(self.char_vocab), int(config.get("char_embedding_dim", 30)),
                       int(config.get("char_filters", 32)), (2, 3, 4), 100, int(config.get("char_out", 50)),
                       float(config.get("char_dropout", 0.25)))

    def char_features(self, batch: dict[str, Any]) -> torch.Tensor:
        return self.char_encoder(batch["chars"])

    @classmethod
    def extra_config(cls, hp: dict[str, Any], train: Sequence[Sentence]) -> dict[str, Any]:
        return {"chars": char_inventory(t for s in train for t in s.tokens)}

    def collate_chars(self, sentences: Sequence[Sentence], batch: dict[str, Any]) -> None:
        limit = int(self.config.get("max_word_length", 30))
        batch["chars"], _ = self.char_vocab.batch([[w[:limit] for w in s.tokens] for s in sentences])

    # -- building -----------------------------------------------------------------------------
    @classmethod
    def from_training_data(cls, hp: dict[str, Any], train: Sequence[Sentence], ctx: BuildContext) -> "AdaCAN":
        if hp.get("text_stack", "paper") not in ("paper", "code"):
            raise ConfigError(f"adacan: text_stack must be 'paper' or 'code', not {hp['text_stack']!r}")
        hp = {**hp, "use_image": ctx.images is not None}
        cnn = None
        if hp["use_image"]:  # load the pretrained CNN first: a missing file stops before word2vec
            cnn = build_cnn(str(hp["visual_encoder"]), ctx.log)
            hp.update(cnn_source=cnn[1]["source"], cnn_arch=cnn[1].get("arch"))
        model = super().from_training_data(hp, train, ctx)
        if cnn is not None:
            model.regions.cnn.load_state_dict(cnn[0].state_dict())
        model.run_notes = {**getattr(model, "run_notes", {}),
                           "variant": "image" if hp["use_image"] else "text-only (co-attention dropped)",
                           "visual_encoder": cnn[1]["source"] if cnn else None}
        return model

    # -- data ---------------------------------------------------------------------------------
    def collate(self, sentences: Sequence[Sentence]) -> dict[str, Any]:
        batch = super().collate(sentences)
        if self.use_image:
            batch["image"] = self.regions.collate(sentences, self._store(), self.ctx.cache_dir)
        return batch

    def _store(self) -> Any:
        if self.ctx.images is None:
            from benchmark.corpora.images import ImageStore
            self.ctx.images = ImageStore(None)
            self.ctx.log("adacan: image variant without an image store; every image is a blank one")
        return self.ctx.images

    # -- model --------------------------------------------------------------------------------
    def emissions(self, batch: dict[str, Any]) -> torch.Tensor:
        words = self.words_with_unk(batch)
        mask = batch["mask"]
        emb, chars = self.word_embedding(words), self.char_features(batch)
        if self.config.get("text_stack", "paper") == "code":
            rep = torch.cat([self.word_lstm(self.dropout(emb), mask), chars], dim=-1)
        else:
            rep = torch.cat([emb, chars], dim=-1)
        h = self.dropout(self.encoder(self.dropout(rep), mask))
        if self.use_image:
            regions = self.regions(batch["image"], self.ctx.cache_dir)
            h = torch.cat([h, self.coattention(h, mask, regions)], dim=-1)
        return self.hidden2tag(h)

    def configure_optimizer(self, hp: dict[str, Any], total_steps: int):
        """RMSprop (Keras defaults: rho 0.9, eps 1e-7) on the trainable parameters, constant lr."""
        params = [p for p in self.parameters() if p.requires_grad]
        if hp.get("optimizer", "rmsprop") == "adam":
            return torch.optim.Adam(params, lr=float(hp["lr"])), None, "step"
        if hp.get("optimizer", "rmsprop") != "rmsprop":
            raise ConfigError(f"adacan: optimizer must be 'rmsprop' or 'adam', not {hp['optimizer']!r}")
        return RowwiseRMSprop(params, lr=float(hp["lr"]), alpha=0.9, eps=1e-7), None, "step"

"""UMGF (Zhang, Wei, Li, Wu, Zhu & Zhou, AAAI 2021): a unified multimodal graph fusion for MNER.

``baselines/umgf.md`` (code: TransformersWsz/UMGF ``ddp_mmner.py::MMNerModel``, ``model/utils.py``)
lists every difference between paper, code and ours.

* Nodes: the words (mBERT states, first wordpiece of each word, projected to d = 512) and ``max_node``
  = 4 visual objects (crops -> frozen ResNet-152, mean-pooled, fc Linear 2048 -> 2048, then
  Drop(ReLU(Linear 2048 -> 512)) and Drop(ReLU(Linear 512 -> 512))). Intra-modal edges: all words,
  all objects; inter-modal edges: every real word to every object (the code's ``construct_inter_matrix``).
* ``layers`` = 6 graph fusion layers: text self-attention, object self-attention (q/k projected only,
  as the code), word->object and object->word gating ``g_ij = sigmoid(W [x_i ; o_j])`` in R^d, residual
  LayerNorms and position-wise FFNs (512 -> 256 -> 512), dropout 0.4.
* Output: ``Linear([X_bert ; x])`` -> CRF (NLL summed over the batch, as the code).
* Objects: visual grounding in the original; here ``objects="auto"`` takes the top-4 boxes of a
  torchvision Faster R-CNN when its weights are present, else the 2 x 2 grid crops (``"whole"``: the
  whole image, the original's own fallback). Which one ran is in every result (``counts.notes``).
* Text-only variant (Table 7, built when the job has no images): no object nodes, x2o = 0, no object
  stream; the text stack and the concatenation with the BERT output are kept.
* Adam lr 1e-4 on all trainable parameters, StepLR (2 epochs, x0.8), batch 16, 30 epochs.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch import nn

from baselines.layers.crf import crf_for
from baselines.layers.text_encoder import SubwordAligner, encode_words, load_text_encoder, rebuild_text_encoder
from baselines.layers.visual_regions import RegionFeatures, build_cnn, rebuild_cnn, resolve_objects
from benchmark.api import BuildContext, Tagger, pad_ids, tag_inventory
from benchmark.corpora.reader import Sentence


def xavier_linear(n_in: int, n_out: int) -> nn.Linear:
    """The code's ``model/utils.py::Linear``: Xavier-uniform weight, zero bias."""
    layer = nn.Linear(n_in, n_out)
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class ObjectAttention(nn.Module):
    """Multi-head self-attention over objects with q/k projections only (values = the raw heads,
    no output projection), as the code's ``MultiHeadedAttention(v=0, output=0)``."""

    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.q, self.k = xavier_linear(d, d), xavier_linear(d, d)
        self.heads, self.dropout = heads, nn.Dropout(dropout)

    def forward(self, o: torch.Tensor) -> torch.Tensor:
        b, n, d = o.shape
        h, dk = self.heads, d // self.heads
        q = self.q(o).view(b, n, h, dk).transpose(1, 2)
        k = self.k(o).view(b, n, h, dk).transpose(1, 2)
        v = o.view(b, n, h, dk).transpose(1, 2)
        att = self.dropout(torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dk), dim=-1))
        return (att @ v).transpose(1, 2).reshape(b, n, d)


class FFN(nn.Module):
    def __init__(self, d: int, inner: int, dropout: float) -> None:
        super().__init__()
        self.w1, self.w2, self.dropout = xavier_linear(d, inner), xavier_linear(inner, d), nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(self.dropout(torch.relu(self.w1(x))))


class GraphFusionLayer(nn.Module):
    """One UMGF fusion layer over word nodes ``x`` ``[B, W, d]`` and object nodes ``o`` ``[B, N, d]``.

    ``o=None`` is the text-only variant: no object stream and x2o = 0. ``last_gates`` keeps the
    word->object and object->word gates of the last pass (``[B, W, N, d]``).
    """

    def __init__(self, d: int, heads: int, inner: int, dropout: float, with_objects: bool) -> None:
        super().__init__()
        self.text_att = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.ln_x1, self.ln_x2, self.ln_x3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.ffn_x = FFN(d, inner, dropout)
        self.with_objects = with_objects
        if with_objects:
            self.obj_att = ObjectAttention(d, heads, dropout)
            self.gate_x2o, self.gate_o2x = xavier_linear(2 * d, d), xavier_linear(2 * d, d)
            self.ln_o1, self.ln_o2, self.ln_o3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
            self.ffn_o = FFN(d, inner, dropout)
        self.last_gates: dict[str, torch.Tensor] = {}

    def forward(self, x: torch.Tensor, mask: torch.Tensor, o: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        att, _ = self.text_att(x, x, x, key_padding_mask=~mask, need_weights=False)
        x_t = self.ln_x1(x + self.drop(att))
        if o is None:
            x_h = self.ln_x2(x_t)  # x2o = 0
            return self.ln_x3(x_h + self.drop(self.ffn_x(x_h))), None
        o_t = self.ln_o1(o + self.drop(self.obj_att(o)))
        n_w, n_o = x_t.size(1), o_t.size(1)
        pair = torch.cat([x_t.unsqueeze(2).expand(-1, -1, n_o, -1),
                          o_t.unsqueeze(1).expand(-1, n_w, -1, -1)], dim=-1)  # [B, W, N, 2d], word first
        edges = mask.unsqueeze(2).unsqueeze(3).to(x.dtype)  # M_ij = 1 for every real word i, object j
        g = torch.sigmoid(self.gate_x2o(pair)) * edges
        g2 = torch.sigmoid(self.gate_o2x(pair)) * edges
        self.last_gates = {"x2o": g, "o2x": g2}
        x2o = (g * o_t.unsqueeze(1)).sum(dim=2)  # [B, W, d]
        o2x = (g2 * x_t.unsqueeze(2)).sum(dim=1)  # [B, N, d]
        x_h, o_h = self.ln_x2(x_t + self.drop(x2o)), self.ln_o2(o_t + self.drop(o2x))
        return (self.ln_x3(x_h + self.drop(self.ffn_x(x_h))),
                self.ln_o3(o_h + self.drop(self.ffn_o(o_h))))


class UMGF(Tagger):
    """mBERT words + visual objects -> graph fusion layers -> Linear([X_bert ; x]) -> CRF."""

    def __init__(self, config: dict[str, Any], ctx: BuildContext,
                 encoder: tuple[Any, Any] | None = None) -> None:
        super().__init__(config, ctx)
        tokenizer, text = encoder if encoder is not None else rebuild_text_encoder(config["text_encoder_saved"], ctx)
        self.tokenizer, self.text = tokenizer, text
        saved = config["text_encoder_saved"]
        self.aligner = SubwordAligner(tokenizer, int(saved["max_length"]), float(config.get("window_overlap", 0.5)))
        hidden, d = int(text.config.hidden_size), int(config["d_model"])
        p = float(config["dropout"])
        self.trans_txt = nn.Linear(hidden, d)
        self.use_image = bool(config["use_image"])
        if self.use_image:
            cnn_saved = {"source": config["cnn_source"], "arch": config["cnn_arch"]}
            self.regions = RegionFeatures(rebuild_cnn(cnn_saved), cnn_saved, "crops", int(config["image_size"]),
                                          int(config["max_node"]), str(config["objects_resolved"]))
            c = self.regions.out_channels
            self.obj_fc = nn.Linear(c, c)  # the replaced ResNet fc (PyTorch default init, as the code)
            self.obj_proj = nn.Sequential(xavier_linear(c, d), nn.ReLU(), nn.Dropout(p),
                                          xavier_linear(d, d), nn.ReLU(), nn.Dropout(p))
        self.layers = nn.ModuleList(GraphFusionLayer(d, int(config["heads"]), int(config["d_hidden"]), p,
                                                     self.use_image) for _ in range(int(config["layers"])))
        self.hidden2tag = nn.Linear(hidden + d, len(self.tags))
        self.crf = crf_for(self.tags, config, constrained=True, reduction="sum")

    # -- building -----------------------------------------------------------------------------
    @classmethod
    def from_training_data(cls, hp: dict[str, Any], train: Sequence[Sentence], ctx: BuildContext) -> "UMGF":
        config = {k: v for k, v in hp.items() if isinstance(v, (int, float, str, bool, type(None)))}
        config["use_image"] = ctx.images is not None
        cnn = None
        if config["use_image"]:
            config["objects_resolved"] = resolve_objects(str(hp["objects"]), ctx.log)
            cnn = build_cnn(str(hp["visual_encoder"]), ctx.log)
            config.update(cnn_source=cnn[1]["source"], cnn_arch=cnn[1].get("arch"))
        tokenizer, text, saved = load_text_encoder(hp, train, ctx)
        config.update(tags=tag_inventory(train), text_encoder_saved=saved)
        model = cls(config, ctx, encoder=(tokenizer, text))
        if cnn is not None:
            model.regions.cnn.load_state_dict(cnn[0].state_dict())
        model.run_notes = {"text_encoder": saved["source"],
                           "variant": "image" if config["use_image"] else "text-only (no object nodes)",
                           "objects": config.get("objects_resolved"),
                           "visual_encoder": cnn[1]["source"] if cnn else None}
        return model

    # -- data ---------------------------------------------------------------------------------
    def collate(self, sentences: Sequence[Sentence]) -> dict[str, Any]:
        batch: dict[str, Any] = self.aligner([s.tokens for s in sentences])
        tags, _ = pad_ids([[self.tag_to_id.get(t, 0) for t in s.tags] for s in sentences])
        batch["tags"] = tags[:, : batch["word_mask"].size(1)]
        if self.use_image:
            if self.ctx.images is None:
                from benchmark.corpora.images import ImageStore
                self.ctx.images = ImageStore(None)
                self.ctx.log("umgf: image variant without an image store; every image is a blank one")
            batch["image"] = self.regions.collate(sentences, self.ctx.images, self.ctx.cache_dir)
        return batch

    # -- model --------------------------------------------------------------------------------
    def emissions(self, batch: dict[str, Any]) -> torch.Tensor:
        words, _ = encode_words(self.text, batch)  # X_bert [B, W, H]
        mask = batch["word_mask"]
        x = self.trans_txt(words)
        o = None
        if self.use_image:
            o = self.obj_proj(self.obj_fc(self.regions(batch["image"], self.ctx.cache_dir)))
        for layer in self.layers:
            x, o = layer(x, mask, o)
        return self.hidden2tag(torch.cat([words, x], dim=-1))

    def loss(self, batch: dict[str, Any]) -> torch.Tensor:
        return self.crf(self.emissions(batch), batch["tags"], batch["word_mask"])

    def decode(self, batch: dict[str, Any]) -> list[list[str]]:
        return self.crf.decode_tags(self.emissions(batch), batch["word_mask"])

    def configure_optimizer(self, hp: dict[str, Any], total_steps: int):
        """Adam (lr 1e-4, no weight decay) on every trainable parameter; StepLR every 2 epochs x0.8."""
        opt = torch.optim.Adam([p for p in self.parameters() if p.requires_grad], lr=float(hp["lr"]))
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=int(hp["lr_step"]), gamma=float(hp["lr_gamma"]))
        return opt, sched, "epoch"

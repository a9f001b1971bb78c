"""MKGFormer, MNER variant (Chen et al., SIGIR 2022; zjunlp/MKGformer ``MNER/``), with mBERT.

``baselines/mkgformer.md``. Two streams run layer by layer: a CLIP ViT-B/32 vision tower and BERT
(12 layers each). The lower layers (0..7) are independent; in the top ``fusion_layers`` (4: 8..11):

* **PGI** (vision layer i): self-attention whose keys/values are [K_text ; K_vis], [V_text ; V_vis],
  where K_text/V_text are the per-head keys/values computed by text layer i-1 (queries: vision only,
  scale 1/sqrt(64); no text padding mask, as the code, unless ``prefix_text_mask``);
* **CAF** (text layer i, after vision layer i): with C the BERT self-attention context (before the
  output dense) and Z the vision layer's output, F = softmax(C Z^T) Z (no scaling, no projection),
  and the FFN becomes GELU(W_1 a + b_1 + W_f F + b_f) with a new W_f: d -> 3072.

Vision input (``CLIPVisionEmbeddings`` of the code): [CLIP class embedding] + patch embeddings of 3
"aux" crops at 128 px (16 patches each, 48 new position embeddings) + 3 "rcnn" crops at 64 px
(4 patches each, 12 new position embeddings) -> CLIP's pre-LayerNorm: 61 tokens. The whole image is
never embedded (the code passes it but only reads its batch size). A missing crop is a zero tensor.

**Crops.** The original crops come from a visual-grounding model (aux) and an R-CNN (rcnn), which
cannot be had offline. ``crops="substitute"`` (default) takes regions of the image itself: aux =
the whole image, its left half and its right half; rcnn = its top half, bottom half and centre.
``crops="files"`` reads real crops from ``crop_dir``: ``<crop_dir>/aux/<IMGID>_<k>.jpg`` and
``<crop_dir>/rcnn/<IMGID>_<k>.jpg`` (k = 0, 1, 2; an absent file is a zero crop, as the code).
``crops="zeros"`` feeds no image content at all (design §8.3 diagnostic). The choice and the crop
counts are recorded in every result (``counts.notes``).

Head: last text state -> dropout 0.1 -> Linear(d -> 13) -> CRF over scheme-A wordpieces (mean NLL).
**Text-only variant** (Table 7; built when the job has no image): the vision stream is removed, so
the model is BERT -> dropout -> Linear -> CRF with the same scheme, head and optimiser.

Optimisation (code, ``modules/train.py``): AdamW, weight decay 0.01 everywhere; lr 3e-5 for the
text and vision streams, 5e-2 for the CRF and ``fc``; linear schedule with 1% warm-up; 30 epochs,
batch 16.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from baselines.layers.crf import crf_for
from baselines.layers.xlabel import XLabelTagger
from benchmark.api import BuildContext
from benchmark.corpora.reader import Sentence
from benchmark.errors import ConfigError
from baselines.layers.image_encoders import build_vit, rebuild_vit, tiny_clip_processor
from baselines.layers.images import clip_pixels

CROP_MODES = ("substitute", "files", "zeros")
N_CROPS = 3  # per kind, as the code
# Regions (left, top, right, bottom as fractions of the image) standing in for the crops.
SUBSTITUTE_REGIONS: dict[str, tuple[tuple[float, float, float, float], ...]] = {
    "aux": ((0.0, 0.0, 1.0, 1.0), (0.0, 0.0, 0.5, 1.0), (0.5, 0.0, 1.0, 1.0)),
    "rcnn": ((0.0, 0.0, 1.0, 0.5), (0.0, 0.5, 1.0, 1.0), (0.25, 0.25, 0.75, 0.75)),
}


def _parts(vit: nn.Module) -> nn.Module:
    """The module holding ``embeddings``, ``pre_layrnorm`` and ``encoder`` (transformers 4 and 5)."""
    return getattr(vit, "vision_model", vit)


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    b, n, d = x.shape
    return x.view(b, n, heads, d // heads).transpose(1, 2)  # [B, h, n, d/h]


def _merge(x: torch.Tensor) -> torch.Tensor:
    b, h, n, hd = x.shape
    return x.transpose(1, 2).reshape(b, n, h * hd)


class MKGFormer(XLabelTagger):
    """MKGFormer (MNER); text-only when the config says ``use_image`` False."""

    label = "mkgformer"

    def __init__(self, config: dict[str, Any], ctx: BuildContext,
                 prebuilt: dict[str, Any] | None = None) -> None:
        super().__init__(config, ctx, prebuilt)
        prebuilt = prebuilt or {}
        c = self.config
        tcfg = self.text.config
        d, layers = int(tcfg.hidden_size), int(tcfg.num_hidden_layers)
        self.fusion_from = layers - int(c["fusion_layers"])
        if not 1 <= self.fusion_from < layers:
            raise ConfigError(f"mkgformer: fusion_layers must be in 1..{layers - 1}, got {c['fusion_layers']}")
        if self.use_image:
            self.vit, _ = prebuilt["vit"] if "vit" in prebuilt else rebuild_vit(c["vit_saved"])
            vcfg = self.vit.config
            if (int(vcfg.hidden_size), int(vcfg.num_attention_heads), int(vcfg.num_hidden_layers)) != \
                    (d, int(tcfg.num_attention_heads), layers):
                raise ConfigError("mkgformer: the vision and text streams need the same hidden size, heads "
                                  f"and layers (vision {vcfg.hidden_size}/{vcfg.num_attention_heads}/"
                                  f"{vcfg.num_hidden_layers}, text {d}/{tcfg.num_attention_heads}/{layers})")
            patch = int(vcfg.patch_size)
            self.crop_sizes = {"aux": int(c["aux_size"]), "rcnn": int(c["rcnn_size"])}
            for kind, size in self.crop_sizes.items():
                if size % patch:
                    raise ConfigError(f"mkgformer: {kind}_size {size} is not a multiple of the patch size {patch}")
            self.aux_position = nn.Embedding(N_CROPS * (self.crop_sizes["aux"] // patch) ** 2, d)
            self.rcnn_position = nn.Embedding(N_CROPS * (self.crop_sizes["rcnn"] // patch) ** 2, d)
            self.fusion_dense = nn.ModuleList(nn.Linear(d, int(tcfg.intermediate_size))
                                              for _ in range(layers - self.fusion_from))
            self.processors = {k: tiny_clip_processor(s) for k, s in self.crop_sizes.items()}  # CLIP mean/std
            if c["crops"] not in CROP_MODES:
                raise ConfigError(f"mkgformer: crops={c['crops']!r}; expected one of {', '.join(CROP_MODES)}")
            if c["crops"] == "files":
                if not c.get("crop_dir") or not Path(str(c["crop_dir"])).is_dir():
                    raise ConfigError(f"mkgformer: crops=files needs --hp crop_dir=DIR (with aux/ and rcnn/), "
                                      f"got {c.get('crop_dir')!r}")
            self.crop_counts = {"real": 0, "substitute": 0, "zero": 0}
        self.dropout = nn.Dropout(float(c["dropout"]))
        self.fc = nn.Linear(d, len(self.tags))
        self.crf = crf_for(self.tags, c, constrained=False)  # default: pytorch-crf (unconstrained)

    # -- building ---------------------------------------------------------------------------------
    @classmethod
    def from_training_data(cls, hp: dict[str, Any], train: Sequence[Sentence], ctx: BuildContext) -> "MKGFormer":
        config, prebuilt = cls.base_config(hp, train, ctx)
        if config["use_image"]:
            layers = prebuilt["text"][1].config.num_hidden_layers
            vit, processor, config["vit_saved"] = build_vit(str(hp["vision_encoder"]), layers,
                                                            int(hp["image_size"]), ctx.log)
            prebuilt["vit"] = (vit, processor)
            ctx.log(f"mkgformer: crops = {hp['crops']}" + (" (regions of the image stand in for the grounding "
                                                           "and R-CNN crops)" if hp["crops"] == "substitute" else ""))
        return cls(config, ctx, prebuilt)

    # -- data -------------------------------------------------------------------------------------
    def collate(self, sentences: Sequence[Sentence]) -> dict[str, Any]:
        batch = self.collate_text(sentences)
        if self.use_image:
            for kind in ("aux", "rcnn"):
                batch[f"{kind}_pixels"], batch[f"{kind}_present"] = self._crops(kind, sentences)
            batch["crops_real"] = torch.tensor(self.config["crops"] == "files")
        return batch

    def _crops(self, kind: str, sentences: Sequence[Sentence]) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, 3, 3, S, S]`` CLIP-normalised crops (zeros where absent) and ``[B, 3]`` presence."""
        size, mode = self.crop_sizes[kind], self.config["crops"]
        pixels = torch.zeros(len(sentences), N_CROPS, 3, size, size)
        present = torch.zeros(len(sentences), N_CROPS, dtype=torch.bool)
        if mode == "zeros":
            return pixels, present
        images, where = [], []
        if mode == "substitute":
            store = self.image_store()
            for b, s in enumerate(sentences):
                img = store.load(s.image_id)
                for k, (l, t, r, btm) in enumerate(SUBSTITUTE_REGIONS[kind]):
                    box = (int(l * img.width), int(t * img.height), max(int(r * img.width), int(l * img.width) + 1),
                           max(int(btm * img.height), int(t * img.height) + 1))
                    images.append(img.crop(box))
                    where.append((b, k))
        else:
            from benchmark.corpora.images import ImageStore
            store = ImageStore(Path(str(self.config["crop_dir"])) / kind)
            for b, s in enumerate(sentences):
                for k in range(N_CROPS):
                    path = store.path(f"{s.image_id}_{k}") if s.image_id else None
                    if path is not None and path.is_file():
                        images.append(store.load(f"{s.image_id}_{k}"))
                        where.append((b, k))
        if images:
            out = clip_pixels(self.processors[kind], images)
            for (b, k), px in zip(where, out):
                pixels[b, k] = px
                present[b, k] = True
        return pixels, present

    # -- the two streams --------------------------------------------------------------------------
    def _vision_embeddings(self, batch: dict[str, Any]) -> torch.Tensor:
        """[class] + aux crop patches (+ aux positions) + rcnn crop patches (+ rcnn positions), pre-LN."""
        parts = _parts(self.vit)
        emb = parts.embeddings
        b = batch["aux_pixels"].size(0)
        tokens = [emb.class_embedding.view(1, 1, -1).expand(b, 1, -1)]
        for kind, pos in (("aux", self.aux_position), ("rcnn", self.rcnn_position)):
            px = batch[f"{kind}_pixels"].to(emb.patch_embedding.weight.dtype)
            patches = emb.patch_embedding(px.flatten(0, 1)).flatten(2).transpose(1, 2)  # [B*3, g*g, d]
            tokens.append(patches.reshape(b, -1, patches.size(-1)) + pos.weight.unsqueeze(0))
        return parts.pre_layrnorm(torch.cat(tokens, dim=1))

    def _vision_layer(self, layer: nn.Module, h: torch.Tensor,
                      prefix: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None] | None) -> torch.Tensor:
        """A pre-LN CLIP layer; with ``prefix`` (text keys, values, mask) its keys/values are
        [K_text ; K_vis] and [V_text ; V_vis] (PGI)."""
        cfg = self.vit.config
        heads = int(cfg.num_attention_heads)
        att = layer.self_attn
        x = layer.layer_norm1(h)
        q = _heads(att.q_proj(x), heads) * (x.size(-1) // heads) ** -0.5
        k, v = _heads(att.k_proj(x), heads), _heads(att.v_proj(x), heads)
        bias = None
        if prefix is not None:
            k, v = torch.cat([prefix[0], k], dim=2), torch.cat([prefix[1], v], dim=2)
            if prefix[2] is not None:
                bias = torch.cat([prefix[2], torch.zeros(x.size(0), x.size(1), device=x.device, dtype=x.dtype)], 1)
                bias = bias[:, None, None, :]
        scores = q @ k.transpose(-1, -2)
        if bias is not None:
            scores = scores + bias
        probs = F.dropout(scores.softmax(dim=-1), float(cfg.attention_dropout), self.training)
        h = h + att.out_proj(_merge(probs @ v))
        return h + layer.mlp(layer.layer_norm2(h))

    def _text_layer(self, idx: int, h: torch.Tensor, mask_bias: torch.Tensor,
                    visual: torch.Tensor | None) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """A BERT layer computed from its own weights; with ``visual`` the CAF fusion is added to
        the FFN input. Returns the output and this layer's per-head keys/values (for PGI)."""
        layer = self.text.encoder.layer[idx]
        cfg = self.text.config
        heads = int(cfg.num_attention_heads)
        sa = layer.attention.self
        q, k, v = _heads(sa.query(h), heads), _heads(sa.key(h), heads), _heads(sa.value(h), heads)
        scores = q @ k.transpose(-1, -2) / math.sqrt(h.size(-1) // heads) + mask_bias
        probs = F.dropout(scores.softmax(dim=-1), float(cfg.attention_probs_dropout_prob), self.training)
        context = _merge(probs @ v)  # C
        out = layer.attention.output
        a = out.LayerNorm(out.dropout(out.dense(context)) + h)
        inter = layer.intermediate.dense(a)
        if visual is not None:
            fused = (context @ visual.transpose(-1, -2)).softmax(dim=-1) @ visual  # BertFusion
            inter = inter + self.fusion_dense[idx - self.fusion_from](fused)
        inter = layer.intermediate.intermediate_act_fn(inter)
        o = layer.output
        return o.LayerNorm(o.dropout(o.dense(inter)) + a), (k, v)

    def streams(self, batch: dict[str, Any], fuse: bool = True) -> torch.Tensor:
        """Last text states ``[B, n, d]``: both streams layer by layer (``fuse`` False: the text
        stream alone, through the same per-layer code; equal to BERT's own forward)."""
        mask = batch["attention_mask"]
        h = self.text.embeddings(input_ids=batch["input_ids"])
        mask_bias = (1.0 - mask[:, None, None, :].to(h.dtype)) * torch.finfo(h.dtype).min
        vis = self._vision_embeddings(batch) if fuse else None
        prefix_mask = mask_bias[:, 0, 0, :] if self.config.get("prefix_text_mask") else None
        layers = _parts(self.vit).encoder.layers if fuse else None
        kv = None
        for idx in range(len(self.text.encoder.layer)):
            fusing = fuse and idx >= self.fusion_from
            if fuse:
                vis = self._vision_layer(layers[idx], vis, (*kv, prefix_mask) if fusing else None)  # type: ignore[index,misc]
            h, kv = self._text_layer(idx, h, mask_bias, vis if fusing else None)
        return h

    def emissions(self, batch: dict[str, Any]) -> torch.Tensor:
        if self.use_image:
            present = int(batch["aux_present"].sum() + batch["rcnn_present"].sum())
            total = batch["aux_present"].numel() + batch["rcnn_present"].numel()
            real = bool(batch["crops_real"])
            self.crop_counts["real" if real else "substitute"] += present
            self.crop_counts["zero"] += total - present
            h = self.streams(batch)
        else:
            h = self.text(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        return self.fc(self.dropout(h))

    # -- training / inference ---------------------------------------------------------------------
    def loss(self, batch: dict[str, Any]) -> torch.Tensor:
        return self.crf(self.emissions(batch), batch["labels"], batch["attention_mask"].bool())

    def decode(self, batch: dict[str, Any]) -> list[list[str]]:
        return self.decode_emissions(self.emissions(batch), batch, self.crf)

    def configure_optimizer(self, hp: dict[str, Any], total_steps: int):
        """AdamW (weight decay on every parameter); CRF and ``fc`` at ``head_lr``, the rest at ``lr``;
        linear warm-up over ``warmup_ratio`` of the steps, then linear decay to 0."""
        head = [p for n, p in self.named_parameters() if n.startswith(("crf.", "fc."))]
        ids = {id(p) for p in head}
        rest = [p for p in self.parameters() if id(p) not in ids and p.requires_grad]
        wd = float(hp["weight_decay"])
        opt = torch.optim.AdamW([{"params": rest, "lr": float(hp["lr"])},
                                 {"params": head, "lr": float(hp["head_lr"])}], weight_decay=wd)
        total = max(1, int(total_steps))
        warmup = int(float(hp["warmup_ratio"]) * total)

        def factor(step: int) -> float:
            if step < warmup:
                return step / max(1, warmup)
            return max(0.0, (total - step) / max(1, total - warmup))

        return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor), "step"

    @property
    def run_notes(self) -> dict[str, Any]:
        notes = self.base_notes()
        if self.use_image:
            mode = self.config["crops"]
            notes["vision_encoder"] = self.config["vit_saved"]["source"]
            notes["crops"] = {"substitute": "regions of the image (aux: whole, left half, right half; rcnn: top "
                                            "half, bottom half, centre) stand in for the grounding/R-CNN crops",
                              "files": f"real crops from {self.config.get('crop_dir')}",
                              "zeros": "no crops (zero tensors): the vision stream sees no image content"}[mode]
            notes["crop_counts"] = dict(self.crop_counts)
        return notes

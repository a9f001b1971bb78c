"""UMT (Yu, Jiang, Yang & Xia, ACL 2020): unified multimodal transformer with entity-span detection.

``baselines/umt.md`` (code: jefferyYu/UMT ``MTCCMBertForMMTokenClassificationCRF``), with
mBERT for text ([2M] §5.1). Scheme A wordpieces (``baselines.layers.xlabel``), max 128. For a batch:

    H0  = dropout(BERT(wordpieces))                                   [B, n, d]
    ESD T_a = SelfLayer_a(H0);  E_a = Linear_d->7(T_a)                 span tags PAD O B I X CLS SEP
    T   = SelfLayer(H0)
    V   = ResNet-152 layer4 7x7 grid (frozen, no grad)                 [B, 49, 2048]
    B   = CMT(T; W1 V)            word-aware visual representation
    P   = CMT(W2 V; T, text mask);  A = CMT(T; P)   image-aware word representation
    g   = sigmoid(W_g [A; B]);  H = [A; g * B]                         [B, n, 2d]
    E   = 0.5 * Linear_2d->13(H) + 0.5 * E_a W_tr                      W_tr fixed 7x13 conversion
    loss = CRF(E, y) + lambda * CRF_aux(E_a, y_span),  lambda = 0.5 (both means over the batch)

A CMT block is one BERT-style cross-attention layer (12 heads, FFN 3072, dropout 0.1): the
``CollaborationModule`` of 2M-NER, which computes exactly that; the self layers are CMT(X; X).
Fresh layers are initialised N(0, 0.02), LayerNorm 1/0, as the code's ``init_bert_weights``.

**Text-only variant** (Table 7; built when the job has no image, i.e. ``ctx.images is None``):
steps V..g are removed and H = T, classifier Linear(d -> 13); the ESD branch and W_tr stay
(``design`` §6.3 DECISION). ``run_notes["variant"]`` records which variant ran.

Optimisation (code, ``my_bert/optimization.py``): BertAdam lr 5e-5 (no bias correction, eps 1e-6,
decoupled weight decay 0.01 except biases and LayerNorm, gradient norm clipped to 1.0 per
parameter), warm-up over 10% of the steps then factor 1 - progress; the ResNet is not trained.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from baselines.layers.crf import CRF, crf_for
from baselines.layers.vision import FrozenImageEncoder
from baselines.layers.xlabel import XLabelTagger
from benchmark.api import BuildContext
from benchmark.corpora.reader import Sentence
from benchmark.errors import ConfigError
from baselines.layers.image_encoders import build_resnet, rebuild_resnet
from baselines.layers.fusion import CollaborationModule
from baselines.layers.images import ResNetTransform

SPAN_TAGS: tuple[str, ...] = ("[PAD]", "O", "B", "I", "X", "[CLS]", "[SEP]")


def span_tag(tag: str) -> str:
    """The entity-span tag of a scheme-A tag: B-x -> B, I-x -> I, specials and O unchanged."""
    return tag[0] if tag[:2] in ("B-", "I-") else tag


def conversion_matrix(tags: Sequence[str]) -> torch.Tensor:
    """UMT's fixed W_tr ``[7, |tags|]``: PAD/O/X/[CLS]/[SEP] map to themselves with weight 1; B (I)
    spreads evenly over the B-x (I-x) tags (0.25 each with four types)."""
    w = torch.zeros(len(SPAN_TAGS), len(tags))
    for j, tag in enumerate(tags):
        w[SPAN_TAGS.index(span_tag(tag)), j] = 1.0
    for prefix in ("B", "I"):
        row = w[SPAN_TAGS.index(prefix)]
        row /= row.sum().clamp(min=1.0)
    return w


def bert_init(module: nn.Module, std: float = 0.02) -> None:
    """``init_bert_weights``: Linear/Embedding N(0, std), biases 0, LayerNorm weight 1 bias 0."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, std)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class BertAdam(torch.optim.Optimizer):
    """pytorch-pretrained-bert's BertAdam (as UMT): Adam without bias correction, weight decay added
    to the update (decoupled), each parameter's gradient norm clipped to ``max_grad_norm``."""

    def __init__(self, params: Any, lr: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-6,
                 weight_decay: float = 0.01, max_grad_norm: float = 1.0) -> None:
        super().__init__(params, dict(lr=lr, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay,
                                      max_grad_norm=max_grad_norm))

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if group["max_grad_norm"] > 0:
                    norm = grad.norm()
                    if norm > group["max_grad_norm"]:
                        grad = grad * (group["max_grad_norm"] / (norm + 1e-6))
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.mul_(group["b1"]).add_(grad, alpha=1 - group["b1"])
                v.mul_(group["b2"]).addcmul_(grad, grad, value=1 - group["b2"])
                update = m / (v.sqrt() + group["eps"])
                if group["weight_decay"] > 0:
                    update = update + group["weight_decay"] * p
                p.add_(update, alpha=-group["lr"])


def warmup_linear(progress: float, warmup: float) -> float:
    """pytorch-pretrained-bert's schedule: progress/warmup during warm-up, then 1 - progress."""
    if progress < warmup:
        return progress / warmup
    return max(0.0, 1.0 - progress)


def decay_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Trainable parameters with ``weight_decay``, except biases and LayerNorm parameters (0)."""
    no_decay = {id(p) for m in model.modules() if isinstance(m, nn.LayerNorm) for p in m.parameters()}
    decay, plain = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (plain if name.endswith("bias") or id(p) in no_decay else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]


class UMT(XLabelTagger):
    """UMT with the CRF over scheme-A wordpieces; text-only when the config says ``use_image`` False."""

    label = "umt"

    def __init__(self, config: dict[str, Any], ctx: BuildContext,
                 prebuilt: dict[str, Any] | None = None) -> None:
        super().__init__(config, ctx, prebuilt)
        prebuilt = prebuilt or {}
        c = self.config
        tcfg = self.text.config
        d, heads = int(tcfg.hidden_size), int(tcfg.num_attention_heads)
        ffn, eps, p = int(tcfg.intermediate_size), float(getattr(tcfg, "layer_norm_eps", 1e-12)), float(c["dropout"])

        def cmt() -> CollaborationModule:
            return CollaborationModule(d, heads, p, "separate", True, ffn, eps=eps)

        self.dropout = nn.Dropout(p)
        self.aux_self, self.main_self = cmt(), cmt()  # BertSelfEncoder x 2 (one layer each)
        self.aux_classifier = nn.Linear(d, len(SPAN_TAGS))
        fresh = [self.aux_self, self.main_self, self.aux_classifier]
        if self.use_image:
            resnet = prebuilt["resnet"] if "resnet" in prebuilt else rebuild_resnet(c["resnet_saved"])
            transform = ResNetTransform(int(c["image_size"]), "crop")  # deterministic centre crop
            self.resnet = FrozenImageEncoder("resnet", resnet, lambda imgs: transform(imgs, random=False),
                                             f"umt-{c['resnet_saved']['source']}-{transform.identity()}-centre",
                                             ctx.cache_dir)
            channels = int(resnet.out_channels)
            self.vis_to_text, self.vis_to_text_v2 = nn.Linear(channels, d), nn.Linear(channels, d)
            self.txt2img, self.img2txt, self.txt2txt = cmt(), cmt(), cmt()
            self.gate = nn.Linear(2 * d, d)
            self.classifier = nn.Linear(2 * d, len(self.tags))
            fresh += [self.vis_to_text, self.vis_to_text_v2, self.txt2img, self.img2txt, self.txt2txt, self.gate]
        else:
            self.classifier = nn.Linear(d, len(self.tags))
        fresh.append(self.classifier)
        for module in fresh:
            bert_init(module, float(getattr(tcfg, "initializer_range", 0.02)))
        self.crf = crf_for(self.tags, c, constrained=False)  # default: pytorch-crf (unconstrained)
        # the span CRF is never decoded (constraints act at decoding only); it shares crf_init
        self.aux_crf = CRF(SPAN_TAGS, constrained=False, reduction="mean", init=str(c.get("crf_init", "allennlp")))
        self.register_buffer("trans_matrix", conversion_matrix(self.tags), persistent=False)
        self.register_buffer("to_span", torch.as_tensor([SPAN_TAGS.index(span_tag(t)) for t in self.tags]),
                             persistent=False)

    # -- building ---------------------------------------------------------------------------------
    @classmethod
    def from_training_data(cls, hp: dict[str, Any], train: Sequence[Sentence], ctx: BuildContext) -> "UMT":
        """mBERT (or the tiny BERT) and, when the job has images, the ResNet-152 grid encoder."""
        if float(hp["esd_weight"]) < 0 or not 0.0 <= float(hp["alpha"]) <= 1.0:
            raise ConfigError(f"umt: esd_weight must be >= 0 and alpha in [0, 1], got {hp['esd_weight']}, {hp['alpha']}")
        config, prebuilt = cls.base_config(hp, train, ctx)
        if config["use_image"]:
            prebuilt["resnet"], config["resnet_saved"] = build_resnet(str(hp["resnet"]), ctx.log)
        return cls(config, ctx, prebuilt)

    # -- data -------------------------------------------------------------------------------------
    def collate(self, sentences: Sequence[Sentence]) -> dict[str, Any]:
        batch = self.collate_text(sentences)
        if self.use_image:
            batch.update(self.resnet.prepare(self.image_store(), [s.image_id for s in sentences]))
        return batch

    # -- model ------------------------------------------------------------------------------------
    def forward(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """Main emissions E ``[B, n, |tags|]`` and span emissions E_a ``[B, n, 7]``."""
        mask = batch["attention_mask"].bool()
        h0 = self.text(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        h0 = self.dropout(h0)
        span = self.aux_classifier(self.aux_self(h0, h0, mask))
        t = self.main_self(h0, h0, mask)
        if self.use_image:
            grid = self.resnet(batch)  # [B, C, 7, 7]
            v = grid.flatten(2).transpose(1, 2).to(t.dtype)  # [B, 49, C]
            b = self.txt2img(t, self.vis_to_text(v))  # word-aware visual representation
            p = self.img2txt(self.vis_to_text_v2(v), t, mask)
            a = self.txt2txt(t, p)  # image-aware word representation
            g = torch.sigmoid(self.gate(torch.cat([a, b], dim=-1)))
            h = torch.cat([a, g * b], dim=-1)
        else:
            h = t
        alpha = float(self.config["alpha"])
        emissions = (1 - alpha) * self.classifier(h) + alpha * span @ self.trans_matrix
        return emissions, span

    def loss(self, batch: dict[str, Any]) -> torch.Tensor:
        emissions, span = self(batch)
        mask = batch["attention_mask"].bool()
        labels = batch["labels"]
        main = self.crf(emissions, labels, mask)
        weight = float(self.config["esd_weight"])
        if weight == 0:
            return main
        return main + weight * self.aux_crf(span, self.to_span[labels], mask)

    def decode(self, batch: dict[str, Any]) -> list[list[str]]:
        return self.decode_emissions(self(batch)[0], batch, self.crf)

    def configure_optimizer(self, hp: dict[str, Any], total_steps: int):
        """BertAdam + warm-up over ``warmup_ratio`` of the steps, then 1 - progress (stepped per batch)."""
        opt = BertAdam(decay_groups(self, float(hp["weight_decay"])), lr=float(hp["lr"]),
                       max_grad_norm=float(hp["max_grad_norm"]))
        total, warmup = max(1, int(total_steps)), float(hp["warmup_ratio"])
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: warmup_linear(step / total, warmup))
        return opt, sched, "step"

    @property
    def run_notes(self) -> dict[str, Any]:
        notes = self.base_notes()
        if self.use_image:
            notes["resnet"] = self.config["resnet_saved"]["source"]
            notes["resnet_feature_cache"] = self.resnet.summary()
        return notes


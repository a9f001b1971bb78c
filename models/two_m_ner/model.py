"""2M-NER (Wang, Feng, Liu & Wang): multilingual BERT + CLIP ViT + ResNet, contrastive alignment,
two cross-modal collaboration modules, CRF.

Forward pass for a batch of B sentences with W words (d = text hidden size):

    text   mBERT, first M layers -> word gather (first wordpiece) -> T [B, W, d]; h_t [B, d] for CL
    ViT    CLIP vision tower, first K layers -> v_K [B, 1+N, D_v]  (-> Linear to d if D_v != d)
    ResNet grid [B, C, 7, 7] -> R [B, 49, C] -> R' = W_r R + b [B, 49, d]   (or pooled: [B, 1, d])
    CL     L'  = CL(head_t(h_t), head_v(pool(v_K)));  L'' = CL(head_t(h_t), head_r(mean(R)))   (Eq. 7-10)
    fuse   R_v = Collab_v(T, v_K), R_r = Collab_r(T, R')  [B, W, d] each                        (Eq. 11-14)
    CRF    emissions = head(dropout([R_v ; R_r])) [B, W, tags];  L_CRF = NLL                   (Eq. 15-17)
    loss   loss_scale * (alpha * L_CRF + (1 - alpha) * (L' + L''))                             (Eq. 18)

``use_vit`` / ``use_resnet`` remove a branch (Table 9); with both off the model is the paper's
"image encoders removed" text-only model (Table 7): T -> dropout -> Linear -> CRF. Every difference
between the paper and the authors' code is a hyperparameter (``hparams.py``, ``README.md``).
"""
from __future__ import annotations

import contextlib
from typing import Any, Sequence

import torch
from torch import nn

from baselines.layers.crf import CRF_INITS, crf_for
from baselines.layers.text_encoder import (WORD_GATHER, SubwordAligner, gather_words, linear_warmup_decay,
                                          load_text_encoder, rebuild_text_encoder)
from benchmark.api import BuildContext, Tagger, tag_inventory
from benchmark.corpora.reader import Sentence
from benchmark.errors import ConfigError
from models.two_m_ner.alignment import CL_FORMS, ProjectionHead, contrastive_loss, pool_tokens
from baselines.layers.image_encoders import build_resnet, build_vit, module_fingerprint, rebuild_resnet, rebuild_vit
from baselines.layers.fusion import CollaborationModule
from baselines.layers.images import (FeatureCache, ResNetTransform, clip_pixels, image_key, lookup_features,
                                    merge_features)

_CHOICES: dict[str, tuple[Any, ...]] = {
    "resnet_bn": ("batch", "frozen"), "resnet_feature": ("grid", "pooled"),
    "resnet_preprocess": ("resize", "crop"), "cl_loss": CL_FORMS, "cl_text_pool": ("cls", "mean", "pooler"),
    "cl_vit_pool": ("cls", "mean", "flatten"), "collab_query": ("separate", "key"), "head": ("linear", "mlp"),
    "optimizer": ("adam", "adamw"), "scheduler": ("linear", "constant"), "word_gather": WORD_GATHER,
    "crf_init": CRF_INITS,
}


def validate(hp: dict[str, Any]) -> None:
    """ConfigError (one line) for an impossible switch value or combination."""
    for key, allowed in _CHOICES.items():
        if key in hp and hp[key] not in allowed:
            raise ConfigError(f"2m-ner: {key}={hp[key]!r}; expected one of {', '.join(map(str, allowed))}")
    if not 0.0 <= float(hp.get("alpha", 0.8)) <= 1.0:
        raise ConfigError(f"2m-ner: alpha must be in [0, 1], got {hp['alpha']}")
    if float(hp.get("tau", 0.5)) <= 0:
        raise ConfigError(f"2m-ner: tau must be > 0, got {hp['tau']}")
    if hp.get("use_resnet") and (hp.get("resnet_random_crop") or hp.get("resnet_random_eval")) \
            and hp.get("resnet_preprocess") != "crop":
        raise ConfigError("2m-ner: resnet_random_crop/resnet_random_eval need resnet_preprocess='crop'")


def _truncate_text(encoder: nn.Module, layers: int) -> None:
    """Keep the first ``layers`` transformer blocks of a BERT-like encoder (the paper's "first M")."""
    blocks = encoder.encoder.layer
    if not 1 <= layers <= len(blocks):
        raise ConfigError(f"2m-ner: text_layers must be in 1..{len(blocks)}, got {layers}")
    encoder.encoder.layer = blocks[:layers]
    encoder.config.num_hidden_layers = layers


class TwoMNER(Tagger):
    """2M-NER; variants (Table 7/9, authors' code) are different hyperparameters of this class."""

    def __init__(self, config: dict[str, Any], ctx: BuildContext,
                 prebuilt: dict[str, Any] | None = None) -> None:
        super().__init__(config, ctx)
        validate(config)
        prebuilt = prebuilt or {}
        c = self.config
        self.use_vit, self.use_resnet = bool(c["use_vit"]), bool(c["use_resnet"])
        dropout = float(c["dropout"])

        # -- text encoder ---------------------------------------------------------------------------
        if "text" in prebuilt:
            self.tokenizer, self.text = prebuilt["text"]
        else:
            self.tokenizer, self.text = rebuild_text_encoder(c["text_saved"], ctx)
        _truncate_text(self.text, int(c["text_layers"]))
        self.aligner = SubwordAligner(self.tokenizer, int(c["text_saved"]["max_length"]),
                                      gather=str(c.get("word_gather", "first")))
        d = int(self.text.config.hidden_size)
        heads = int(c.get("collab_heads") or self.text.config.num_attention_heads)
        ffn_dim = int(c.get("collab_ffn_dim") or self.text.config.intermediate_size)
        cl_dim = int(c.get("cl_dim") or d)
        self.hidden_size = d

        def collab() -> CollaborationModule:
            return CollaborationModule(d, heads, dropout, c["collab_query"], bool(c["collab_ffn"]), ffn_dim,
                                       eps=float(getattr(self.text.config, "layer_norm_eps", 1e-12)))

        # -- ViT branch -----------------------------------------------------------------------------
        self.caches: dict[str, FeatureCache] = {}
        if self.use_vit:
            if "vit" in prebuilt:
                self.vit, self.clip_processor = prebuilt["vit"]
            else:
                self.vit, self.clip_processor = rebuild_vit(c["vit_saved"])
            dv = int(self.vit.config.hidden_size)
            self.vit_to_text = nn.Identity() if dv == d else nn.Linear(dv, d)  # only when D_v != d (tiny)
            self.collab_vit = collab()
            tokens = (int(self.vit.config.image_size) // int(self.vit.config.patch_size)) ** 2 + 1
            vit_in = dv * tokens if c["cl_vit_pool"] == "flatten" else dv
            self.cl_head_vit = ProjectionHead(vit_in, cl_dim)
            if not c["vit_trainable"]:
                self.vit.requires_grad_(False)
        # -- ResNet branch --------------------------------------------------------------------------
        if self.use_resnet:
            self.resnet = prebuilt["resnet"] if "resnet" in prebuilt else rebuild_resnet(c["resnet_saved"])
            channels = int(self.resnet.out_channels)
            self.resnet_to_text = nn.Linear(channels, d)  # W_r, b (§4.2.2)
            self.collab_resnet = collab()
            self.cl_head_resnet = ProjectionHead(channels, cl_dim)
            self.resnet_transform = ResNetTransform(int(c["image_size"]), c["resnet_preprocess"])
            if not c["resnet_trainable"]:
                self.resnet.requires_grad_(False)
        # -- text projection heads (Eq. 7): one shared, or one per image branch ---------------------------
        branches = [b for b, on in (("vit", self.use_vit), ("resnet", self.use_resnet)) if on]
        self.branches = branches
        if branches:
            if c["cl_shared_text_head"]:
                self.cl_head_text = ProjectionHead(d, cl_dim)
            else:
                self.cl_heads_text = nn.ModuleDict({b: ProjectionHead(d, cl_dim) for b in branches})
        # -- decoder ----------------------------------------------------------------------------------
        rep = d * max(1, len(branches))
        if c["head"] == "mlp" and branches:  # authors' code: dense_cat -> dropout -> classifier
            self.emission = nn.Sequential(nn.Linear(rep, d), nn.Dropout(dropout), nn.Linear(d, len(self.tags)))
        else:
            self.emission = nn.Sequential(nn.Dropout(dropout), nn.Linear(rep, len(self.tags)))
        self.crf = crf_for(self.tags, c, constrained=False)
        self._store_warned = False

    # -- building ---------------------------------------------------------------------------------
    @classmethod
    def from_training_data(cls, hp: dict[str, Any], train: Sequence[Sentence], ctx: BuildContext) -> "TwoMNER":
        """Load (or, for ``tiny``, create) the encoders and build the tagger around them."""
        validate(hp)
        config = {**hp, "tags": tag_inventory(train)}
        tokenizer, text, config["text_saved"] = load_text_encoder(hp, train, ctx)
        prebuilt: dict[str, Any] = {"text": (tokenizer, text)}
        if hp["use_vit"]:
            vit, processor, config["vit_saved"] = build_vit(str(hp["vision_encoder"]), int(hp["vit_layers"]),
                                                            int(hp["image_size"]), ctx.log)
            prebuilt["vit"] = (vit, processor)
        if hp["use_resnet"]:
            prebuilt["resnet"], config["resnet_saved"] = build_resnet(str(hp["resnet"]), ctx.log)
        if (hp["use_vit"] or hp["use_resnet"]) and ctx.images is None:
            from benchmark.corpora.images import ImageStore
            ctx.images = ImageStore(None)
            ctx.log("2m-ner: no image store given (text-only setting?); every image is a blank one")
        return cls(config, ctx, prebuilt)

    def train(self, mode: bool = True) -> "TwoMNER":
        """Also keeps a ``resnet_bn="frozen"`` ResNet's BatchNorm in eval mode, and opens the feature
        caches of frozen encoders here, in the main process, before any DataLoader worker starts
        (their identity hashes the weights, which a forked worker must not read from a GPU)."""
        super().train(mode)
        if self.use_resnet and self.config["resnet_bn"] == "frozen":
            for m in self.resnet.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        for branch in self.branches:
            if not self.config["vit_trainable" if branch == "vit" else "resnet_trainable"]:
                self._cache(branch)
        return self

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        out = super().load_state_dict(state_dict, strict=strict, assign=assign)
        for branch in list(self.caches):  # new encoder weights = a new cache identity
            if self.caches[branch].identity != self._cache_identity(branch):
                del self.caches[branch]
        return out

    # -- feature caches ---------------------------------------------------------------------------
    def _cacheable(self, branch: str) -> bool:
        """True when ``branch``'s features are a pure function of the image in the current mode."""
        c = self.config
        if branch == "vit":
            return not c["vit_trainable"]
        random = bool(c["resnet_random_crop"] if self.training else c["resnet_random_eval"])
        return (not c["resnet_trainable"] and c["resnet_bn"] == "frozen"
                and self.resnet_transform.deterministic(random))

    def _cache_identity(self, branch: str) -> str:
        """Encoder source, feature kind, preprocessing and a hash of the weights (a folder name)."""
        c = self.config
        if branch == "vit":
            what = f"clip-{c['vit_saved']['source']}-{c['vit_layers']}-{module_fingerprint(self.vit)}"
        else:
            what = (f"resnet-{c['resnet_saved']['source']}-{c['resnet_feature']}-"
                    f"{self.resnet_transform.identity()}-{module_fingerprint(self.resnet)}")
        return what.replace("/", "_").replace(":", "_")[-90:]

    def _cache(self, branch: str) -> FeatureCache:
        if branch not in self.caches:
            self.caches[branch] = FeatureCache(self.ctx.cache_dir, self._cache_identity(branch))
        return self.caches[branch]

    # -- data -------------------------------------------------------------------------------------
    def _image_store(self) -> Any:
        if self.ctx.images is None:
            from benchmark.corpora.images import ImageStore
            self.ctx.images = ImageStore(None)
            if not self._store_warned:
                self.ctx.log("2m-ner: no image store; using blank images")
                self._store_warned = True
        return self.ctx.images

    def collate(self, sentences: Sequence[Sentence]) -> dict[str, Any]:
        """Wordpieces, word alignment, tag ids ``[B, W]`` and, per image branch, either cached
        features or preprocessed pixels (``<branch>_pixels`` ``[M, 3, S, S]`` for the M misses)."""
        batch: dict[str, Any] = self.aligner([s.tokens for s in sentences])
        tags = torch.zeros(batch["word_mask"].shape, dtype=torch.long)
        for i, s in enumerate(sentences):
            tags[i, : len(s)] = torch.as_tensor([self.tag_to_id.get(t, 0) for t in s.tags])
        batch["tags"] = tags
        if not self.branches:
            return batch
        store = self._image_store()
        keys = [image_key(store, s.image_id) for s in sentences]
        decoded: dict[int, Any] = {}

        def image(i: int) -> Any:
            if i not in decoded:
                decoded[i] = store.load(sentences[i].image_id)
            return decoded[i]

        for branch in self.branches:
            cacheable = self._cacheable(branch)
            hit, miss, cached = lookup_features(self._cache(branch) if cacheable else None, keys)
            imgs = [image(i) for i in miss]
            if branch == "vit":
                pixels = clip_pixels(self.clip_processor, imgs)
            else:
                c = self.config
                random = bool(c["resnet_random_crop"] if self.training else c["resnet_random_eval"])
                pixels = self.resnet_transform(imgs, random=random)
            batch[f"{branch}_pixels"] = pixels
            batch[f"{branch}_hit"] = hit
            # row indices computed here, on the CPU: no boolean-mask indexing (a host sync) on the device
            batch[f"{branch}_hit_index"] = torch.nonzero(hit).flatten()
            batch[f"{branch}_miss_index"] = torch.tensor(miss, dtype=torch.long)
            batch[f"{branch}_cached"] = cached
            batch[f"{branch}_keys"] = [keys[i] for i in miss] if cacheable else None
        return batch

    # -- encoders ---------------------------------------------------------------------------------
    def _image_features(self, branch: str, batch: dict[str, Any]) -> torch.Tensor:
        """Per-sentence features of ``branch``: ViT ``[B, 1+N, D_v]``; ResNet grid ``[B, C, h, w]``
        or pooled ``[B, C]``. Cache misses are encoded (and cached when allowed)."""
        pixels, hit = batch[f"{branch}_pixels"], batch[f"{branch}_hit"]
        if batch.get(f"{branch}_keys") is not None:  # a cacheable batch: count its lookups (no host sync)
            misses = len(batch[f"{branch}_keys"])
            self._cache(branch).record(hit.numel() - misses, misses)
        computed = None
        if pixels.size(0):
            trainable = self.config["vit_trainable" if branch == "vit" else "resnet_trainable"]
            # features that go to the cache are computed in fp32 even under bf16 autocast, so that a
            # cached feature does not depend on the precision of the run that computed it
            full = torch.autocast(pixels.device.type, enabled=False) if batch.get(f"{branch}_keys") \
                else contextlib.nullcontext()
            with torch.set_grad_enabled(torch.is_grad_enabled() and bool(trainable)), full:
                if branch == "vit":
                    interpolate = pixels.shape[-1] != int(self.vit.config.image_size)
                    computed = self.vit(pixel_values=pixels, interpolate_pos_encoding=interpolate).last_hidden_state
                else:
                    computed = self.resnet(pixels)
                    if self.config["resnet_feature"] == "pooled":
                        computed = computed.mean(dim=(2, 3))
            if batch.get(f"{branch}_keys"):
                self._cache(branch).put_all(batch[f"{branch}_keys"], computed)
        return merge_features(hit, batch.get(f"{branch}_cached"), computed, next(self.parameters()).dtype,
                              batch[f"{branch}_hit_index"], batch[f"{branch}_miss_index"])

    def _text(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """Word states ``[B, W, d]`` and the sentence vector h_t ``[B, d]`` for the contrastive loss."""
        out = self.text(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        words = gather_words(out.last_hidden_state, batch["word_index"])
        pool = self.config["cl_text_pool"]
        if pool == "pooler":
            h_t = out.pooler_output[batch["first_window"]]
        elif pool == "cls":
            h_t = out.last_hidden_state[batch["first_window"], 0]
        else:
            h_t = pool_tokens(words, "mean", batch["word_mask"])
        return words, h_t

    def forward(self, batch: dict[str, Any], with_cl: bool = True
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Emissions ``[B, W, tags]`` and the contrastive losses by branch (empty when ``with_cl`` is False)."""
        words, h_t = self._text(batch)
        fused: list[torch.Tensor] = []
        cl: dict[str, torch.Tensor] = {}
        c = self.config
        for branch in self.branches:
            feats = self._image_features(branch, batch)
            if branch == "vit":
                kv = self.vit_to_text(feats)  # [B, 1+N, d]
                fused.append(self.collab_vit(words, kv))
                h_i = pool_tokens(feats, c["cl_vit_pool"])
                head_i = self.cl_head_vit
            else:
                if feats.dim() == 4:  # grid [B, C, h, w] -> R [B, hw, C]
                    grid = feats.flatten(2).transpose(1, 2)
                    h_i = grid.mean(dim=1)
                else:  # pooled [B, C] -> one key/value vector
                    grid, h_i = feats.unsqueeze(1), feats
                fused.append(self.collab_resnet(words, self.resnet_to_text(grid)))
                head_i = self.cl_head_resnet
            if with_cl:
                head_t = self.cl_head_text if c["cl_shared_text_head"] else self.cl_heads_text[branch]
                cl[branch] = contrastive_loss(head_t(h_t), head_i(h_i), float(c["tau"]), c["cl_loss"])
        rep = torch.cat(fused, dim=-1) if fused else words
        return self.emission(rep), cl

    # -- training / inference ---------------------------------------------------------------------
    def loss(self, batch: dict[str, Any]) -> torch.Tensor:
        """Eq. 18: ``loss_scale * (alpha * L_CRF + (1 - alpha) * sum of CL losses)``."""
        emissions, cl = self(batch, with_cl=True)
        nll = self.crf(emissions, batch["tags"], batch["word_mask"])
        alpha = float(self.config["alpha"])
        total = alpha * nll
        if cl:
            total = total + (1.0 - alpha) * sum(cl.values())
        return float(self.config["loss_scale"]) * total

    def decode(self, batch: dict[str, Any]) -> list[list[str]]:
        emissions, _ = self(batch, with_cl=False)
        return self.crf.decode_tags(emissions, batch["word_mask"])

    def configure_optimizer(self, hp: dict[str, Any], total_steps: int
                            ) -> tuple[torch.optim.Optimizer, Any, str]:
        """Adam (one lr for every module, Table 4) + linear decay to 0 after ``warmup_steps``."""
        params = [p for p in self.parameters() if p.requires_grad]
        lr, wd = float(hp.get("lr", 5e-5)), float(hp.get("weight_decay", 0.0))
        if hp.get("optimizer", "adam") == "adamw":
            opt: torch.optim.Optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=wd)
        else:
            opt = torch.optim.Adam(params, lr=lr, weight_decay=wd)
        if hp.get("scheduler", "linear") == "constant":
            return opt, None, "step"
        return opt, linear_warmup_decay(opt, int(hp.get("warmup_steps") or 0), total_steps), "step"

    @property
    def run_notes(self) -> dict[str, Any]:
        """Feature-cache use, for the job's result record."""
        return {f"{b}_feature_cache": cache.summary() for b, cache in self.caches.items()}

"""2M-NER hyperparameters: the paper's defaults, the authors'-code recipe, the smoke scale.

Torch-free on purpose: ``benchmark.registry`` names these dicts (``LazyDefaults("module:ATTR")``) and
imports them on first use, so ``bench models`` stays cheap.

* ``PAPER_DEFAULTS`` — what the paper says (§4, §5.1, Table 4); where the paper is silent, the
  authors' code's value (epochs 8, tau 0.5) and the choice is named in ``models/two_m_ner/README.md``.
* ``CODE_RECIPE`` — the overrides that reproduce wangdsh/MMNERD @ dda173b (``models/two_m_ner/README.md``,
  "Paper vs authors' code"): registered as ``2m-ner-code``; every item is also a separate ``--hp`` switch.
* ``SMOKE`` — tiny random-initialised encoders and small images, so a job runs on CPU in seconds.
"""
from __future__ import annotations

from typing import Any

TEXT_ARTIFACT = "bert-base-multilingual-cased"
VIT_ARTIFACT = "openai/clip-vit-base-patch32"
RESNET_ARTIFACT = "torchvision/resnet152"  # ImageNet-1k V1 weights (resnet152-b121ed2d.pth), benchmark.weights id

PAPER_DEFAULTS: dict[str, Any] = {
    # -- encoders (Table 4, §4.2, §5.1) --------------------------------------------------------
    "text_encoder": TEXT_ARTIFACT,  # "tiny" = random BERT built in code
    "text_layers": 12,  # M: first M layers of mBERT
    "extra_special_tokens": True,  # code's 8 added tokens (paper silent; only affects words made of them)
    "word_gather": "first",  # paper: a word is its first wordpiece; code: "authors_off_by_one" (README row 10)
    "max_length": None,  # wordpieces per window; None = 512 (longer sentences: overlapping windows)
    "use_vit": True,
    "use_resnet": True,
    "vision_encoder": VIT_ARTIFACT,  # "tiny" = random CLIPVisionConfig built in code
    "vit_layers": 12,  # K: first K layers of the CLIP vision tower
    "vit_trainable": True,  # §5.1 "image feature extractors are fine-tuned" (code: CLIP is too)
    "resnet": RESNET_ARTIFACT,  # "tiny" = small random CNN with a 7x7 grid
    "resnet_trainable": True,  # paper: fine-tuned; code: frozen (no_grad)
    "resnet_bn": "batch",  # "batch": BN follows train()/eval() (code and usual fine-tuning); "frozen": always eval
    "resnet_feature": "grid",  # paper: 49 grid vectors as keys/values; code: "pooled" (1 vector)
    "image_size": 224,  # both encoders (Table 4)
    "resnet_preprocess": "resize",  # paper: resize to SxS; code: "crop" (resize only if smaller, then crop S)
    "resnet_random_crop": False,  # code: RandomCrop + HFlip in training (needs resnet_preprocess="crop")
    "resnet_random_eval": False,  # code: the same random crop + flip at test time
    # -- contrastive alignment (§4.3, Eq. 7-10) ------------------------------------------------
    "cl_loss": "paper",  # "paper": Eq. 9-10 with -log, negatives-only denominator; "ntxent": code; "infonce"
    "tau": 0.5,  # paper gives no value; the code's fixed 0.5
    "cl_text_pool": "cls",  # paper: h_t unspecified -> s_M at [CLS]; code: "pooler"; or "mean"
    "cl_vit_pool": "cls",  # paper: h_i unspecified -> CLS token of v_K; code: "flatten"; or "mean"
    "cl_dim": None,  # projection size; None = text hidden size (768, §4.3)
    "cl_shared_text_head": True,  # Eq. 7 defines one h'_t (code: one head shared by both losses)
    # -- collaboration modules (§4.4, Eq. 11-14) -----------------------------------------------
    "collab_heads": None,  # None = the text encoder's head count (12 for mBERT)
    "collab_query": "separate",  # paper: W_q; code: "key" (query projected with W_k)
    "collab_ffn": True,  # paper Eq. 14: R = LN(T~ + MLP(T~)); code: no FFN
    "collab_ffn_dim": None,  # None = the text encoder's intermediate size (3072)
    # -- decoder and loss (§4.5-4.6) -----------------------------------------------------------
    "head": "linear",  # paper: concat -> Linear -> CRF; code: "mlp" (Linear(2d,d) -> dropout -> Linear)
    "dropout": 0.1,
    "crf_constrained": False,  # "standard CRF" (paper) / torchcrf (code): no BIO constraints
    "crf_reduction": "mean",  # torchcrf reduction='mean' (code)
    "crf_init": "uniform",  # paper silent -> the code's pytorch-crf U(-0.1, 0.1); "allennlp": N(0,1) + xavier
    "alpha": 0.8,
    "loss_scale": 1.0,  # code multiplies Eq. 18 by 2
    # -- optimisation (Table 4) ------------------------------------------------------------------
    "optimizer": "adam",
    "lr": 5e-5,
    "weight_decay": 0.0,
    "scheduler": "linear",
    "warmup_steps": 0,
    "batch_size": 16,
    "epochs": 8,  # not in the paper; the code's default
    "select_on": "dev",  # paper: validation set; code: "test_max"
    "eval_batch_size": 32,
    "num_workers": 2,  # image decoding in DataLoader workers
}

CODE_RECIPE: dict[str, Any] = {
    "word_gather": "authors_off_by_one",
    "crf_init": "uniform",
    "resnet_trainable": False,
    "resnet_feature": "pooled",
    "resnet_preprocess": "crop",
    "resnet_random_crop": True,
    "resnet_random_eval": True,
    "cl_loss": "ntxent",
    "cl_text_pool": "pooler",
    "cl_vit_pool": "flatten",
    "collab_query": "key",
    "collab_ffn": False,
    "head": "mlp",
    "loss_scale": 2.0,
    "batch_size": 32,
    "select_on": "test_max",
}

SMOKE: dict[str, Any] = {
    "text_encoder": "tiny",
    "vision_encoder": "tiny",
    "resnet": "tiny",
    "image_size": 32,
    "text_layers": 2,
    "vit_layers": 2,
    "lr": 2e-3,
    "epochs": 6,
    "eval_batch_size": 64,
    "num_workers": 0,
}

TEXT_ONLY: dict[str, Any] = {"use_vit": False, "use_resnet": False}
NO_RESNET: dict[str, Any] = {"use_resnet": False}
NO_VIT: dict[str, Any] = {"use_vit": False}


def needs(hp: dict[str, Any]) -> tuple[str, ...]:
    """Pretrained artefact ids a configuration loads (``tiny`` encoders need none)."""
    out = []
    if hp.get("text_encoder") not in (None, "tiny"):
        out.append(str(hp["text_encoder"]))
    if hp.get("use_vit") and hp.get("vision_encoder") not in (None, "tiny"):
        out.append(str(hp["vision_encoder"]))
    if hp.get("use_resnet") and hp.get("resnet") not in (None, "tiny"):
        out.append(str(hp["resnet"]))
    return tuple(out)

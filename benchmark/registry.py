"""The model registry: one explicit ``ModelSpec`` per registered name.

Factories are ``"module:Class"`` strings imported lazily by ``load_factory``, so listing models
imports no torch model code. Adding a model = one file + one entry in ``_SPECS`` + one test.
Hyperparameter defaults are the original papers' (see ``design`` notes in each model's docstring);
``smoke`` overrides make a tiny, seconds-long configuration for CI.
"""
from __future__ import annotations

import difflib
import importlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from benchmark.errors import ConfigError
from benchmark.hparams import merge

# Pretrained artefact ids (benchmark.weights) that several entries need.
_MBERT, _CLIP, _RESNET = "bert-base-multilingual-cased", "openai/clip-vit-base-patch32", "torchvision/resnet152"

# UMT (baselines/umt.py, baselines/umt.md): paper values; the code's where the paper is silent.
_UMT_PAPER: dict[str, Any] = {
    "text_encoder": _MBERT, "extra_special_tokens": True, "max_length": 128,
    "resnet": _RESNET, "image_size": 224, "dropout": 0.1,
    "alpha": 0.5, "esd_weight": 0.5,  # E = 0.5 E_m + 0.5 E_a W_tr; loss = main + 0.5 aux
    "lr": 5e-5, "warmup_ratio": 0.1, "weight_decay": 0.01, "max_grad_norm": 1.0,  # BertAdam
    "batch_size": 16, "eval_batch_size": 32, "epochs": 12, "num_workers": 2,
    "tiny_hidden": 32, "tiny_layers": 2, "tiny_heads": 2, "tiny_intermediate": 64,
    "tiny_max_positions": 128, "tiny_vocab_size": 3000,
}
_UMT_SMOKE: dict[str, Any] = {"text_encoder": "tiny", "resnet": "tiny", "image_size": 32, "lr": 3e-3,
                              "epochs": 10, "batch_size": 8, "eval_batch_size": 64, "num_workers": 0}

# MKGFormer (baselines/mkgformer.py, baselines/mkgformer.md): the code's values (the paper gives few).
_MKG_PAPER: dict[str, Any] = {
    "text_encoder": _MBERT, "extra_special_tokens": True, "max_length": 128,
    "vision_encoder": _CLIP, "image_size": 224, "fusion_layers": 4,
    "crops": "substitute", "crop_dir": None, "aux_size": 128, "rcnn_size": 64, "prefix_text_mask": False,
    "dropout": 0.1, "lr": 3e-5, "head_lr": 5e-2, "weight_decay": 0.01, "warmup_ratio": 0.01,
    "batch_size": 16, "eval_batch_size": 32, "epochs": 30, "num_workers": 2,
    "tiny_hidden": 32, "tiny_layers": 2, "tiny_heads": 2, "tiny_intermediate": 64,
    "tiny_max_positions": 128, "tiny_vocab_size": 3000,
}
_MKG_SMOKE: dict[str, Any] = {"text_encoder": "tiny", "vision_encoder": "tiny", "image_size": 32,
                              "aux_size": 32, "rcnn_size": 16, "fusion_layers": 1, "lr": 3e-3,
                              "epochs": 10, "batch_size": 8, "eval_batch_size": 64, "num_workers": 0}

class LazyDefaults(Mapping[str, Any]):
    """Hyperparameters merged from ``"module:ATTR"`` dicts, imported on first use (later wins).

    Lets a model package keep its own torch-free hyperparameter dicts without the registry
    importing the package when it is loaded (data flows from the harness to the models, not back).
    """

    def __init__(self, *refs: str) -> None:
        self.refs = refs
        self._merged: dict[str, Any] | None = None

    def _resolve(self) -> dict[str, Any]:
        if self._merged is None:
            merged: dict[str, Any] = {}
            for ref in self.refs:
                module_name, _, attr = ref.partition(":")
                merged.update(getattr(importlib.import_module(module_name), attr))
            self._merged = merged
        return self._merged

    def __getitem__(self, key: str) -> Any:
        return self._resolve()[key]

    def __iter__(self):
        return iter(self._resolve())

    def __len__(self) -> int:
        return len(self._resolve())

    def __repr__(self) -> str:
        return f"LazyDefaults({', '.join(map(repr, self.refs))})"


_HP = "models.two_m_ner.hparams:"  # the 2M-NER package's torch-free hyperparameter dicts


@dataclass(frozen=True)
class ModelSpec:
    """Everything the harness knows about a model before importing it."""

    name: str
    display: str
    factory: str
    modality: str  # "text" or "text+image"
    citation: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    smoke: Mapping[str, Any] = field(default_factory=dict)
    needs: tuple[str, ...] = ()  # pretrained artefact ids (see benchmark.weights)
    check: Mapping[str, Any] = field(default_factory=dict)  # `bench check` overrides on top of smoke
    description: str = ""
    recipe: str = "paper"  # "paper" (the original paper's recipe) or e.g. "code" (its authors' code)
    variant_of: str | None = None  # the model this one varies (default: the first spec sharing its factory)
    choices: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)  # allowed values of string hps
    # hps added after runs were stored: allowed values, the first being the model's behaviour when
    # the hp is absent; at that value the hp is left out of the identity, so stored job ids stay valid
    optional: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    fusable: bool = False  # its optimizer is torch Adam/AdamW: fused kernel in the paper scale (`--hp fused_optimizer=false` turns it off)
    # what ``embeddings="auto"`` takes: the first of these word-vector artefacts that is present, else
    # word2vec trained here. The papers' GloVe 6B 300d first (their recipe, not measurable here); the
    # rest ordered by mean dev F1 against word2vec (baselines/word_vectors.md, tests/test_word_vectors.py)
    auto_vectors: tuple[str, ...] = ("glove.6B.300d",)
    # which compute model `benchmark.run.cost` estimates a paper-scale job with (time, memory: the
    # Slurm request's default): "lstm" (word BiLSTM), "2m-ner" (mBERT + ViT/ResNet branches per its
    # use_vit/use_resnet hps), "transformer" (an mBERT-size encoder; also the default for plugins)
    cost_family: str = "transformer"

    def hparams(self, scale: str = "paper", overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Merged hyperparameters (``benchmark.hparams.merge``): trainer defaults < paper defaults <
        smoke (if scale) < overrides, identity-neutral values dropped; not validated (that is
        ``benchmark.hparams.resolve_hparams``)."""
        return merge(self, scale, overrides)


_LSTM_OPTIMIZERS = ("sgd", "adam", "lazy_adam")  # baselines.layers.lstm.LSTM_OPTIMIZERS
# CRF protocol switches (baselines.layers.crf.crf_for) of the models that had them hard-coded: the
# first value is the model's behaviour without the switch (constrained decoding; start/end and
# transition initialisation, ``CRF_INITS``), so their stored job ids stay valid.
_CRF_INITS = ("allennlp", "uniform")  # baselines.layers.crf.CRF_INITS
CRF_CONSTRAINED_OPTIONAL = {"crf_constrained": (True, False), "crf_init": _CRF_INITS}
CRF_UNCONSTRAINED_OPTIONAL = {"crf_constrained": (False, True), "crf_init": _CRF_INITS}
_LSTM_OPTIONAL = {"label_scheme": ("iob2", "bioes"),  # baselines.layers.lstm.LABEL_SCHEMES
                  **CRF_CONSTRAINED_OPTIONAL}

_SPECS: list[ModelSpec] = [
    ModelSpec(
        name="bilstm-crf", cost_family="lstm", display="BiLSTM-CRF", factory="baselines.bilstm_crf:BiLSTMCRF",
        modality="text", citation="Huang, Xu & Yu 2015, arXiv:1508.01991",
        description="word embeddings (GloVe file, else word2vec trained on train) -> BiLSTM -> CRF",
        # The recipe measured best on English MMNERD (trials: baselines/lstm_recipes.md); the former
        # NCRF++ SGD recipe is `optimizer=sgd lr=0.015 lr_decay=0.05 embedding_dim=300 w2v_epochs=10 epochs=30 patience=8 label_scheme=iob2`.
        defaults={"embedding_dim": 100, "embeddings": "auto", "hidden_size": 100, "dropout": 0.5,
                  "optimizer": "lazy_adam", "lr": 0.001, "lr_decay": 0, "momentum": 0.0,
                  "weight_decay": 1e-8, "batch_size": 10, "epochs": 28, "grad_clip": 50.0,
                  "w2v_epochs": 20, "w2v_window": 5, "w2v_min_count": 1, "normalize_digits": True,
                  "crf_reduction": "sum", "patience": 6, "length_buckets": 50, "unk_replace": 0.5,
                  "label_scheme": "bioes"},
        smoke={"embedding_dim": 32, "embeddings": None, "hidden_size": 32, "epochs": 12, "w2v_epochs": 5,
               "batch_size": 10, "optimizer": "adam", "lr": 0.01, "lr_decay": 0.0, "patience": None},
        choices={"optimizer": _LSTM_OPTIMIZERS}, optional=_LSTM_OPTIONAL,
        auto_vectors=("glove.6B.300d", "glove.6B.50d"),  # 50d: dev-best over word2vec (baselines/word_vectors.md)
    ),
    ModelSpec(
        name="hbilstm-crf", cost_family="lstm", display="HBiLSTM-CRF", factory="baselines.hbilstm_crf:HBiLSTMCRF",
        modality="text", citation="Lample, Ballesteros, Subramanian, Kawakami & Dyer 2016, NAACL",
        description="char BiLSTM (25+25) + word embeddings -> BiLSTM (100+100) -> CRF; singleton UNK 0.5",
        defaults={"embedding_dim": 100, "embeddings": "auto", "char_embedding_dim": 25, "char_hidden_size": 25,
                  "hidden_size": 100, "dropout": 0.5, "unk_replace": 0.5,
                  "optimizer": "lazy_adam", "lr": 0.001, "lr_decay": 0, "momentum": 0.0, "weight_decay": 1e-8,
                  "batch_size": 10, "epochs": 16, "grad_clip": 50.0,
                  "w2v_epochs": 20, "w2v_window": 5, "w2v_min_count": 1, "normalize_digits": True,
                  "crf_reduction": "sum", "patience": 4, "length_buckets": 50, "label_scheme": "bioes"},
        smoke={"embedding_dim": 32, "embeddings": None, "hidden_size": 32, "char_embedding_dim": 8,
               "char_hidden_size": 8, "epochs": 12, "w2v_epochs": 5, "batch_size": 10, "optimizer": "adam",
               "lr": 0.01, "lr_decay": 0.0, "patience": None, "unk_replace": 0.0},
        choices={"optimizer": _LSTM_OPTIMIZERS}, optional=_LSTM_OPTIONAL,
        auto_vectors=("glove.6B.300d", "glove.6B.50d"),  # 50d: dev-best over word2vec (baselines/word_vectors.md)
    ),
    ModelSpec(
        name="bert", fusable=True, display="BERT", factory="baselines.bert:BERTTagger",
        modality="text", citation="Devlin, Chang, Lee & Toutanova 2019, NAACL",
        description="mBERT (cased) -> first-wordpiece gather -> dropout 0.1 -> Linear -> softmax",
        defaults={"text_encoder": "bert-base-multilingual-cased", "extra_special_tokens": True,
                  "max_length": 512, "window_overlap": 0.5, "dropout": 0.1,
                  "lr": 5e-5, "warmup_ratio": 0.0, "batch_size": 16, "eval_batch_size": 32, "epochs": 8,
                  "tiny_hidden": 32, "tiny_layers": 2, "tiny_heads": 2, "tiny_intermediate": 64,
                  "tiny_max_positions": 128, "tiny_vocab_size": 3000, "word_gather": "first"},
        smoke={"text_encoder": "tiny", "lr": 3e-3, "epochs": 10, "batch_size": 8, "eval_batch_size": 64},
        needs=("bert-base-multilingual-cased",),
    ),
    ModelSpec(
        name="bert-crf", fusable=True, display="BERT-CRF", factory="baselines.bert_crf:BERTCRFTagger",
        modality="text", citation="Devlin et al. 2019 + linear-chain CRF (as in Lu et al. 2018 / UMT 2020)",
        description="mBERT (cased) -> first-wordpiece gather -> dropout 0.1 -> Linear -> CRF, IOB2-constrained "
                    "decoding (2m-ner-text's architecture; it decodes unconstrained)",
        defaults={"text_encoder": "bert-base-multilingual-cased", "extra_special_tokens": True,
                  "max_length": 512, "window_overlap": 0.5, "dropout": 0.1,
                  "lr": 5e-5, "warmup_ratio": 0.0, "batch_size": 16, "eval_batch_size": 32, "epochs": 8,
                  "tiny_hidden": 32, "tiny_layers": 2, "tiny_heads": 2, "tiny_intermediate": 64,
                  "tiny_max_positions": 128, "tiny_vocab_size": 3000,
                  "crf_reduction": "mean", "crf_constrained": True, "crf_init": "uniform", "word_gather": "first"},
        smoke={"text_encoder": "tiny", "lr": 3e-3, "epochs": 10, "batch_size": 8, "eval_batch_size": 64},
        needs=("bert-base-multilingual-cased",), choices={"crf_init": _CRF_INITS},
    ),
    # -- registered by later work: 2m-ner and its variants ---------------------------------------
    ModelSpec(
        name="2m-ner", cost_family="2m-ner", fusable=True, display="2M-NER", factory="models.two_m_ner.model:TwoMNER",
        modality="text+image", citation="Wang, Feng, Liu & Wang 2024, 2M-NER (MMNERD)",
        description="mBERT + CLIP ViT-B/32 + ResNet-152; contrastive alignment; two cross-attention "
                    "collaboration modules; CRF (paper recipe; see models/two_m_ner/README.md)",
        defaults=LazyDefaults(_HP + "PAPER_DEFAULTS"), smoke=LazyDefaults(_HP + "SMOKE"),
        needs=(_MBERT, _CLIP, _RESNET),
    ),
    ModelSpec(
        name="2m-ner-no-resnet", cost_family="2m-ner", fusable=True, display="-ResNet", factory="models.two_m_ner.model:TwoMNER",
        modality="text+image", citation="Wang et al. 2024, Table 9 ablation",
        description="2M-NER without the ResNet branch (and its contrastive loss)",
        defaults=LazyDefaults(_HP + "PAPER_DEFAULTS", _HP + "NO_RESNET"), smoke=LazyDefaults(_HP + "SMOKE"),
        needs=(_MBERT, _CLIP),
    ),
    ModelSpec(
        name="2m-ner-no-vit", cost_family="2m-ner", fusable=True, display="-ViT", factory="models.two_m_ner.model:TwoMNER",
        modality="text+image", citation="Wang et al. 2024, Table 9 ablation",
        description="2M-NER without the ViT branch (and its contrastive loss)",
        defaults=LazyDefaults(_HP + "PAPER_DEFAULTS", _HP + "NO_VIT"), smoke=LazyDefaults(_HP + "SMOKE"),
        needs=(_MBERT, _RESNET),
    ),
    ModelSpec(
        name="2m-ner-text", cost_family="2m-ner", fusable=True, display="2M-NER", factory="models.two_m_ner.model:TwoMNER",
        modality="text", citation="Wang et al. 2024, Table 7 (image encoders removed)",
        description="2M-NER with both image encoders removed: mBERT -> first-subword gather -> CRF",
        defaults=LazyDefaults(_HP + "PAPER_DEFAULTS", _HP + "TEXT_ONLY"), smoke=LazyDefaults(_HP + "SMOKE"),
        needs=(_MBERT,),
    ),
    ModelSpec(
        name="2m-ner-code", cost_family="2m-ner", fusable=True, display="2M-NER (code)", factory="models.two_m_ner.model:TwoMNER",
        modality="text+image", citation="wangdsh/MMNERD @ dda173b (authors' code)",
        description="2M-NER as the authors' code runs it: frozen pooled ResNet, NT-Xent, W_k queries, no "
                    "collaboration FFN, loss x2, batch 32, random crops at test, best-test-epoch selection",
        defaults=LazyDefaults(_HP + "PAPER_DEFAULTS", _HP + "CODE_RECIPE"), smoke=LazyDefaults(_HP + "SMOKE"),
        needs=(_MBERT, _CLIP, _RESNET), recipe="code",
    ),
    ModelSpec(
        name="bert-crf-code", fusable=True, display="BERT-CRF (code)", factory="baselines.bert_crf:BERTCRFTagger",
        modality="text", citation="wangdsh/MMNERD @ dda173b, --use_image off (authors' code)",
        description="BERT-CRF as the authors' text-only path runs it: off-by-one word gather, pytorch-crf "
                    "uniform init, unconstrained Viterbi, batch 32, best-test-epoch selection",
        defaults={"text_encoder": "bert-base-multilingual-cased", "extra_special_tokens": True,
                  "max_length": 512, "window_overlap": 0.5, "dropout": 0.1,
                  "lr": 5e-5, "warmup_ratio": 0.0, "batch_size": 32, "eval_batch_size": 32, "epochs": 8,
                  "tiny_hidden": 32, "tiny_layers": 2, "tiny_heads": 2, "tiny_intermediate": 64,
                  "tiny_max_positions": 128, "tiny_vocab_size": 3000,
                  "crf_reduction": "mean", "crf_constrained": False, "crf_init": "uniform",
                  "word_gather": "authors_off_by_one", "select_on": "test_max"},
        smoke={"text_encoder": "tiny", "lr": 3e-3, "epochs": 10, "batch_size": 8, "eval_batch_size": 64},
        needs=("bert-base-multilingual-cased",), recipe="code", variant_of="bert-crf", choices={"crf_init": _CRF_INITS},
    ),
    # -- UMT and MKGFormer (text-only variant built when the job has no image: Table 7) ----------
    ModelSpec(
        name="umt", display="UMT", factory="baselines.umt:UMT",
        modality="text+image", citation="Yu, Jiang, Yang & Xia 2020, ACL (jefferyYu/UMT)",
        description="mBERT + frozen ResNet-152 7x7 grid; cross-modal transformers, visual gate; "
                    "entity-span detection (W_tr, lambda 0.5); CRF over wordpieces (baselines/umt.md)",
        defaults=_UMT_PAPER, smoke=_UMT_SMOKE,
        needs=(_MBERT, _RESNET), optional=CRF_UNCONSTRAINED_OPTIONAL,
    ),
    ModelSpec(
        name="mkgformer", fusable=True, display="MKGFormer", factory="baselines.mkgformer:MKGFormer",
        modality="text+image", citation="Chen et al. 2022, SIGIR (zjunlp/MKGformer, MNER)",
        description="CLIP ViT-B/32 and mBERT run layer by layer; prefix-guided interaction and "
                    "correlation-aware fusion in the top 4 layers; CRF (crops substituted: baselines/mkgformer.md)",
        defaults=_MKG_PAPER, smoke=_MKG_SMOKE,
        needs=(_MBERT, _CLIP), optional=CRF_UNCONSTRAINED_OPTIONAL,
    ),
    # -- AdaCAN and UMGF (issue 13) ---------------------------------------------------------------
    ModelSpec(
        name="adacan", display="AdaCAN", factory="baselines.adacan:AdaCAN",
        modality="text+image", citation="Zhang, Fu, Liu & Huang 2018, AAAI (adaptive co-attention network)",
        description="char CNN + word embeddings -> BiLSTM -> word-guided visual / image-guided textual "
                    "attention, gated fusion, filtration gate (VGG-16 7x7 grid) -> CRF; text-only: CNN-BiLSTM-CRF",
        defaults={"embedding_dim": 300, "embeddings": "auto", "char_embedding_dim": 30, "char_filters": 32,
                  "char_out": 50, "char_dropout": 0.25, "max_word_length": 30, "hidden_size": 200,
                  "attention_size": 200, "dropout": 0.5, "text_stack": "paper",
                  "visual_encoder": "torchvision/vgg16", "image_size": 224,
                  "optimizer": "rmsprop", "lr": 1e-3, "batch_size": 10, "epochs": 25, "patience": 5,
                  "w2v_epochs": 10, "w2v_window": 5, "w2v_min_count": 1, "normalize_digits": True,
                  "crf_reduction": "mean", "unk_replace": 0.5, "length_buckets": 50},
        smoke={"embedding_dim": 32, "embeddings": None, "hidden_size": 32, "attention_size": 32, "char_embedding_dim": 8,
               "char_filters": 8, "char_out": 16, "visual_encoder": "tiny", "image_size": 64,
               "epochs": 12, "w2v_epochs": 5, "optimizer": "adam", "lr": 0.01, "patience": None,
               "unk_replace": 0.0},
        needs=("torchvision/vgg16",),  # the image variant's; a text-only row needs none (plan.missing_weights)
        choices={"optimizer": ("rmsprop", "adam")}, optional=CRF_CONSTRAINED_OPTIONAL,
        auto_vectors=("glove.6B.300d", "glove.6B.50d"),  # 50d: dev-best over word2vec (baselines/word_vectors.md)
    ),
    ModelSpec(
        name="umgf", fusable=True, display="UMGF", factory="baselines.umgf:UMGF",
        modality="text+image", citation="Zhang, Wei, Li, Wu, Zhu & Zhou 2021, AAAI (unified multimodal graph fusion)",
        description="mBERT words + 4 visual objects (Faster R-CNN boxes, else grid crops; ResNet-152) -> 6 graph "
                    "fusion layers with word<->object gates -> Linear([BERT ; fused]) -> CRF; text-only: no objects",
        defaults={"text_encoder": "bert-base-multilingual-cased", "extra_special_tokens": True,
                  "max_length": 512, "window_overlap": 0.5, "visual_encoder": "torchvision/resnet152",
                  "objects": "auto", "max_node": 4, "image_size": 224, "d_model": 512, "d_hidden": 256,
                  "heads": 8, "layers": 6, "dropout": 0.4, "lr": 1e-4, "lr_step": 2, "lr_gamma": 0.8,
                  "batch_size": 16, "eval_batch_size": 32, "epochs": 30, "crf_reduction": "sum",
                  "tiny_hidden": 32, "tiny_layers": 2, "tiny_heads": 2, "tiny_intermediate": 64,
                  "tiny_max_positions": 128, "tiny_vocab_size": 3000},
        smoke={"text_encoder": "tiny", "visual_encoder": "tiny", "objects": "grid", "image_size": 64,
               "d_model": 32, "d_hidden": 32, "heads": 2, "layers": 2, "dropout": 0.1, "lr": 3e-3,
               "lr_step": 100, "epochs": 10, "batch_size": 8, "eval_batch_size": 64},
        needs=("bert-base-multilingual-cased", "torchvision/resnet152"), optional=CRF_CONSTRAINED_OPTIONAL,
    ),
]

MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}


def get_model(name: str) -> ModelSpec:
    """The spec for ``name`` (case-insensitive), or a ConfigError with close matches;
    ``hf:REF`` / ``hf:REF+crf`` registers a Hugging Face encoder first (``hf_model``)."""
    if is_hf_ref(name):
        return hf_model(name)
    key = name.strip().lower()
    if key in MODELS:
        return MODELS[key]
    by_display = {spec.display.lower(): spec for spec in MODELS.values()}
    if key in by_display:
        return by_display[key]
    close = difflib.get_close_matches(key, list(MODELS) + list(by_display), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; registered: {', '.join(MODELS)}"
    raise ConfigError(f"unknown model {name!r}{hint}")


# ---------------------------------------------------------------------------------------------
# hf:REF -- any encoder AutoModel loads, run as BERT / BERT-CRF under the paper's protocol
# ---------------------------------------------------------------------------------------------

HF_PREFIX, HF_CRF = "hf:", "+crf"
HF_FORM = ("hf:<hub id or folder> (softmax, as BERT) and hf:<hub id or folder>+crf (as BERT-CRF): any encoder "
           "AutoModel loads, under the paper's BERT protocol, e.g. --models hf:xlm-roberta-base,hf:./my-model+crf")


def is_hf_ref(name: str) -> bool:
    return name.strip().lower().startswith(HF_PREFIX)


def is_hf_spec(spec: ModelSpec) -> bool:
    """A spec made by ``hf_model`` (its hyperparameters name the encoder's folder)."""
    return "text_encoder_dir" in spec.defaults


def _slug(text: str) -> str:
    out = "".join(c if c.isalnum() or c in "._-" else "-" for c in text.lower().replace("/", "--"))
    return out.strip("-.") or "encoder"


def hf_model(ref: str) -> ModelSpec:
    """Register and return the spec of ``hf:REF`` (``+crf``: with BERT-CRF's head).

    The spec is BERT's (or BERT-CRF's) with the encoder swapped: same factory, trainer, selection,
    first-sub-word gather and windows; the smoke scale keeps the encoder (it only shortens
    training). Its name is ``hf-<encoder>[-crf]``, its display name the encoder's. The encoder's
    identity (``text_encoder`` + ``text_encoder_revision``) is in every job id; the folder it was
    found in (``text_encoder_dir``) is not. A missing encoder raises ``MissingArtifactError``.
    """
    from benchmark.weights import identify_hf

    body = ref.strip()[len(HF_PREFIX):]
    crf = body.lower().endswith(HF_CRF)
    target = body[: -len(HF_CRF)] if crf else body
    if not target.strip():
        raise ConfigError(f"--models {ref!r}: expected {HF_FORM}")
    encoder = identify_hf(target.strip())
    base = MODELS["bert-crf" if crf else "bert"]
    defaults = {k: v for k, v in base.defaults.items() if not k.startswith("tiny_")}
    defaults.update(text_encoder=encoder.name, text_encoder_revision=encoder.revision,
                    text_encoder_dir=encoder.folder)
    display = encoder.name + ("-CRF" if crf else "")
    if display.lower() in {s.display.lower() for s in MODELS.values() if not is_hf_spec(s)}:
        display += " (hf)"  # never printed as one of the paper's rows
    spec = ModelSpec(
        name=f"hf-{_slug(encoder.name)}" + ("-crf" if crf else ""), display=display, factory=base.factory,
        modality="text", citation=f"{encoder.name} @ {encoder.revision}, run as {base.display}",
        defaults=defaults, smoke={k: v for k, v in base.smoke.items() if k != "text_encoder"},
        description=f"{encoder.name} -> first-sub-word gather -> dropout 0.1 -> Linear -> "
                    + ("CRF" if crf else "softmax") + f" ({base.display}'s protocol)",
        choices={k: (defaults[k],) for k in ("text_encoder", "text_encoder_revision", "text_encoder_dir")},
        fusable=base.fusable)
    canonical = f"{HF_PREFIX}{encoder.folder if Path(target).expanduser().is_dir() else encoder.name}" + (
        HF_CRF if crf else "")
    register(spec, f"--models {ref}", origin=f"--models {canonical}")
    return spec


def hf_ref_of_job(job: Mapping[str, Any]) -> str | None:
    """The ``hf:`` form that plans a stored job of an ``hf:`` model again (its hub id, or the folder
    it was read from), None for any other job."""
    hp = job.get("hparams") or {}
    if not str(job.get("model", "")).startswith("hf-") or "text_encoder_dir" not in hp:
        return None
    hub = not str(hp.get("text_encoder_revision", "")).startswith("sha256:")
    crf = HF_CRF if "crf_constrained" in hp else ""
    return f"{HF_PREFIX}{hp['text_encoder'] if hub else hp['text_encoder_dir']}{crf}"


def load_factory(spec: ModelSpec) -> Any:
    """Import and return the model class named by ``spec.factory``."""
    module_name, _, attr = spec.factory.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):  # the factory's own module, not one it imports
            raise ConfigError(f"{spec.name}: factory module {module_name!r} not found "
                              "(install its package or put it on PYTHONPATH)") from None
        raise
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"{spec.name}: factory {spec.factory!r} not found") from None


def variant_base(spec: ModelSpec) -> str | None:
    """The model ``spec`` is a variant of: its ``variant_of``, else the first spec sharing its factory."""
    if spec.variant_of:
        return spec.variant_of
    first = next((s for s in MODELS.values() if s.factory == spec.factory), spec)
    return None if first.name == spec.name else first.name


# ---------------------------------------------------------------------------------------------
# Plugins: models from the user's own packages, loaded explicitly when the CLI starts
# ---------------------------------------------------------------------------------------------

ENTRY_POINT_GROUP = "mmner_bench.models"
PLUGIN_SOURCES: dict[str, str] = {}  # model name -> where it came from ("--plugin mod:attr", "entry point ...")


def _specs_from(obj: Any, source: str) -> list[ModelSpec]:
    """A ModelSpec, a list of them, or a callable returning either -> list of specs."""
    if callable(obj) and not isinstance(obj, ModelSpec):
        try:
            obj = obj()
        except Exception as exc:  # noqa: BLE001 - a broken plugin is one line, not a traceback
            raise ConfigError(f"plugin {source}: calling it failed ({type(exc).__name__}: {exc})") from None
    specs = [obj] if isinstance(obj, ModelSpec) else list(obj) if isinstance(obj, (list, tuple)) else None
    if not specs or not all(isinstance(s, ModelSpec) for s in specs):
        raise ConfigError(f"plugin {source}: expected a ModelSpec, a list of them or a callable returning them, "
                          f"got {type(obj).__name__}")
    return specs


def register(spec: ModelSpec, source: str, origin: str | None = None) -> None:
    """Add a plugin's spec to ``MODELS`` (re-registering the same spec is a no-op).

    ``source`` names the plugin in error messages; ``origin`` (default: ``source``) is what
    ``bench models`` shows as where the model came from.
    """
    if not spec.name or spec.name != spec.name.strip().lower() or " " in spec.name:
        raise ConfigError(f"plugin {source}: model name {spec.name!r} must be lower case without spaces")
    if spec.modality not in ("text", "text+image"):
        raise ConfigError(f"plugin {source}: {spec.name}: modality must be 'text' or 'text+image', "
                          f"got {spec.modality!r}")
    if spec.factory.count(":") != 1 or not all(spec.factory.split(":")):
        raise ConfigError(f"plugin {source}: {spec.name}: factory must be 'module:Class', got {spec.factory!r}")
    old = MODELS.get(spec.name)
    if old is not None and old != spec:
        where = PLUGIN_SOURCES.get(spec.name, "the built-in registry")
        raise ConfigError(f"plugin {source}: model name {spec.name!r} is already registered by {where}")
    MODELS[spec.name] = spec
    PLUGIN_SOURCES.setdefault(spec.name, origin or source)


def load_plugin(ref: str) -> list[ModelSpec]:
    """Register the model(s) at ``ref`` = ``"module:attribute"`` (a ModelSpec, list, or callable)."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"--plugin expects module:attribute (e.g. my_package.models:SPEC), got {ref!r}")
    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:  # like `python -m`: a module in the current folder is found
        sys.path.append(here)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - ImportError, SyntaxError, or an error the module raises
        raise ConfigError(f"plugin {ref}: cannot import {module_name!r} ({type(exc).__name__}: {exc})") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"plugin {ref}: {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    specs = _specs_from(obj, ref)
    for spec in specs:
        register(spec, ref, origin=f"--plugin {ref}")
    return specs


def plugin_refs() -> list[str]:
    """The ``--plugin`` references and ``hf:`` encoders loaded in this process (for worker processes
    to load them too)."""
    return list(dict.fromkeys(src.split(" ", 1)[1] for src in PLUGIN_SOURCES.values()
                              if src.startswith(("--plugin ", f"--models {HF_PREFIX}"))))


def load_plugins_again(refs: list[str], search_path: list[str] | None = None) -> None:
    """In a worker process: the installed entry points and the parent's ``--plugin`` references,
    imported with the parent's module search path."""
    for entry in search_path or []:
        if entry not in sys.path:
            sys.path.append(entry)
    load_entry_points()
    for ref in refs:
        get_model(ref) if is_hf_ref(ref) else load_plugin(ref)


def load_entry_points() -> list[ModelSpec]:
    """Register every model advertised by installed packages in the ``mmner_bench.models`` group."""
    from importlib.metadata import entry_points

    specs: list[ModelSpec] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        source = f"entry point {ep.name} = {ep.value}" + (f" ({ep.dist.name})" if getattr(ep, "dist", None) else "")
        try:
            obj = ep.load()
        except Exception as exc:  # noqa: BLE001
            raise ConfigError(f"plugin {source}: cannot load ({type(exc).__name__}: {exc}); "
                              "fix or uninstall that package") from None
        for spec in _specs_from(obj, source):
            register(spec, source)
            specs.append(spec)
    return specs

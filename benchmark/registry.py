"""The model registry: one explicit ``ModelSpec`` per registered name.

Factories are ``"module:Class"`` strings imported lazily by ``load_factory``, so listing models
imports no torch model code. Adding a model = one file + one entry in ``_SPECS`` + one test.
Hyperparameter defaults are the original papers' (see ``design`` notes in each model's docstring);
``smoke`` overrides make a tiny, seconds-long configuration for CI.
"""
from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from typing import Any, Mapping

from benchmark.errors import ConfigError
from models.two_m_ner import hparams as _2mner  # torch-free dicts of 2M-NER hyperparameters

# Trainer-level defaults every model inherits (a model's defaults override them).
TRAINER_DEFAULTS: dict[str, Any] = {
    "epochs": 10,
    "batch_size": 16,
    "eval_batch_size": 64,
    "lr": 1e-3,
    "grad_clip": None,
    "select_on": "dev",  # "dev" (paper, default) or "test_max" (authors' code: best test epoch)
    "num_workers": 0,
    "patience": None,  # stop after this many epochs without dev improvement (None = never)
    "length_buckets": 0,  # >0: sort sentences by length within chunks of this many batches
}


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
    # what a text-only row (Table 7, no images) of a multimodal model needs; None = all of ``needs``
    text_only_needs: tuple[str, ...] | None = None
    description: str = ""

    def hparams(self, profile: str = "paper", overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Resolved hyperparameters: trainer defaults < paper defaults < smoke (if profile) < overrides."""
        if profile not in ("paper", "smoke"):
            raise ConfigError(f"unknown profile {profile!r}; expected 'paper' or 'smoke'")
        hp = {**TRAINER_DEFAULTS, **self.defaults}
        if profile == "smoke":
            hp.update(self.smoke)
        if overrides:
            unknown = sorted(set(overrides) - set(hp))
            if unknown:
                raise ConfigError(f"{self.name}: unknown hyperparameter(s) {', '.join(unknown)}; "
                                  f"known: {', '.join(sorted(hp))}")
            hp.update(overrides)
        return hp


_SPECS: list[ModelSpec] = [
    ModelSpec(
        name="bilstm-crf", display="BiLSTM-CRF", factory="baselines.bilstm_crf:BiLSTMCRF",
        modality="text", citation="Huang, Xu & Yu 2015, arXiv:1508.01991",
        description="word embeddings (GloVe file, else word2vec trained on train) -> BiLSTM -> CRF",
        defaults={"embedding_dim": 300, "embeddings": None, "hidden_size": 100, "dropout": 0.5,
                  "optimizer": "sgd", "lr": 0.015, "lr_decay": 0.05, "momentum": 0.0,
                  "weight_decay": 1e-8, "batch_size": 10, "epochs": 30, "grad_clip": 50.0,
                  "w2v_epochs": 10, "w2v_window": 5, "w2v_min_count": 1, "normalize_digits": True,
                  "crf_reduction": "sum", "patience": 8, "length_buckets": 50, "unk_replace": 0.5},
        smoke={"embedding_dim": 32, "hidden_size": 32, "epochs": 12, "w2v_epochs": 5, "batch_size": 10,
               "optimizer": "adam", "lr": 0.01, "lr_decay": 0.0, "patience": None},
    ),
    ModelSpec(
        name="hbilstm-crf", display="HBiLSTM-CRF", factory="baselines.hbilstm_crf:HBiLSTMCRF",
        modality="text", citation="Lample, Ballesteros, Subramanian, Kawakami & Dyer 2016, NAACL",
        description="char BiLSTM (25+25) + word embeddings -> BiLSTM (100+100) -> CRF; singleton UNK 0.5",
        defaults={"embedding_dim": 300, "embeddings": None, "char_embedding_dim": 25, "char_hidden_size": 25,
                  "hidden_size": 100, "dropout": 0.5, "unk_replace": 0.5,
                  "optimizer": "sgd", "lr": 0.015, "lr_decay": 0.05, "momentum": 0.0, "weight_decay": 1e-8,
                  "batch_size": 10, "epochs": 15, "grad_clip": 50.0,
                  "w2v_epochs": 10, "w2v_window": 5, "w2v_min_count": 1, "normalize_digits": True,
                  "crf_reduction": "sum", "patience": 5, "length_buckets": 50},
        smoke={"embedding_dim": 32, "hidden_size": 32, "char_embedding_dim": 8, "char_hidden_size": 8,
               "epochs": 12, "w2v_epochs": 5, "batch_size": 10, "optimizer": "adam", "lr": 0.01,
               "lr_decay": 0.0, "patience": None, "unk_replace": 0.0},
    ),
    ModelSpec(
        name="bert", display="BERT", factory="baselines.bert:BERTTagger",
        modality="text", citation="Devlin, Chang, Lee & Toutanova 2019, NAACL",
        description="mBERT (cased) -> first-wordpiece gather -> dropout 0.1 -> Linear -> softmax",
        defaults={"text_encoder": "bert-base-multilingual-cased", "extra_special_tokens": True,
                  "max_length": 512, "window_overlap": 0.5, "dropout": 0.1,
                  "lr": 5e-5, "warmup_ratio": 0.0, "batch_size": 16, "eval_batch_size": 32, "epochs": 8,
                  "tiny_hidden": 32, "tiny_layers": 2, "tiny_heads": 2, "tiny_intermediate": 64,
                  "tiny_max_positions": 128, "tiny_vocab_size": 3000},
        smoke={"text_encoder": "tiny", "lr": 3e-3, "epochs": 10, "batch_size": 8, "eval_batch_size": 64},
        needs=("bert-base-multilingual-cased",),
    ),
    ModelSpec(
        name="bert-crf", display="BERT-CRF", factory="baselines.bert_crf:BERTCRFTagger",
        modality="text", citation="Devlin et al. 2019 + linear-chain CRF (as in Lu et al. 2018 / UMT 2020)",
        description="mBERT (cased) -> first-wordpiece gather -> dropout 0.1 -> Linear -> CRF (2M-NER text-only)",
        defaults={"text_encoder": "bert-base-multilingual-cased", "extra_special_tokens": True,
                  "max_length": 512, "window_overlap": 0.5, "dropout": 0.1,
                  "lr": 5e-5, "warmup_ratio": 0.0, "batch_size": 16, "eval_batch_size": 32, "epochs": 8,
                  "tiny_hidden": 32, "tiny_layers": 2, "tiny_heads": 2, "tiny_intermediate": 64,
                  "tiny_max_positions": 128, "tiny_vocab_size": 3000,
                  "crf_reduction": "mean", "crf_constrained": True},
        smoke={"text_encoder": "tiny", "lr": 3e-3, "epochs": 10, "batch_size": 8, "eval_batch_size": 64},
        needs=("bert-base-multilingual-cased",),
    ),
    # -- registered by later work: 2m-ner and its variants ---------------------------------------
    ModelSpec(
        name="2m-ner", display="2M-NER", factory="models.two_m_ner.model:TwoMNER",
        modality="text+image", citation="Wang, Feng, Liu & Wang 2024, 2M-NER (MMNERD)",
        description="mBERT + CLIP ViT-B/32 + ResNet-152; contrastive alignment; two cross-attention "
                    "collaboration modules; CRF (paper recipe; see models/two_m_ner/README.md)",
        defaults=_2mner.PAPER_DEFAULTS, smoke=_2mner.SMOKE,
        needs=(_2mner.TEXT_ARTIFACT, _2mner.VIT_ARTIFACT, _2mner.RESNET_ARTIFACT),
    ),
    ModelSpec(
        name="2m-ner-no-resnet", display="-ResNet", factory="models.two_m_ner.model:TwoMNER",
        modality="text+image", citation="Wang et al. 2024, Table 9 ablation",
        description="2M-NER without the ResNet branch (and its contrastive loss)",
        defaults={**_2mner.PAPER_DEFAULTS, **_2mner.NO_RESNET}, smoke=_2mner.SMOKE,
        needs=(_2mner.TEXT_ARTIFACT, _2mner.VIT_ARTIFACT),
    ),
    ModelSpec(
        name="2m-ner-no-vit", display="-ViT", factory="models.two_m_ner.model:TwoMNER",
        modality="text+image", citation="Wang et al. 2024, Table 9 ablation",
        description="2M-NER without the ViT branch (and its contrastive loss)",
        defaults={**_2mner.PAPER_DEFAULTS, **_2mner.NO_VIT}, smoke=_2mner.SMOKE,
        needs=(_2mner.TEXT_ARTIFACT, _2mner.RESNET_ARTIFACT),
    ),
    ModelSpec(
        name="2m-ner-text", display="2M-NER", factory="models.two_m_ner.model:TwoMNER",
        modality="text", citation="Wang et al. 2024, Table 7 (image encoders removed)",
        description="2M-NER with both image encoders removed: mBERT -> first-subword gather -> CRF",
        defaults={**_2mner.PAPER_DEFAULTS, **_2mner.TEXT_ONLY}, smoke=_2mner.SMOKE,
        needs=(_2mner.TEXT_ARTIFACT,),
    ),
    ModelSpec(
        name="2m-ner-code", display="2M-NER (code)", factory="models.two_m_ner.model:TwoMNER",
        modality="text+image", citation="wangdsh/MMNERD @ dda173b (authors' code)",
        description="2M-NER as the authors' code runs it: frozen pooled ResNet, NT-Xent, W_k queries, no "
                    "collaboration FFN, loss x2, batch 32, random crops at test, best-test-epoch selection",
        defaults={**_2mner.PAPER_DEFAULTS, **_2mner.CODE_RECIPE}, smoke=_2mner.SMOKE,
        needs=(_2mner.TEXT_ARTIFACT, _2mner.VIT_ARTIFACT, _2mner.RESNET_ARTIFACT),
    ),
    # -- AdaCAN and UMGF (issue 13) ---------------------------------------------------------------
    ModelSpec(
        name="adacan", display="AdaCAN", factory="baselines.adacan:AdaCAN",
        modality="text+image", citation="Zhang, Fu, Liu & Huang 2018, AAAI (adaptive co-attention network)",
        description="char CNN + word embeddings -> BiLSTM -> word-guided visual / image-guided textual "
                    "attention, gated fusion, filtration gate (VGG-16 7x7 grid) -> CRF; text-only: CNN-BiLSTM-CRF",
        defaults={"embedding_dim": 300, "embeddings": None, "char_embedding_dim": 30, "char_filters": 32,
                  "char_out": 50, "char_dropout": 0.25, "max_word_length": 30, "hidden_size": 200,
                  "attention_size": 200, "dropout": 0.5, "text_stack": "paper",
                  "visual_encoder": "torchvision/vgg16", "image_size": 224,
                  "optimizer": "rmsprop", "lr": 1e-3, "batch_size": 10, "epochs": 25, "patience": 5,
                  "w2v_epochs": 10, "w2v_window": 5, "w2v_min_count": 1, "normalize_digits": True,
                  "crf_reduction": "mean", "unk_replace": 0.5, "length_buckets": 50},
        smoke={"embedding_dim": 32, "hidden_size": 32, "attention_size": 32, "char_embedding_dim": 8,
               "char_filters": 8, "char_out": 16, "visual_encoder": "tiny", "image_size": 64,
               "epochs": 12, "w2v_epochs": 5, "optimizer": "adam", "lr": 0.01, "patience": None,
               "unk_replace": 0.0},
        needs=("torchvision/vgg16",), text_only_needs=(),
    ),
    ModelSpec(
        name="umgf", display="UMGF", factory="baselines.umgf:UMGF",
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
        needs=("bert-base-multilingual-cased", "torchvision/resnet152"),
        text_only_needs=("bert-base-multilingual-cased",),
    ),
]

MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}


def get_model(name: str) -> ModelSpec:
    """The spec for ``name`` (case-insensitive), or a ConfigError with close matches."""
    key = name.strip().lower()
    if key in MODELS:
        return MODELS[key]
    by_display = {spec.display.lower(): spec for spec in MODELS.values()}
    if key in by_display:
        return by_display[key]
    close = difflib.get_close_matches(key, list(MODELS) + list(by_display), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; registered: {', '.join(MODELS)}"
    raise ConfigError(f"unknown model {name!r}{hint}")


def load_factory(spec: ModelSpec) -> Any:
    """Import and return the model class named by ``spec.factory``."""
    module_name, _, attr = spec.factory.partition(":")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"{spec.name}: factory {spec.factory!r} not found") from None

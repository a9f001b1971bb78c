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
                  "weight_decay": 1e-8, "batch_size": 10, "epochs": 50, "grad_clip": 5.0,
                  "w2v_epochs": 10, "w2v_window": 5, "w2v_min_count": 1, "normalize_digits": True,
                  "crf_reduction": "sum", "patience": 10, "length_buckets": 50},
        smoke={"embedding_dim": 32, "hidden_size": 32, "epochs": 12, "w2v_epochs": 5, "batch_size": 10,
               "optimizer": "adam", "lr": 0.01, "lr_decay": 0.0, "patience": None},
    ),
    # -- registered by later work: hbilstm-crf, bert, bert-crf, 2m-ner and its variants ----------
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

"""Hyperparameters: the one path from ``--hp KEY=VALUE`` to the job (issue 24 item 2).

Where each fact is declared:

- the trainer's keys every model inherits: ``TRAINER_DEFAULTS`` (default values), their ranges
  ``TRAINER_HP_RULES`` (also the ranges of model keys several models share) and
  ``OPTIONAL_TRAINER_HPARAMS`` (switches absent from the defaults, first value = off);
- a model's own keys: its ``ModelSpec`` (``defaults`` give each key's default and type, ``smoke``
  and ``check`` the small settings, ``choices`` the allowed strings, ``optional`` the keys added
  after runs were stored, whose first value is left out of the job id);
- ``bench run``'s ``--precision`` / ``--compile``: ``trainer_overrides``.

What happens to them, once each: the CLI parses ``--hp`` into a dict and hands it on; ``merge``
layers defaults < scale < overrides and drops identity-neutral values; ``resolve_hparams``
checks keys, types, ranges and choices (one line naming the key, exit 2) and settles the word
vectors (``embeddings="auto"`` made concrete, ``embedding_dim`` following them), so the planner puts
a concrete dict into each ``JobSpec`` and no model ever sees ``"auto"``.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from benchmark.errors import ConfigError, did_you_mean
from benchmark.weights import settle_embeddings

if TYPE_CHECKING:
    from benchmark.registry import ModelSpec

SCALES = ("paper", "smoke", "check")  # check = smoke models on the larger `bench check` slice

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

# Trainer settings accepted as overrides but absent from the defaults, so that the job ids of runs
# that do not use them stay unchanged (read by benchmark.run.train): bf16 autocast, torch.compile,
# fused Adam, and the dev set of a job trained on other languages than it is tested on (Table 6:
# "train-languages" = the union of the training languages' dev sets, today's and the default;
# "test-language" = the test language's dev set; see benchmark.run.specs.dev_languages).
DEV_SETS = ("train-languages", "test-language")
OPTIONAL_TRAINER_HPARAMS: dict[str, tuple[Any, ...]] = {"precision": ("fp32", "bf16"), "compile": (False, True),
                                                        "fused_optimizer": (False, True), "dev_set": DEV_SETS}
IDENTITY_NEUTRAL_WHEN_OFF = ("compile", "fused_optimizer")  # off is not part of the job id


def trainer_overrides(precision: str = "fp32", compile_model: bool = False) -> dict[str, Any]:
    """The trainer keys ``bench run --precision/--compile`` set (``precision``, ``compile``).

    Only what the options say: never the machine that plans or the executor, so a job's id is the
    same wherever it is planned. fp32 and no compile add nothing, so job ids stay what they were.
    """
    if precision not in OPTIONAL_TRAINER_HPARAMS["precision"]:
        raise ConfigError(f"--precision {precision}: expected fp32 or bf16")
    out: dict[str, Any] = {}
    if precision == "bf16":
        out["precision"] = "bf16"
    if compile_model:
        out["compile"] = True
    return out


def merge(spec: "ModelSpec", scale: str = "paper", overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Trainer defaults < the model's paper defaults < smoke (and check) < ``overrides``; values at
    their identity-neutral setting dropped. Unknown keys are refused; values are checked by
    ``resolve_hparams``."""
    if scale not in SCALES:
        raise ConfigError(f"unknown scale {scale!r}; expected 'paper' or 'smoke'")
    hp = {**TRAINER_DEFAULTS, **spec.defaults}
    if spec.fusable and scale == "paper":  # the paper-size runs step Adam(W) with its fused kernel
        hp["fused_optimizer"] = True
    if scale in ("smoke", "check"):
        hp.update(spec.smoke)
    if scale == "check":
        hp.update(spec.check)
    if overrides:
        overrides = _optional_trainer_hparams(overrides)
        unknown = sorted(set(overrides) - set(hp) - set(OPTIONAL_TRAINER_HPARAMS) - set(spec.optional))
        if unknown:
            raise ConfigError(f"{spec.name}: unknown hyperparameter(s) {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(hp))}")
        hp.update(overrides)
    for key in IDENTITY_NEUTRAL_WHEN_OFF:
        if key in hp and not hp[key]:
            del hp[key]
    for key, values in spec.optional.items():  # nor is an optional hp at its unset behaviour
        if hp.get(key, values[0]) == values[0]:
            hp.pop(key, None)
    return hp


def _optional_trainer_hparams(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``precision`` and ``dev_set``; drop their defaults (fp32, train-languages) from the
    identity (``compile`` and ``fused_optimizer`` are dropped when off by ``merge``,
    after the scale's default)."""
    out = dict(overrides)
    for key in ("precision", "dev_set"):
        values = OPTIONAL_TRAINER_HPARAMS[key]
        if out.get(key, values[0]) not in values:
            raise ConfigError(f"{key} must be one of {', '.join(values)}, got {out[key]!r}")
        if out.get(key) == values[0]:
            del out[key]
    return out


@dataclass(frozen=True)
class HpRule:
    """What a trainer-level hyperparameter accepts: a type, bounds, choices, or None."""

    kind: type  # int, float or str
    minimum: float | None = None  # value >= minimum
    above: float | None = None  # value > above
    below: float | None = None  # value < below
    choices: tuple[str, ...] = ()
    nullable: bool = False

    def describe(self) -> str:
        text = {int: "an integer", float: "a number", str: "a string"}[self.kind]
        if self.minimum is not None:
            text += f" >= {self.minimum:g}"
        if self.above is not None:
            text += f" > {self.above:g}"
        if self.below is not None:
            text += f" and < {self.below:g}" if self.minimum is not None or self.above is not None \
                else f" < {self.below:g}"
        if self.choices:
            text = "one of " + ", ".join(self.choices)
        return text + (" or null" if self.nullable else "")

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.nullable
        if isinstance(value, bool):
            return False
        if self.kind is float:
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                return False
        elif not isinstance(value, self.kind):
            return False
        if self.choices and value not in self.choices:
            return False
        if self.minimum is not None and value < self.minimum:
            return False
        if self.below is not None and value >= self.below:
            return False
        return not (self.above is not None and value <= self.above)


TRAINER_HP_RULES: dict[str, HpRule] = {
    "epochs": HpRule(int, minimum=1),
    "batch_size": HpRule(int, minimum=1),
    "eval_batch_size": HpRule(int, minimum=1),
    "lr": HpRule(float, above=0),
    "grad_clip": HpRule(float, above=0, nullable=True),
    "select_on": HpRule(str, choices=("dev", "test_max")),
    "num_workers": HpRule(int, minimum=0),
    "patience": HpRule(int, minimum=1, nullable=True),
    "length_buckets": HpRule(int, minimum=0),
    "lr_decay": HpRule(float, minimum=0),  # a model key (LSTM recipes): lr / (1 + decay * epoch)
    # model keys several registered models share: declared once here, checked for every model
    "dropout": HpRule(float, minimum=0, below=1),
    "char_dropout": HpRule(float, minimum=0, below=1),
    "unk_replace": HpRule(float, minimum=0, below=1),
    "warmup_ratio": HpRule(float, minimum=0, below=1),
    "weight_decay": HpRule(float, minimum=0),
    "head_lr": HpRule(float, above=0),
}


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"


def hp_problem(key: str, value: Any, default: Any) -> str | None:
    """Why ``value`` is not acceptable for hyperparameter ``key`` (None when it is).

    Trainer keys follow ``TRAINER_HP_RULES``; a model key must have the type of its default
    (an integer is accepted where the default is a float; a None default accepts anything).
    """
    rule = TRAINER_HP_RULES.get(key)
    if rule is not None:
        return None if rule.accepts(value) else f"{key} must be {rule.describe()}, got {json.dumps(value)}"
    if default is None:
        return None
    if isinstance(default, bool) or isinstance(value, bool):
        ok = isinstance(default, bool) and isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float))
    else:
        ok = isinstance(value, type(default))
    return None if ok else f"{key} must be {_type_name(default)} (like its default {json.dumps(default)}), got {json.dumps(value)}"


def check_hparams(spec: "ModelSpec", scale: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``merge(spec, scale, overrides)`` with every key, type, range and choice checked (one-line
    ``ConfigError`` naming the key and the model)."""
    base = merge(spec, scale)
    for key, value in overrides.items():
        if key in OPTIONAL_TRAINER_HPARAMS:  # precision / compile / fused_optimizer / dev_set
            if value not in OPTIONAL_TRAINER_HPARAMS[key] and not (key == "compile" and isinstance(value, str)):
                raise ConfigError(f"--hp {key}={_show(value)}: expected one of "
                                  f"{', '.join(map(str, OPTIONAL_TRAINER_HPARAMS[key]))} ({spec.name})")
            if key == "fused_optimizer" and value and not spec.fusable:
                raise ConfigError(f"--hp fused_optimizer=true: {spec.name}'s optimizer is not torch Adam/AdamW, "
                                  "which is what has a fused kernel")
            continue
        if key not in base and key not in spec.optional:
            raise ConfigError(f"--hp {key}: unknown hyperparameter for {spec.name}{did_you_mean(key, base)}")
        problem = hp_problem(key, value, base[key] if key in base else spec.optional[key][0])
        allowed = spec.choices.get(key, spec.optional.get(key))
        if problem is None and allowed is not None and value not in allowed:
            problem = f"{key} must be one of {', '.join(map(str, allowed))}, got {json.dumps(value)}"
        if problem:
            raise ConfigError(f"--hp {key}={_show(value)}: {problem} ({spec.name})")
    hp = merge(spec, scale, overrides)
    for key, value in hp.items():  # the defaults themselves must satisfy the trainer's rules
        problem = hp_problem(key, value, None)
        if problem:
            raise ConfigError(f"{spec.name} ({scale}): {problem}")
    return hp


def _show(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def resolve_hparams(spec: "ModelSpec", scale: str = "paper", overrides: Mapping[str, Any] | None = None,
                    pretrained_vectors: bool = True) -> dict[str, Any]:
    """The hyperparameters a job of ``spec`` runs with: checked (``check_hparams``), then the word
    vectors settled (``benchmark.weights.settle_embeddings``: ``embeddings="auto"`` becomes the first
    of the model's ``auto_vectors`` that is present, else None = word2vec trained here; with
    ``pretrained_vectors=False`` always word2vec). The planner calls this once per model."""
    overrides = dict(overrides or {})
    return settle_embeddings(check_hparams(spec, scale, overrides), overrides,
                             spec.auto_vectors if pretrained_vectors else ())

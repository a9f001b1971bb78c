"""Job and result records: what the runner executes and what the store keeps.

A ``JobSpec`` is small, JSON-serialisable and deterministic: its ``job_id`` is the hash of its
canonical JSON (model, resolved hyperparameters, setting, seed, profile, data fingerprint), so
"resume" is simply "skip the job ids already in the store".
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = 1

# Smoke profile = a small, deterministic slice of every split (per language, round-robin).
PROFILE_LIMITS: dict[str, dict[str, int | None]] = {
    "paper": {"train": None, "dev": None, "test": None},
    "smoke": {"train": 240, "dev": 80, "test": 80},
    # `bench check`: smoke hyperparameters on a slice large enough that every checked F1 is far from 0
    "check": {"train": 600, "dev": 150, "test": 300},
}


@dataclass(frozen=True)
class Setting:
    """Which data a job trains and tests on.

    ``train_languages`` are language codes or ``all``; ``fold`` (1..n_folds) trains on that one of
    n disjoint subsets of the training split (Table 8, see ``benchmark.run.folds``); ``use_image``
    False runs a multimodal model text-only.
    """

    train_languages: tuple[str, ...]
    test_language: str
    use_image: bool = False
    fold: int | None = None
    n_folds: int = 5

    def label(self) -> str:
        train = "+".join(self.train_languages)
        fold = f" fold {self.fold}/{self.n_folds}" if self.fold else ""
        img = "text+image" if self.use_image else "text"
        return f"train {train} -> test {self.test_language} ({img}){fold}"

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["train_languages"] = list(self.train_languages)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Setting":
        d = dict(d)
        d["train_languages"] = tuple(d["train_languages"])
        return cls(**d)


@dataclass(frozen=True)
class JobSpec:
    """One training + evaluation run."""

    model: str
    setting: Setting
    seed: int
    profile: str
    hparams: dict[str, Any]
    data_kind: str  # the corpus entry name (benchmark.corpora.registry): "mmnerd", "fallback", ...
    data_fingerprint: str

    def identity(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "setting": self.setting.to_json(),
            "seed": self.seed,
            "profile": self.profile,
            "limits": PROFILE_LIMITS[self.profile],
            "hparams": self.hparams,
            "data_kind": self.data_kind,
            "data_fingerprint": self.data_fingerprint,
        }

    @property
    def job_id(self) -> str:
        canon = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canon.encode()).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        return {**self.identity(), "job_id": self.job_id}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "JobSpec":
        return cls(model=d["model"], setting=Setting.from_json(d["setting"]), seed=d["seed"],
                   profile=d["profile"], hparams=d["hparams"], data_kind=d["data_kind"],
                   data_fingerprint=d["data_fingerprint"])


@dataclass
class Result:
    """What one finished job leaves in the store (``results/runs/<model>/<job_id>/result.json``)."""

    job: JobSpec
    test: dict[str, Any]  # metrics of the selected epoch, see benchmark.metrics.evaluate
    dev: dict[str, Any]
    selected_epoch: int
    epochs_run: int
    test_max: dict[str, Any]  # best test F1 over epochs (the authors' code's selection), for comparison
    history: list[dict[str, Any]]
    wall_time_s: float
    peak_memory_mb: float
    environment: dict[str, Any]
    counts: dict[str, Any] = field(default_factory=dict)  # sentences per split, images replaced, ...
    schema_version: int = SCHEMA_VERSION

    @property
    def job_id(self) -> str:
        return self.job.job_id

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["job"] = self.job.to_json()
        d["job_id"] = self.job_id
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Result":
        d = upgrade(dict(d))
        d.pop("job_id", None)
        d["job"] = JobSpec.from_json(d["job"])
        return cls(**d)


def upgrade(d: dict[str, Any]) -> dict[str, Any]:
    """Bring an older result dict to the current schema (none older than v1 exists yet)."""
    version = d.get("schema_version", 1)
    if version > SCHEMA_VERSION:
        from benchmark.errors import BenchError
        raise BenchError(f"result schema v{version} is newer than this mmner-bench (v{SCHEMA_VERSION}); upgrade")
    return d

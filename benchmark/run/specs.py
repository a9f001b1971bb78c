"""Job and result records: what the runner executes and what the store keeps.

A ``JobSpec`` is small, JSON-serialisable and deterministic: its ``job_id`` is the hash of its
canonical JSON, so "resume" is simply "skip the job ids already in the store". The identity covers
everything that changes a number:

- the model and its resolved hyperparameters (which include the epoch-selection protocol,
  ``select_on``: best dev epoch or the authors' best test epoch);
- the setting: training and test languages, modality (``use_image``), and for Table 8 the fold, the
  number of folds and the seed of the fixed shuffle that assigns sentences to folds;
- the seed and the scale, ``paper``, ``smoke`` or ``check`` (with its subset sizes; stored as ``profile``);
- the corpus: its name (``corpus_name``, stored as ``data_kind``: ``mmnerd``, ``fallback``, ...) and a fingerprint of the
  contents of the files the setting reads;
- the image source (``image_source``): a fingerprint of the image folder's listing (file names,
  sizes and modification times) or ``"none"`` when no image folder was found.

Where an input lies on this machine is not what it is: the hyperparameters in ``LOCATION_HPARAMS``
(the folder an ``hf:`` encoder was found in) are recorded with the job but left out of the hash; the
encoder's contents are in it (``text_encoder_revision``: hub revision or a digest of its files).

A field a job does not read is left out of the hash (the image source of a text-only job, the fold
assignment of a job without a fold), so the ids of such jobs are unchanged from schema v1.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = 2  # v2: JobSpec.image_source; fold assignment in the identity
SUPPORTED_SCHEMAS = (1, 2)
FOLD_SEED = 20240426  # seed of the fixed shuffle that assigns training sentences to folds (Table 8)
NO_IMAGES = "none"
# Hyperparameters that say where something is found, not what it is (left out of the job id).
LOCATION_HPARAMS: tuple[str, ...] = ("text_encoder_dir",)

# Subset sizes per scale (smoke: a small, deterministic slice of every split, per language, round-robin).
SCALE_LIMITS: dict[str, dict[str, int | None]] = {
    "paper": {"train": None, "dev": None, "test": None},
    "smoke": {"train": 240, "dev": 80, "test": 80},
    # `bench check`: smoke hyperparameters on a slice large enough that every checked F1 is far from 0
    "check": {"train": 600, "dev": 150, "test": 300},
}


@dataclass(frozen=True)
class Setting:
    """Which data a job trains and tests on.

    ``train_languages`` are language codes or ``all``; ``fold`` (1..n_folds) trains on that one of
    n disjoint subsets of the training split (Table 8, see ``benchmark.run.folds``), the subsets being
    assigned by a fixed shuffle seeded with ``fold_seed``; ``use_image`` False runs a multimodal model
    text-only. Test data comes from ``test_language``; dev data from the training languages, or
    with the hyperparameter ``dev_set=test-language`` from the test language (``dev_languages``).
    """

    train_languages: tuple[str, ...]
    test_language: str
    use_image: bool = False
    fold: int | None = None
    n_folds: int = 5
    fold_seed: int = FOLD_SEED

    def label(self) -> str:
        train = "+".join(self.train_languages)
        fold = f" fold {self.fold}/{self.n_folds}" if self.fold else ""
        img = "text+image" if self.use_image else "text"
        return f"train {train} -> test {self.test_language} ({img}){fold}"

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["train_languages"] = list(self.train_languages)
        if not self.fold:  # the fold assignment only matters to a job with a fold
            d.pop("fold_seed")
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Setting":
        d = dict(d)
        d["train_languages"] = tuple(d["train_languages"])
        return cls(**d)


def dev_languages(setting: Setting, hparams: dict[str, Any]) -> tuple[str, ...]:
    """The languages whose dev splits select the epoch: the training languages (``dev_set`` absent
    or ``train-languages``, the default) or the test language (``dev_set=test-language``)."""
    if hparams.get("dev_set") == "test-language":
        return (setting.test_language,)
    return setting.train_languages


@dataclass(frozen=True)
class JobSpec:
    """One training + evaluation run."""

    model: str
    setting: Setting
    seed: int
    scale: str
    hparams: dict[str, Any]
    corpus_name: str  # the corpus entry name (benchmark.corpora.registry): "mmnerd", "fallback", ...
    data_fingerprint: str
    image_source: str = NO_IMAGES  # fingerprint of the image folder's listing, or "none"

    @property
    def selection(self) -> str:
        """Epoch selection protocol: ``dev`` (paper) or ``test_max`` (authors' code)."""
        return str(self.hparams.get("select_on", "dev"))

    def identity(self) -> dict[str, Any]:
        # Keys as stored and hashed: on disk the scale is "profile" and the corpus name "data_kind"
        # (renaming a key would change every job id and leave the stored results unread).
        ident: dict[str, Any] = {
            "model": self.model,
            "setting": self.setting.to_json(),
            "seed": self.seed,
            "profile": self.scale,
            "limits": SCALE_LIMITS[self.scale],
            "hparams": {k: v for k, v in self.hparams.items() if k not in LOCATION_HPARAMS},
            "data_kind": self.corpus_name,
            "data_fingerprint": self.data_fingerprint,
        }
        if self.setting.use_image:  # a text-only job reads no image: its id ignores the folder
            ident["image_source"] = self.image_source
        return ident

    @property
    def job_id(self) -> str:
        canon = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canon.encode()).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        return {**self.identity(), "hparams": self.hparams, "image_source": self.image_source, "job_id": self.job_id}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "JobSpec":
        setting = Setting.from_json(d["setting"])
        # schema v1 recorded no image source: "unrecorded" keeps such image jobs apart from new ones
        image_source = d.get("image_source", NO_IMAGES if not setting.use_image else "unrecorded")
        return cls(model=d["model"], setting=setting, seed=d["seed"],
                   scale=d["profile"], hparams=d["hparams"], corpus_name=d["data_kind"],
                   data_fingerprint=d["data_fingerprint"], image_source=image_source)


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
    """Bring an older result dict to the current schema; a newer or unknown one is refused."""
    version = d.get("schema_version", 1)
    if version not in SUPPORTED_SCHEMAS:
        from benchmark.errors import BenchError
        raise BenchError(f"result schema version {version!r} is unknown to this mmner-bench "
                         f"(it reads {', '.join(map(str, SUPPORTED_SCHEMAS))})")
    d["schema_version"] = SCHEMA_VERSION  # v1 -> v2: JobSpec.from_json fills image_source
    return d


def _number(value: Any, where: str, lo: float = 0.0, hi: float = 1.0) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ValueError(f"{where} is {json.dumps(value)}, expected a number")
    if not lo <= value <= hi:
        raise ValueError(f"{where} is {value}, expected {lo}..{hi}")


def _metrics(block: Any, where: str) -> None:
    if not isinstance(block, dict):
        raise ValueError(f"{where} is missing")
    for mode in ("conlleval", "strict"):
        m = block.get(mode)
        if not isinstance(m, dict):
            raise ValueError(f"{where}.{mode} is missing")
        for key in ("precision", "recall", "f1"):
            _number(m.get(key), f"{where}.{mode}.{key}")
        per_type = m.get("per_type")
        if not isinstance(per_type, dict):
            raise ValueError(f"{where}.{mode}.per_type is missing")
        for etype, pm in per_type.items():
            _number(pm.get("f1") if isinstance(pm, dict) else None, f"{where}.{mode}.per_type.{etype}.f1")


def check_result_dict(d: Any) -> None:
    """Raise ``ValueError`` naming the first missing or ill-typed field of a stored result."""
    if not isinstance(d, dict):
        raise ValueError("not a JSON object")
    version = d.get("schema_version")
    if version not in SUPPORTED_SCHEMAS:
        raise ValueError(f"schema_version {json.dumps(version)} is unknown "
                         f"(this mmner-bench reads {', '.join(map(str, SUPPORTED_SCHEMAS))})")
    job = d.get("job")
    if not isinstance(job, dict):
        raise ValueError("job is missing")
    for key in ("model", "setting", "seed", "profile", "hparams", "data_kind", "data_fingerprint"):
        if key not in job:
            raise ValueError(f"job.{key} is missing")
    if job["profile"] not in SCALE_LIMITS:
        raise ValueError(f"job.profile {job['profile']!r} is unknown")
    _metrics(d.get("test"), "test")
    _metrics(d.get("dev"), "dev")
    _metrics(d.get("test_max"), "test_max")
    for key in ("selected_epoch", "epochs_run"):
        value = d.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key} is {json.dumps(value)}, expected an integer >= 1")
    if d["selected_epoch"] > d["epochs_run"]:
        raise ValueError(f"selected_epoch {d['selected_epoch']} > epochs_run {d['epochs_run']}")
    for key, kind in (("history", list), ("environment", dict)):
        if not isinstance(d.get(key), kind):
            raise ValueError(f"{key} is missing")
    _number(d.get("wall_time_s"), "wall_time_s", 0.0, float("inf"))

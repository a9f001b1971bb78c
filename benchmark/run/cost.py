"""What a plan costs: per-job time and peak memory on a device, GPU-hours, GPUs for a wall time.

``estimate(job, device)`` uses a ``bench profile`` record in ``results/benchmarks/`` when one
exists for the job's model, scale and device (sentences per second and peak memory measured by
the product), else a FLOP model: ``6 x parameters x tokens`` for trained transformer/LSTM weights,
``2 x`` for frozen ones, the image encoders' published forward FLOPs per image (x3 when trained;
once per image when their features are cached), and an effective throughput per device kind.
The FLOP model is a planning figure (expect +-50%); a measured record always wins.

``price(estimates, wall_time_s)`` totals the device-hours and finds how many devices of that kind
finish the plan within a wall time (first-fit-decreasing packing of whole jobs).
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from benchmark.registry import MODELS
from benchmark.run.specs import SCALE_LIMITS, JobSpec

BENCHMARKS_DIR = Path(__file__).resolve().parents[2] / "results" / "benchmarks"

# Effective training throughput (FLOP/s; ~35% of peak for GPUs) and memory per device kind.
DEVICES: dict[str, dict[str, float]] = {
    "cpu": {"fp32": 5.0e10, "bf16": 5.0e10, "memory": 64 * 2**30},  # per run, a few cores
    "cuda": {"fp32": 5.0e13, "bf16": 1.0e14, "memory": 40 * 2**30},  # unknown GPU: A100-40GB-like
    "a100": {"fp32": 5.0e13, "bf16": 1.0e14, "memory": 80 * 2**30},
    "h100": {"fp32": 1.2e14, "bf16": 3.0e14, "memory": 80 * 2**30},
    "h200": {"fp32": 1.2e14, "bf16": 3.0e14, "memory": 141 * 2**30},
    "v100": {"fp32": 1.0e13, "bf16": 1.0e13, "memory": 32 * 2**30},  # no bf16 tensor cores
    "l40s": {"fp32": 3.0e13, "bf16": 1.2e14, "memory": 48 * 2**30},
}
STEP_OVERHEAD_S = {"cpu": 0.005, "gpu": 0.03}  # per optimisation step: Python, kernel launches, data
TOKENS_PER_WORD = 1.6  # mBERT wordpieces per MMNERD word (English train split)
WORDS_PER_SENTENCE = 16.0
FALLBACK_SIZES = (400, 100, 100)  # built-in corpus sentences per language and split
LANG_NAMES = {"en": "English", "fr": "French", "es": "Spanish", "de": "German"}

# Parameters of the pretrained artefacts (non-embedding parameters for text encoders) and the
# forward FLOPs per image of the vision encoders at 224 x 224.
TEXT_BODY_PARAMS = 85.0e6  # BERT-base: 12 x 7.1M
TEXT_EMBED_PARAMS = 92.9e6  # mBERT: 119,547 wordpieces x 768 (+ positions)
VIT_PARAMS, VIT_FLOPS = 87.8e6, 4.4e9  # CLIP ViT-B/32 vision tower
RESNET_PARAMS, RESNET_FLOPS = 60.2e6, 11.5e9  # ResNet-152
LSTM_PARAMS = 3.0e6  # BiLSTM-CRF / HBiLSTM-CRF (paper sizes, embeddings excluded)


@dataclass(frozen=True)
class Estimate:
    seconds: float
    peak_mem_bytes: int
    source: str  # "profile:<record file>" or "flops"


def device_kind(device: str) -> str:
    """``cpu``, or a GPU key of ``DEVICES`` (``cuda`` when the name is not known)."""
    name = device.lower()
    if name == "cpu":
        return "cpu"
    for key in DEVICES:
        if key not in ("cpu", "cuda") and key in name:
            return key
    return "cuda"


def split_sizes(job: JobSpec) -> tuple[int, int, int]:
    """(train, dev, test) sentences of a job: Table 2 counts for MMNERD, the built-in sizes otherwise."""
    st = job.setting
    langs = ["en", "fr", "es", "de"] if "all" in st.train_languages else list(st.train_languages)
    tests = ["en", "fr", "es", "de"] if st.test_language == "all" else [st.test_language]
    if job.corpus_name == "mmnerd":
        counts = _table2()
        size = lambda ls, split: sum(counts.get((LANG_NAMES.get(x, x), split), 0) for x in ls)  # noqa: E731
        train, dev, test = size(langs, "train"), size(langs, "dev"), size(tests, "test")
    else:
        train, dev, test = (len(langs) * FALLBACK_SIZES[0], len(langs) * FALLBACK_SIZES[1],
                            len(tests) * FALLBACK_SIZES[2])
    if st.fold:
        train -= train // st.n_folds
    limits = SCALE_LIMITS[job.scale]
    cap = lambda n, k: n if limits[k] is None else min(n, int(limits[k]))  # noqa: E731
    return cap(train, "train"), cap(dev, "dev"), cap(test, "test")


def _table2() -> dict[tuple[str, str], int]:
    path = Path(__file__).resolve().parents[1] / "reference" / "table2_dataset_stats.csv"
    with path.open(newline="") as fh:
        return {(r["language"], r["split"]): int(r["sentences"]) for r in csv.DictReader(fh)}


# ---------------------------------------------------------------------------------------------
# Measured records
# ---------------------------------------------------------------------------------------------

def find_record(job: JobSpec, device: str, folder: Path | None = None) -> tuple[Path, dict[str, Any]] | None:
    """The newest usable ``bench profile`` record for the job's model, profile and device."""
    folder = Path(folder) if folder else BENCHMARKS_DIR
    kind = device_kind(device)
    best: tuple[str, Path, dict[str, Any]] | None = None
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            rec = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if rec.get("model") != job.model or rec.get("profile") != job.scale or rec.get("status", "ok") != "ok":
            continue
        if not rec.get("train_sentences_per_s"):  # random or pretrained weights time the same
            continue
        sizing = ("epochs", "num_workers", "batch_size", "eval_batch_size")
        if any(job.hparams.get(k) != v for k, v in (rec.get("overrides") or {}).items() if k not in sizing):
            continue  # measured on another configuration of the model
        rec_dev = str(rec.get("device", "cpu"))
        if kind == "cpu":
            if not rec_dev.startswith("cpu"):
                continue
        else:
            gpu = str((rec.get("machine") or {}).get("gpu", ""))
            if not rec_dev.startswith("cuda") or (kind != "cuda" and device_kind(gpu) != kind):
                continue
        stamp = str(rec.get("measured_at", ""))
        if best is None or stamp > best[0]:
            best = (stamp, path, rec)
    return (best[1], best[2]) if best else None


# ---------------------------------------------------------------------------------------------
# FLOP model
# ---------------------------------------------------------------------------------------------

def cost_family(job: JobSpec) -> str:
    """The compute model of ``job``'s model (``ModelSpec.cost_family``; "transformer" when the model
    is not registered in this process)."""
    spec = MODELS.get(job.model)
    return spec.cost_family if spec is not None else "transformer"


def _images(job: JobSpec) -> bool:
    """Whether a 2M-NER-family job encodes images (its multimodal variants always do)."""
    spec = MODELS.get(job.model)
    return job.setting.use_image or (spec is not None and spec.modality == "text+image")


def _flops_per_sentence(job: JobSpec) -> tuple[float, float, float, float]:
    """FLOPs per training sentence and per scored sentence, FLOPs once per image (cached frozen
    encoders), and the number of frozen parameters."""
    hp = job.hparams
    tokens = WORDS_PER_SENTENCE * TOKENS_PER_WORD
    if job.scale != "paper":  # smoke/check scales: tiny random encoders
        return 6 * 2e5 * tokens, 2 * 2e5 * tokens, 0.0, 0.0
    family = cost_family(job)
    if family == "lstm":
        return 6 * LSTM_PARAMS * WORDS_PER_SENTENCE, 2 * LSTM_PARAMS * WORDS_PER_SENTENCE, 0.0, 0.0
    layers = int(hp.get("text_layers") or 12)
    body = TEXT_BODY_PARAMS * layers / 12
    train, evaluate, once, frozen = 6 * body * tokens, 2 * body * tokens, 0.0, 0.0
    if family == "2m-ner" and _images(job):
        if hp.get("use_vit"):
            vit = VIT_FLOPS * int(hp.get("vit_layers") or 12) / 12
            if hp.get("vit_trainable", True):
                train, evaluate = train + 3 * vit, evaluate + vit
            else:
                once, frozen = once + vit, frozen + VIT_PARAMS
        if hp.get("use_resnet"):
            cacheable = (not hp.get("resnet_trainable", True) and hp.get("resnet_bn") == "frozen"
                         and not hp.get("resnet_random_crop") and not hp.get("resnet_random_eval"))
            if hp.get("resnet_trainable", True):
                train, evaluate = train + 3 * RESNET_FLOPS, evaluate + RESNET_FLOPS
            elif cacheable:
                once, frozen = once + RESNET_FLOPS, frozen + RESNET_PARAMS
            else:  # frozen but recomputed every batch (BatchNorm batch statistics, random crops)
                train, evaluate, frozen = train + RESNET_FLOPS, evaluate + RESNET_FLOPS, frozen + RESNET_PARAMS
    return train, evaluate, once, frozen


def _trainable_params(job: JobSpec) -> float:
    hp, family = job.hparams, cost_family(job)
    if job.scale != "paper":
        return 2e5
    if family == "lstm":
        return LSTM_PARAMS + 30000 * int(hp.get("embedding_dim") or 100)
    n = TEXT_EMBED_PARAMS + TEXT_BODY_PARAMS * int(hp.get("text_layers") or 12) / 12
    if family == "2m-ner":
        if hp.get("use_vit") and hp.get("vit_trainable", True):
            n += VIT_PARAMS
        if hp.get("use_resnet") and hp.get("resnet_trainable", True):
            n += RESNET_PARAMS
        n += 20e6 * len([b for b in ("use_vit", "use_resnet") if hp.get(b)])  # collaboration + CL heads
    return n


def flop_estimate(job: JobSpec, device: str) -> Estimate:
    kind = device_kind(device)
    spec = DEVICES[kind]
    precision = str(job.hparams.get("precision") or "fp32")
    rate = spec["bf16" if precision == "bf16" else "fp32"]
    train_n, dev_n, test_n = split_sizes(job)
    epochs = int(job.hparams.get("epochs") or 1)
    bs = int(job.hparams.get("batch_size") or 16)
    per_train, per_eval, once, frozen = _flops_per_sentence(job)
    steps = epochs * math.ceil(train_n / bs)
    flops = epochs * (train_n * per_train + (dev_n + test_n) * per_eval) + (train_n + dev_n + test_n) * once
    overhead = STEP_OVERHEAD_S["cpu" if kind == "cpu" else "gpu"]
    seconds = flops / rate + steps * overhead + epochs * 2.0  # + per-epoch evaluation/checkpoint set-up
    trainable = _trainable_params(job)
    act = bs * WORDS_PER_SENTENCE * TOKENS_PER_WORD * 12 * 768 * 34 if job.scale == "paper" else 5e6
    if cost_family(job) == "2m-ner" and job.scale == "paper":
        if job.hparams.get("use_vit") and job.hparams.get("vit_trainable", True):
            act += bs * 50 * 12 * 768 * 34
        if job.hparams.get("use_resnet") and job.hparams.get("resnet_trainable", True):
            act += bs * 200e6
    base = 0.5 * 2**30 if kind != "cpu" else 0.6 * 2**30  # CUDA context / Python + libraries
    peak = base + trainable * 16 + frozen * 4 + act * (0.5 if precision == "bf16" else 1.0)
    return Estimate(seconds, int(peak), "flops")


def estimate(job: JobSpec, device: str, folder: Path | None = None) -> tuple[float, int]:
    """``(seconds, peak_mem_bytes)`` of ``job`` on ``device`` (``cpu``, ``cuda`` or a GPU name)."""
    e = estimate_detail(job, device, folder)
    return e.seconds, e.peak_mem_bytes


def estimate_detail(job: JobSpec, device: str, folder: Path | None = None) -> Estimate:
    """Like ``estimate``, with the source of the figure (a profile record or the FLOP model)."""
    found = find_record(job, device, folder)
    if found is None:
        return flop_estimate(job, device)
    path, rec = found
    train_n, dev_n, test_n = split_sizes(job)
    epochs = int(job.hparams.get("epochs") or 1)
    seconds = epochs * (train_n / float(rec["train_sentences_per_s"])
                        + (dev_n + test_n) / float(rec.get("eval_sentences_per_s") or rec["train_sentences_per_s"]))
    peak = int(float(rec.get("peak_memory_mb") or 0) * 2**20) or flop_estimate(job, device).peak_mem_bytes
    return Estimate(seconds, peak, f"profile:{path.name}")


# ---------------------------------------------------------------------------------------------
# Totals
# ---------------------------------------------------------------------------------------------

@dataclass
class Price:
    jobs: int
    total_seconds: float
    device_hours: float
    longest_seconds: float
    wall_time_s: float | None = None
    devices_needed: int | None = None  # None: no wall time given, or a single job is longer than it
    makespan_s: float | None = None
    too_long: list[int] = field(default_factory=list)  # indices of jobs longer than the wall time

    def summary(self, device: str = "GPU") -> str:
        text = f"{self.jobs} jobs, {self.device_hours:.1f} {device}-hours in total, longest job {self.longest_seconds / 3600:.2f} h"
        if self.wall_time_s is not None:
            if self.devices_needed is None:
                text += (f"; {len(self.too_long)} job(s) alone exceed the wall time "
                         f"{self.wall_time_s / 3600:.2f} h")
            else:
                text += (f"; {self.devices_needed} {device}(s) finish within {self.wall_time_s / 3600:.2f} h "
                         f"(makespan {self.makespan_s / 3600:.2f} h)")
        return text


def _pack(durations: Sequence[float], capacity: float) -> list[float]:
    """First-fit-decreasing packing of whole jobs into devices that each run ``capacity`` seconds."""
    loads: list[float] = []
    for d in sorted(durations, reverse=True):
        for i, load in enumerate(loads):
            if load + d <= capacity:
                loads[i] += d
                break
        else:
            loads.append(d)
    return loads


def price(seconds: Iterable[float], wall_time_s: float | None = None) -> Price:
    """Device-hours of jobs taking ``seconds`` each, and the devices needed to end within the wall time."""
    durations = [float(s) for s in seconds]
    total = sum(durations)
    out = Price(len(durations), total, total / 3600.0, max(durations, default=0.0), wall_time_s)
    if wall_time_s is None or not durations:
        return out
    out.too_long = [i for i, d in enumerate(durations) if d > wall_time_s]
    if out.too_long:
        return out
    loads = _pack(durations, wall_time_s)
    out.devices_needed, out.makespan_s = len(loads), max(loads)
    return out


def price_jobs(jobs: Sequence[JobSpec], device: str, wall_time_s: float | None = None,
               folder: Path | None = None) -> tuple[list[Estimate], Price]:
    """Estimates per job and their total, for ``bench plan --price``."""
    estimates = [estimate_detail(j, device, folder) for j in jobs]
    return estimates, price([e.seconds for e in estimates], wall_time_s)

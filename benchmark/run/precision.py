"""Can this device train a model at a reduced precision? Asked once, before any job, with the model's
own layers.

bf16 autocast depends on the device's kernels, not only on torch: on an x86-64 CPU without AVX-512
(e.g. AMD Zen 2/3) oneDNN has no bf16 LSTM kernel, so every LSTM model fails at its first step
("could not create a primitive descriptor for the LSTM forward propagation primitive"), while the
same command works on a CPU with AVX-512/AMX. ``precision_problem`` builds the model at its smoke size
on a few generated sentences and takes one training step in fp32 and one under bf16 autocast on the
device; a failure of the bf16 step alone is the device's, and ``bench run`` refuses the job in one
line before any job starts. (``ONEDNN_MAX_CPU_ISA=AVX2`` makes an AVX-512 CPU behave like one
without it, to see the refusal there.)
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterable

import torch

from benchmark.api import BuildContext, move_to
from benchmark.corpora.fallback import generate_fallback
from benchmark.corpora.images import ImageStore
from benchmark.corpora.reader import Corpus
from benchmark.errors import ConfigError, first_sentence
from benchmark.registry import get_model, load_factory
from benchmark.run.specs import JobSpec
from benchmark.run.train import autocast

_PROBED: dict[tuple[str, str, str], str | None] = {}


def _one_step(model_name: str, device: torch.device, precision: str, corpus: Corpus, cache: Path) -> None:
    """Build ``model_name`` at its smoke size on ``corpus``'s training split; one loss + backward."""
    train = corpus.load(["en"], "train")
    spec = get_model(model_name)
    hp = {**spec.hparams("smoke"), "seed": 0}
    images = ImageStore(corpus.image_dir) if spec.modality != "text" else None
    ctx = BuildContext(device=device, scale="smoke", images=images, cache_dir=cache)
    model = load_factory(spec).from_training_data(hp, train, ctx).to(device)
    model.train()
    with autocast(device, precision):
        loss = model.loss(move_to(model.collate(list(train)[:2]), device))
    loss.float().backward()


def precision_problem(model_name: str, device: str | torch.device, precision: str) -> str | None:
    """None when ``device`` can train ``model_name`` at ``precision``, else why not (one line).

    fp32 is never refused. A model that cannot even take its fp32 step here (missing weights, ...)
    is not refused either: that is not a precision problem, and the job reports it itself.
    """
    if precision != "bf16":
        return None
    device = torch.device(device)
    key = (model_name, str(device), precision)
    if key not in _PROBED:
        with tempfile.TemporaryDirectory(prefix="bench-precision-") as tmp:
            corpus = generate_fallback(Path(tmp) / "corpus", sizes=(4, 1, 1), seed=0, languages=("en",))
            try:
                _one_step(model_name, device, "fp32", corpus, Path(tmp) / "fp32")
            except Exception:  # noqa: BLE001 - not the precision's fault; the job says what it is
                _PROBED[key] = None
                return None
            try:
                _one_step(model_name, device, precision, corpus, Path(tmp) / precision)
                _PROBED[key] = None
            except Exception as exc:  # noqa: BLE001 - any failure of the bf16 step alone
                _PROBED[key] = (f"{model_name}: precision {precision} cannot run on this {device.type} device "
                                f"({first_sentence(exc)}); use --precision fp32")
    return _PROBED[key]


def refuse_unsupported_precision(jobs: Iterable[JobSpec], slots: Iterable[str]) -> None:
    """``ConfigError`` (one line) for the first job whose model cannot train at its precision on one of
    the local device ``slots``; each (model, precision, slot) is probed once."""
    wanted = sorted({(job.model, str(job.hparams.get("precision") or "fp32")) for job in jobs})
    for model_name, precision in wanted:
        for slot in sorted(set(slots)):
            problem = precision_problem(model_name, slot, precision)
            if problem:
                raise ConfigError(problem)

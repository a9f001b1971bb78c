"""Epoch checkpoints that never run code from the results folder.

A job's work folder holds two files, each written atomically:

* ``last.pt`` — the state after the last finished epoch: trainable parameters and every buffer
  (frozen parameters are rebuilt from their source when the job restarts, and checked against a
  fingerprint), the optimizer and scheduler state, the random-number states (Python, NumPy, torch
  CPU and every CUDA device, and the trainer's batch-order generator), the epoch history and the
  counts that describe the result so far (images loaded and substituted, cache hits, wall time:
  ``benchmark.run.train.add_counts``), so that they add up across resumes.
* ``best.pt`` — the trainable parameters and buffers of the selected (best) epoch so far.

Everything is stored as tensors and plain Python values (the history as a JSON string), so every
load uses ``torch.load(..., weights_only=True)``: a planted file whose unpickling would run code
is refused by torch's restricted unpickler, and the job discards it with a warning and restarts.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from benchmark.util.io import default_file_mode, write_stream

FORMAT = 2
LAST = "last.pt"
BEST = "best.pt"
LEGACY = "checkpoint.pt"  # format 1 (pickled RNG states, full model twice): never loaded

Logger = Callable[[str], None]


class CheckpointError(Exception):
    """A checkpoint that cannot be used (unreadable, unsafe, or from another configuration)."""


# ---------------------------------------------------------------------------------------------
# Model state: trainable parameters + buffers
# ---------------------------------------------------------------------------------------------

def frozen_names(model: nn.Module) -> set[str]:
    return {name for name, p in model.named_parameters() if not p.requires_grad}


def trainable_state(model: nn.Module, copy: bool = True) -> dict[str, torch.Tensor]:
    """Every state-dict entry except frozen parameters: CPU copies, or (``copy=False``, to be saved
    at once) the live tensors, so that writing a checkpoint holds no second copy of the model."""
    frozen = frozen_names(model)
    state = {k: v for k, v in model.state_dict().items() if k not in frozen}
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()} if copy else state


def frozen_fingerprint(model: nn.Module) -> str:
    """SHA-256 over the names, shapes, dtypes and bytes of the frozen parameters."""
    h = hashlib.sha256()
    params = dict(model.named_parameters())
    for name in sorted(frozen_names(model)):
        t = params[name].detach().to("cpu").contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:24]


def check_model_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """CheckpointError unless ``state`` has exactly this model's trainable entries and shapes."""
    expected = {k: v for k, v in model.state_dict().items() if k not in frozen_names(model)}
    if set(state) != set(expected):
        missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        raise CheckpointError(f"parameters do not match the model (missing {missing[:3]}, unexpected {extra[:3]})")
    for k, v in state.items():
        if not isinstance(v, torch.Tensor) or tuple(v.shape) != tuple(expected[k].shape):
            raise CheckpointError(f"parameter {k} has another shape than the model's")


def load_model_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    check_model_state(model, state)
    out = model.load_state_dict(state, strict=False)
    unexpected = list(getattr(out, "unexpected_keys", []))
    if unexpected:  # pragma: no cover - excluded by check_model_state
        raise CheckpointError(f"unexpected parameters {unexpected[:3]}")


# ---------------------------------------------------------------------------------------------
# Random-number states as tensors and plain values
# ---------------------------------------------------------------------------------------------

def rng_state(batch_rng: random.Random | None = None, cuda: Any = None) -> dict[str, Any]:
    """Python, NumPy, torch CPU and CUDA (every device) states; ``cuda`` defaults to ``torch.cuda``."""
    cuda = torch.cuda if cuda is None else cuda
    py = random.getstate()
    np_state = np.random.get_state()
    out: dict[str, Any] = {
        "python": json.dumps([py[0], list(py[1]), py[2]]),
        "numpy_keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64).copy()),
        "numpy_rest": json.dumps([np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])]),
        "torch": torch.get_rng_state(),
        "cuda": [s.to("cpu") for s in cuda.get_rng_state_all()] if cuda.is_available() else [],
    }
    if batch_rng is not None:
        b = batch_rng.getstate()
        out["batches"] = json.dumps([b[0], list(b[1]), b[2]])
    return out


def _py_state(text: str) -> tuple:
    version, internal, gauss = json.loads(text)
    return (int(version), tuple(int(x) for x in internal), gauss)


def restore_rng(state: dict[str, Any], batch_rng: random.Random | None = None, cuda: Any = None,
                log: Logger = lambda m: None) -> None:
    """Set every generator saved by ``rng_state``; CUDA states need as many visible devices."""
    cuda = torch.cuda if cuda is None else cuda
    random.setstate(_py_state(state["python"]))
    name, pos, has_gauss, cached = json.loads(state["numpy_rest"])
    np.random.set_state((name, state["numpy_keys"].numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    saved = list(state.get("cuda") or [])
    if saved:
        if cuda.is_available() and cuda.device_count() == len(saved):
            cuda.set_rng_state_all(saved)
        else:
            have = cuda.device_count() if cuda.is_available() else 0
            log(f"WARNING: the checkpoint holds {len(saved)} CUDA RNG state(s) but {have} CUDA device(s) are "
                "visible: CUDA random streams restart from the seed (GPU dropout masks will differ from an "
                "uninterrupted run)")
    if batch_rng is not None and "batches" in state:
        batch_rng.setstate(_py_state(state["batches"]))


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------

def save(obj: dict[str, Any], path: Path) -> None:
    """``torch.save`` to a temp file, fsync, then rename (``benchmark.util.io.write_stream``): the old
    checkpoint stays whole and the temp file never survives a failure; a full disk, a read-only
    folder or a refused permission is a one-line ``StoreWriteError`` naming ``path``."""
    write_stream(path, lambda fh: torch.save(obj, fh), default_file_mode())  # as torch.save(path) would


def load(path: Path) -> dict[str, Any]:
    """Read a checkpoint with the restricted unpickler; CheckpointError (one line) when it fails."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure = an unusable file
        if isinstance(exc, pickle.UnpicklingError) or "weights_only" in str(exc) or "Weights only" in str(exc):
            # torch's own text advises weights_only=False, i.e. running the file's code: never repeat it
            raise CheckpointError(f"{type(exc).__name__}: it holds objects other than tensors and plain data, "
                                  "which the restricted unpickler refuses to load") from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{type(exc).__name__}: {first[:200]}") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"not a format-{FORMAT} checkpoint")
    return obj


def discard(path: Path, reason: str, log: Logger) -> None:
    """Move an unusable checkpoint aside (``<name>.bad``) and say so."""
    bad = path.with_name(path.name + ".bad")
    try:
        os.replace(path, bad)
        where = f"moved to {bad}"
    except OSError:
        where = "left in place"
    log(f"WARNING: checkpoint {path} discarded ({reason}); {where}; the job restarts from epoch 1")


def write_last(path: Path, epoch: int, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
               history: list[dict[str, Any]], fingerprint: str, batch_rng: random.Random,
               cuda: Any = None, counts: dict[str, Any] | None = None) -> None:
    save({"format": FORMAT, "kind": "last", "epoch": int(epoch), "model": trainable_state(model, copy=False),
          "optimizer": optimizer.state_dict(),
          "scheduler": scheduler.state_dict() if scheduler is not None else {},
          "history": json.dumps(history), "frozen_fingerprint": fingerprint,
          "counts": json.dumps(counts or {}, allow_nan=False), "rng": rng_state(batch_rng, cuda)}, path)


def write_best(path: Path, epoch: int, state: dict[str, torch.Tensor]) -> None:
    save({"format": FORMAT, "kind": "best", "epoch": int(epoch), "model": state}, path)


def read_last(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, fingerprint: str,
              batch_rng: random.Random, log: Logger, cuda: Any = None
              ) -> tuple[int, list[dict[str, Any]], dict[str, Any]] | None:
    """Restore everything from ``last.pt``; ``(epoch, history, counts)``, or None after discarding a bad
    file (``counts`` is ``{}`` in a checkpoint written before they were kept).

    The file is fully read and checked before the model, optimizer or generators are touched.
    """
    try:
        ckpt = load(path)
        if ckpt.get("kind") != "last":
            raise CheckpointError("not a last-epoch checkpoint")
        if ckpt.get("frozen_fingerprint") != fingerprint:
            raise CheckpointError("frozen weights differ from the ones this job was started with")
        check_model_state(model, ckpt["model"])
        history = json.loads(ckpt["history"])
        counts = json.loads(ckpt.get("counts") or "{}")
        if not isinstance(counts, dict):
            raise CheckpointError("counts are not a JSON object")
        epoch = int(ckpt["epoch"])
        if len(history) != epoch or any(int(h["epoch"]) != i + 1 for i, h in enumerate(history)):
            raise CheckpointError("history does not match the epoch count")
        groups = ckpt["optimizer"].get("param_groups", [])
        if [len(g["params"]) for g in groups] != [len(g["params"]) for g in optimizer.param_groups]:
            raise CheckpointError("optimizer state does not match the model's trainable parameters")
    except CheckpointError as exc:
        discard(path, str(exc), log)
        return None
    except (KeyError, TypeError, ValueError) as exc:
        discard(path, f"incomplete: {type(exc).__name__}: {exc}", log)
        return None
    load_model_state(model, ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None and ckpt["scheduler"]:
        scheduler.load_state_dict(ckpt["scheduler"])
    restore_rng(ckpt["rng"], batch_rng, cuda, log)
    return epoch, history, counts


def read_best(path: Path, model: nn.Module) -> dict[str, torch.Tensor]:
    ckpt = load(path)
    if ckpt.get("kind") != "best":
        raise CheckpointError("not a best-epoch checkpoint")
    check_model_state(model, ckpt["model"])
    return ckpt["model"]

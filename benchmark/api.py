"""The contract between the harness and a model.

A model is a ``Tagger``: a ``torch.nn.Module`` built from a JSON-able ``config`` dict (saved next to
its weights, so ``Tagger.load`` rebuilds it without the training data) plus a ``BuildContext`` that
carries run-time things (device, image store, caches, logger). The trainer in ``benchmark.run.train``
owns the loop; a model only says how to build itself, batch sentences, compute a loss and decode.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from benchmark.types import ENTITY_TYPES, Sentence
from benchmark.util.io import ensure_dir, write_json, write_torch


@dataclass
class BuildContext:
    """Run-time facilities handed to a model (never saved with it)."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    scale: str = "paper"  # "paper" or "smoke"
    images: Any = None  # benchmark.corpora.images.ImageStore, or None for text-only corpora
    cache_dir: Path | None = None  # where frozen-encoder features may be cached
    log: Callable[[str], None] = lambda msg: None

    @property
    def profile(self) -> str:
        """The scale under its former name, kept readable for plugins written against it."""
        return self.scale


class Tagger(nn.Module):
    """Base class of every registered model.

    Subclasses implement ``from_training_data``, ``collate``, ``loss`` and ``decode``; they may
    override ``configure_optimizer``. ``self.config`` must stay JSON-serialisable.
    """

    def __init__(self, config: dict[str, Any], ctx: BuildContext) -> None:
        super().__init__()
        self.config = dict(config)
        self.ctx = ctx
        self.tags: list[str] = list(config["tags"])
        self.tag_to_id = {t: i for i, t in enumerate(self.tags)}

    # -- building -----------------------------------------------------------------------------
    @classmethod
    def from_training_data(cls, hp: dict[str, Any], train: Sequence[Sentence],
                           ctx: BuildContext) -> "Tagger":
        """Build vocabularies from ``train`` and return an initialised model."""
        raise NotImplementedError

    # -- data ---------------------------------------------------------------------------------
    def collate(self, sentences: Sequence[Sentence]) -> dict[str, Any]:
        """Turn sentences into a batch of CPU tensors (runs in DataLoader workers)."""
        raise NotImplementedError

    # -- training / inference -----------------------------------------------------------------
    def loss(self, batch: dict[str, Any]) -> torch.Tensor:
        """Scalar training loss for a batch already moved to the model's device."""
        raise NotImplementedError

    def decode(self, batch: dict[str, Any]) -> list[list[str]]:
        """Predicted tags, one list per sentence, exactly as long as the sentence."""
        raise NotImplementedError

    def configure_optimizer(self, hp: dict[str, Any], total_steps: int
                            ) -> tuple[torch.optim.Optimizer, Any, str]:
        """Return ``(optimizer, scheduler or None, "step" | "epoch")``; default: Adam, constant lr."""
        opt = torch.optim.Adam(self.parameters(), lr=float(hp.get("lr", 1e-3)))
        return opt, None, "step"

    # -- persistence --------------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        directory = ensure_dir(directory)
        write_json(directory / "config.json", self.config)
        write_torch(directory / "weights.pt", self.state_dict())  # atomic; the bytes of torch.save(path)

    @classmethod
    def load(cls, directory: str | Path, ctx: BuildContext | None = None) -> "Tagger":
        directory = Path(directory)
        config = json.loads((directory / "config.json").read_text())
        ctx = ctx or BuildContext()
        model = cls(config, ctx)
        state = torch.load(directory / "weights.pt", map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        return model.to(ctx.device)


# ---------------------------------------------------------------------------------------------
# Small shared helpers
# ---------------------------------------------------------------------------------------------

def tag_inventory(sentences: Sequence[Sentence]) -> list[str]:
    """IOB2 tag list: ``O`` then B-/I- for every type (the four MMNERD types always included)."""
    types = set(ENTITY_TYPES)
    for s in sentences:
        types.update(t[2:] for t in s.tags if t != "O")
    ordered = [t for t in ENTITY_TYPES] + sorted(types - set(ENTITY_TYPES))
    return ["O"] + [f"{p}-{t}" for t in ordered for p in ("B", "I")]


def move_to(batch: Any, device: torch.device) -> Any:
    """Recursively move tensors in dicts/lists/tuples to ``device``.

    Host-to-GPU copies are non-blocking; the trainer's DataLoaders pin their batches on CUDA
    (``pin_memory=True``), so the copies run asynchronously and overlap with compute. A tensor
    already on ``device`` is returned as is.
    """
    if isinstance(batch, torch.Tensor):
        if batch.device == torch.device(device):
            return batch
        return batch.to(device, non_blocking=batch.device.type == "cpu")
    if isinstance(batch, dict):
        return {k: move_to(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to(v, device) for v in batch)
    return batch


def pad_ids(seqs: Sequence[Sequence[int]], pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad integer sequences to ``[B, T]``; returns ``(ids, mask)`` with mask True on real items."""
    longest = max((len(s) for s in seqs), default=0)
    longest = max(longest, 1)
    ids = torch.full((len(seqs), longest), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), longest), dtype=torch.bool)
    for i, s in enumerate(seqs):
        if len(s):
            ids[i, : len(s)] = torch.as_tensor(list(s), dtype=torch.long)
            mask[i, : len(s)] = True
    return ids, mask

"""Image preprocessing for the two encoders and the on-disk cache of frozen-encoder features.

Decoding and preprocessing run in ``TwoMNER.collate`` (in DataLoader workers when ``num_workers``
> 0); the encoders run in the model. Features of an encoder that is a pure function of the image —
frozen weights, BatchNorm in eval mode, deterministic preprocessing — are cached under
``<cache_dir>/two_m_ner/<encoder identity>/`` keyed by the image's content key
(``ImageStore.content_key``), and reused across epochs and jobs. Without a cache directory they are
kept in memory only (bounded).
"""
from __future__ import annotations

import hashlib
import io
import threading
from pathlib import Path
from typing import Any, Sequence

import torch
from PIL import Image

from benchmark.util.io import default_file_mode, write_bytes

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ResNetTransform:
    """ResNet input pipeline: ``[PIL] -> [B, 3, S, S]`` float tensor, ImageNet-normalised.

    ``mode="resize"`` (paper §4.2.2): every image resized to S x S. ``mode="crop"`` (authors' code):
    an image smaller than S on either side is resized to S x S, then an S x S crop is taken — random
    with a horizontal flip when ``random`` is true, else the centre.
    """

    def __init__(self, size: int, mode: str = "resize") -> None:
        if mode not in ("resize", "crop"):
            raise ValueError(f"resnet_preprocess must be 'resize' or 'crop', not {mode!r}")
        self.size, self.mode = int(size), mode

    def deterministic(self, random: bool) -> bool:
        return not (random and self.mode == "crop")

    def __call__(self, images: Sequence[Image.Image], random: bool = False) -> torch.Tensor:
        from torchvision.transforms import functional as TF
        s = self.size
        out = []
        for img in images:
            if self.mode == "resize":
                img = img.resize((s, s), Image.BILINEAR)
            else:
                if img.width < s or img.height < s:
                    img = img.resize((s, s), Image.BILINEAR)
                if random:
                    top = int(torch.randint(0, img.height - s + 1, (1,)))
                    left = int(torch.randint(0, img.width - s + 1, (1,)))
                    img = img.crop((left, top, left + s, top + s))
                    if torch.rand(1).item() < 0.5:
                        img = img.transpose(Image.FLIP_LEFT_RIGHT)
                else:
                    left, top = (img.width - s) // 2, (img.height - s) // 2
                    img = img.crop((left, top, left + s, top + s))
            out.append(TF.normalize(TF.to_tensor(img), IMAGENET_MEAN, IMAGENET_STD))
        return torch.stack(out) if out else torch.zeros(0, 3, s, s)

    def identity(self) -> str:
        return f"resnet-{self.mode}-{self.size}"


def clip_pixels(processor: Any, images: Sequence[Image.Image]) -> torch.Tensor:
    """CLIP image processor output ``[B, 3, S, S]`` (float32)."""
    if not images:
        size = processor.crop_size["height"]
        return torch.zeros(0, 3, size, size)
    return processor(images=list(images), return_tensors="pt")["pixel_values"].float()


def image_key(store: Any, image_id: str | None) -> str:
    """Content key of the image ``store.load(image_id)`` returns (the default image's when absent)."""
    key = store.content_key(image_id)
    if key.startswith("fallback:"):
        key = "default:" + store.content_key(store.default_id)
    return key


class FeatureCache:
    """Features of one frozen encoder (``identity``), on disk under ``directory`` or in memory.

    Files are ``<directory>/two_m_ner/<identity>/<sha1(key)[:2]>/<sha1(key)>.pt``, written atomically;
    a corrupt file counts as a miss. The memory store keeps at most ``memory_limit`` bytes.
    """

    def __init__(self, directory: str | Path | None, identity: str, memory_limit: int = 1 << 30) -> None:
        self.root = Path(directory) / "two_m_ner" / identity if directory else None
        self.identity = identity
        self.memory: dict[str, torch.Tensor] = {}
        self.memory_bytes = 0
        self.memory_limit = memory_limit
        self.file_mode = default_file_mode()  # the mode a plain open() gives, read once (it touches the umask)
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()

    def _path(self, key: str) -> Path:
        digest = hashlib.sha1(key.encode()).hexdigest()
        return self.root / digest[:2] / f"{digest}.pt"  # type: ignore[operator]

    def get(self, key: str) -> torch.Tensor | None:
        value = self.memory.get(key)
        if value is None and self.root is not None:
            path = self._path(key)
            if path.is_file():
                try:
                    value = torch.load(path, map_location="cpu", weights_only=True)
                except Exception:  # noqa: BLE001 - unreadable cache entry = miss
                    value = None
        return value

    def record(self, hits: int, misses: int) -> None:
        """Count lookups (done by the model in the main process: DataLoader workers keep no counts)."""
        with self._lock:
            self.hits += int(hits)
            self.misses += int(misses)

    def put(self, key: str, value: torch.Tensor) -> None:
        value = value.detach().to("cpu", copy=True).contiguous()
        if self.root is not None:
            path = self._path(key)
            if not path.is_file():
                buf = io.BytesIO()
                torch.save(value, buf)
                # atomic, no fsync (a lost entry is recomputed); a full disk is one line naming the cache file
                write_bytes(path, buf.getvalue(), self.file_mode, fsync=False)
            return
        size = value.numel() * value.element_size()
        with self._lock:
            if key not in self.memory and self.memory_bytes + size <= self.memory_limit:
                self.memory[key] = value
                self.memory_bytes += size

    def put_all(self, keys: Sequence[str], computed: torch.Tensor) -> None:
        """``put`` each row of ``computed`` (features in the order of ``keys``), copied to the CPU at once."""
        for key, feat in zip(keys, computed.detach().to("cpu")):
            self.put(key, feat)

    def summary(self) -> dict[str, Any]:
        return {"identity": self.identity, "where": str(self.root) if self.root else "memory",
                "hits": self.hits, "misses": self.misses}


def lookup_features(cache: FeatureCache | None, keys: Sequence[str]
                    ) -> tuple[torch.Tensor, list[int], torch.Tensor | None]:
    """The collate half of a cached encoder: ``(hit, miss, cached)`` for a batch's image ``keys`` —
    a bool mask of the keys found in ``cache`` (None: nothing is cached, every key misses), the
    indices of the others (their images are to be encoded), and the found features stacked in key
    order (None when none is found)."""
    found = [cache.get(k) for k in keys] if cache is not None else [None] * len(keys)
    hit = torch.tensor([f is not None for f in found], dtype=torch.bool)
    miss = [i for i, f in enumerate(found) if f is None]
    cached = torch.stack([f for f in found if f is not None]) if bool(hit.any()) else None
    return hit, miss, cached


def merge_features(hit: torch.Tensor, cached: torch.Tensor | None, computed: torch.Tensor | None,
                   dtype: torch.dtype, hit_index: torch.Tensor | None = None,
                   miss_index: torch.Tensor | None = None) -> torch.Tensor:
    """The model half: features in batch order from the cache hits ``cached`` (the rows where ``hit``,
    cast to ``dtype`` on ``hit``'s device) and the encoded misses ``computed`` (the other rows, in
    order); either may be None. ``hit_index`` / ``miss_index``, the row indices computed on the CPU in
    collate, spare the device the host sync of boolean-mask indexing."""
    if cached is None:
        return computed  # type: ignore[return-value]
    cached = cached.to(device=hit.device, dtype=dtype)
    if computed is None:
        return cached
    out = cached.new_empty((hit.numel(), *cached.shape[1:]))
    if hit_index is None or miss_index is None:
        out[hit] = cached
        out[~hit] = computed.to(out.dtype)
    else:
        out.index_copy_(0, hit_index, cached)
        out.index_copy_(0, miss_index, computed.to(out.dtype))
    return out

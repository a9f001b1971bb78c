"""Frozen visual region features for AdaCAN and UMGF, built on 2M-NER's image pipeline.

A sentence's image becomes ``R`` region vectors ``[R, C]``:

* ``grid`` regions (AdaCAN): the whole image resized to 224 x 224 -> a CNN's last feature map
  (VGG-16 ``features`` = pool5, 7 x 7 x 512) -> 49 vectors.
* ``crops`` (UMGF): ``R`` crops of the image (detector boxes, a 2 x 2 grid or the whole image) ->
  each crop through the CNN, mean-pooled -> ``R`` vectors.

Preprocessing is ``baselines.layers.images.ResNetTransform`` (resize, ImageNet mean/std), images
come from the run's ``ImageStore``, and features are kept in 2M-NER's ``FeatureCache`` (on disk under
``ctx.cache_dir`` when given), keyed by the image's content key; the cache identity hashes the CNN
weights and the region recipe. The CNN is frozen and stays in eval mode.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from PIL import Image
from torch import nn

from baselines.layers.image_encoders import build_resnet, module_fingerprint, rebuild_resnet
from baselines.layers.images import FeatureCache, ResNetTransform, image_key, lookup_features, merge_features

DETECTOR_ARCH = "fasterrcnn_resnet50_fpn"


# ---------------------------------------------------------------------------------------------
# CNN backbones
# ---------------------------------------------------------------------------------------------

class VGGGrid(nn.Module):
    """torchvision VGG-16 ``features`` (conv layers up to the last max-pool): ``[B, 512, 7, 7]`` at 224."""

    def __init__(self, vgg: nn.Module) -> None:
        super().__init__()
        self.features = vgg.features
        self.out_channels = 512

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.features(pixels)


def build_cnn(name: str, log: Callable[[str], None] = lambda m: None) -> tuple[nn.Module, dict[str, Any]]:
    """``(grid CNN, saved)`` for ``tiny``, ``torchvision/vgg16`` or a ResNet artefact/file."""
    if name in ("torchvision/vgg16", "vgg16"):
        from benchmark.weights import load_torchvision
        log("visual CNN: torchvision VGG-16 ImageNet weights, pool5 grid")
        return VGGGrid(load_torchvision("vgg16")), {"source": "torchvision/vgg16", "arch": "vgg16"}
    if name == "random:torchvision/vgg16":
        import torchvision
        log("visual CNN: VGG-16 with random weights")
        return VGGGrid(torchvision.models.vgg16(weights=None)), {"source": name, "arch": "vgg16"}
    return build_resnet(name, log)


def rebuild_cnn(saved: dict[str, Any]) -> nn.Module:
    """Architecture from ``saved`` (weights come from the tagger's state dict)."""
    if saved.get("arch") == "vgg16":
        import torchvision
        return VGGGrid(torchvision.models.vgg16(weights=None))
    return rebuild_resnet(saved)


def cnn_channels(cnn: nn.Module) -> int:
    return int(cnn.out_channels)


# ---------------------------------------------------------------------------------------------
# Object crops (UMGF)
# ---------------------------------------------------------------------------------------------

def grid_crops(img: Image.Image, n: int) -> list[Image.Image]:
    """``n`` crops: the 2 x 2 quadrants (then the whole image) - the fallback without a detector."""
    w, h = img.size
    quads = [(0, 0, w // 2, h // 2), (w // 2, 0, w, h // 2), (0, h // 2, w // 2, h), (w // 2, h // 2, w, h)]
    boxes = (quads + [(0, 0, w, h)] * n)[:n]
    return [img.crop(b) if b[2] > b[0] and b[3] > b[1] else img for b in boxes]


class Detector:
    """torchvision Faster R-CNN (COCO): the top-``n`` boxes of an image, the whole image for the rest."""

    def __init__(self, n: int, min_score: float = 0.3) -> None:
        import torchvision
        from torchvision.models.detection import fasterrcnn_resnet50_fpn

        from benchmark.weights import resolve_torchvision
        path = resolve_torchvision(DETECTOR_ARCH)
        self.model = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None)
        self.model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.model.eval()
        self.n, self.min_score = n, min_score
        self._to_tensor = torchvision.transforms.functional.to_tensor

    @torch.no_grad()
    def __call__(self, img: Image.Image) -> list[Image.Image]:
        out = self.model([self._to_tensor(img)])[0]
        boxes = [b for b, s in zip(out["boxes"].tolist(), out["scores"].tolist()) if s >= self.min_score]
        crops = [img.crop(tuple(int(round(v)) for v in b)) for b in boxes[: self.n]
                 if b[2] - b[0] >= 2 and b[3] - b[1] >= 2]
        return crops + [img] * (self.n - len(crops))


def detector_available() -> bool:
    from benchmark.weights import locate_torchvision
    found, _ = locate_torchvision(DETECTOR_ARCH)
    return found is not None


def resolve_objects(requested: str, log: Callable[[str], None]) -> str:
    """``detector`` / ``grid`` / ``whole``; ``auto`` = the detector when its weights are present, else grid."""
    if requested not in ("auto", "detector", "grid", "whole"):
        from benchmark.errors import ConfigError
        raise ConfigError(f"objects must be auto, detector, grid or whole, not {requested!r}")
    if requested == "auto":
        if detector_available():
            return "detector"
        log(f"umgf: no {DETECTOR_ARCH} weights found; visual objects are the 2 x 2 grid crops "
            "(see `bench weights`)")
        return "grid"
    return requested


# ---------------------------------------------------------------------------------------------
# The frozen feature extractor
# ---------------------------------------------------------------------------------------------

class RegionFeatures(nn.Module):
    """Frozen CNN -> per-image region features ``[R, C]``, cached (see the module docstring).

    ``mode="grid"``: one 224 x 224 image, the CNN's map flattened to ``h*w`` regions.
    ``mode="crops"``: ``regions`` crops from ``crop_fn``, each mean-pooled to one vector.
    """

    def __init__(self, cnn: nn.Module, saved: dict[str, Any], mode: str, image_size: int = 224,
                 regions: int = 4, crop_source: str = "whole") -> None:
        super().__init__()
        self.cnn = cnn
        for p in self.cnn.parameters():
            p.requires_grad_(False)
        self.saved, self.mode, self.regions, self.crop_source = saved, mode, int(regions), crop_source
        self.transform = ResNetTransform(image_size, "resize")
        self.caches: dict[str, FeatureCache] = {}
        self._detector: Detector | None = None
        self.out_channels = cnn_channels(cnn)

    def train(self, mode: bool = True) -> "RegionFeatures":
        super().train(mode)
        self.cnn.eval()  # frozen: BatchNorm statistics never move
        return self

    def identity(self) -> str:
        what = (f"{self.saved['source']}-{self.mode}-{self.crop_source}-{self.regions}-"
                f"{self.transform.identity()}-{module_fingerprint(self.cnn)}")
        return "regions-" + what.replace("/", "_").replace(":", "_")[-90:]

    def cache(self, cache_dir: Any) -> FeatureCache:
        key = str(cache_dir)
        if key not in self.caches:
            self.caches[key] = FeatureCache(cache_dir, self.identity())
        return self.caches[key]

    def _crops(self, img: Image.Image) -> list[Image.Image]:
        if self.mode == "grid":
            return [img]
        if self.crop_source == "detector":
            if self._detector is None:
                self._detector = Detector(self.regions)
            return self._detector(img)
        if self.crop_source == "grid":
            return grid_crops(img, self.regions)
        return [img] * self.regions

    def collate(self, sentences: Sequence[Any], store: Any, cache_dir: Any) -> dict[str, Any]:
        """Cached features or pixels of the misses (``[M * crops, 3, S, S]``) for a batch."""
        keys = [image_key(store, s.image_id) for s in sentences]
        hit, miss, cached = lookup_features(self.cache(cache_dir), keys)
        crops = [c for i in miss for c in self._crops(store.load(sentences[i].image_id))]
        return {"pixels": self.transform(crops), "hit": hit, "cached": cached, "keys": [keys[i] for i in miss]}

    @torch.no_grad()
    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """``[M * crops, 3, S, S]`` -> ``[M, R, C]``."""
        grid = self.cnn(pixels)  # [N, C, h, w]
        if self.mode == "grid":
            return grid.flatten(2).transpose(1, 2)
        return grid.mean(dim=(2, 3)).reshape(-1, self.regions, grid.size(1))

    def forward(self, batch: dict[str, Any], cache_dir: Any) -> torch.Tensor:
        """Region features ``[B, R, C]`` (misses encoded and cached)."""
        hit, cached = batch["hit"], batch["cached"]
        cache = self.cache(cache_dir)
        cache.record(int(hit.sum()), int((~hit).sum()))
        computed = self.encode(batch["pixels"]) if batch["pixels"].size(0) else None
        if computed is not None:
            cache.put_all(batch["keys"], computed)
        return merge_features(hit, cached, computed, next(self.cnn.parameters()).dtype)


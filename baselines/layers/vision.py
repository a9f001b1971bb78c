"""A frozen image encoder behind 2M-NER's image pipeline and on-disk feature cache (for baselines).

``FrozenImageEncoder`` wraps an encoder module (e.g. ``baselines.layers.image_encoders.build_resnet``'s
ResNet-152 grid) that is never trained: BatchNorm always in eval mode, no gradient, deterministic
preprocessing. Its features are then a pure function of the image and are cached with
``baselines.layers.images.FeatureCache`` (``<cache_dir>/two_m_ner/<identity>/``, identity = prefix,
preprocessing and a hash of the weights), exactly as 2M-NER's frozen branches are.

Split in two halves, like 2M-NER: ``prepare`` runs in ``collate`` (cache lookups, image decoding
through the ``ImageStore``, preprocessing of the misses); ``forward`` runs in the model (encodes the
misses, fills the cache, returns features for the whole batch in order).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import nn

from baselines.layers.image_encoders import module_fingerprint
from baselines.layers.images import FeatureCache, image_key, lookup_features, merge_features


class FrozenImageEncoder(nn.Module):
    """``encoder``: pixels ``[M, 3, S, S]`` -> features ``[M, ...]``; ``transform``: PIL list -> pixels.

    ``name`` prefixes the batch keys (several encoders can share a batch) and the cache identity.
    """

    def __init__(self, name: str, encoder: nn.Module, transform: Callable[[Sequence[Any]], torch.Tensor],
                 identity: str, cache_dir: Any = None) -> None:
        super().__init__()
        self.name = name
        self.encoder = encoder.requires_grad_(False)
        self.transform = transform
        self.identity_prefix = identity
        self.cache_dir = cache_dir
        self.cache: FeatureCache | None = None

    def train(self, mode: bool = True) -> "FrozenImageEncoder":
        """The encoder stays in eval mode (frozen BatchNorm); opens the cache here, in the main
        process, before DataLoader workers start (the identity hashes the weights)."""
        super().train(mode)
        self.encoder.eval()
        self.open_cache()
        return self

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self.cache = None  # new weights = a new cache identity

    def open_cache(self) -> FeatureCache:
        if self.cache is None:
            ident = f"{self.identity_prefix}-{module_fingerprint(self.encoder)}"
            self.cache = FeatureCache(self.cache_dir, ident.replace("/", "_").replace(":", "_")[-90:])
        return self.cache

    # -- collate side -------------------------------------------------------------------------
    def prepare(self, store: Any, image_ids: Sequence[str | None]) -> dict[str, Any]:
        """Cache hits and preprocessed pixels of the misses, under keys ``<name>_*``."""
        keys = [image_key(store, i) for i in image_ids]
        hit, miss, cached = lookup_features(self.open_cache(), keys)
        n = self.name
        return {f"{n}_pixels": self.transform([store.load(image_ids[i]) for i in miss]),
                f"{n}_hit": hit,
                f"{n}_cached": cached,
                f"{n}_keys": [keys[i] for i in miss]}

    # -- model side ---------------------------------------------------------------------------
    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        """Features ``[B, ...]`` in batch order (misses encoded without gradient and cached)."""
        n = self.name
        pixels, hit, cached = batch[f"{n}_pixels"], batch[f"{n}_hit"], batch[f"{n}_cached"]
        cache = self.open_cache()
        cache.record(int(hit.sum()), int((~hit).sum()))
        computed = None
        if pixels.size(0):
            with torch.no_grad():
                computed = self.encoder(pixels)
            cache.put_all(batch[f"{n}_keys"], computed)
        return merge_features(hit, cached, computed, next(self.encoder.parameters()).dtype)

    def summary(self) -> dict[str, Any]:
        return self.open_cache().summary()

"""Multimodal collaboration module (paper §4.4, Eq. 11-14): text queries attend over image features.

    IA   = W' [head_1; ...; head_m],  head_j = softmax((W_q^j T)(W_k^j V)^T / sqrt(d/m)) (W_v^j V)
    T~   = LN(IA + T)                                   (Eq. 13)
    R    = LN(T~ + MLP(T~))                             (Eq. 14; ``ffn=False`` drops it, as the code)

``query="key"`` projects the queries with W_k, as the authors' code does (its W_q is unused).
Dropout (0.1 in the paper, "all dropout layers") is applied to the attention probabilities and to
each sub-layer's output before its residual sum, as in BERT.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class CrossModalAttention(nn.Module):
    """Multi-head cross-attention: queries ``[B, n, d]`` over keys/values ``[B, v, d]`` -> ``[B, n, d]``."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.1, query: str = "separate") -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"hidden size {dim} is not divisible by {heads} heads")
        if query not in ("separate", "key"):
            raise ValueError(f"collab_query must be 'separate' or 'key', not {query!r}")
        self.heads, self.head_dim, self.query_mode = heads, dim // heads, query
        self.q = nn.Linear(dim, dim) if query == "separate" else None
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)  # W' (Eq. 12)
        self.dropout = nn.Dropout(dropout)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, length, _ = x.shape
        return x.view(b, length, self.heads, self.head_dim).transpose(1, 2)  # [B, h, L, d/h]

    def forward(self, text: torch.Tensor, image: torch.Tensor,
                image_mask: torch.Tensor | None = None) -> torch.Tensor:
        q = self._split(self.q(text) if self.q is not None else self.k(text))
        k, v = self._split(self.k(image)), self._split(self.v(image))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)  # [B, h, n, v]
        if image_mask is not None:
            scores = scores.masked_fill(~image_mask[:, None, None, :], float("-inf"))
        probs = self.dropout(scores.softmax(dim=-1))
        ctx = (probs @ v).transpose(1, 2).reshape(text.shape)  # [B, n, d]
        return self.out(ctx)


class CollaborationModule(nn.Module):
    """Eq. 11-14: word representations ``[B, n, d]`` fused with image features ``[B, v, d]``."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.1, query: str = "separate",
                 ffn: bool = True, ffn_dim: int | None = None, eps: float = 1e-12) -> None:
        super().__init__()
        self.attention = CrossModalAttention(dim, heads, dropout, query)
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.dropout = nn.Dropout(dropout)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim or 4 * dim), nn.GELU(),
                                 nn.Linear(ffn_dim or 4 * dim, dim)) if ffn else None
        self.norm2 = nn.LayerNorm(dim, eps=eps) if ffn else None

    def forward(self, text: torch.Tensor, image: torch.Tensor,
                image_mask: torch.Tensor | None = None) -> torch.Tensor:
        t = self.norm1(text + self.dropout(self.attention(text, image, image_mask)))  # Eq. 13
        if self.ffn is None:
            return t
        return self.norm2(t + self.dropout(self.ffn(t)))  # Eq. 14


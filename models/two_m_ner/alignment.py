"""Multimodal alignment (paper §4.3): projection heads (Eq. 7-8) and contrastive losses (Eq. 9-10).

Three forms of the contrastive loss, all over a batch of N text-image pairs with cosine similarity
``s(t, i) = cos(h'_t, h'_i) / tau``:

* ``"paper"`` — Eq. 9-10 read as a loss. Eq. 9 prints the ratio exp(s(t,t)) / Σ_{t≠i} exp(s(t,i))
  with no logarithm (minimising the printed ratio would *reduce* alignment), so we take −log of it,
  as NT-Xent, which the paper cites, does. The denominator holds only the non-matching cross-modal
  pairs (the indicator 𝟙[t≠i]). Each of the 2N items (N texts, N images) is an anchor once, and the
  loss is the mean over the 2N anchors (the 1/2N of Eq. 10):
  ``ℓ_t = −s(t,t) + log Σ_{i≠t} exp s(t,i)``  and  ``ℓ_i = −s(i,i) + log Σ_{t≠i} exp s(t,i)``.
* ``"ntxent"`` — the authors' code (SimCLR NT-Xent): the 2N normalised vectors are stacked; each
  anchor's denominator sums over all 2N−1 other vectors (its positive and N−1 same-modality items
  included); mean over the 2N anchors.
* ``"infonce"`` — CLIP's symmetric cross-entropy (cross-modal denominator including the positive).

With N = 1 there is no negative; every form then returns 0 (still attached to the graph).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

CL_FORMS = ("paper", "ntxent", "infonce")


class ProjectionHead(nn.Module):
    """h' = Linear(ReLU(Linear(h))) (Eq. 7-8): ``[B, in_dim] -> [B, dim]``."""

    def __init__(self, in_dim: int, dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_dim, dim)
        self.fc2 = nn.Linear(dim, dim)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(h)))


def similarity(z_text: torch.Tensor, z_image: torch.Tensor, tau: float) -> torch.Tensor:
    """Cosine similarities over tau, ``[N, N]`` with texts as rows and images as columns."""
    return F.normalize(z_text.float(), dim=-1) @ F.normalize(z_image.float(), dim=-1).t() / tau


def contrastive_loss(z_text: torch.Tensor, z_image: torch.Tensor, tau: float = 0.5,
                     form: str = "paper") -> torch.Tensor:
    """Scalar contrastive loss between ``z_text`` ``[N, D]`` and ``z_image`` ``[N, D]`` (row i pairs)."""
    if form not in CL_FORMS:
        raise ValueError(f"unknown contrastive loss form {form!r}; expected one of {CL_FORMS}")
    n = z_text.size(0)
    if n < 2:
        return (z_text.sum() + z_image.sum()) * 0.0
    if form == "ntxent":
        z = F.normalize(torch.cat([z_text, z_image], dim=0).float(), dim=-1)  # [2N, D]
        sim = z @ z.t() / tau
        sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
        target = torch.cat([torch.arange(n, 2 * n, device=z.device), torch.arange(0, n, device=z.device)])
        return F.cross_entropy(sim, target)
    sim = similarity(z_text, z_image, tau)  # [N, N]
    target = torch.arange(n, device=sim.device)
    if form == "infonce":
        return 0.5 * (F.cross_entropy(sim, target) + F.cross_entropy(sim.t(), target))
    positive = sim.diagonal()
    off = sim.masked_fill(torch.eye(n, dtype=torch.bool, device=sim.device), float("-inf"))
    text_anchor = -positive + torch.logsumexp(off, dim=1)  # over images i != t
    image_anchor = -positive + torch.logsumexp(off, dim=0)  # over texts t != i
    return torch.cat([text_anchor, image_anchor]).mean()


def pool_tokens(tokens: torch.Tensor, mode: str, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Pool a token sequence ``[B, L, D]`` for the contrastive head.

    ``cls``: the first token ``[B, D]``; ``mean``: mean over (masked) tokens ``[B, D]``;
    ``flatten``: all tokens concatenated ``[B, L*D]`` (the authors' code for the ViT branch).
    """
    if mode == "cls":
        return tokens[:, 0]
    if mode == "mean":
        if mask is None:
            return tokens.mean(dim=1)
        m = mask.unsqueeze(-1).to(tokens.dtype)
        return (tokens * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)
    if mode == "flatten":
        return tokens.reshape(tokens.size(0), -1)
    raise ValueError(f"unknown pooling {mode!r}; expected cls, mean or flatten")

"""Linear-chain CRF shared by every CRF model in the suite.

The likelihood is allennlp-light's ``ConditionalRandomField`` (start/end/transition scores, NLL =
log Z - score(gold)) with BIO-constrained transitions. Decoding is our own batched Viterbi: the
batch is processed as one tensor per time step (allennlp-light's ``viterbi_tags`` loops over
sentences in Python). Both honour the same constraints, so they return the same best paths.
"""
from __future__ import annotations

from typing import Sequence

import torch
from allennlp_light.modules.conditional_random_field import ConditionalRandomField
from allennlp_light.modules.conditional_random_field.conditional_random_field import allowed_transitions
from torch import nn

_DISALLOWED = -10000.0


class CRF(nn.Module):
    """CRF over ``len(tags)`` IOB2 tags.

    Args:
        tags: tag strings in id order (``O``, ``B-PER``, ...).
        constrained: forbid transitions invalid under BIO (e.g. ``O -> I-PER``), as allennlp does.
        reduction: ``"mean"`` (pytorch-crf / UMT / 2M-NER convention) or ``"sum"`` (UMGF, NCRF++).
    """

    def __init__(self, tags: Sequence[str], constrained: bool = True, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', not {reduction!r}")
        self.num_tags = len(tags)
        self.reduction = reduction
        constraints = allowed_transitions("BIO", dict(enumerate(tags))) if constrained else None
        self.crf = ConditionalRandomField(self.num_tags, constraints=constraints,
                                          include_start_end_transitions=True)

    def forward(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood. emissions ``[B, T, K]``, tags ``[B, T]``, mask ``[B, T]`` bool."""
        log_likelihood = self.crf(emissions, tags, mask)  # summed over the batch
        nll = -log_likelihood
        return nll / emissions.size(0) if self.reduction == "mean" else nll

    def _constrained_scores(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        k = self.num_tags
        cmask = self.crf._constraint_mask  # [K+2, K+2], 1 = allowed; K = start, K+1 = end
        trans = self.crf.transitions.masked_fill(cmask[:k, :k] == 0, _DISALLOWED)
        start = self.crf.start_transitions.masked_fill(cmask[k, :k] == 0, _DISALLOWED)
        end = self.crf.end_transitions.masked_fill(cmask[:k, k + 1] == 0, _DISALLOWED)
        return trans, start, end

    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        """Batched Viterbi. ``mask`` must be left-aligned (real items first in every row)."""
        batch, length, k = emissions.shape
        if length == 0 or batch == 0:
            return [[] for _ in range(batch)]
        emissions = emissions.float()
        trans, start, end = (x.float() for x in self._constrained_scores())
        mask = mask.bool()
        score = start.unsqueeze(0) + emissions[:, 0]  # [B, K]
        identity = torch.arange(k, device=emissions.device).expand(batch, k)
        history = []
        for t in range(1, length):
            cand = score.unsqueeze(2) + trans.unsqueeze(0)  # [B, from, to]
            best, idx = cand.max(dim=1)  # [B, to]
            step = mask[:, t].unsqueeze(1)
            score = torch.where(step, best + emissions[:, t], score)
            history.append(torch.where(step, idx, identity))
        score = score + end.unsqueeze(0)
        last = score.argmax(dim=1)  # [B]
        path = [last]
        for back in reversed(history):
            last = back.gather(1, last.unsqueeze(1)).squeeze(1)
            path.append(last)
        path.reverse()
        best_paths = torch.stack(path, dim=1).tolist()  # [B, T]
        lengths = mask.sum(dim=1).tolist()
        return [row[:n] for row, n in zip(best_paths, lengths)]

    @torch.no_grad()
    def decode_reference(self, emissions: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        """allennlp-light's per-sentence ``viterbi_tags`` loop (for tests and the benchmark)."""
        return [path for path, _ in self.crf.viterbi_tags(emissions, mask.bool())]

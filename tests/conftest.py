"""Shared fixtures: a tiny fallback corpus, the real MMNERD when MMNERD_DIR is set, fake results."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmark.corpora.reader import Corpus, find_corpus
from benchmark.corpora.fallback import generate_fallback


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Corpus:
    """A small synthetic en/fr/es/de corpus with images (60/20/20 sentences per language)."""
    root = tmp_path_factory.mktemp("fallback")
    return generate_fallback(root, sizes=(60, 20, 20), seed=7)


@pytest.fixture(scope="session")
def mmnerd() -> Corpus:
    """The real MMNERD (English) from $MMNERD_DIR, or skip."""
    if not os.environ.get("MMNERD_DIR"):
        pytest.skip("MMNERD_DIR not set (real MMNERD files absent)")
    corpus = find_corpus(os.environ["MMNERD_DIR"])
    if corpus is None:
        pytest.skip(f"no MMNERD files under {os.environ['MMNERD_DIR']}")
    return corpus


@pytest.fixture()
def write(tmp_path: Path):
    """Write text (or bytes) to a file in tmp_path and return its path."""
    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")
        return path
    return _write


def pytest_configure(config) -> None:
    """One torch thread: tiny models are no slower, and results do not depend on core sharing."""
    import torch
    torch.set_num_threads(1)

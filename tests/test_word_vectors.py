"""Which word vectors ``embeddings="auto"`` takes, per model, is decided on dev (issue 26 item 2).

Each model's ``auto_vectors`` lists the artefacts tried in order (the papers' GloVe 6B 300d first:
their recipe, not measurable here); any other artefact is in the list only when its stored
reference runs (>= 3 clean seeds, the registered recipe otherwise) beat word2vec trained here on
mean dev F1, and is left out when they do not. baselines/word_vectors.md shows the measurement.
"""
from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from benchmark import weights
from benchmark.errors import MissingArtifactError
from benchmark.registry import MODELS
from benchmark.report.rank import default_hparams, normalised_hparams, rank
from benchmark.run.store import ResultStore

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ("glove.6B.50d", "glove.6B.300d")


def test_auto_takes_the_first_candidate_present_else_word2vec(monkeypatch):
    present = {"glove.6B.50d"}

    def resolve(name: str) -> str:
        if name not in present:
            raise MissingArtifactError(f"{name} missing")
        return f"/weights/{name}"

    monkeypatch.setattr(weights, "resolve_embeddings", resolve)
    hp = {"embeddings": "auto", "embedding_dim": 100}
    assert weights.resolve_auto_embeddings(hp, ("glove.6B.300d", "glove.6B.50d"))["embeddings"] == "glove.6B.50d"
    assert weights.resolve_auto_embeddings(hp, ("glove.6B.300d",))["embeddings"] is None
    assert weights.resolve_auto_embeddings(hp, ())["embeddings"] is None
    present.add("glove.6B.300d")
    assert weights.resolve_auto_embeddings(hp, ("glove.6B.300d", "glove.6B.50d"))["embeddings"] == "glove.6B.300d"
    assert weights.resolve_auto_embeddings({**hp, "embeddings": None}, ("glove.6B.50d",))["embeddings"] is None


def _dev_means(name: str) -> dict[str | None, tuple[int, float, float]]:
    """Per word vectors (None: word2vec): (n, mean dev F1, mean test F1) of the reference runs of the
    registered recipe on English MMNERD."""
    spec = MODELS[name]
    stored = [r for r in ResultStore(ROOT / "results" / "reference").all()
              if r.job.model == name and r.job.scale == "paper" and r.job.setting.label() == "train en -> test en (text)"]
    base = default_hparams(spec, "paper", pretrained_vectors=False)
    recipes = {None: base, **{v: normalised_hparams(spec, {**base, **weights.vector_hparams(v)}) for v in VECTORS}}
    out = {}
    for block in rank(stored, spec):
        for config in block.configurations:
            for vectors, hp in recipes.items():
                if config.hparams == hp:
                    out[vectors] = (len(config.runs), config.dev_mean("conlleval"),
                                    statistics.fmean(config.test("conlleval")))
    return out


@pytest.mark.parametrize("name", sorted(n for n, s in MODELS.items() if s.defaults.get("embeddings") == "auto"))
def test_auto_vectors_follow_the_dev_measurement(name):
    spec = MODELS[name]
    assert spec.auto_vectors[0] == weights.AUTO_EMBEDDINGS, "the papers' vectors come first"
    means = _dev_means(name)
    measured_better = {v for v, (n, dev, _) in means.items()
                       if v is not None and n >= 3 and None in means and means[None][0] >= 3 and dev > means[None][1]}
    chosen = set(spec.auto_vectors[1:])
    assert chosen == measured_better, (name, means)
    ranked = sorted(chosen, key=lambda v: -means[v][1])
    assert list(spec.auto_vectors[1:]) == ranked


def test_the_word_vectors_document_shows_the_stored_measurement():
    doc = (ROOT / "baselines" / "word_vectors.md").read_text(encoding="utf-8")
    for name in ("bilstm-crf", "hbilstm-crf", "adacan"):
        for vectors, (n, dev, test) in _dev_means(name).items():
            label = "word2vec" if vectors is None else vectors
            row = next((line for line in doc.splitlines() if line.startswith(f"| {name} | {label} |")), None)
            assert row is not None, f"baselines/word_vectors.md has no row for {name} {label}"
            assert f"| {n} |" in row and f"{dev:.2f}" in row and f"{test:.2f}" in row, row

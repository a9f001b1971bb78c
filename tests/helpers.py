"""Shared test helpers: hand-made annotated sentences and small model-building shortcuts.

Append new helpers at the end; several test files import from here.
"""
from __future__ import annotations

from typing import Any, Sequence

from benchmark.corpora.reader import Sentence

# (tokens, tags) written by hand: every type, multi-word entities, accents, punctuation, numbers.
_HAND_MADE: list[tuple[str, str]] = [
    ("Angela Merkel visited Paris on Monday .", "B-PER I-PER O B-LOC O O O"),
    ("The United Nations met in Geneva .", "O B-ORG I-ORG O O B-LOC O"),
    ("Lionel Messi scored for Barcelona again", "B-PER I-PER O O B-ORG O"),
    ("I watched Star Wars with Maria yesterday", "O O B-MISC I-MISC O B-PER O"),
    ("Google opened an office in Zürich", "B-ORG O O O O B-LOC"),
    ("RT @user : Obama speaks at Harvard tonight", "O O O B-PER O O B-ORG O"),
    ("Les Bleus ont battu l' Allemagne à Lyon", "B-ORG I-ORG O O O B-LOC O B-LOC"),
    ("El Real Madrid ficha a Kylian Mbappé", "O B-ORG I-ORG O O B-PER I-PER"),
    ("Die Deutsche Bahn fährt nach München", "O B-ORG I-ORG O O B-LOC"),
    ("Taylor Swift releases a new album called Midnights", "B-PER I-PER O O O O O B-MISC"),
    ("Flooding hits New Orleans after the storm", "O O B-LOC I-LOC O O O"),
    ("Apple and Microsoft report earnings today", "B-ORG O B-ORG O O O"),
    ("The Olympics start in Tokyo next week", "O B-MISC O O B-LOC O O"),
    ("Serena Williams wins at Wimbledon", "B-PER I-PER O O B-MISC"),
    ("Visit Rome and Florence this summer !", "O B-LOC O B-LOC O O O"),
    ("NASA launches a rocket from Florida", "B-ORG O O O O B-LOC"),
    ("Pedro Sánchez habla en Madrid", "B-PER I-PER O O B-LOC"),
    ("Christmas markets open in Berlin", "B-MISC O O O B-LOC"),
    ("Emmanuel Macron meets the European Commission", "B-PER I-PER O O B-ORG I-ORG"),
    ("Our team loves the 2024 Champions League final", "O O O O O B-MISC I-MISC O"),
]


def hand_made_sentences(n: int = 20) -> list[Sentence]:
    """The first ``n`` (at most 20) hand-made sentences, languages mixed, IOB2 tags."""
    out = []
    for i, (text, tags) in enumerate(_HAND_MADE[:n]):
        tokens, labels = tuple(text.split()), tuple(tags.split())
        assert len(tokens) == len(labels), text
        out.append(Sentence(tokens, labels, None, "en", "hand", f"hand:{i}"))
    return out


def long_sentence(n_tokens: int = 700) -> Sentence:
    """One ``n_tokens``-word sentence cycling through the hand-made ones (entities included)."""
    tokens: list[str] = []
    tags: list[str] = []
    base = hand_made_sentences()
    i = 0
    while len(tokens) < n_tokens:
        s = base[i % len(base)]
        tokens.extend(s.tokens)
        tags.extend(s.tags)
        i += 1
    tags = tags[:n_tokens]
    if tags[0].startswith("I-"):  # pragma: no cover - cannot happen with the list above
        tags[0] = "B-" + tags[0][2:]
    return Sentence(tuple(tokens[:n_tokens]), tuple(tags), None, "en", "hand", "hand:long")


def build_model(name: str, train: Sequence[Sentence], scale: str = "smoke", seed: int = 0,
                **overrides: Any):
    """``(model, hp)`` for a registered model built from ``train`` (seeded, CPU)."""
    from benchmark.api import BuildContext
    from benchmark.registry import get_model, load_factory
    from benchmark.run.train import seed_everything

    spec = get_model(name)
    hp = {**spec.hparams(scale, overrides), "seed": seed}
    seed_everything(seed)
    model = load_factory(spec).from_training_data(hp, train, BuildContext())
    return model, hp


def image_vs_text_f1(name: str, corpus: Any, seeds: Sequence[int] = (1, 2, 3),
                     overrides: dict[str, Any] | None = None) -> dict[str, list[float]]:
    """Test F1 (%) per seed of ``name`` trained with its images and with none (the same registry name:
    the model builds its text-only variant when the job has no image), smoke profile, English."""
    from benchmark.registry import get_model
    from benchmark.run.specs import JobSpec, Setting
    from benchmark.run.train import run_job

    spec = get_model(name)
    out: dict[str, list[float]] = {"image": [], "text": []}
    for use_image in (True, False):
        for seed in seeds:
            job = JobSpec(name, Setting(("en",), "en", use_image=use_image), seed, "smoke",
                          spec.hparams("smoke", overrides), corpus.kind, corpus.fingerprint(["en"]))
            result = run_job(job, corpus)
            variant = result.counts["notes"]["variant"]
            assert variant == ("multimodal" if use_image else "text-only"), variant
            out["image" if use_image else "text"].append(100 * result.test["conlleval"]["f1"])
    return out


def assert_round_trip(model: Any, hp: dict[str, Any], train: Sequence[Sentence], test: Sequence[Sentence],
                      directory: Any, image_dir: Any = None, held_out: int = 8) -> Any:
    """Train ``model`` (``test[:held_out]`` as dev and test), save, load into a fresh instance (with an
    image store on ``image_dir``): predictions and every state-dict tensor must be identical.
    Returns the loaded model."""
    import torch

    from benchmark.api import BuildContext
    from benchmark.corpora.images import ImageStore
    from benchmark.run.train import fit, predict

    fit(model, hp, train, test[:held_out], test[:held_out], seed=0)
    before = predict(model, test)
    model.save(directory)
    loaded = type(model).load(directory, BuildContext(images=ImageStore(image_dir) if image_dir else None))
    assert predict(loaded, test) == before
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    return loaded


def registry_restored():
    """Context manager: the model registry and its plugin sources as they were on entry, afterwards
    (so models registered by a test, plugins or ``hf:`` encoders, do not leak into other tests)."""
    from contextlib import contextmanager

    from benchmark import registry

    @contextmanager
    def restored():
        models, sources = dict(registry.MODELS), dict(registry.PLUGIN_SOURCES)
        try:
            yield
        finally:
            registry.MODELS.clear()
            registry.MODELS.update(models)
            registry.PLUGIN_SOURCES.clear()
            registry.PLUGIN_SOURCES.update(sources)
    return restored()


def assert_overfits(model: Any, hp: dict[str, Any], train: Sequence[Sentence], f1: float = 0.95) -> None:
    """Trained and tested on ``train`` itself, ``model`` reaches test F1 >= ``f1`` (the history on failure)."""
    from benchmark.run.train import fit

    out = fit(model, hp, train, train, train, seed=0)
    assert out["test"]["conlleval"]["f1"] >= f1, [h["test"]["conlleval"]["f1"] for h in out["history"]]


def no_weights_offline(monkeypatch: Any, tmp_path: Any) -> None:
    """No pretrained weights anywhere (empty weights folder, HF cache and torch home under
    ``tmp_path``), the hub offline and no automatic download."""
    monkeypatch.setenv("MMNER_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("MMNER_BENCH_DOWNLOAD", raising=False)


def assert_missing_artifact(build: Any, artefact: str) -> str:
    """``build()`` fails with a one-line ``MissingArtifactError`` naming ``artefact``; its message."""
    import pytest

    from benchmark.errors import MissingArtifactError

    with pytest.raises(MissingArtifactError) as err:
        build()
    assert "\n" not in str(err.value) and artefact in str(err.value), str(err.value)
    return str(err.value)

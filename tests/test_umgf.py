"""UMGF: builds (image and text-only variants), gradients reach the word<->object gates, save/load,
overfitting, object sources, the image helps on the built-in corpus, missing weights. Offline, CPU,
smoke sizes (tiny BERT, tiny CNN, grid crops)."""
from __future__ import annotations

import pytest
import torch
from PIL import Image

from baselines.layers.visual_regions import grid_crops, resolve_objects
from baselines.umgf import UMGF, GraphFusionLayer
from benchmark.api import BuildContext
from benchmark.corpora.fallback import generate_fallback
from benchmark.corpora.images import ImageStore
from benchmark.errors import ConfigError, MissingArtifactError
from benchmark.registry import get_model
from benchmark.run.specs import JobSpec, Setting
from benchmark.run.train import run_job, seed_everything
from tests.helpers import assert_overfits, assert_round_trip, hand_made_sentences


def _build(train, images=None, cache_dir=None, **overrides):
    hp = {**get_model("umgf").hparams("smoke", overrides), "seed": 0}
    seed_everything(0)
    return UMGF.from_training_data(hp, train, BuildContext(images=images, cache_dir=cache_dir)), hp


def test_text_only_variant_has_no_object_stream(tiny_corpus):
    train = tiny_corpus.load(["en"], "train")
    text, _ = _build(train)
    image, _ = _build(train, ImageStore(tiny_corpus.image_dir))
    assert not text.use_image and not hasattr(text.layers[0], "gate_x2o") and not hasattr(text, "regions")
    assert image.use_image and image.run_notes["objects"] == "grid"
    assert text.run_notes["objects"] is None and text.run_notes["variant"].startswith("text-only")
    batch = image.collate(train[:3])
    assert image.regions(batch["image"], None).shape == (3, 4, image.regions.out_channels)


def test_forward_backward_reaches_both_graph_gates(tiny_corpus):
    train = tiny_corpus.load(["en"], "train")[:16]
    model, _ = _build(train, ImageStore(tiny_corpus.image_dir))
    model.train()
    loss = model.loss(model.collate(train))
    loss.backward()
    assert torch.isfinite(loss)
    for i, layer in enumerate(model.layers):
        assert layer.gate_x2o.weight.grad.abs().sum() > 0, i
        if i < len(model.layers) - 1:  # the last layer's object output feeds nothing (as in the code)
            assert layer.gate_o2x.weight.grad.abs().sum() > 0, i
    assert model.obj_fc.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.regions.cnn.parameters())  # frozen CNN


def test_padding_words_exchange_nothing_with_objects():
    torch.manual_seed(0)
    layer = GraphFusionLayer(8, 2, 16, 0.0, True).eval()
    x, o = torch.randn(1, 3, 8), torch.randn(1, 2, 8)
    mask = torch.tensor([[True, True, False]])
    layer(x, mask, o)
    assert layer.last_gates["x2o"][0, 2].abs().sum() == 0 and layer.last_gates["o2x"][0, 2].abs().sum() == 0
    assert layer.last_gates["x2o"][0, :2].abs().sum() > 0
    _, o_out = layer(x, mask, o)
    x2 = x.clone()
    x2[0, 2] = 100.0  # a padding word's state must not reach the objects
    _, o_out2 = layer(x2, mask, o)
    assert torch.allclose(o_out, o_out2, atol=1e-5)


def test_object_sources():
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    crops = grid_crops(img, 4)
    assert [c.size for c in crops] == [(20, 10)] * 4
    assert [c.size for c in grid_crops(img, 5)][-1] == (40, 20)  # then the whole image
    with pytest.raises(ConfigError, match="objects"):
        resolve_objects("yolo", print)


def test_auto_objects_fall_back_to_grid_without_detector_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("MMNER_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    said = []
    assert resolve_objects("auto", said.append) == "grid" and "grid" in said[0]


def test_save_load_round_trip_gives_identical_predictions(tiny_corpus, tmp_path):
    train = tiny_corpus.load(["en"], "train")
    test = tiny_corpus.load(["en"], "test")
    store = ImageStore(tiny_corpus.image_dir)
    model, hp = _build(train, store, epochs=2)
    loaded = assert_round_trip(model, hp, train, test, tmp_path / "m", tiny_corpus.image_dir, held_out=5)
    assert loaded.use_image


@pytest.mark.parametrize("images", [False, True])
def test_overfits_twenty_sentences(images):
    train = hand_made_sentences(20)
    model, hp = _build(train, ImageStore(None) if images else None, epochs=20, batch_size=5, dropout=0.0)
    assert_overfits(model, hp, train)


def test_missing_resnet_weights_is_one_line_error(tmp_path, monkeypatch, tiny_corpus):
    monkeypatch.setenv("MMNER_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MissingArtifactError) as err:
        _build(tiny_corpus.load(["en"], "train")[:4], ImageStore(tiny_corpus.image_dir),
               visual_encoder="torchvision/resnet152")
    assert "resnet152" in str(err.value).lower() and "\n" not in str(err.value)


def test_image_variant_at_least_as_good_as_text_only_on_fallback_corpus(tmp_path):
    """Averaged over 3 seeds, the image variant must not lose to the text-only variant."""
    corpus = generate_fallback(tmp_path / "fb", sizes=(200, 60, 60), seed=3, languages=("en",))
    spec = get_model("umgf")
    scores = {True: [], False: []}
    for use_image in (True, False):
        for seed in (1, 2, 3):
            job = JobSpec("umgf", Setting(("en",), "en", use_image=use_image), seed=seed, scale="smoke",
                          hparams=spec.hparams("smoke", {"epochs": 8}), corpus_name=corpus.kind,
                          data_fingerprint=corpus.fingerprint(["en"]))
            result = run_job(job, corpus)
            assert result.counts["notes"]["objects"] == ("grid" if use_image else None)
            scores[use_image].append(100 * result.test["conlleval"]["f1"])
    mean = {k: sum(v) / len(v) for k, v in scores.items()}
    assert mean[True] >= mean[False], scores

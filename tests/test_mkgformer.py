"""MKGFormer (MNER): the hand-written layers equal BERT's, PGI and CAF carry the image, crops
(substitute, real files, zeros), persistence, overfitting, missing weights, and that the image is used.

Everything runs offline on CPU with the smoke configuration (tiny random BERT and CLIP vision tower).
"""
from __future__ import annotations

import math

import pytest
import torch
from PIL import Image

from benchmark.api import BuildContext
from benchmark.corpora.fallback import generate_fallback
from benchmark.corpora.images import ImageStore
from benchmark.errors import ConfigError
from benchmark.registry import get_model, load_factory
from benchmark.run.train import seed_everything
from tests.helpers import (assert_missing_artifact, assert_overfits, assert_round_trip, hand_made_sentences,
                           image_vs_text_f1, no_weights_offline)


def _build(train, images: bool = True, image_dir=None, scale="smoke", **overrides):
    spec = get_model("mkgformer")
    hp = {**spec.hparams(scale, overrides), "seed": 0}
    seed_everything(0)
    ctx = BuildContext(images=ImageStore(image_dir) if images else None)
    return load_factory(spec).from_training_data(hp, train, ctx), hp


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return generate_fallback(tmp_path_factory.mktemp("mkg"), sizes=(240, 40, 60), seed=3, languages=("en",))


def test_builds_both_variants(corpus):
    train = corpus.load(["en"], "train")[:40]
    multi, _ = _build(train, image_dir=corpus.image_dir)
    text, _ = _build(train, images=False)
    assert multi.use_image and hasattr(multi, "vit") and len(multi.fusion_dense) == 1
    assert multi.aux_position.num_embeddings == 48 and multi.rcnn_position.num_embeddings == 12  # 3x16, 3x4
    assert not text.use_image and not hasattr(text, "vit") and not hasattr(text, "fusion_dense")
    assert len(multi.tags) == len(text.tags) == 13  # PAD, 8 IOB2, X, [CLS], [SEP]
    assert multi.run_notes["variant"] == "multimodal" and text.run_notes["variant"] == "text-only"
    assert "stand in" in multi.run_notes["crops"]
    with pytest.raises(ConfigError, match="fusion_layers"):
        _build(train, images=False, fusion_layers=2)  # 2-layer tiny streams: layer 0 has no predecessor
    with pytest.raises(ConfigError, match="crop_dir"):
        _build(train, image_dir=corpus.image_dir, crops="files")


def test_hand_written_layers_equal_bert_and_fusion_changes_only_the_top(corpus):
    train = corpus.load(["en"], "train")[:6]
    model, _ = _build(train, image_dir=corpus.image_dir)
    model.eval()
    batch = model.collate(train)
    with torch.no_grad():
        ref = model.text(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        alone = model.streams(batch, fuse=False)
        fused = model.streams(batch)
        other = {**batch, "aux_pixels": batch["aux_pixels"].flip(0), "rcnn_pixels": batch["rcnn_pixels"].flip(0)}
        swapped = model.streams(other)
    real = batch["attention_mask"].bool()
    assert torch.allclose(alone[real], ref[real], atol=1e-5)  # our per-layer BERT == transformers' BERT
    assert not torch.allclose(fused[real], ref[real], atol=1e-3)  # CAF adds the vision stream
    assert not torch.allclose(swapped[0][real[0]], fused[0][real[0]], atol=1e-4)  # the crops matter


def test_forward_backward_reaches_both_streams(corpus):
    train = corpus.load(["en"], "train")[:8]
    model, _ = _build(train, image_dir=corpus.image_dir)
    model.train()
    loss = model.loss(model.collate(train))
    assert loss.dim() == 0 and math.isfinite(float(loss.detach()))
    loss.backward()
    parts = model.vit.vision_model if hasattr(model.vit, "vision_model") else model.vit
    for what, p in {"BERT embeddings": model.text.embeddings.word_embeddings.weight,
                    "CLIP patch embedding": parts.embeddings.patch_embedding.weight,
                    "CLIP class embedding": parts.embeddings.class_embedding,
                    "aux positions": model.aux_position.weight, "rcnn positions": model.rcnn_position.weight,
                    "CAF W_f": model.fusion_dense[0].weight,
                    "lower vision layer (PGI feeds the top)": parts.encoder.layers[0].mlp.fc1.weight,
                    "fc": model.fc.weight}.items():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, what


def test_real_crop_files_are_used_and_absent_ones_are_zero(corpus, tmp_path):
    train = corpus.load(["en"], "train")[:4]
    for kind, size in (("aux", 40), ("rcnn", 20)):
        (tmp_path / kind).mkdir()
        Image.new("RGB", (size, size), (255, 0, 0)).save(tmp_path / kind / f"{train[0].image_id}_0.jpg")
    model, _ = _build(train, image_dir=corpus.image_dir, crops="files", crop_dir=str(tmp_path))
    batch = model.collate(train)
    assert batch["aux_pixels"].shape == (4, 3, 3, 32, 32) and batch["rcnn_pixels"].shape == (4, 3, 3, 16, 16)
    assert batch["aux_present"].tolist() == [[True, False, False]] + [[False] * 3] * 3
    assert float(batch["aux_pixels"][0, 0, 0].mean()) > 1.0  # red channel, CLIP-normalised
    assert float(batch["aux_pixels"][0, 1:].abs().sum()) == 0 and float(batch["rcnn_pixels"][1:].abs().sum()) == 0
    model.loss(batch)
    assert model.run_notes["crop_counts"] == {"real": 2, "substitute": 0, "zero": 22}
    zeros, _ = _build(train, image_dir=corpus.image_dir, crops="zeros")
    assert float(zeros.collate(train)["aux_pixels"].abs().sum()) == 0
    sub, _ = _build(train, image_dir=corpus.image_dir)
    assert bool(sub.collate(train)["aux_present"].all())


def test_save_load_round_trip_gives_identical_predictions(corpus, tmp_path):
    train, test = corpus.load(["en"], "train")[:48], corpus.load(["en"], "test")
    model, hp = _build(train, image_dir=corpus.image_dir, epochs=1)
    assert_round_trip(model, hp, train, test, tmp_path / "m", corpus.image_dir)


def test_overfits_twenty_sentences():
    train = hand_made_sentences(20)
    model, hp = _build(train, epochs=25, batch_size=5, dropout=0.0)  # blank images (no image ids)
    assert_overfits(model, hp, train)


def test_missing_weights_error_names_the_artefact(tmp_path, monkeypatch):
    no_weights_offline(monkeypatch, tmp_path)
    train = hand_made_sentences()
    assert_missing_artifact(lambda: _build(train, scale="paper"), "bert-base-multilingual-cased")
    # text present (tiny BERT-base shape), CLIP absent
    assert_missing_artifact(lambda: _build(train, scale="paper", text_encoder="tiny"), "openai/clip-vit-base-patch32")


def test_images_beat_the_text_only_variant_by_five_points(corpus):
    """Ambiguous names typed only by the image colour: MKGFormer with its (substitute) crops must beat
    its text-only variant (Table 7) by >= 5 F1, mean of seeds 1-3, smoke profile."""
    f1 = image_vs_text_f1("mkgformer", corpus, overrides={"epochs": 8})
    image, text = sum(f1["image"]) / 3, sum(f1["text"]) / 3
    assert image >= text + 5, f1


def test_profile_reports_parameters_by_component():
    from benchmark.profiling.model import profile_model

    out = profile_model("mkgformer", "smoke", "cpu", steps=1)
    assert out["status"] == "ok" and set(out["parameters"]["components"]) == {"text", "vit"}
    assert all(c["trainable"] == c["total"] > 0 for c in out["parameters"]["components"].values())  # fine-tuned

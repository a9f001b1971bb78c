"""UMT: scheme-A encoding, the conversion matrix, gradients (the ESD loss is not dead code),
persistence, overfitting, the frozen-feature cache, missing weights, and that the image is used.

Everything runs offline on CPU with the smoke configuration (tiny random BERT and CNN).
"""
from __future__ import annotations

import math

import pytest
import torch

from benchmark.api import BuildContext
from benchmark.corpora.fallback import generate_fallback
from benchmark.corpora.images import ImageStore
from benchmark.errors import ConfigError
from benchmark.registry import get_model, load_factory
from benchmark.run.train import predict, seed_everything
from tests.helpers import (assert_missing_artifact, assert_overfits, assert_round_trip, hand_made_sentences,
                           image_vs_text_f1, no_weights_offline)

from baselines.umt import SPAN_TAGS, BertAdam, conversion_matrix, warmup_linear


def _build(train, images: bool = True, image_dir=None, cache_dir=None, scale="smoke", **overrides):
    spec = get_model("umt")
    hp = {**spec.hparams(scale, overrides), "seed": 0}
    seed_everything(0)
    ctx = BuildContext(images=ImageStore(image_dir) if images else None, cache_dir=cache_dir)
    return load_factory(spec).from_training_data(hp, train, ctx), hp


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return generate_fallback(tmp_path_factory.mktemp("umt"), sizes=(240, 40, 60), seed=3, languages=("en",))


# -- scheme A and the conversion matrix ---------------------------------------------------------

def test_scheme_a_labels_x_cls_sep_and_truncation():
    train = hand_made_sentences()
    model, _ = _build(train, images=False, tiny_max_positions=16, max_length=8)
    s = train[5]  # "RT @user : Obama speaks at Harvard tonight"
    batch = model.collate([s])
    pieces = model.encoder.aligner.word_pieces(list(s.tokens))
    ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    assert len(ids) <= 8 and ids[0] == model.tokenizer.cls_token_id and ids[-1] == model.tokenizer.sep_token_id
    tags = [model.tags[i] for i in labels]
    expected, used = ["[CLS]"], 1
    for word_pieces, tag in zip(pieces, s.tags):
        if used + len(word_pieces) > 7:
            break
        expected += [tag] + ["X"] * (len(word_pieces) - 1)
        used += len(word_pieces)
    assert tags == expected + ["[SEP]"]
    kept = int(batch["kept"][0].sum())
    assert 0 < kept < len(s)  # the limit cut words off ...
    tagged = model.decode(batch)[0]  # ... which are predicted O, and every word gets a tag
    assert len(tagged) == len(s) and tagged[kept:] == ["O"] * (len(s) - kept)
    assert all(t not in ("X", "[CLS]", "[SEP]", "[PAD]") for t in tagged)


def test_conversion_matrix_is_umts():
    tags = ["[PAD]", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC", "X",
            "[CLS]", "[SEP]"]
    w = conversion_matrix(tags)
    assert w.shape == (7, 13) and SPAN_TAGS == ("[PAD]", "O", "B", "I", "X", "[CLS]", "[SEP]")
    expected = torch.zeros(7, 13)
    for span, tag in (("[PAD]", "[PAD]"), ("O", "O"), ("X", "X"), ("[CLS]", "[CLS]"), ("[SEP]", "[SEP]")):
        expected[SPAN_TAGS.index(span), tags.index(tag)] = 1.0
    for t in ("PER", "LOC", "ORG", "MISC"):
        expected[2, tags.index(f"B-{t}")] = 0.25
        expected[3, tags.index(f"I-{t}")] = 0.25
    assert torch.equal(w, expected)


def test_bertadam_and_schedule_follow_pytorch_pretrained_bert():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = BertAdam([p], lr=0.1, weight_decay=0.01, max_grad_norm=1.0)
    p.grad = torch.tensor([3.0, 4.0])  # norm 5 -> clipped to norm 1: (0.6, 0.8)
    opt.step()
    g = torch.tensor([0.6, 0.8])
    m, v = 0.1 * g, 0.001 * g * g  # no bias correction
    expected = torch.tensor([1.0, -2.0]) - 0.1 * (m / (v.sqrt() + 1e-6) + 0.01 * torch.tensor([1.0, -2.0]))
    assert torch.allclose(p.detach(), expected, atol=1e-5)
    assert [warmup_linear(x, 0.1) for x in (0.0, 0.05, 0.1, 0.5)] == [0.0, 0.5, 0.9, 0.5]


# -- model --------------------------------------------------------------------------------------

def test_builds_both_variants_and_rejects_bad_weights(corpus):
    train = corpus.load(["en"], "train")[:40]
    multi, _ = _build(train, image_dir=corpus.image_dir)
    text, _ = _build(train, images=False)
    assert multi.use_image and hasattr(multi, "resnet") and hasattr(multi, "gate")
    assert not text.use_image and not hasattr(text, "resnet") and not hasattr(text, "gate")
    assert multi.classifier.in_features == 2 * text.classifier.in_features  # [A; gB] vs T
    assert hasattr(text, "aux_classifier") and text.trans_matrix.shape == (7, len(text.tags))  # ESD kept
    assert multi.run_notes["variant"] == "multimodal" and text.run_notes["variant"] == "text-only"
    with pytest.raises(ConfigError, match="esd_weight"):
        _build(train, images=False, esd_weight=-1)


def test_forward_backward_reaches_text_and_fusion_not_the_frozen_resnet(corpus):
    train = corpus.load(["en"], "train")[:8]
    model, _ = _build(train, image_dir=corpus.image_dir)
    model.train()
    loss = model.loss(model.collate(train))
    assert loss.dim() == 0 and math.isfinite(float(loss.detach()))
    loss.backward()
    for what, p in {"BERT embeddings": model.text.embeddings.word_embeddings.weight,
                    "W1 (V -> text)": model.vis_to_text.weight, "W2 (V -> text)": model.vis_to_text_v2.weight,
                    "visual gate": model.gate.weight, "txt2img CMT": model.txt2img.attention.q.weight,
                    "img2txt CMT": model.img2txt.ffn[0].weight, "txt2txt CMT": model.txt2txt.attention.k.weight,
                    "ESD classifier": model.aux_classifier.weight}.items():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, what
    assert all(p.grad is None for p in model.resnet.parameters())  # frozen (fine_tune_cnn False)


def test_auxiliary_span_loss_changes_the_shared_encoder_gradient(corpus):
    """The ESD loss (lambda * CRF_aux) is not dead code: it moves BERT's gradient, and alone it
    gives the encoder a non-zero gradient."""
    train = corpus.load(["en"], "train")[:8]
    grads = {}
    for weight in (0.5, 0.0):
        model, _ = _build(train, images=False, esd_weight=weight, dropout=0.0)
        model.train()
        model.loss(model.collate(train)).backward()
        grads[weight] = model.text.embeddings.word_embeddings.weight.grad.clone()
    assert not torch.allclose(grads[0.5], grads[0.0])
    model.zero_grad()
    batch = model.collate(train)
    _, span = model(batch)
    model.aux_crf(span, model.to_span[batch["labels"]], batch["attention_mask"].bool()).backward()
    assert float(model.text.embeddings.word_embeddings.weight.grad.abs().sum()) > 0
    assert model.classifier.weight.grad is None  # the main head takes no part in the aux loss


def test_save_load_round_trip_gives_identical_predictions(corpus, tmp_path):
    train, test = corpus.load(["en"], "train")[:48], corpus.load(["en"], "test")
    model, hp = _build(train, image_dir=corpus.image_dir, epochs=1)
    assert_round_trip(model, hp, train, test, tmp_path / "m", corpus.image_dir)


def test_overfits_twenty_sentences():
    train = hand_made_sentences(20)
    model, hp = _build(train, epochs=25, batch_size=5, dropout=0.0)  # blank images (no image ids)
    assert_overfits(model, hp, train)


def test_frozen_resnet_grid_is_cached_on_disk_and_reused(corpus, tmp_path):
    train, test = corpus.load(["en"], "train")[:16], corpus.load(["en"], "test")[:20]
    model, _ = _build(train, image_dir=corpus.image_dir, cache_dir=tmp_path)
    first = predict(model, test)
    files = list((tmp_path / "two_m_ner").rglob("*.pt"))
    assert len(files) == len({s.image_id for s in test})
    assert torch.load(files[0], weights_only=True).shape == (64, 7, 7)  # tiny CNN: 64 channels, 7x7 grid
    other, _ = _build(train, image_dir=corpus.image_dir, cache_dir=tmp_path)  # another job, same encoder
    other.eval()
    batch = other.collate(test)
    assert bool(batch["resnet_hit"].all()) and batch["resnet_pixels"].shape[0] == 0
    assert predict(other, test) == first
    assert other.run_notes["resnet_feature_cache"]["hits"] >= len(test)


def test_missing_weights_error_names_the_artefact(tmp_path, monkeypatch):
    no_weights_offline(monkeypatch, tmp_path)
    train = hand_made_sentences()
    assert_missing_artifact(lambda: _build(train, scale="paper"), "bert-base-multilingual-cased")
    # text present (tiny), ResNet-152 absent
    assert_missing_artifact(lambda: _build(train, scale="paper", text_encoder="tiny"), "torchvision/resnet152")


# -- the image must matter ----------------------------------------------------------------------

def test_images_beat_the_text_only_variant_by_five_points(corpus):
    """On the built-in corpus, ambiguous names are typed only by the image colour: UMT with its
    images must beat its text-only variant (Table 7) by >= 5 F1, mean of seeds 1-3, smoke profile."""
    f1 = image_vs_text_f1("umt", corpus, overrides={"epochs": 8})
    image, text = sum(f1["image"]) / 3, sum(f1["text"]) / 3
    assert image >= text + 5, f1


def test_profile_reports_parameters_by_component():
    from benchmark.profiling.model import profile_model

    out = profile_model("umt", "smoke", "cpu", steps=1)
    assert out["status"] == "ok" and set(out["parameters"]["components"]) == {"text", "resnet"}
    frozen = out["parameters"]["components"]["resnet"]
    assert frozen["trainable"] == 0 and frozen["total"] > 0
    text = out["parameters"]["components"]["text"]
    assert text["trainable"] == text["total"] > 0  # BERT is fine-tuned
    assert out["parameters"]["trainable"] <= out["parameters"]["total"] - frozen["total"]

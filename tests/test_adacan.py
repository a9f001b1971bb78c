"""AdaCAN: builds (image and text-only variants), gradients reach the co-attention gates, save/load,
overfitting, the image helps on the built-in corpus, missing VGG-16 weights. Offline, CPU, smoke sizes."""
from __future__ import annotations

import pytest
import torch

from baselines.adacan import AdaCAN, CharCNN
from benchmark.api import BuildContext
from benchmark.corpora.fallback import generate_fallback
from benchmark.corpora.images import ImageStore
from benchmark.errors import MissingArtifactError
from benchmark.registry import get_model
from benchmark.run.specs import JobSpec, Setting
from benchmark.run.train import run_job, seed_everything
from tests.helpers import assert_overfits, assert_round_trip, hand_made_sentences


def _build(train, images=None, cache_dir=None, **overrides):
    hp = {**get_model("adacan").hparams("smoke", overrides), "seed": 0}
    seed_everything(0)
    return AdaCAN.from_training_data(hp, train, BuildContext(images=images, cache_dir=cache_dir)), hp


def test_text_only_variant_without_images_and_image_variant_with_them(tiny_corpus):
    train = tiny_corpus.load(["en"], "train")
    text, _ = _build(train)
    image, _ = _build(train, ImageStore(tiny_corpus.image_dir))
    assert not text.use_image and not hasattr(text, "coattention")
    assert image.use_image and image.run_notes["visual_encoder"] == "tiny"
    assert text.run_notes["variant"].startswith("text-only")
    # the output layer reads [h_t ; u_t] in the image variant, h_t alone in the text-only one
    assert image.hidden2tag.in_features == text.hidden2tag.in_features + 32


def test_forward_backward_reaches_fusion_and_filtration_gates(tiny_corpus):
    train = tiny_corpus.load(["en"], "train")[:16]
    model, _ = _build(train, ImageStore(tiny_corpus.image_dir))
    model.train()
    loss = model.loss(model.collate(train))
    loss.backward()
    assert torch.isfinite(loss)
    co = model.coattention
    for name in ("a_score", "b_score", "fuse_gate", "filter_h", "filter_m", "filter_out", "region_proj"):
        grad = getattr(co, name).weight.grad
        assert grad is not None and grad.abs().sum() > 0, name
    gates = co.last_gates
    assert gates["filtration"].shape[-1] == 1 and ((gates["filtration"] > 0) & (gates["filtration"] < 1)).all()
    assert all(p.grad is None for p in model.regions.cnn.parameters())  # the CNN is frozen


def test_char_cnn_handles_words_shorter_than_the_widest_filter():
    cnn = CharCNN(10, 4, 3, (2, 3, 4), 8, 5, 0.0)
    out = cnn(torch.tensor([[[2, 0, 0], [3, 4, 5]]]))  # 3 chars < width 4
    assert out.shape == (1, 2, 5)


def test_save_load_round_trip_gives_identical_predictions(tiny_corpus, tmp_path):
    train = tiny_corpus.load(["en"], "train")
    test = tiny_corpus.load(["en"], "test")
    store = ImageStore(tiny_corpus.image_dir)
    model, hp = _build(train, store, epochs=2)
    loaded = assert_round_trip(model, hp, train, test, tmp_path / "m", tiny_corpus.image_dir, held_out=5)
    assert loaded.use_image


def test_grid_features_are_cached_on_disk_and_reused(tiny_corpus, tmp_path):
    train = tiny_corpus.load(["en"], "train")[:8]
    model, _ = _build(train, ImageStore(tiny_corpus.image_dir), cache_dir=tmp_path)
    model.eval()
    first = model.emissions(model.collate(train))
    batch = model.collate(train)
    assert bool(batch["image"]["hit"].all()) and batch["image"]["pixels"].size(0) == 0
    assert torch.allclose(model.emissions(batch), first, atol=1e-6)
    assert list(tmp_path.rglob("*.pt"))


@pytest.mark.parametrize("images", [False, True])
def test_overfits_twenty_sentences(images):
    train = hand_made_sentences(20)
    model, hp = _build(train, ImageStore(None) if images else None, epochs=25, batch_size=5, dropout=0.0,
                       char_dropout=0.0)
    assert_overfits(model, hp, train)


def test_missing_vgg16_weights_is_one_line_error(tmp_path, monkeypatch, tiny_corpus):
    monkeypatch.setenv("MMNER_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MissingArtifactError) as err:
        _build(tiny_corpus.load(["en"], "train")[:4], ImageStore(tiny_corpus.image_dir),
               visual_encoder="torchvision/vgg16")
    assert "vgg16" in str(err.value) and "\n" not in str(err.value)


def test_image_variant_at_least_as_good_as_text_only_on_fallback_corpus(tmp_path):
    """Half the entities of the built-in corpus are typed only by the image colour: averaged over
    3 seeds, the image variant must not lose to the text-only variant."""
    corpus = generate_fallback(tmp_path / "fb", sizes=(200, 60, 60), seed=3, languages=("en",))
    spec = get_model("adacan")
    scores = {True: [], False: []}
    for use_image in (True, False):
        for seed in (1, 2, 3):
            job = JobSpec("adacan", Setting(("en",), "en", use_image=use_image), seed=seed, scale="smoke",
                          hparams=spec.hparams("smoke", {"epochs": 8}), corpus_name=corpus.kind,
                          data_fingerprint=corpus.fingerprint(["en"]))
            result = run_job(job, corpus)
            assert result.counts["notes"]["variant"].startswith("image" if use_image else "text-only")
            scores[use_image].append(100 * result.test["conlleval"]["f1"])
    mean = {k: sum(v) / len(v) for k, v in scores.items()}
    assert mean[True] >= mean[False], scores


def test_rowwise_rmsprop_on_sparse_rows_equals_dense_rmsprop():
    """The word table's sparse RMSprop must give exactly what torch's dense RMSprop gives, including
    the decay of rows absent from some batches."""
    from baselines.layers.optim import RowwiseRMSprop
    torch.manual_seed(0)
    dense, sparse = torch.nn.Embedding(12, 4), torch.nn.Embedding(12, 4, sparse=True)
    sparse.weight.data.copy_(dense.weight.data)
    opt_d = torch.optim.RMSprop(dense.parameters(), lr=0.01, alpha=0.9, eps=1e-7)
    opt_s = RowwiseRMSprop(sparse.parameters(), lr=0.01, alpha=0.9, eps=1e-7)
    for step in range(6):
        ids = torch.randint(0, 12, (5,)) if step % 2 else torch.tensor([1, 1, 2])  # repeats, skipped rows
        target = torch.randn(len(ids), 4)
        for emb, opt in ((dense, opt_d), (sparse, opt_s)):
            opt.zero_grad()
            ((emb(ids) - target) ** 2).sum().backward()
            opt.step()
        assert torch.allclose(dense.weight, sparse.weight, atol=1e-6), step


def test_code_text_stack_runs_two_bilstms_and_bad_options_are_config_errors(tiny_corpus):
    from benchmark.errors import ConfigError
    train = tiny_corpus.load(["en"], "train")[:8]
    model, _ = _build(train, text_stack="code")
    assert model.word_lstm.output_size == 64 and model.encoder.lstm.input_size == 64 + 16
    model.loss(model.collate(train)).backward()
    assert model.word_lstm.lstm.weight_ih_l0.grad.abs().sum() > 0
    with pytest.raises(ConfigError, match="text_stack"):
        _build(train, text_stack="keras")

"""2M-NER: contrastive loss, gradients, variants, persistence, feature cache, and that the image is used.

Everything runs offline on CPU with the smoke configuration (tiny random BERT / CLIP / CNN).
"""
from __future__ import annotations

import math

import pytest
import torch

from benchmark.api import BuildContext, move_to
from benchmark.errors import ConfigError, MissingArtifactError
from benchmark.corpora.fallback import generate_fallback
from benchmark.corpora.images import ImageStore
from benchmark.registry import get_model, load_factory
from benchmark.run.specs import JobSpec, Setting
from benchmark.run.train import predict, run_job, seed_everything
from models.two_m_ner.alignment import contrastive_loss
from models.two_m_ner.model import TwoMNER

VARIANTS = ("2m-ner", "2m-ner-no-resnet", "2m-ner-no-vit", "2m-ner-text", "2m-ner-code")
R2 = math.sqrt(2.0)


def _build(name, corpus, overrides=None, cache_dir=None, n_train=None):
    spec = get_model(name)
    hp = {**spec.hparams("smoke", overrides), "seed": 1}
    train = corpus.load(["en"], "train")[:n_train]
    seed_everything(1)
    images = ImageStore(corpus.image_dir) if spec.modality == "text+image" else None
    model = load_factory(spec).from_training_data(hp, train, BuildContext(images=images, cache_dir=cache_dir))
    return model, hp, train


# -- contrastive loss -------------------------------------------------------------------------

# Three pairs in 2-d. Cosines: text rows, image columns
#   t1=(1,0), t2=(0,1), t3=(1,1);  i1=(1,0), i2=(1,1), i3=(0,1)
#   cos(t_a, i_b) = [[1, 1/√2, 0], [0, 1/√2, 1], [1/√2, 1, 1/√2]];  with tau = 0.5 every cosine doubles.
TEXT = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
IMAGE = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])


def test_paper_contrastive_loss_matches_hand_computation():
    e = math.exp
    text_anchors = [-2 + math.log(e(R2) + e(0)),  # t1: positive 2, negatives i2 (√2), i3 (0)
                    -R2 + math.log(e(0) + e(2)),  # t2: positive √2, negatives i1 (0), i3 (2)
                    -R2 + math.log(e(R2) + e(2))]  # t3: positive √2, negatives i1 (√2), i2 (2)
    image_anchors = [-2 + math.log(e(0) + e(R2)),  # i1: negatives t2 (0), t3 (√2)
                     -R2 + math.log(e(R2) + e(2)),  # i2: negatives t1 (√2), t3 (2)
                     -R2 + math.log(e(0) + e(2))]  # i3: negatives t1 (0), t2 (2)
    expected = sum(text_anchors + image_anchors) / 6
    assert expected == pytest.approx(0.457628, abs=1e-5)
    got = contrastive_loss(TEXT, IMAGE, tau=0.5, form="paper")
    assert float(got) == pytest.approx(expected, abs=1e-5)


def test_code_ntxent_loss_matches_hand_computation():
    e = math.exp
    # anchor t1: positive i1 (2); the others t2 (0), t3 (√2), i2 (√2), i3 (0) and i1 itself
    l_t1 = -2 + math.log(e(0) + e(R2) + e(2) + e(R2) + e(0))
    # anchor i2: positive t2 (√2); others t1 (√2), t3 (2), i1 (√2), i3 (√2)
    l_i2 = -R2 + math.log(e(R2) + e(R2) + e(2) + e(R2) + e(R2))
    sims = torch.nn.functional.normalize(torch.cat([TEXT, IMAGE]), dim=1)
    sims = sims @ sims.t() / 0.5
    per_anchor = [-sims[a, (a + 3) % 6] + torch.logsumexp(torch.cat([sims[a, :a], sims[a, a + 1:]]), 0)
                  for a in range(6)]
    assert float(per_anchor[0]) == pytest.approx(l_t1, abs=1e-5)
    assert float(per_anchor[4]) == pytest.approx(l_i2, abs=1e-5)
    got = contrastive_loss(TEXT, IMAGE, tau=0.5, form="ntxent")
    assert float(got) == pytest.approx(float(torch.stack(per_anchor).mean()), abs=1e-5)


def test_contrastive_loss_rewards_alignment_and_handles_one_pair():
    z = torch.randn(5, 8)
    for form in ("paper", "ntxent", "infonce"):
        aligned = contrastive_loss(z, z + 0.01 * torch.randn(5, 8), 0.5, form)
        shuffled = contrastive_loss(z, z.roll(1, dims=0), 0.5, form)
        assert float(aligned) < float(shuffled), form
        assert float(contrastive_loss(z[:1], z[:1], 0.5, form)) == 0.0


# -- model ------------------------------------------------------------------------------------

def test_gradients_reach_text_encoder_and_both_image_branches(tiny_corpus):
    model, _, train = _build("2m-ner", tiny_corpus)
    model.train()
    model.loss(model.collate(train[:8])).backward()
    probes = {"text embeddings": model.text.embeddings.word_embeddings.weight,
              "ViT patch embedding": model.vit.embeddings.patch_embedding.weight,
              "ResNet stem": model.resnet.stem[0].weight,
              "W_r": model.resnet_to_text.weight,
              "ViT collaboration W_q": model.collab_vit.attention.q.weight,
              "ResNet collaboration FFN": model.collab_resnet.ffn[0].weight,
              "CL image head (ViT)": model.cl_head_vit.fc1.weight,
              "CL image head (ResNet)": model.cl_head_resnet.fc1.weight,
              "CL text head": model.cl_head_text.fc1.weight}
    for what, p in probes.items():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, what
    # the contrastive loss alone also trains the image encoders
    model.zero_grad()
    _, cl = model(move_to(model.collate(train[:8]), torch.device("cpu")))
    (cl["vit"] + cl["resnet"]).backward()
    assert float(model.vit.embeddings.patch_embedding.weight.grad.abs().sum()) > 0
    assert float(model.resnet.stem[0].weight.grad.abs().sum()) > 0


@pytest.mark.parametrize("name", VARIANTS)
def test_each_variant_builds_trains_and_decodes(name, tiny_corpus):
    model, hp, train = _build(name, tiny_corpus)
    assert isinstance(model, TwoMNER)
    assert hasattr(model, "vit") == (name in ("2m-ner", "2m-ner-no-resnet", "2m-ner-code"))
    assert hasattr(model, "resnet") == (name in ("2m-ner", "2m-ner-no-vit", "2m-ner-code"))
    optimizer, scheduler, _ = model.configure_optimizer(hp, 4)
    model.train()
    losses = []
    batch = model.collate(train[:12])
    for _ in range(4):
        loss = model.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(float(loss.detach()))
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0)  # linear decay to zero, no warm-up
    model.eval()
    tags = model.decode(model.collate(train[:12]))
    assert [len(t) for t in tags] == [len(s) for s in train[:12]]
    assert all(t in model.tags for seq in tags for t in seq)


def test_code_recipe_switches(tiny_corpus):
    model, hp, train = _build("2m-ner-code", tiny_corpus)
    assert hp["batch_size"] == 32 and hp["select_on"] == "test_max" and hp["loss_scale"] == 2.0
    assert model.aligner.shift == 1  # the authors' off-by-one word gathering (README row 10)
    assert all(float(t.detach().abs().max()) <= 0.1 for t in (model.crf.crf.transitions, model.crf.crf.start_transitions))
    assert model.collab_vit.attention.q is None and model.collab_vit.ffn is None  # W_k queries, no FFN
    assert not any(p.requires_grad for p in model.resnet.parameters())  # frozen ResNet
    batch = model.collate(train[:6])
    assert batch["resnet_keys"] is None  # BN follows train(), random crops: never cached
    model.train()
    model.loss(batch).backward()
    assert all(p.grad is None for p in model.resnet.parameters())
    assert model.cl_head_vit.fc1.in_features == 32 * 17  # flattened CLS + 16 patches


def test_bad_switch_is_a_one_line_config_error(tiny_corpus):
    with pytest.raises(ConfigError, match="collab_query"):
        _build("2m-ner", tiny_corpus, {"collab_query": "value"})
    with pytest.raises(ConfigError, match="resnet_preprocess"):
        _build("2m-ner", tiny_corpus, {"resnet_random_eval": True})


def test_save_load_round_trip_gives_identical_predictions(tiny_corpus, tmp_path):
    model, hp, train = _build("2m-ner", tiny_corpus, {"epochs": 1})
    optimizer, _, _ = model.configure_optimizer(hp, 3)
    model.train()
    for i in range(3):
        loss = model.loss(model.collate(train[i * 16:(i + 1) * 16]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    test = tiny_corpus.load(["en"], "test")
    before = predict(model, test)
    model.save(tmp_path / "m")
    loaded = TwoMNER.load(tmp_path / "m", BuildContext(images=ImageStore(tiny_corpus.image_dir)))
    assert predict(loaded, test) == before
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key


def test_frozen_resnet_features_are_cached_on_disk_and_reused(tiny_corpus, tmp_path):
    frozen = {"resnet_trainable": False, "resnet_bn": "frozen", "use_vit": False}
    model, _, train = _build("2m-ner", tiny_corpus, frozen, cache_dir=tmp_path)
    test = tiny_corpus.load(["en"], "test")
    first = predict(model, test)
    files = list((tmp_path / "two_m_ner").rglob("*.pt"))
    assert len(files) == len({s.image_id for s in test})
    second = predict(model, test)
    assert second == first and model.caches["resnet"].hits >= len(test)
    # a fresh model with the same frozen encoder (another job) reuses the files; results unchanged
    other, _, _ = _build("2m-ner", tiny_corpus, frozen, cache_dir=tmp_path)
    batch = other.collate(test[:8])
    assert bool(batch["resnet_hit"].all()) and batch["resnet_pixels"].shape[0] == 0
    assert predict(other, test) == first
    assert other.run_notes["resnet_feature_cache"]["hits"] >= len(test)
    # without a cache directory the features stay in memory
    mem, _, _ = _build("2m-ner", tiny_corpus, frozen)
    predict(mem, test)
    assert mem.caches["resnet"].root is None and len(mem.caches["resnet"].memory) > 0


def test_image_pipelines_shapes_and_determinism(tiny_corpus):
    model, _, train = _build("2m-ner-code", tiny_corpus, {"image_size": 24})
    model.eval()
    a, b = model.collate(train[:4]), model.collate(train[:4])
    assert a["vit_pixels"].shape == (4, 3, 24, 24) and a["resnet_pixels"].shape == (4, 3, 24, 24)
    assert torch.equal(a["vit_pixels"], b["vit_pixels"])  # CLIP: resize + centre crop
    paper, _, _ = _build("2m-ner", tiny_corpus)
    paper.eval()
    assert torch.equal(paper.collate(train[:4])["resnet_pixels"], paper.collate(train[:4])["resnet_pixels"])
    mean = paper.collate(train[:4])["resnet_pixels"].mean()
    assert -3 < float(mean) < 3  # ImageNet-normalised


def test_local_clip_checkpoint_loads_through_the_real_path(tmp_path):
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    from baselines.layers.image_encoders import build_vit
    cfg = CLIPConfig(text_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                                  "num_attention_heads": 2, "vocab_size": 50},
                     vision_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 3,
                                    "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
                     projection_dim=8)
    full = CLIPModel(cfg)
    full.save_pretrained(tmp_path / "clip")
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(
        tmp_path / "clip")
    vit, processor, saved = build_vit(str(tmp_path / "clip"), layers=2, image_size=32)
    assert len(vit.encoder.layers) == 2 and saved["config"]["num_hidden_layers"] == 2
    ref = full.vision_model.embeddings.patch_embedding.weight
    assert torch.equal(vit.embeddings.patch_embedding.weight, ref)
    assert processor.crop_size["height"] == 32


def test_resnet_grid_mean_is_the_pooled_feature():
    import torchvision

    from baselines.layers.image_encoders import ResNetGrid
    net = torchvision.models.resnet18(weights=None).eval()
    grid = ResNetGrid(net)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        g = grid(x)
        pooled = torch.flatten(net.avgpool(g), 1)
    assert g.shape == (1, 512, 7, 7)  # 49 grid vectors (2048-d for ResNet-152)
    assert torch.allclose(g.mean(dim=(2, 3)), pooled, atol=1e-6)


def test_missing_pretrained_image_weights_are_one_line_errors(tmp_path, monkeypatch):
    from baselines.layers.image_encoders import build_resnet, build_vit
    monkeypatch.setenv("MMNER_WEIGHTS_DIR", str(tmp_path / "w"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("MMNER_BENCH_DOWNLOAD", raising=False)
    for build in (lambda: build_vit("openai/clip-vit-base-patch32", 12, 224), lambda: build_resnet("torchvision/resnet152")):
        with pytest.raises(MissingArtifactError) as err:
            build()
        assert "\n" not in str(err.value)


# -- the image must matter ----------------------------------------------------------------------

def test_images_decide_ambiguous_types_text_only_cannot(tmp_path):
    """On the fallback corpus, half the entities are ambiguous names whose type is given only by the
    image colour: 2M-NER must beat its text-only variant by at least 10 F1 points."""
    corpus = generate_fallback(tmp_path / "fb", sizes=(300, 80, 80), seed=3, languages=("en",))
    scores = {}
    for name in ("2m-ner", "2m-ner-text"):
        spec = get_model(name)
        job = JobSpec(name, Setting(("en",), "en", use_image=spec.modality == "text+image"), seed=1,
                      scale="smoke", hparams=spec.hparams("smoke", {"epochs": 12}), corpus_name=corpus.kind,
                      data_fingerprint=corpus.fingerprint(["en"]))
        result = run_job(job, corpus)
        scores[name] = 100 * result.test["conlleval"]["f1"]
    assert result.counts.get("images") is None  # text-only job: no image store
    assert scores["2m-ner"] >= scores["2m-ner-text"] + 10, scores

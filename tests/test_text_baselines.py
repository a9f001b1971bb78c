"""HBiLSTM-CRF, BERT and BERT-CRF: save/load round trip, overfitting, windowing, missing weights,
batched Viterbi. All offline on CPU with the smoke profile (tiny encoders)."""
from __future__ import annotations

import pytest
import torch

from benchmark.errors import MissingArtifactError
from benchmark.run.train import fit, predict
from tests.helpers import (assert_missing_artifact, assert_overfits, build_model, hand_made_sentences, long_sentence,
                           no_weights_offline)

MODELS = ("hbilstm-crf", "bert", "bert-crf")
# Enough steps for the tiny models to memorise 20 sentences.
OVERFIT = {"hbilstm-crf": {"epochs": 16, "batch_size": 5, "dropout": 0.0, "lr": 0.02},
           "bert": {"epochs": 16, "batch_size": 5, "dropout": 0.0, "lr": 3e-3},
           "bert-crf": {"epochs": 16, "batch_size": 5, "dropout": 0.0, "lr": 3e-3}}


@pytest.mark.parametrize("name", MODELS)
def test_save_load_round_trip_gives_identical_predictions(name, tmp_path):
    train = hand_made_sentences()
    model, hp = build_model(name, train, epochs=2)
    fit(model, hp, train, train[:5], train[:5], seed=0)
    before = predict(model, train + [long_sentence(150)])
    model.save(tmp_path / "m")
    loaded = type(model).load(tmp_path / "m")
    after = predict(loaded, train + [long_sentence(150)])
    assert after == before
    for (k, v), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(v, v2), k


@pytest.mark.parametrize("name", MODELS)
def test_overfits_twenty_sentences(name):
    train = hand_made_sentences(20)
    model, hp = build_model(name, train, **OVERFIT[name])
    assert_overfits(model, hp, train)


@pytest.mark.parametrize("name", ("bert", "bert-crf"))
def test_700_token_sentence_gets_700_predictions(name):
    train = hand_made_sentences()
    model, _ = build_model(name, train, tiny_max_positions=32)
    assert model.aligner.max_length == 32  # so the 700 words span many windows
    long = long_sentence(700)
    batch = model.collate([long, train[0]])
    assert batch["input_ids"].shape[1] <= 32 and batch["input_ids"].shape[0] > 20
    (tags, short) = predict(model, [long, train[0]])
    assert len(tags) == 700 and len(short) == len(train[0])


def test_aligner_points_every_word_at_its_first_wordpiece():
    from baselines.layers.text_encoder import SubwordAligner

    train = hand_made_sentences()
    model, _ = build_model("bert", train, tiny_max_positions=24)
    aligner: SubwordAligner = model.aligner
    words = list(long_sentence(300).tokens) + ["\u200b", "\x00", "Zürich"]  # specials, a stripped char
    batch = aligner([words, ["Paris"]])
    ids = batch["input_ids"].reshape(-1)
    pieces = aligner.word_pieces(words)
    assert all(len(p) >= 1 for p in pieces)
    assert int(batch["word_mask"][0].sum()) == len(words) and int(batch["word_mask"][1].sum()) == 1
    firsts = ids[batch["word_index"][0, : len(words)]].tolist()
    assert firsts == [p[0] for p in pieces]
    assert aligner.word_pieces(["\u200b"])[0][0] != aligner.unk_id  # 2M-NER's extra special token
    assert int(batch["first_window"][1]) == batch["input_ids"].shape[0] - 1
    # a word is read from a window in which it is not at the edge whenever the sentence allows it
    spans, owner = aligner.windows([len(p) for p in pieces])
    assert len(spans) > 1 and all(s <= i < e for i, (s, e) in ((i, spans[o]) for i, o in enumerate(owner)))


def test_bert_loads_a_local_pretrained_directory(tmp_path, monkeypatch):
    """The from_pretrained path: a save_pretrained folder given as text_encoder, and reload."""
    train = hand_made_sentences()
    tiny, _ = build_model("bert", train)
    folder = tmp_path / "my-bert"
    tiny.encoder.save_pretrained(folder)
    tiny.tokenizer.save_pretrained(folder)
    model, hp = build_model("bert-crf", train, text_encoder=str(folder), epochs=1)
    assert model.config["text_encoder_saved"]["source"] == str(folder)
    assert "tokenizer_json" not in model.config["text_encoder_saved"]
    model.save(tmp_path / "saved")
    again = type(model).load(tmp_path / "saved")
    assert predict(again, train) == predict(model, train)


def test_missing_bert_weights_give_one_line_error(tmp_path, monkeypatch):
    no_weights_offline(monkeypatch, tmp_path)
    msg = assert_missing_artifact(lambda: build_model("bert", hand_made_sentences(), scale="paper"),
                                  "bert-base-multilingual-cased")
    assert str(tmp_path / "weights") in msg and "bench weights --download" in msg


def test_weights_resolvers_and_status(tmp_path, monkeypatch):
    from benchmark import weights

    monkeypatch.setenv("MMNER_WEIGHTS_DIR", str(tmp_path / "w"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(MissingArtifactError) as err:
        weights.resolve_torchvision("resnet152")
    assert "\n" not in str(err.value) and "resnet152-b121ed2d.pth" in str(err.value)
    ckpt = tmp_path / "torch" / "hub" / "checkpoints" / "resnet152-b121ed2d.pth"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"x")
    assert weights.resolve_torchvision("resnet152") == ckpt
    with pytest.raises(MissingArtifactError):
        weights.resolve_hf(str(tmp_path / "no-such-dir"))
    with pytest.raises(MissingArtifactError) as err:
        weights.download(["openai/clip-vit-base-patch32"], log=lambda m: None)
    assert "HF_HUB_OFFLINE" in str(err.value)
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "glove.6B.300d.txt").write_text("the 0.1 0.2\n")
    assert weights.resolve_embeddings("glove.6B.300d").endswith("glove.6B.300d.txt")
    rows = weights.status(["bert", "bert-crf", "hbilstm-crf"])
    assert [(r.model, r.artifact, r.present) for r in rows] == [
        ("bert", "bert-base-multilingual-cased", False), ("bert-crf", "bert-base-multilingual-cased", False)]
    every = {r.artifact: r for r in weights.status()}
    assert set(weights.ARTIFACTS) <= set(every)
    assert every["torchvision/resnet152"].present and every["glove.6B.300d"].present


def test_batched_viterbi_equals_allennlp_on_random_inputs():
    from baselines.layers.crf import CRF
    from benchmark.api import tag_inventory

    gen = torch.Generator().manual_seed(0)
    tags = tag_inventory([])
    for constrained in (True, False):
        crf = CRF(tags, constrained=constrained)
        with torch.no_grad():
            crf.crf.transitions.normal_(0, 2.0, generator=gen)
            crf.crf.start_transitions.normal_(0, 2.0, generator=gen)
            crf.crf.end_transitions.normal_(0, 2.0, generator=gen)
        for batch, length in ((1, 1), (7, 13), (32, 40)):
            lengths = torch.randint(1, length + 1, (batch,), generator=gen)
            lengths[0] = length
            mask = torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1)
            emissions = torch.randn(batch, length, len(tags), generator=gen) * 3
            assert crf.decode(emissions, mask) == crf.decode_reference(emissions, mask)


def test_profile_viterbi_reports_both_decoders():
    from benchmark.profiling.viterbi import format_profile, profile_viterbi

    sentences = hand_made_sentences() * 10 + [long_sentence(120)]
    out = profile_viterbi(sentences, batch_size=16, repeats=1)
    assert out["identical"] and out["sentences"] == 201
    assert out["batched"]["total_s"] > 0 and out["allennlp"]["f1"] == out["batched"]["f1"]
    assert "speed-up" in format_profile(out)


def test_char_bilstm_reads_each_word_independently_of_padding():
    from baselines.layers.chars import CharBiLSTM, CharVocab, char_inventory

    words = [["Zürich", "a", "Mbappé"], ["NASA"]]
    vocab = CharVocab(char_inventory(w for s in words for w in s))
    torch.manual_seed(0)
    enc = CharBiLSTM(len(vocab), 6, 5).eval()
    chars, lengths = vocab.batch(words)
    assert chars.shape == (2, 3, 6) and lengths[1].tolist() == [4, 0, 0]
    out = enc(chars, lengths)
    assert out.shape == (2, 3, 10) and torch.all(out[1, 1:] == 0)
    ids = torch.tensor([vocab.encode("Mbappé")])
    seq, _ = enc.lstm(enc.embedding(ids))  # unpadded: forward state at the end, backward at position 0
    expected = torch.cat([seq[0, -1, :5], seq[0, 0, 5:]])
    assert torch.allclose(out[0, 2], expected, atol=1e-6)
    assert vocab.encode("ß") == [1]  # unseen character -> UNK


@pytest.mark.parametrize("layers", [1, 2])
def test_unpacked_bilstm_equals_the_packed_one_outputs_and_gradients(layers):
    """The CPU path runs each direction unpacked (the backward one reversed within each row's
    length); a wrong reversal or padding leaking into a real state changes outputs or gradients."""
    from baselines.layers.lstm import bilstm_outputs, packed_bilstm

    torch.manual_seed(0)
    lstm = torch.nn.LSTM(7, 5, num_layers=layers, batch_first=True, bidirectional=True)
    x = torch.randn(4, 9, 7, requires_grad=True)
    lengths = torch.tensor([9, 3, 1, 6])
    weights = torch.arange(4 * 9 * 10, dtype=torch.float32).view(4, 9, 10).sin()
    results = []
    for run in (packed_bilstm, bilstm_outputs):
        out = run(lstm, x, lengths)
        results.append((out, torch.autograd.grad((out * weights).sum(), [x, *lstm.parameters()])))
    (packed, packed_grads), (unpacked, unpacked_grads) = results
    assert torch.allclose(packed, unpacked, atol=1e-6)
    assert torch.all(unpacked[1, 3:] == 0) and torch.all(unpacked[2, 1:] == 0)
    for a, b in zip(packed_grads, unpacked_grads):
        assert torch.allclose(a, b, atol=1e-5)


def test_singletons_become_unk_only_in_training():
    sentences = hand_made_sentences()
    model, _ = build_model("bilstm-crf", sentences)
    model.unk_replace = 1.0
    batch = model.collate(sentences)
    single = torch.tensor([int(w) in model.singletons for w in batch["words"].flatten()]).view_as(batch["words"])
    assert single.any() and (~single & batch["mask"]).any()
    model.train()
    words = model.words_with_unk(batch)
    assert torch.all(words[single] == 1) and torch.equal(words[~single], batch["words"][~single])
    model.eval()
    assert torch.equal(model.words_with_unk(batch), batch["words"])

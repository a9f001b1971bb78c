"""Tokenizers other than BERT's (issue 25 item 2): one predicted tag per gold word, whatever the encoder.

Tiny random BERT (WordPiece), XLM-RoBERTa and DeBERTa-v2 (Unigram, SentencePiece-style ``▁``
marker), RoBERTa (byte-level BPE, ``Ġ`` marker) and an XLM-RoBERTa whose tokenizer adds no special
token are written with
``save_pretrained`` (tests/hf_encoders.py), then aligned directly and trained + decoded through
``hf:`` on the smoke slice of the built-in corpus with one sentence added that holds a word no
tokenizer gives a sub-word.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from baselines.layers.text_encoder import SubwordAligner, _fast_tokenizer, _tiny_tokenizer_json, encode_words
from benchmark.cli import main
from benchmark.run.predictions import read_predictions
from tests.hf_encoders import ARCHITECTURES, NO_SUBWORD, save_encoder
from tests.helpers import hand_made_sentences, long_sentence, registry_restored

TEXTS = [" ".join(s.tokens) for s in hand_made_sentences()]
WORDS = ["Angela", NO_SUBWORD, "Zürich", "(", "Merkel", "!"]
FRAMES = {"bert": ("[CLS]", "[SEP]"), "xlm-roberta": ("<s>", "</s>"), "deberta-v2": ("[CLS]", "[SEP]"),
          "roberta": ("<s>", "</s>"), "no-specials": (None, None)}
MARKERS = {"xlm-roberta": "\u2581", "deberta-v2": "\u2581", "no-specials": "\u2581", "roberta": "\u0120"}


@pytest.fixture(scope="module")
def encoders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("encoders")
    return {arch: save_encoder(arch, root / f"tiny-{arch}", TEXTS) for arch in ARCHITECTURES}


def load(folder: Path):
    from transformers import AutoModel

    from baselines.layers.text_encoder import load_tokenizer
    return load_tokenizer(str(folder)), AutoModel.from_pretrained(folder, local_files_only=True)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_alignment_uses_the_tokenizers_own_frame_and_word_ids(encoders, arch):
    """Catches BERT's [CLS]/[SEP] forced on every tokenizer, a word with no sub-word dropped (one tag
    short), and a word pointed at a special token or at another word's sub-word."""
    tokenizer, _ = load(encoders[arch])
    aligner = SubwordAligner(tokenizer, 64)
    first, last = FRAMES[arch]
    assert aligner.prefix == ([tokenizer.convert_tokens_to_ids(first)] if first else [])
    assert aligner.suffix == ([tokenizer.convert_tokens_to_ids(last)] if last else [])
    batch = aligner([WORDS])
    assert batch["word_mask"].sum().item() == len(WORDS)
    ids = batch["input_ids"].reshape(-1)
    pieces = aligner.word_pieces(WORDS)
    if arch != "roberta":  # (byte-level BPE has a sub-word for every byte)
        assert pieces[1] == [tokenizer.unk_token_id]  # the word the tokenizer gives nothing
    for w, flat in enumerate(batch["word_index"][0].tolist()):
        assert ids[flat].item() == pieces[w][0]
    if arch in MARKERS:  # a word's first sub-word carries the word-start marker, as in running text
        assert tokenizer.convert_ids_to_tokens(pieces[0])[0].startswith(MARKERS[arch])
        assert tokenizer.convert_ids_to_tokens(pieces[4])[0].startswith(MARKERS[arch])


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_long_sentences_fit_the_encoders_positions(encoders, arch):
    """Catches windows as long as ``max_position_embeddings`` for RoBERTa-family models, whose
    position ids start after the padding index (an index error past the table)."""
    from baselines.layers.text_encoder import _max_length

    tokenizer, model = load(encoders[arch])
    limit = _max_length(None, model)
    assert limit == (66 - 2 if arch in ("xlm-roberta", "roberta", "no-specials") else 64)
    words = list(long_sentence(200).tokens)
    batch = SubwordAligner(tokenizer, limit)([words])
    assert batch["input_ids"].shape[0] > 1 and batch["input_ids"].shape[1] <= limit
    states, _ = encode_words(model, batch)
    assert states.shape[:2] == (1, len(words))


def test_bert_ids_are_unchanged():
    """The tiny BERT tokenizer's windows and word index, as the aligner gave them before issue 25
    (committed literals): catches any change of BERT's ids, [UNK] fallbacks and windows."""
    tok = _fast_tokenizer(_tiny_tokenizer_json([s.tokens for s in hand_made_sentences()], 3000))
    tok.add_special_tokens({"additional_special_tokens": ["\u200b"]})
    batch = SubwordAligner(tok, 16)([["Angela", "Merkel", "visited", "Zürich", NO_SUBWORD, "\x01", "@user", "\u200b"],
                                     ["NASA", "!"], list(long_sentence(20).tokens)])
    assert batch["input_ids"].tolist() == [
        [2, 131, 159, 230, 188, 1, 1, 12, 229, 236, 3, 0, 0, 0, 0, 0], [2, 165, 5, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [2, 131, 159, 230, 172, 213, 163, 7, 126, 183, 166, 208, 123, 148, 7, 3],
        [2, 126, 183, 166, 208, 123, 148, 7, 154, 160, 220, 199, 134, 190, 3, 0]]
    assert batch["word_index"].tolist() == [
        [1, 2, 3, 4, 5, 6, 7, 9] + [0] * 12, [17, 18] + [0] * 18,
        [33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 53, 54, 55, 56, 57, 58, 59, 60, 61]]
    assert batch["first_window"].tolist() == [0, 1, 2]


def fallback_plus_one(tmp_path: Path) -> Path:
    """The built-in corpus with one sentence holding a no-sub-word word put first in the English
    train and test files (so the smoke slice reads it)."""
    from benchmark.corpora.fallback import ensure_fallback_corpus

    root = tmp_path / "fallback-plus"
    shutil.copytree(ensure_fallback_corpus().root, root)
    extra = f"IMGID:extra-1\nPhoto\tO\n{NO_SUBWORD}\tO\nAngela\tB-PER\nMerkel\tI-PER\n\n"
    for split in ("train", "test"):
        path = root / "train_valid_test_en" / f"{split}_conll_format.txt"
        path.write_text(extra + path.read_text(encoding="utf-8"), encoding="utf-8")
    return root


def test_every_architecture_trains_and_tags_every_word(encoders, tmp_path, monkeypatch):
    """Train + decode through hf: (softmax for each architecture, CRF for two): every stored test
    prediction has one tag per gold word, the no-sub-word word included."""
    monkeypatch.setenv("MMNER_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = fallback_plus_one(tmp_path)
    models = [f"hf:{encoders[a]}" for a in ARCHITECTURES] + [f"hf:{encoders[a]}+crf" for a in ("xlm-roberta", "deberta-v2")]
    res = tmp_path / "res"
    with registry_restored():
        out = CliRunner().invoke(main, ["run", "--table", "5", "--languages", "en", "--scale", "smoke",
                                        "--hp", "epochs=1", "--models", ",".join(models), "--data-dir", str(data),
                                        "--results", str(res)])
    assert out.exit_code == 0, out.output
    files = sorted(res.glob("runs/*/*/predictions.conll"))
    assert sorted(f.parts[-3] for f in files) == sorted(
        [f"hf-tiny-{a}" for a in ARCHITECTURES] + ["hf-tiny-xlm-roberta-crf", "hf-tiny-deberta-v2-crf"])
    for path in files:
        predicted = read_predictions(path)
        assert len(predicted) == 80
        assert all(len(p.pred) == len(p.gold) == len(p.tokens) for p in predicted)
        extra = next(p for p in predicted if NO_SUBWORD in p.tokens)
        assert len(extra.pred) == 4 and all(extra.pred)

"""`bench profile --random-weights`: where the pretrained files are absent, the paper architectures are
timed with random weights (``benchmark.profiling.model.stand_in_model``)."""
from __future__ import annotations

import pytest

from baselines.layers.text_encoder import EXTRA_SPECIAL_TOKENS
from benchmark.api import BuildContext
from benchmark.hparams import resolve_hparams
from benchmark.registry import get_model, load_factory
from tests.helpers import hand_made_sentences

TINY_BASE = {"tiny_hidden": 32, "tiny_layers": 2, "tiny_heads": 2, "tiny_intermediate": 64, "tiny_max_positions": 128}


@pytest.mark.parametrize("name", ["bert", "bert-crf"])
def test_stand_in_weights_resize_the_text_encoder_whatever_holds_it(name, monkeypatch):
    """The stand-in model gets a random encoder of the paper shape (here shrunk) with mBERT's vocabulary
    size, for a model that keeps its encoder as ``encoder`` (BERT, BERT-CRF), not ``text``.
    Bug: the stand-in step resized ``model.text``, which BERTTagger does not have (AttributeError)."""
    import benchmark.profiling.model as profiling

    monkeypatch.setattr(profiling, "BERT_BASE", TINY_BASE)
    monkeypatch.setattr(profiling, "MBERT_VOCAB", 500)
    spec = get_model(name)
    hp = {**resolve_hparams(spec, "paper"), "seed": 1}
    model, used = profiling.stand_in_model(load_factory(spec), hp, hand_made_sentences(), BuildContext(scale="paper"))
    assert used["text_encoder"] == "tiny" and used["tiny_hidden"] == 32
    assert model.encoder.get_input_embeddings().num_embeddings == 500 + len(EXTRA_SPECIAL_TOKENS)


def test_stand_in_weights_leave_a_vision_tower_alone():
    """Of a model's Hugging Face modules only a text encoder (a word-embedding table) is resized; a
    CLIP vision tower, which 2M-NER and MKGFormer hold beside it, is not.
    Bug: resizing the first Hugging Face module found, which may be the vision tower."""
    from transformers import BertConfig, BertModel, CLIPVisionConfig, CLIPVisionModel

    from baselines.layers.image_encoders import tiny_clip_config
    from benchmark.profiling.model import _has_word_embeddings

    vision = CLIPVisionModel(CLIPVisionConfig(**tiny_clip_config(32, 1)))
    text = BertModel(BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=64))
    assert not _has_word_embeddings(vision) and _has_word_embeddings(text)

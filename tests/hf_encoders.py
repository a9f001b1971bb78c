"""Tiny random Hugging Face encoders written with ``save_pretrained``, for the ``hf:`` tests.

Each builder trains its tokenizer on the fly with the ``tokenizers`` library (no download, no
sentencepiece model file) and saves a randomly initialised model of its architecture, hidden size
16, one layer: BERT with a WordPiece vocabulary and [CLS]/[SEP]; XLM-RoBERTa with a Unigram
(SentencePiece-style, ``▁`` word-start marker) vocabulary, ``<s>``/``</s>`` and the position offset
of RoBERTa models; DeBERTa-v2 with a Unigram vocabulary, [CLS]/[SEP] and relative positions; RoBERTa
with a byte-level BPE vocabulary (``Ġ`` marks a word after a space) saved as ``RobertaTokenizer``
with its default ``add_prefix_space=False``; and an XLM-RoBERTa whose tokenizer adds no special token. Every normaliser drops control and
zero-width characters, so a word made only of them has no sub-word.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

NO_SUBWORD = "\u200c\u200d"  # zero-width (non-)joiner: every tokenizer here reduces it to nothing
ARCHITECTURES = ("bert", "xlm-roberta", "deberta-v2", "roberta", "no-specials")
_SIZES = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)


def _normalizer():
    from tokenizers import Regex, normalizers
    return normalizers.Sequence([normalizers.Replace(Regex("[\x00-\x1f\u200b-\u200d\ufeff]"), ""),
                                 normalizers.NFKC()])


def _unigram(texts: list[str], specials: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.Unigram())
    tok.normalizer = _normalizer()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.train_from_iterator(texts, trainers.UnigramTrainer(vocab_size=200, special_tokens=specials,
                                                           unk_token="<unk>"))
    return tok


def _template(tok, first: str, last: str) -> None:
    from tokenizers import processors
    ids = [(first, tok.token_to_id(first)), (last, tok.token_to_id(last))]
    tok.post_processor = processors.TemplateProcessing(single=f"{first} $A {last}",
                                                       pair=f"{first} $A {last} $B:1 {last}:1", special_tokens=ids)


def save_encoder(arch: str, folder: Path, texts: Iterable[str]) -> Path:
    """Write a tiny random ``arch`` encoder (one of ``ARCHITECTURES``) and its tokenizer to ``folder``."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import (BertConfig, BertModel, DebertaV2Config, DebertaV2Model, PreTrainedTokenizerFast,
                              XLMRobertaConfig, XLMRobertaModel)

    texts = list(texts)
    torch.manual_seed(0)
    if arch == "bert":
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = _normalizer()
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.train_from_iterator(texts, trainers.WordPieceTrainer(
            vocab_size=300, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
        _template(tok, "[CLS]", "[SEP]")
        fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                       cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
        model = BertModel(BertConfig(vocab_size=tok.get_vocab_size(), max_position_embeddings=64, **_SIZES))
    elif arch in ("xlm-roberta", "no-specials"):
        tok = _unigram(texts, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"])  # XLM-R's order: pad = 1
        if arch == "xlm-roberta":
            _template(tok, "<s>", "</s>")
            fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                           pad_token="<pad>", cls_token="<s>", sep_token="</s>", mask_token="<mask>")
        else:  # no post-processor, no cls/sep token: sub-words only
            fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>")
        model = XLMRobertaModel(XLMRobertaConfig(vocab_size=tok.get_vocab_size(), max_position_embeddings=66,
                                                 pad_token_id=1, bos_token_id=0, eos_token_id=2, **_SIZES))
    elif arch == "deberta-v2":
        tok = _unigram(texts, ["[PAD]", "[CLS]", "[SEP]", "<unk>", "[MASK]"])
        _template(tok, "[CLS]", "[SEP]")
        fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="[PAD]",
                                       cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
        model = DebertaV2Model(DebertaV2Config(vocab_size=tok.get_vocab_size(), max_position_embeddings=64,
                                               relative_attention=True, position_buckets=16,
                                               pos_att_type=["p2c", "c2p"], position_biased_input=False,
                                               pad_token_id=0, **_SIZES))
    elif arch == "roberta":
        import json

        from tokenizers import decoders
        from transformers import RobertaConfig, RobertaModel, RobertaTokenizer
        tok = Tokenizer(models.BPE())
        tok.normalizer = _normalizer()
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        tok.train_from_iterator(texts, trainers.BpeTrainer(
            vocab_size=400, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
        bpe = json.loads(tok.to_str())["model"]
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in bpe["merges"]]
        fast = RobertaTokenizer(vocab=bpe["vocab"], merges=merges)
        model = RobertaModel(RobertaConfig(vocab_size=len(bpe["vocab"]), max_position_embeddings=66,
                                           pad_token_id=1, bos_token_id=0, eos_token_id=2, **_SIZES))
    else:
        raise ValueError(f"unknown architecture {arch!r}; expected one of {ARCHITECTURES}")
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder

"""Sub-word scheme A ("X-label"), used by UMT and MKGFormer (scheme B: ``baselines.layers.text_encoder``).

Every word is tokenised on its own (``SubwordAligner.word_pieces``: the same wordpieces as the
BERT models, ``[UNK]`` for a word that yields none). The sentence becomes one sequence
``[CLS] w1_1 w1_2 w2_1 ... [SEP]`` of at most ``max_length`` wordpieces (128 in UMT/MKGFormer);
the first wordpiece of a word carries its tag, every later wordpiece the tag ``X``, and [CLS]/[SEP]
their own tags ``[CLS]``/``[SEP]`` (whatever special tokens the tokenizer frames a sequence with:
``SubwordAligner.prefix`` / ``suffix``). The CRF runs over all real wordpieces.

Words beyond the 128-wordpiece limit are cut off, as in the original codes; unlike them (which drop
those words from gold and prediction alike) we keep the gold and predict ``O`` for them, so the
harness always scores whole sentences. Special tags predicted on a first wordpiece become ``O``
(seqeval treats an unknown tag roughly as ``O`` in the original codes).
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from baselines.layers.crf import CONTINUATION_TAG
from baselines.layers.text_encoder import SubwordAligner, load_text_encoder, rebuild_text_encoder
from benchmark.api import BuildContext, Tagger, tag_inventory
from benchmark.corpora.reader import Sentence

PAD_TAG, X_TAG, CLS_TAG, SEP_TAG = "[PAD]", CONTINUATION_TAG, "[CLS]", "[SEP]"
SPECIAL_TAGS: tuple[str, ...] = (PAD_TAG, X_TAG, CLS_TAG, SEP_TAG)


def xlabel_tags(word_tags: Sequence[str]) -> list[str]:
    """The scheme-A tag set: ``[PAD]`` (id 0), the IOB2 tags, then ``X``, ``[CLS]``, ``[SEP]``
    (UMT/MKGFormer: 13 tags for the four MMNERD types)."""
    return [PAD_TAG, *[t for t in word_tags if t not in SPECIAL_TAGS], X_TAG, CLS_TAG, SEP_TAG]


class XLabelEncoder:
    """Words (and tag ids) -> one wordpiece sequence per sentence, scheme A.

    ``encoder(word_lists, tag_id_lists=None)`` returns CPU tensors (B sentences, L longest sequence,
    W most words):

    * ``input_ids`` ``[B, L]``, ``attention_mask`` ``[B, L]`` long (1 on [CLS], pieces, [SEP]);
    * ``first_piece`` ``[B, W]`` long: position of each word's first wordpiece (0 when cut off);
    * ``word_mask`` ``[B, W]`` bool: real words; ``kept`` ``[B, W]`` bool: words inside the limit;
    * ``labels`` ``[B, L]`` long (only with tag ids): word tag on first pieces, ``X`` on the others,
      ``[CLS]``/``[SEP]``, ``[PAD]`` (0) on padding.
    """

    def __init__(self, tokenizer: Any, tags: Sequence[str], max_length: int = 128) -> None:
        self.aligner = SubwordAligner(tokenizer, max_length)  # refuses a max_length with no room for a word
        self.max_length = int(max_length)
        ids = {t: i for i, t in enumerate(tags)}
        self.pad, self.x, self.cls, self.sep = (ids[t] for t in SPECIAL_TAGS)

    def __call__(self, sentences: Sequence[Sequence[str]],
                 tag_ids: Sequence[Sequence[int]] | None = None) -> dict[str, torch.Tensor]:
        al = self.aligner
        rows, label_rows, firsts = [], [], []
        for b, words in enumerate(sentences):
            ids, labels, first = list(al.prefix), [self.cls] * len(al.prefix), []
            for w, pieces in enumerate(al.word_pieces(list(words))):
                if len(ids) + len(pieces) > self.max_length - len(al.suffix):
                    break  # this word and the rest are cut off (as the original codes' truncation)
                first.append(len(ids))
                ids.extend(pieces)
                tag = tag_ids[b][w] if tag_ids is not None else self.pad
                labels.extend([tag] + [self.x] * (len(pieces) - 1))
            ids.extend(al.suffix)
            labels.extend([self.sep] * len(al.suffix))
            rows.append(ids)
            label_rows.append(labels)
            firsts.append(first)
        n, length = len(rows), max(len(r) for r in rows)
        n_words = max((len(s) for s in sentences), default=0) or 1
        out = {"input_ids": torch.full((n, length), al.pad_id, dtype=torch.long),
               "attention_mask": torch.zeros((n, length), dtype=torch.long),
               "first_piece": torch.zeros((n, n_words), dtype=torch.long),
               "word_mask": torch.zeros((n, n_words), dtype=torch.bool),
               "kept": torch.zeros((n, n_words), dtype=torch.bool)}
        if tag_ids is not None:
            out["labels"] = torch.full((n, length), self.pad, dtype=torch.long)
        for b, (ids, labels, first) in enumerate(zip(rows, label_rows, firsts)):
            out["input_ids"][b, : len(ids)] = torch.as_tensor(ids)
            out["attention_mask"][b, : len(ids)] = 1
            out["word_mask"][b, : len(sentences[b])] = True
            if first:
                out["first_piece"][b, : len(first)] = torch.as_tensor(first)
                out["kept"][b, : len(first)] = True
            if tag_ids is not None:
                out["labels"][b, : len(labels)] = torch.as_tensor(labels)
        return out


def word_tags_from_paths(paths: Sequence[Sequence[int]], batch: dict[str, torch.Tensor],
                         tags: Sequence[str]) -> list[list[str]]:
    """Word-level tags from wordpiece-level CRF paths: the tag of each word's first wordpiece;
    ``O`` for a word cut off by the length limit and for a special tag (X, [CLS], [SEP], [PAD])."""
    first = batch["first_piece"].tolist()
    kept = batch["kept"].tolist()
    lengths = batch["word_mask"].sum(dim=1).tolist()
    out = []
    for path, f, k, n in zip(paths, first, kept, lengths):
        row = []
        for w in range(n):
            tag = tags[path[f[w]]] if k[w] else "O"
            row.append("O" if tag in SPECIAL_TAGS else tag)
        out.append(row)
    return out


class XLabelTagger(Tagger):
    """Base of the scheme-A models (UMT, MKGFormer): the text encoder, the wordpiece encoder, tags,
    the image store, the variant (multimodal when the job has images, else text-only) and decoding.

    Subclasses call ``super().__init__`` and then build their layers; ``from_training_data`` starts
    from ``base_config``; ``emissions_and_decode`` is not imposed (each model has its own heads).
    """

    label = "xlabel"

    def __init__(self, config: dict[str, Any], ctx: BuildContext, prebuilt: dict[str, Any] | None = None) -> None:
        super().__init__(config, ctx)
        self.use_image = bool(self.config["use_image"])
        if prebuilt and "text" in prebuilt:
            self.tokenizer, self.text = prebuilt["text"]
        else:
            self.tokenizer, self.text = rebuild_text_encoder(self.config["text_saved"], ctx)
        self.encoder = XLabelEncoder(self.tokenizer, self.tags, int(self.config["text_saved"]["max_length"]))

    @classmethod
    def base_config(cls, hp: dict[str, Any], train: Sequence[Sentence], ctx: BuildContext
                    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(config, prebuilt)``: JSON-able hyperparameters, scheme-A tags, the variant, the text encoder."""
        use_image = ctx.images is not None
        config = {k: v for k, v in hp.items() if isinstance(v, (int, float, str, bool, type(None)))}
        config.update(tags=xlabel_tags(tag_inventory(train)), use_image=use_image)
        tokenizer, text, config["text_saved"] = load_text_encoder(hp, train, ctx)
        ctx.log(f"{cls.label}: {'multimodal' if use_image else 'text-only (Table 7: image streams removed)'} variant")
        return config, {"text": (tokenizer, text)}

    def collate_text(self, sentences: Sequence[Sentence]) -> dict[str, Any]:
        other = self.tag_to_id["O"]
        return self.encoder([s.tokens for s in sentences],
                            [[self.tag_to_id.get(t, other) for t in s.tags] for s in sentences])

    def image_store(self) -> Any:
        """The job's ``ImageStore``; a multimodal model loaded without one gets blank images (said once)."""
        if self.ctx.images is None:
            from benchmark.corpora.images import ImageStore
            self.ctx.images = ImageStore(None)
            self.ctx.log(f"{self.label}: no image store; every image is a blank one")
        return self.ctx.images

    def decode_emissions(self, emissions: torch.Tensor, batch: dict[str, Any], crf: Any) -> list[list[str]]:
        paths = crf.decode(emissions, batch["attention_mask"].bool())
        return word_tags_from_paths(paths, batch, self.tags)

    def base_notes(self) -> dict[str, Any]:
        return {"variant": "multimodal" if self.use_image else "text-only",
                "text_encoder": self.config["text_saved"]["source"],
                "subword_scheme": f"A (X labels, max {self.encoder.max_length} wordpieces)"}

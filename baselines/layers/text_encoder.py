"""Transformer text encoder shared by BERT, BERT-CRF and 2M-NER: loading, sub-word alignment, gather.

Alignment is scheme B (2M-NER's ``word_to_token_index``; scheme A is ``baselines.layers.xlabel``): every word
is tokenised on its own, the hidden state of its *first* wordpiece stands for the word, and the tag
layer (softmax or CRF) runs over words. Nothing is truncated: a sentence whose wordpieces do not fit
the encoder (its position limit minus the special tokens) is cut into overlapping windows of whole
words, each encoded separately, and every word takes its state from the window in which it has the
most context on both sides. Gold and predicted lengths are therefore always equal.

Encoders:

* ``hp["text_encoder"]`` = a hub id (``bert-base-multilingual-cased``) or a local directory: loaded
  with ``from_pretrained`` from the path ``benchmark.weights.resolve_hf`` finds (never the network).
* ``hp["text_encoder"] == "tiny"``: a randomly initialised 2-layer ``BertModel`` (hidden 32) and a
  WordPiece vocabulary built deterministically from the training words (for smoke runs and tests).

2M-NER's eight extra special tokens (§10 item 19) are added so that words made only of characters
the tokenizer strips still get a wordpiece; any word that still yields none is given ``[UNK]``.

Tokenizers other than BERT's (issue 25): the alignment reads the tokenizer's own ``word_ids()``
(sentences passed as pre-split words) and its own special-token frame (``special_frame``), so
SentencePiece / BPE vocabularies whose sub-words carry a word-start marker (XLM-R, mDeBERTa) and
tokenizers with no [CLS]/[SEP] give one state per word as BERT's does; BERT's ids are unchanged.

``load_text_encoder`` returns ``(tokenizer, encoder, saved)``; ``saved`` is JSON-able and goes into
the model config so that ``rebuild_text_encoder(saved, ctx)`` recreates the same tokenizer and an
encoder of the same architecture (its weights then come from the tagger's state dict).
"""
from __future__ import annotations

import json
from collections import Counter
from typing import Any, Sequence

import torch

from benchmark.api import BuildContext
from benchmark.corpora.reader import Sentence
from benchmark.errors import ConfigError

TINY = "tiny"
# 2M-NER's additional_special_tokens (MMNERD main.py): U+FFFD, U+0080, soft hyphen, zero-width space,
# and four private-use characters.
EXTRA_SPECIAL_TOKENS: tuple[str, ...] = ("\ufffd", "\x80", "\xad", "\u200b", "\uf02d", "\uf0d6", "\uf0d8", "\uf0a7")
SPECIALS: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
TINY_DEFAULTS: dict[str, int] = {"tiny_hidden": 32, "tiny_layers": 2, "tiny_heads": 2,
                                 "tiny_intermediate": 64, "tiny_max_positions": 128, "tiny_vocab_size": 3000}


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------

def load_text_encoder(hp: dict[str, Any], train: Sequence[Sentence], ctx: BuildContext
                      ) -> tuple[Any, Any, dict[str, Any]]:
    """``(tokenizer, encoder, saved)`` for ``hp["text_encoder"]`` (hub id, local dir or ``"tiny"``).

    Recognised hp keys: ``text_encoder``, ``extra_special_tokens`` (default True), ``max_length``
    (cap on wordpieces per window, [CLS]/[SEP] included; default the encoder's position limit),
    and the ``tiny_*`` sizes of ``TINY_DEFAULTS``.
    """
    name = str(hp.get("text_encoder") or "bert-base-multilingual-cased")
    extra = bool(hp.get("extra_special_tokens", True))
    if name == TINY:
        sizes = {k: int(hp.get(k, v)) for k, v in TINY_DEFAULTS.items()}
        tok_json = _tiny_tokenizer_json([s.tokens for s in train], sizes["tiny_vocab_size"])
        tokenizer = _fast_tokenizer(tok_json)
        from transformers import BertConfig
        config = BertConfig(vocab_size=tokenizer.backend_tokenizer.get_vocab_size(),
                            hidden_size=sizes["tiny_hidden"], num_hidden_layers=sizes["tiny_layers"],
                            num_attention_heads=sizes["tiny_heads"], intermediate_size=sizes["tiny_intermediate"],
                            max_position_embeddings=sizes["tiny_max_positions"], pad_token_id=0)
        from transformers import BertModel
        encoder = BertModel(config)
        saved: dict[str, Any] = {"source": TINY, "tokenizer_json": tok_json}
        ctx.log(f"text encoder: tiny random BERT ({sizes['tiny_layers']} layers, hidden {sizes['tiny_hidden']}), "
                f"WordPiece vocabulary of {config.vocab_size} built from {len(train)} training sentences")
    else:
        from transformers import AutoModel

        from benchmark.weights import resolve_hf
        path = str(hp.get("text_encoder_dir") or resolve_hf(name))  # text_encoder_dir: an `hf:` encoder's folder
        tokenizer = load_tokenizer(path)
        encoder = load_pretrained(AutoModel, path)
        saved = {"source": name if not hp.get("text_encoder_dir") else path}
        revision = f" @ {hp['text_encoder_revision']}" if hp.get("text_encoder_revision") else ""
        ctx.log(f"text encoder: {name}{revision} from {path} ({type(encoder).__name__}, "
                f"{type(tokenizer).__name__})")
    added = _add_extra_tokens(tokenizer, encoder) if extra else 0
    saved.update(extra_special_tokens=extra, encoder_config=_config_dict(encoder),
                 max_length=_max_length(hp.get("max_length"), encoder))
    if added:
        ctx.log(f"added {added} extra special tokens (2M-NER's), embedding matrix resized to {len(tokenizer)}")
    return tokenizer, encoder, saved


def rebuild_text_encoder(saved: dict[str, Any], ctx: BuildContext | None = None) -> tuple[Any, Any]:
    """Recreate ``(tokenizer, encoder)`` from ``saved`` without training data; the encoder's weights
    are freshly initialised (the caller loads its state dict). A hub model's tokenizer is read again
    through ``resolve_hf`` (``MissingArtifactError`` when it has gone)."""
    from transformers import AutoConfig, AutoModel

    if saved["source"] == TINY:
        tokenizer = _fast_tokenizer(saved["tokenizer_json"])
    else:
        from benchmark.weights import resolve_hf
        tokenizer = load_tokenizer(resolve_hf(saved["source"]))
    if saved.get("extra_special_tokens"):
        tokenizer.add_special_tokens({"additional_special_tokens": list(EXTRA_SPECIAL_TOKENS)})
    cfg = dict(saved["encoder_config"])
    config = AutoConfig.for_model(cfg.pop("model_type"), **cfg)
    encoder = AutoModel.from_config(config)
    if encoder.get_input_embeddings().num_embeddings != config.vocab_size:  # pragma: no cover
        encoder.resize_token_embeddings(config.vocab_size)
    return tokenizer, encoder


def load_tokenizer(path: str) -> Any:
    """``AutoTokenizer`` from a local folder. A byte-level BPE tokenizer that marks a word after a
    space (RoBERTa's ``Ġ``) but was saved with ``add_prefix_space=False`` is loaded with it on, so that
    words read one by one (``is_split_into_words``) get the sub-words they have in running text."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    byte_level = backend is not None and "ByteLevel" in repr(backend.pre_tokenizer)
    if byte_level and getattr(tokenizer, "add_prefix_space", None) is False:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, add_prefix_space=True)
    return tokenizer


def load_pretrained(auto_cls: Any, path: str, dtype: torch.dtype | None = None) -> Any:
    """``auto_cls.from_pretrained`` from a local folder, weights cast to ``dtype`` (default: torch's
    default dtype, float32), whatever precision the checkpoint was stored in (fp16 included)."""
    dtype = dtype or torch.get_default_dtype()
    try:
        return auto_cls.from_pretrained(path, local_files_only=True, dtype=dtype)
    except TypeError:  # pragma: no cover - transformers 4.x spells it torch_dtype
        return auto_cls.from_pretrained(path, local_files_only=True, torch_dtype=dtype)


def _config_dict(encoder: Any) -> dict[str, Any]:
    d = encoder.config.to_dict()
    keep = {k: v for k, v in d.items() if not k.startswith("_") and k not in ("transformers_version", "dtype",
                                                                             "torch_dtype", "architectures")}
    return json.loads(json.dumps(keep, default=str))


def _max_length(requested: Any, encoder: Any) -> int:
    """The longest window: ``requested`` capped by the encoder's position limit. RoBERTa-family
    position ids start after the padding index, so those models hold ``padding_idx + 1`` fewer."""
    limit = int(getattr(encoder.config, "max_position_embeddings", 512))
    positions = getattr(getattr(encoder, "embeddings", None), "position_embeddings", None)
    if getattr(positions, "padding_idx", None) is not None:
        limit -= int(positions.padding_idx) + 1
    return min(limit, int(requested)) if requested else limit


def _add_extra_tokens(tokenizer: Any, encoder: Any) -> int:
    missing = [t for t in EXTRA_SPECIAL_TOKENS if t not in tokenizer.get_vocab()]
    tokenizer.add_special_tokens({"additional_special_tokens": list(EXTRA_SPECIAL_TOKENS)})
    if len(tokenizer) != encoder.get_input_embeddings().num_embeddings:
        try:  # new rows drawn from N(0, initializer_range), as transformers < 4.46 did for 2M-NER
            encoder.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        except TypeError:  # pragma: no cover - transformers < 4.46
            encoder.resize_token_embeddings(len(tokenizer))
    return len(missing)


# ---------------------------------------------------------------------------------------------
# Tiny WordPiece tokenizer (deterministic: the `tokenizers` trainer is not across processes)
# ---------------------------------------------------------------------------------------------

def _bert_pipeline():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    tok = Tokenizer(models.WordPiece({s: i for i, s in enumerate(SPECIALS)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                strip_accents=False, lowercase=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return tok


def _tiny_tokenizer_json(sentences: Sequence[Sequence[str]], vocab_size: int) -> str:
    """A cased WordPiece tokenizer (BERT normaliser and pre-tokeniser) serialised as JSON.

    Vocabulary: the five specials, every character seen (bare and ``##``), then the most frequent
    pre-tokens (ties broken alphabetically) up to ``vocab_size``. Same input -> same JSON.
    """
    from tokenizers import decoders, models, processors
    probe = _bert_pipeline()
    counts: Counter[str] = Counter()
    for tokens in sentences:
        for word in tokens:
            norm = probe.normalizer.normalize_str(word)
            counts.update(piece for piece, _ in probe.pre_tokenizer.pre_tokenize_str(norm))
    chars = sorted({c for w in counts for c in w})
    vocab: list[str] = list(SPECIALS) + chars + [f"##{c}" for c in chars]
    seen = set(vocab)
    for word, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if len(vocab) >= vocab_size:
            break
        if word not in seen:
            vocab.append(word)
            seen.add(word)
    tok = _bert_pipeline()
    tok.model = models.WordPiece({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]",
                                 max_input_chars_per_word=100)
    tok.decoder = decoders.WordPiece()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    for special in SPECIALS:
        tok.add_special_tokens([special])
    return tok.to_str()


def _fast_tokenizer(tok_json: str) -> Any:
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(tok_json), unk_token="[UNK]",
                                   pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")


# ---------------------------------------------------------------------------------------------
# Alignment
# ---------------------------------------------------------------------------------------------

WORD_GATHER = ("first", "authors_off_by_one")


def special_frame(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The special-token ids the tokenizer itself puts before and after one sequence: ``[CLS]`` /
    ``[SEP]`` for BERT, ``<s>`` / ``</s>`` for XLM-R, nothing for a tokenizer without a template.

    Read from the tokenizer's own output on a probe word: ``word_ids()`` (fast tokenizers: a special
    token has none) or ``build_inputs_with_special_tokens`` around a sentinel (slow ones). A fast
    tokenizer whose template adds nothing but that declares both a CLS and a SEP token is framed by
    them (as a slow tokenizer with those tokens frames a sequence, and as this aligner always did)."""
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(["a"], is_split_into_words=True, add_special_tokens=True)
        ids, words = list(enc["input_ids"]), enc.word_ids()
        inside = [i for i, w in enumerate(words) if w is not None]
        if inside:
            prefix, suffix = [int(t) for t in ids[: inside[0]]], [int(t) for t in ids[inside[-1] + 1:]]
            cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
            if not prefix and not suffix and cls is not None and sep is not None:
                return [int(cls)], [int(sep)]
            return prefix, suffix
    sentinel = -7
    framed = list(tokenizer.build_inputs_with_special_tokens([sentinel]))
    at = framed.index(sentinel)
    return [int(t) for t in framed[:at]], [int(t) for t in framed[at + 1:]]


class SubwordAligner:
    """Words -> wordpiece windows + a word -> wordpiece index (``gather`` rule).

    ``gather="first"`` (the paper, scheme B): a word is its first wordpiece.
    ``gather="authors_off_by_one"`` (wangdsh/MMNERD ``data.py``): the index is one position too
    early, so the first word of a window takes ``[CLS]`` and every later word takes the *last*
    wordpiece of the word before it.

    Each window is ``prefix + wordpieces + suffix``, the tokenizer's own special tokens around one
    sequence (``[CLS]`` / ``[SEP]`` for BERT, ``<s>`` / ``</s>`` for XLM-R, possibly none).

    ``aligner(list_of_word_lists)`` returns a dict of CPU tensors (B sentences, W = most words in a
    sentence, N >= B windows, L = longest window in wordpieces incl. special tokens, L <= max_length):

    * ``input_ids`` ``[N, L]`` long, ``attention_mask`` ``[N, L]`` long (1 on real wordpieces);
    * ``word_index`` ``[B, W]`` long: flat index ``window * L + position`` of each word's first
      wordpiece in the window it is read from (0 for padding words);
    * ``word_mask`` ``[B, W]`` bool, True on real words;
    * ``first_window`` ``[B]`` long: row of each sentence's first window (its [CLS], when the
      tokenizer has one, is ``input_ids[first_window[b], 0]``; use it to pick a per-sentence pooled vector).

    A sentence that fits in ``max_length`` is one window. A longer one is covered by windows of
    whole words that start every ``(1 - overlap) * capacity`` wordpieces or so; each word is read
    from the window where ``min(pieces to its left, pieces to its right)`` is largest. A word with
    more wordpieces than a window holds keeps only its first ``capacity`` (``max_length`` minus the
    special tokens). With ``authors_off_by_one`` and no prefix token, a window's first word takes its
    own first wordpiece.
    """

    def __init__(self, tokenizer: Any, max_length: int = 512, overlap: float = 0.5,
                 cache_size: int = 200_000, gather: str = "first") -> None:
        if gather not in WORD_GATHER:
            raise ConfigError(f"word_gather={gather!r}; expected one of {', '.join(WORD_GATHER)}")
        self.shift = 1 if gather == "authors_off_by_one" else 0
        self.tokenizer = tokenizer
        self.fast = bool(getattr(tokenizer, "is_fast", False))
        self.prefix, self.suffix = special_frame(tokenizer)
        if max_length < len(self.prefix) + len(self.suffix) + 1:
            raise ValueError("max_length must leave room for the special tokens and one wordpiece")
        self.max_length = int(max_length)
        self.capacity = self.max_length - len(self.prefix) - len(self.suffix)
        self.overlap = float(overlap)
        self.pad_id = int(tokenizer.pad_token_id or 0)
        unk = tokenizer.unk_token_id
        self.unk_id = int(unk if unk is not None else self.pad_id)  # stands for a word with no sub-word
        self.cache_size = cache_size
        self._cache: dict[Any, list[list[int]]] = {}

    def sentence_pieces(self, sentences: Sequence[Sequence[str]]) -> list[list[list[int]]]:
        """Per sentence, the sub-word ids of each word; never empty (``unk_id`` instead), at most
        ``capacity``. A fast tokenizer reads each sentence as pre-split words (``is_split_into_words``)
        and its own ``word_ids()`` say which sub-word belongs to which word (so word-start markers,
        ``▁`` or ``Ġ``, come out as the tokenizer puts them); a slow one tokenises each word alone."""
        keys = [tuple(words) for words in sentences]
        todo = list(dict.fromkeys(k for k in keys if k not in self._cache))
        if todo:
            if len(self._cache) + len(todo) > self.cache_size:
                self._cache.clear()
            for key, pieces in zip(todo, self._tokenize(todo)):
                self._cache[key] = [p[: self.capacity] or [self.unk_id] for p in pieces]
        return [self._cache[k] for k in keys]

    def _tokenize(self, sentences: list[tuple[str, ...]]) -> list[list[list[int]]]:
        if not self.fast:
            words = sorted({w for s in sentences for w in s})
            ids = dict(zip(words, self.tokenizer(words, add_special_tokens=False)["input_ids"])) if words else {}
            return [[list(ids[w]) for w in s] for s in sentences]
        enc = self.tokenizer([list(s) for s in sentences], is_split_into_words=True, add_special_tokens=False)
        out = []
        for i, words in enumerate(sentences):
            pieces: list[list[int]] = [[] for _ in words]
            for token, word in zip(enc["input_ids"][i], enc.word_ids(i)):
                if word is not None:
                    pieces[word].append(int(token))
            out.append(pieces)
        return out

    def word_pieces(self, words: Sequence[str]) -> list[list[int]]:
        """Sub-word ids of each word of one sentence (see ``sentence_pieces``)."""
        return self.sentence_pieces([words])[0]

    def windows(self, sizes: Sequence[int]) -> tuple[list[tuple[int, int]], list[int]]:
        """Cover words with piece counts ``sizes`` by windows ``(start, end)`` of at most
        ``capacity`` pieces; returns the windows and, per word, the window it is read from."""
        n = len(sizes)
        if sum(sizes) <= self.capacity:
            return [(0, n)], [0] * n
        spans: list[tuple[int, int]] = []
        keep = int(self.capacity * self.overlap)
        start = 0
        while True:
            end, used = start, 0
            while end < n and used + sizes[end] <= self.capacity:
                used += sizes[end]
                end += 1
            spans.append((start, end))
            if end >= n:
                break
            nxt, tail = end, 0  # step back while the overlap stays within `keep` pieces
            while nxt - 1 > start and tail + sizes[nxt - 1] <= keep:
                nxt -= 1
                tail += sizes[nxt]
            start = nxt
        owner, best = [0] * n, [-1] * n
        for w_id, (s, e) in enumerate(spans):
            left = 0
            total = sum(sizes[s:e])
            for i in range(s, e):
                # context that the window cuts off; a window edge at the sentence edge cuts nothing
                lft = left if s > 0 else 1 << 30
                rgt = total - left - sizes[i] if e < n else 1 << 30
                context = min(lft, rgt)
                if context > best[i]:
                    best[i], owner[i] = context, w_id
                left += sizes[i]
        return spans, owner

    def __call__(self, sentences: Sequence[Sequence[str]]) -> dict[str, torch.Tensor]:
        rows: list[list[int]] = []
        first_window: list[int] = []
        positions: list[list[tuple[int, int]]] = []  # per sentence, per word: (row, position)
        for pieces in self.sentence_pieces(sentences):
            spans, owner = self.windows([len(p) for p in pieces])
            base = len(rows)
            first_window.append(base)
            where: list[tuple[int, int]] = [(0, 0)] * len(pieces)
            for w_id, (s, e) in enumerate(spans):
                ids = list(self.prefix)
                for i in range(s, e):
                    if owner[i] == w_id:
                        where[i] = (base + w_id, max(0, len(ids) - self.shift))
                    ids.extend(pieces[i])
                ids.extend(self.suffix)
                rows.append(ids)
            positions.append(where)
        length = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), length), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(rows), length), dtype=torch.long)
        for r, ids in enumerate(rows):
            input_ids[r, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
            attention[r, : len(ids)] = 1
        n_words = max((len(p) for p in positions), default=0) or 1
        word_index = torch.zeros((len(sentences), n_words), dtype=torch.long)
        word_mask = torch.zeros((len(sentences), n_words), dtype=torch.bool)
        for b, where in enumerate(positions):
            if where:
                word_index[b, : len(where)] = torch.as_tensor([r * length + p for r, p in where])
                word_mask[b, : len(where)] = True
        return {"input_ids": input_ids, "attention_mask": attention, "word_index": word_index,
                "word_mask": word_mask, "first_window": torch.as_tensor(first_window, dtype=torch.long)}


def linear_warmup_decay(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int
                        ) -> torch.optim.lr_scheduler.LambdaLR:
    """The suite's one fine-tuning schedule, stepped per batch: lr rises linearly from 0 over
    ``warmup_steps``, then falls linearly to 0 at ``total_steps`` (``transformers``'
    ``get_linear_schedule_with_warmup``, which the 2M-NER authors' code uses)."""
    warmup, total = max(0, int(warmup_steps)), max(1, int(total_steps))

    def factor(step: int) -> float:
        if step < warmup:
            return step / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def gather_words(hidden: torch.Tensor, word_index: torch.Tensor) -> torch.Tensor:
    """Word-level states ``[B, W, H]`` from wordpiece states ``hidden`` ``[N, L, H]`` and the
    aligner's ``word_index`` ``[B, W]`` (padding words get window 0's [CLS] state; mask them)."""
    n, length, size = hidden.shape
    flat = hidden.reshape(n * length, size)
    return flat.index_select(0, word_index.reshape(-1)).reshape(*word_index.shape, size)


def encode_words(encoder: Any, batch: dict[str, torch.Tensor], layer: int | None = None
                 ) -> tuple[torch.Tensor, Any]:
    """Run ``encoder`` on the aligner's windows and gather word states.

    Returns ``(words [B, W, H], outputs)``; ``layer`` picks ``hidden_states[layer]`` (0 = the
    embeddings) instead of the last layer. ``outputs.pooler_output`` is per window ``[N, H]``:
    index it with ``batch["first_window"]`` for one vector per sentence.
    """
    outputs = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                      output_hidden_states=layer is not None)
    hidden = outputs.last_hidden_state if layer is None else outputs.hidden_states[layer]
    return gather_words(hidden, batch["word_index"]), outputs

"""Reading MMNERD / CoNLL files and assembling language settings.

The MMNERD format (authors' ``dataset/data.py``): each sentence starts with ``IMGID:<id>``, then one
``token<TAB>label`` line per word, and ends with a blank line. Plain CoNLL files (no ``IMGID`` line,
whitespace-separated columns, first = token, last = label, ``-DOCSTART-`` skipped) are read too.

Directory layout: ``<root>/train_valid_test_<lang>/{train,valid,test}_conll_format.txt``.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from benchmark.errors import ConfigError, DataError

LANGUAGES: tuple[str, ...] = ("en", "fr", "es", "de")
LANGUAGE_NAMES: dict[str, str] = {"en": "English", "fr": "French", "es": "Spanish", "de": "German", "all": "All"}
SPLITS: tuple[str, ...] = ("train", "dev", "test")
SPLIT_FILES: dict[str, str] = {"train": "train", "dev": "valid", "test": "test"}
ENTITY_TYPES: tuple[str, ...] = ("PER", "LOC", "ORG", "MISC")
TAG_RE = re.compile(r"^(O|[BI]-[^\s]+)$")
TWITTER_ID_RE = re.compile(r"^\d{2}_\d{2}_\d+(_\d+)?$")


@dataclass(frozen=True)
class Sentence:
    """One annotated sentence. ``sid`` is ``file:line`` of its first token, for messages."""

    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    image_id: str | None = None
    language: str = "xx"
    source: str = "unknown"
    sid: str = ""

    def __len__(self) -> int:
        return len(self.tokens)


def source_of(image_id: str | None) -> str:
    """Where a sentence came from, guessed from its image id (the paper's RQ4 breakdown).

    Twitter-2017 ids look like ``16_05_01_360`` or ``17_06_4705``; mBART50-translated CC12M captions
    contain ``---``.
    """
    if not image_id:
        return "unknown"
    if "---" in image_id:
        return "cc12m-mbart50"
    if TWITTER_ID_RE.match(image_id):
        return "twitter2017"
    return "unknown"


@dataclass
class ReadReport:
    """Counts and warnings gathered while reading one file."""

    path: str
    sentences: int = 0
    tokens: int = 0
    entities: int = 0
    warnings: list[str] = field(default_factory=list)


def count_entities(tags_list: Iterable[Sequence[str]]) -> dict[str, int]:
    """Entities per type under conlleval chunking (a B- or a type change starts an entity)."""
    counts = {t: 0 for t in ENTITY_TYPES}
    for tags in tags_list:
        prev = None
        for tag in tags:
            if tag == "O":
                prev = None
                continue
            prefix, etype = tag.split("-", 1)
            if prefix == "B" or prev != etype:
                counts[etype] = counts.get(etype, 0) + 1
            prev = etype
    return counts


def _entities(tags: Sequence[str]) -> int:
    return sum(count_entities([tags]).values())


def read_conll(path: str | os.PathLike, language: str = "xx",
               report: ReadReport | None = None) -> list[Sentence]:
    """Read an MMNERD or plain CoNLL file into sentences.

    Raises ``DataError`` (``FILE:LINE: message``) on undecodable bytes, a wrong column count, a tag
    that is not ``O``/``B-X``/``I-X``, or a file without sentences. An ``I-X`` that does not continue
    an ``X`` entity is accepted and recorded as a warning in ``report``.
    """
    path = Path(path)
    report = report if report is not None else ReadReport(str(path))
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(str(path), None, f"cannot read file ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(str(path), line, f"undecodable bytes (not UTF-8) at byte {exc.start}") from None
    if text.startswith("\ufeff"):
        text = text[1:]

    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    image_id: str | None = None
    start_line = 0
    mmnerd_format: bool | None = None

    def close() -> None:
        nonlocal tokens, tags, image_id
        if tokens:
            sentences.append(Sentence(tuple(tokens), tuple(tags), image_id, language,
                                      source_of(image_id), f"{path}:{start_line}"))
            report.tokens += len(tokens)
            report.entities += _entities(tags)
        elif image_id is not None:
            report.warnings.append(f"{path}:{start_line}: IMGID:{image_id} has no tokens (skipped)")
        tokens, tags, image_id = [], [], None

    prev_tag = "O"
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.rstrip("\r\n")
        if not line.strip():
            close()
            prev_tag = "O"
            continue
        if line.startswith("IMGID:"):
            close()
            image_id = line[len("IMGID:"):].strip()
            start_line = lineno
            mmnerd_format = True
            prev_tag = "O"
            continue
        if mmnerd_format is None:
            mmnerd_format = "\t" in line
        if "\t" in line and mmnerd_format:
            cols = line.split("\t")
            if len(cols) != 2:
                raise DataError(str(path), lineno,
                                f"expected 2 tab-separated columns (token, label), found {len(cols)}")
        else:
            cols = line.split()
            if len(cols) < 2:
                raise DataError(str(path), lineno,
                                f"expected at least 2 columns (token ... label), found {len(cols)}")
        token, tag = cols[0], cols[-1].strip()
        if token == "-DOCSTART-":
            continue
        if not token.strip():
            raise DataError(str(path), lineno, "empty token")
        if not TAG_RE.match(tag):
            raise DataError(str(path), lineno, f"bad tag {tag!r}: expected O, B-<type> or I-<type>")
        if tag.startswith("I-") and (prev_tag == "O" or prev_tag[2:] != tag[2:]):
            report.warnings.append(f"{path}:{lineno}: {tag} does not continue a {tag[2:]} entity")
        if not tokens:
            start_line = start_line if image_id is not None else lineno
        tokens.append(token)
        tags.append(tag)
        prev_tag = tag
    close()
    if not sentences:
        raise DataError(str(path), None, "no sentences found")
    report.sentences = len(sentences)
    return sentences


# --------------------------------------------------------------------------------------------
# Corpus layout
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Corpus:
    """A dataset root in the authors' layout, with an optional image folder."""

    root: Path
    image_dir: Path | None = None
    kind: str = "mmnerd"  # "mmnerd" or "fallback"

    def split_path(self, language: str, split: str) -> Path:
        return self.root / f"train_valid_test_{language}" / f"{SPLIT_FILES[split]}_conll_format.txt"

    def available_languages(self) -> tuple[str, ...]:
        return tuple(lang for lang in LANGUAGES
                     if all(self.split_path(lang, s).is_file() for s in SPLITS))

    def has_language(self, language: str) -> bool:
        langs = expand_languages(language)
        return all(lang in self.available_languages() for lang in langs)

    def load(self, languages: Iterable[str], split: str) -> list[Sentence]:
        """Sentences of ``split`` for the union of ``languages`` (``all`` = en+fr+es+de)."""
        out: list[Sentence] = []
        for lang in _expand_many(languages):
            path = self.split_path(lang, split)
            if not path.is_file():
                raise DataError(str(path), None,
                                f"missing: language {lang!r} is not in {self.root} "
                                "(MMNERD fr/es/de are shared by the authors on request)")
            out.extend(read_conll(path, language=lang))
        return out

    def fingerprint(self, languages: Iterable[str]) -> str:
        """Hash of the text files a setting reads (content, not paths)."""
        h = hashlib.sha256()
        for lang in _expand_many(languages):
            for split in SPLITS:
                path = self.split_path(lang, split)
                h.update(f"{lang}/{split}:".encode())
                h.update(_file_digest(path).encode())
        return h.hexdigest()[:16]


_DIGEST_CACHE: dict[tuple[str, float, int], str] = {}


def _file_digest(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime, st.st_size)
    if key not in _DIGEST_CACHE:
        _DIGEST_CACHE[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _DIGEST_CACHE[key]


def expand_languages(language: str) -> tuple[str, ...]:
    """``all`` -> the four languages; ``en+de`` -> (en, de); a single code -> itself."""
    if language == "all":
        return LANGUAGES
    parts = tuple(p for p in re.split(r"[+,&]", language) if p)
    for p in parts:
        if p not in LANGUAGES:
            raise ConfigError(f"unknown language {p!r}; expected one of {', '.join(LANGUAGES)} or 'all'")
    return parts


def _expand_many(languages: Iterable[str]) -> tuple[str, ...]:
    seen: list[str] = []
    for lang in languages:
        for code in expand_languages(lang):
            if code not in seen:
                seen.append(code)
    return tuple(seen)


def find_corpus(data_dir: str | os.PathLike | None = None,
                image_dir: str | os.PathLike | None = None) -> Corpus | None:
    """The MMNERD root from ``data_dir`` or ``$MMNERD_DIR``; None when neither has any language."""
    candidates = [data_dir] if data_dir else [os.environ.get("MMNERD_DIR")]
    for cand in candidates:
        if not cand:
            continue
        root = Path(cand).expanduser()
        if (root / "train_valid_test").is_dir():  # the authors' repo layout one level up
            root = root / "train_valid_test"
        kind = "fallback" if (root / "FALLBACK_CORPUS").is_file() else "mmnerd"
        corpus = Corpus(root, _image_dir(root, image_dir), kind)
        if corpus.available_languages():
            return corpus
        if data_dir:
            raise ConfigError(f"{root}: no train_valid_test_<lang>/{{train,valid,test}}_conll_format.txt found")
    return None


def _image_dir(root: Path, image_dir: str | os.PathLike | None) -> Path | None:
    if image_dir:
        return Path(image_dir).expanduser()
    env = os.environ.get("MMNERD_IMAGE_DIR")
    if env:
        return Path(env).expanduser()
    for name in ("images", "twitter_and_image_caption_images"):
        if (root / name).is_dir():
            return root / name
    return None


def resolve_corpus(data_dir: str | os.PathLike | None = None,
                   image_dir: str | os.PathLike | None = None,
                   echo=print) -> Corpus:
    """MMNERD if found, else the built-in fallback corpus (with a notice)."""
    corpus = find_corpus(data_dir, image_dir)
    if corpus is not None:
        return corpus
    from benchmark.corpora.builtin import ensure_fallback_corpus
    corpus = ensure_fallback_corpus()
    echo(f"notice: MMNERD not found (set MMNERD_DIR or --data-dir); using the built-in fallback corpus "
         f"at {corpus.root}")
    return corpus

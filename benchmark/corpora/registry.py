"""The corpus registry: a corpus is data (``CorpusEntry``), registered like a model.

An entry says where a corpus's files lie (its ``Layout``), which languages and entity types it has,
how its tags are written (scheme, label map), where its images are by default and whom to cite.
``benchmark.corpora.reader.Corpus`` reads any registered corpus; ``--corpus NAME`` picks one.

Layouts (``{lang}`` = language code, ``{split}`` = the split's file name, the first that exists):

- ``MMNERD_LAYOUT``: ``<root>/train_valid_test_<lang>/{train,valid,test}_conll_format.txt``
- ``CONLL_LAYOUT``: ``<root>/{train,dev|valid,test}.txt`` (one language)
- ``CONLL_PER_LANGUAGE_LAYOUT``: ``<root>/<lang>/{train,dev|valid,test}.txt``

Adding a corpus in one of these layouts = one ``CorpusEntry`` appended to ``_ENTRIES`` + one test.
This module imports no reader or generator code (the built-in corpus's generator is named by a
``"module:function"`` string and loaded only by ``benchmark.corpora.resolve``).
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from benchmark.corpora.labels import ENTITY_TYPES, SCHEMES, check_label_map
from benchmark.errors import ConfigError

SPLITS: tuple[str, ...] = ("train", "dev", "test")


@dataclass(frozen=True)
class Layout:
    """Where a split's file lies: ``pattern`` with ``{lang}`` and ``{split}``; split file names by split."""

    name: str
    pattern: str
    split_names: Mapping[str, tuple[str, ...]]

    def candidates(self, root: Path, language: str, split: str) -> list[Path]:
        return [root / self.pattern.format(lang=language, split=name) for name in self.split_names[split]]

    def path(self, root: Path, language: str, split: str) -> Path:
        """The first candidate file that exists, else the first candidate (for messages)."""
        options = self.candidates(root, language, split)
        return next((p for p in options if p.is_file()), options[0])

    @property
    def per_language(self) -> bool:
        return "{lang}" in self.pattern

    def describe(self) -> str:
        names = ",".join("|".join(self.split_names[s]) for s in SPLITS)
        return self.pattern.replace("{lang}", "<lang>").replace("{split}", "{" + names + "}")


MMNERD_LAYOUT = Layout("mmnerd", "train_valid_test_{lang}/{split}_conll_format.txt",
                       {"train": ("train",), "dev": ("valid",), "test": ("test",)})
CONLL_LAYOUT = Layout("conll", "{split}.txt", {"train": ("train",), "dev": ("dev", "valid"), "test": ("test",)})
CONLL_PER_LANGUAGE_LAYOUT = Layout("conll-per-language", "{lang}/{split}.txt",
                                   {"train": ("train",), "dev": ("dev", "valid"), "test": ("test",)})


@dataclass(frozen=True)
class Source:
    """Where a public corpus can be downloaded (``bench data fetch``): ``base_url`` at a pinned
    ``revision`` (``{revision}`` in the URL), and the SHA-256 of every file, by its path under the
    corpus root (the layout's path); a file's URL is ``base_url/remote_prefix/<path>``."""

    base_url: str
    revision: str
    files: Mapping[str, str]
    remote_prefix: str = ""

    def url(self, path: str, base_url: str | None = None) -> str:
        base = (base_url or self.base_url.format(revision=self.revision)).rstrip("/")
        return "/".join(p for p in (base, self.remote_prefix.strip("/"), path) if p)


@dataclass(frozen=True)
class CorpusEntry:
    """One corpus: name (``--corpus``), display name (tables), languages, layout, types, tags, images.

    ``label_map`` renames the file's types to ``entity_types`` (target ``O`` drops a type);
    ``tag_scheme`` is how the files are written (read into IOB2); ``image_dirs`` are tried in order
    under the root (``image_env`` overrides them); ``data_env`` names the environment variable that
    points at the root; ``marker`` is a file whose presence in a root identifies this corpus;
    ``generator`` (``"module:function"`` returning a ``Corpus``) makes a corpus that ships with the suite;
    ``note`` is printed under every table of its results; ``paper_values`` says whether the paper's
    MMNERD figures are printed beside its statistics (MMNERD and its generated stand-in).
    """

    name: str
    display: str
    languages: tuple[str, ...]
    layout: Layout
    entity_types: tuple[str, ...] = ENTITY_TYPES
    label_map: Mapping[str, str] = field(default_factory=dict)
    tag_scheme: str = "iob2"
    image_dirs: tuple[str, ...] = ("images",)
    image_env: str | None = None
    data_env: str | None = None
    citation: str = ""
    note: str = ""
    marker: str | None = None
    generator: str | None = None
    paper_values: bool = False
    source: Source | None = None  # public files `bench data fetch NAME` downloads and checks

    def check(self) -> None:
        """Raise ``ConfigError`` on an inconsistent entry."""
        if not self.name or self.name != self.name.strip().lower() or " " in self.name:
            raise ConfigError(f"corpus name {self.name!r}: use a lower-case name without spaces")
        if not self.languages:
            raise ConfigError(f"corpus {self.name}: no languages")
        if not self.layout.per_language and len(self.languages) != 1:
            raise ConfigError(f"corpus {self.name}: layout {self.layout.name} holds one language, "
                              f"{len(self.languages)} declared")
        if self.tag_scheme not in SCHEMES:
            raise ConfigError(f"corpus {self.name}: tag scheme {self.tag_scheme!r} not one of {', '.join(SCHEMES)}")
        check_label_map(self.label_map, self.entity_types, self.name)


_ENTRIES: list[CorpusEntry] = [
    CorpusEntry(
        name="mmnerd", display="MMNERD", languages=("en", "fr", "es", "de"), layout=MMNERD_LAYOUT,
        image_dirs=("images", "twitter_and_image_caption_images"), image_env="MMNERD_IMAGE_DIR",
        data_env="MMNERD_DIR", paper_values=True,
        source=Source(  # the public English text; fr/es/de and the images are shared on request
            base_url="https://raw.githubusercontent.com/wangdsh/MMNERD/{revision}",
            revision="393a5890754e10d47e67fa34444f24e1eef7066b", remote_prefix="train_valid_test",
            files={"train_valid_test_en/train_conll_format.txt": "09460256b558b0f6a828a495dbd113c6e278546d271150d01118b41aade2536f",
                   "train_valid_test_en/valid_conll_format.txt": "58185cc1f77ea7f590c1d632c102b1cc7727013a637560dfc9d4eca0128241fd",
                   "train_valid_test_en/test_conll_format.txt": "187de233e976ee35b84c890eddfc7abe7a4c9b346afae7a113e0216c2f574608"}),
        citation="Wang et al. 2024, 2M-NER: Contrastive Learning for Multilingual and Multimodal NER "
                 "with Language and Modal Fusion (github.com/wangdsh/MMNERD)"),
    CorpusEntry(
        name="fallback", display="built-in synthetic corpus", languages=("en", "fr", "es", "de"),
        layout=MMNERD_LAYOUT, citation="mmner-bench (generated; benchmark/corpora/fallback.py)",
        note="Data is the built-in synthetic fallback corpus, NOT MMNERD: numbers are not comparable to the paper.",
        marker="FALLBACK_CORPUS", generator="benchmark.corpora.fallback:ensure_fallback_corpus", paper_values=True),
    CorpusEntry(
        name="twitter2017", display="Twitter-2017", languages=("en",), layout=CONLL_LAYOUT,
        label_map={"OTHER": "MISC"}, image_dirs=("images", "twitter2017_images"),
        citation="Lu et al. 2018, Visual Attention Model for Name Tagging in Multimodal Social Media (ACL)",
        note="Data is Twitter-2017 (OTHER read as MISC), not MMNERD: the paper's values are for MMNERD."),
    CorpusEntry(
        name="twitter2015", display="Twitter-2015", languages=("en",), layout=CONLL_LAYOUT,
        label_map={"OTHER": "MISC"}, image_dirs=("images", "twitter2015_images"),
        citation="Zhang et al. 2018, Adaptive Co-attention Network for Named Entity Recognition in Tweets (AAAI)",
        note="Data is Twitter-2015 (OTHER read as MISC), not MMNERD: the paper's values are for MMNERD."),
]

CORPORA: dict[str, CorpusEntry] = {e.name: e for e in _ENTRIES}  # a test checks every entry


def register_corpus(entry: CorpusEntry) -> CorpusEntry:
    """Check ``entry`` and add it to ``CORPORA`` (a name may be registered once)."""
    entry.check()
    if entry.name in CORPORA and CORPORA[entry.name] != entry:
        raise ConfigError(f"corpus {entry.name!r} is already registered")
    CORPORA[entry.name] = entry
    return entry


DEFAULT_CORPUS = "mmnerd"
FALLBACK_CORPUS = "fallback"


def get_corpus_entry(name: str) -> CorpusEntry:
    """The entry named ``name`` (``ConfigError`` with close matches otherwise)."""
    if name in CORPORA:
        return CORPORA[name]
    close = difflib.get_close_matches(name, list(CORPORA), n=2)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    raise ConfigError(f"unknown corpus {name!r}{hint}; registered: {', '.join(CORPORA)}")


def corpus_display(name: str | None) -> str:
    """The display name of a registered corpus; an unregistered name is shown as it is."""
    if name is None:
        return "none"
    entry = CORPORA.get(name)
    return entry.display if entry else name


def corpus_note(name: str | None) -> str:
    entry = CORPORA.get(name) if name else None
    return entry.note if entry else ""

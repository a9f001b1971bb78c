"""Reading MMNERD / CoNLL files and assembling language settings.

The MMNERD format (authors' ``dataset/data.py``): each sentence starts with ``IMGID:<id>``, then one
``token<TAB>label`` line per word, and ends with a blank line. Plain CoNLL files (no ``IMGID`` line,
first column = token, last = label, ``-DOCSTART-`` skipped) are read too.

Reading rules (the standard multimodal NER sets, Twitter-2015/2017, are written this way too):

- lines end at ``\n`` or ``\r\n`` only, so a token may hold U+2028, U+0085, ``\x0b``, ``\x0c``, ...;
- columns are split on TAB; only a file without any TAB is split on runs of ASCII spaces, so a
  token may be NBSP, zero-width, or (in a TAB file) contain a space;
- NUL, an empty ``IMGID:`` and an image id that is a path (``../x``, ``/x``) are errors at their line;
- in a file with ``IMGID`` lines, a sentence without one is an error at its first line; a file
  without any is read as text only (``bench validate`` notes it);
- a sentence ends at an empty line; a whitespace-only line between two token lines is an error at
  its line (it would split the sentence silently); elsewhere it counts as empty;
- files are streamed (two passes, block by block): memory does not grow with the file;
- tags are read in the declared scheme (IOB2 by default; IOB1 and BIOES converted to IOB2), entity
  types through the label map, and must be one of the corpus's types (``benchmark.corpora.labels``).

Which files form a corpus is the corpus entry's ``Layout`` (``benchmark.corpora.registry``).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

from benchmark.corpora.labels import ENTITY_TYPES, TagConverter, TagError
from benchmark.corpora.registry import CORPORA, SPLITS, CorpusEntry, get_corpus_entry
from benchmark.errors import ConfigError, DataError
from benchmark.types import Sentence

__all__ = ["ENTITY_TYPES", "SPLITS", "LANGUAGES", "Sentence", "ReadReport", "read_conll", "iter_conll", "Corpus",
           "count_entities", "expand_languages", "find_corpus", "given_image_dir", "image_id_problem", "source_of"]

LANGUAGES: tuple[str, ...] = ("en", "fr", "es", "de")  # MMNERD's; a corpus entry lists its own
LANGUAGE_NAMES: dict[str, str] = {"en": "English", "fr": "French", "es": "Spanish", "de": "German", "all": "All"}
TWITTER_ID_RE = re.compile(r"^\d{2}_\d{2}_\d+(_\d+)?$")
_SPACES = re.compile(" +")


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


def image_id_problem(image_id: str) -> str | None:
    """Why ``image_id`` cannot name a file inside the image folder, or None when it can.

    An id is a file name: not empty, no NUL, no path separator, no drive (``C:``), not ``.``/``..``.
    Colons elsewhere are kept (MMNERD has ids like ``03736561---2017%2010:48:00``).
    """
    if not image_id:
        return "is empty"
    if "\0" in image_id:
        return "contains a NUL byte"
    if "/" in image_id or "\\" in image_id or re.match(r"^[A-Za-z]:", image_id):
        return "is a path, not a file name (it would leave the image folder)"
    if image_id in (".", ".."):
        return "would leave the image folder"
    return None


@dataclass
class ReadReport:
    """Counts and warnings gathered while reading one file (the first ``KEPT_WARNINGS`` kept verbatim)."""

    KEPT_WARNINGS = 1000  # a file with millions of orphan tags must not hold millions of strings

    path: str
    sentences: int = 0
    tokens: int = 0
    entities: int = 0
    orphans: int = 0  # I- (or E-) tags that continue no entity, kept and counted
    warnings: list[str] = field(default_factory=list)
    warning_count: int = 0  # every warning, also those not kept in ``warnings``
    notes: list[str] = field(default_factory=list)  # hints that are not problems (e.g. "looks like IOB1")

    def warn(self, message: str) -> None:
        self.warning_count += 1
        if len(self.warnings) < self.KEPT_WARNINGS:
            self.warnings.append(message)


def count_entities(tags_list: Iterable[Sequence[str]],
                   entity_types: Sequence[str] = ENTITY_TYPES) -> dict[str, int]:
    """Entities per type under conlleval chunking (a B- or a type change starts an entity)."""
    counts = {t: 0 for t in entity_types}
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
    """``sum(count_entities([tags]).values())`` without the per-type dict (once per sentence read)."""
    n, prev = 0, None
    for tag in tags:
        if tag == "O":
            prev = None
            continue
        etype = tag[2:]
        if tag[0] == "B" or prev != etype:
            n += 1
        prev = etype
    return n


_BLOCK = 1 << 18  # bytes read at a time: memory stays flat whatever the file's size


def _pieces(path: Path) -> Iterator[tuple[int, bytes]]:
    """``(byte offset, block)`` of ``path``: blocks of whole lines (a UTF-8 character never spans two)."""
    try:
        with path.open("rb") as fh:
            offset, rest = 0, b""
            while True:
                block = fh.read(_BLOCK)
                if not block:
                    if rest:
                        yield offset, rest
                    return
                block = rest + block
                cut = block.rfind(b"\n") + 1
                if cut:
                    yield offset, block[:cut]
                    offset += cut
                rest = block[cut:]
    except OSError as exc:
        raise DataError(str(path), None, f"cannot read file ({exc.strerror or exc})") from None


def _decoded(path: Path) -> Iterator[tuple[int, str]]:
    """``(number of the first line, text)`` per block, BOM dropped; undecodable bytes: DataError at their line."""
    line = 1
    for offset, raw in _pieces(path):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(str(path), line + raw[: exc.start].count(b"\n"),
                            f"undecodable bytes (not UTF-8) at byte {offset + exc.start}") from None
        if offset == 0 and text.startswith("\ufeff"):
            text = text[1:]
        yield line, text
        line += text.count("\n")


def _scan(path: Path) -> tuple[bool, bool]:
    """First pass (constant memory): whether the file has a TAB and an ``IMGID:`` line.

    Undecodable bytes anywhere are reported before a NUL byte, and both before any other error.
    """
    tabbed = imgid = False
    nul: int | None = None
    for line, text in _decoded(path):
        tabbed = tabbed or "\t" in text
        imgid = imgid or text.startswith("IMGID:") or "\nIMGID:" in text
        if nul is None and "\0" in text:
            nul = line + text[: text.index("\0")].count("\n")
    if nul is not None:
        raise DataError(str(path), nul, "NUL byte (a binary or corrupted file?)")
    return tabbed, imgid


def _lines(path: Path) -> Iterator[str]:
    """The file's lines split at ``\\n`` only (U+2028, U+0085, \\x0b, \\x0c, \\x1c-\\x1e do not end a line),
    then one final empty line (the end of the file ends a sentence)."""
    for _, text in _decoded(path):
        lines = text.split("\n")
        if text.endswith("\n"):
            lines.pop()
        yield from lines
    yield ""


def read_conll(path: str | os.PathLike, language: str = "xx", report: ReadReport | None = None,
               scheme: str = "iob2", label_map: Mapping[str, str] | None = None,
               entity_types: Sequence[str] | None = ENTITY_TYPES) -> list[Sentence]:
    """Read an MMNERD or plain CoNLL file into sentences with IOB2 tags (``iter_conll`` as a list)."""
    return list(iter_conll(path, language, report, scheme, label_map, entity_types))


def iter_conll(path: str | os.PathLike, language: str = "xx", report: ReadReport | None = None,
               scheme: str = "iob2", label_map: Mapping[str, str] | None = None,
               entity_types: Sequence[str] | None = ENTITY_TYPES) -> Iterator[Sentence]:
    """Stream the sentences (IOB2 tags) of an MMNERD or plain CoNLL file, in constant memory.

    Raises ``DataError`` (``FILE:LINE: message``) on undecodable bytes, NUL, a stray carriage
    return, an empty or unsafe image id, a wrong column count, an empty token, a tag the declared
    ``scheme`` does not allow, an entity type not in ``entity_types`` after ``label_map`` (None =
    any type), or a file without sentences. An orphan ``I-X`` is accepted and recorded as a warning.
    The file is read twice, block by block: once for the whole-file facts (TAB or spaces, encoding,
    NUL), once for the sentences; counts go to ``report`` as they are read.
    """
    path = Path(path)
    report = report if report is not None else ReadReport(str(path))
    tabbed, has_imgid = _scan(path)  # columns: TAB; runs of ASCII spaces only in a file without any TAB
    converter = TagConverter(scheme, entity_types, label_map)

    tokens: list[str] = []
    tags: list[str] = []
    image_id: str | None = None
    start_line = 0
    imgid_format = False
    b_tags = 0
    blank_in_sentence: int | None = None  # a whitespace-only line that ended a sentence: an error if one continues

    def close() -> Sentence | None:
        nonlocal tokens, tags, image_id
        done = None
        if tokens:
            done = Sentence(tuple(tokens), tuple(tags), image_id, language, source_of(image_id),
                            f"{path}:{start_line}")
            report.sentences += 1
            report.tokens += len(tokens)
            report.entities += _entities(tags)
        elif image_id is not None:
            report.warn(f"{path}:{start_line}: IMGID:{image_id} has no tokens (skipped)")
        tokens, tags, image_id = [], [], None
        converter.reset()
        return done

    for lineno, line in enumerate(_lines(path), start=1):
        if line.endswith("\r"):
            line = line[:-1]
        if "\r" in line:
            raise DataError(str(path), lineno, "carriage return inside a line (lines end at \\n or \\r\\n)")
        if not line.strip(" \t"):
            blank_in_sentence = lineno if line and tokens else None
            if (done := close()) is not None:
                yield done
            continue
        if line.startswith("IMGID:"):
            blank_in_sentence = None
            if (done := close()) is not None:
                yield done
            image_id = line[len("IMGID:"):].strip(" \t")
            problem = image_id_problem(image_id)
            if problem:
                raise DataError(str(path), lineno, f"image id {line[len('IMGID:'):]!r} {problem}")
            start_line = lineno
            imgid_format = True
            continue
        if blank_in_sentence is not None:
            raise DataError(str(path), blank_in_sentence, "whitespace-only line inside a sentence (a sentence "
                            "ends at an empty line: delete the spaces, or the line)")
        if tabbed:
            cols = line.split("\t")
            if imgid_format and len(cols) != 2:
                raise DataError(str(path), lineno,
                                f"expected 2 tab-separated columns (token, label), found {len(cols)}")
            if len(cols) < 2:
                raise DataError(str(path), lineno,
                                "expected at least 2 tab-separated columns (token ... label), found 1")
            token, tag = cols[0].strip(" "), cols[-1].strip(" ")
        else:
            cols = _SPACES.split(line.strip(" "))
            if len(cols) < 2:
                raise DataError(str(path), lineno,
                                f"expected at least 2 columns (token ... label), found {len(cols)}")
            token, tag = cols[0], cols[-1]
        if token == "-DOCSTART-":
            continue
        if not token:
            raise DataError(str(path), lineno, "empty token")
        try:
            iob2, orphan = converter.convert(tag)
        except TagError as exc:
            raise DataError(str(path), lineno, str(exc)) from None
        if orphan:
            report.orphans += 1
            report.warn(f"{path}:{lineno}: {tag} does not continue a {iob2[2:]} entity")
        b_tags += iob2.startswith("B-")
        if not tokens and image_id is None:
            if has_imgid:
                raise DataError(str(path), lineno, "sentence without an IMGID line (the file's other sentences "
                                "start with one)")
            start_line = lineno
        tokens.append(token)
        tags.append(iob2)
    if not report.sentences:
        raise DataError(str(path), None, "no sentences found")
    if not has_imgid:
        report.notes.append(f"{path}: no IMGID lines: no sentence names an image (text only; a multimodal "
                            "model would train on substituted images)")
    if scheme == "iob2" and report.orphans > b_tags:
        report.notes.append(f"{path}: {report.orphans} orphan I- tags vs {b_tags} B- tags: if the file is "
                               "IOB1, declare it (--scheme iob1, or tag_scheme='iob1' in the corpus entry)")


# --------------------------------------------------------------------------------------------
# Corpus layout
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Corpus:
    """A corpus root read as the registered corpus ``kind`` (its entry gives layout, types, tags).

    ``label_map`` holds extra ``(type, target)`` pairs (``--label-map``) on top of the entry's own.
    """

    root: Path
    image_dir: Path | None = None
    kind: str = "mmnerd"  # a CorpusEntry name (benchmark.corpora.registry); stored as JobSpec.corpus_name
    label_map: tuple[tuple[str, str], ...] = ()

    @property
    def entry(self) -> CorpusEntry:
        return get_corpus_entry(self.kind)

    @property
    def display(self) -> str:
        return self.entry.display

    def labels(self) -> dict[str, str]:
        """The entry's label map updated with this run's ``label_map``."""
        return {**self.entry.label_map, **dict(self.label_map)}

    def split_path(self, language: str, split: str) -> Path:
        return self.entry.layout.path(self.root, language, split)

    def available_languages(self) -> tuple[str, ...]:
        return tuple(lang for lang in self.entry.languages
                     if all(self.split_path(lang, s).is_file() for s in SPLITS))

    def has_language(self, language: str) -> bool:
        """Whether every language of ``language`` (``all``, ``en+de``, ``en``) has its three files.

        ``all`` needs a corpus with more than one language (it would repeat the single one otherwise).
        """
        if language == "all" and len(self.entry.languages) < 2:
            return False
        try:
            langs = self.expand(language)
        except ConfigError:  # a language this corpus does not have
            return False
        return all(lang in self.available_languages() for lang in langs)

    def expand(self, language: str) -> tuple[str, ...]:
        return expand_languages(language, self.entry.languages)

    def read(self, path: str | os.PathLike, language: str = "xx", report: ReadReport | None = None) -> list[Sentence]:
        """``read_conll`` with this corpus's tag scheme, entity types and label map."""
        entry = self.entry
        return read_conll(path, language, report, entry.tag_scheme, self.labels(), entry.entity_types)

    def load(self, languages: Iterable[str], split: str) -> list[Sentence]:
        """Sentences of ``split`` for the union of ``languages`` (``all`` = every language of the corpus)."""
        out: list[Sentence] = []
        for lang in _expand_many(languages, self.entry.languages):
            path = self.split_path(lang, split)
            if not path.is_file():
                hint = " (MMNERD fr/es/de are shared by the authors on request)" if self.kind == "mmnerd" else ""
                raise DataError(str(path), None, f"missing: language {lang!r} is not in {self.root}{hint}")
            out.extend(self.read(path, language=lang))
        return out

    def fingerprint(self, languages: Iterable[str]) -> str:
        """Hash of the text files a setting reads (content, not paths), and of non-default reading options."""
        h = hashlib.sha256()
        for lang in _expand_many(languages, self.entry.languages):
            for split in SPLITS:
                path = self.split_path(lang, split)
                h.update(f"{lang}/{split}:".encode())
                h.update(_file_digest(path).encode())
        if self.label_map:  # the entry's own options are part of its name; extra ones change the numbers
            h.update(("label_map:" + json.dumps(sorted(self.label_map))).encode())
        return h.hexdigest()[:16]


_DIGEST_CACHE: dict[tuple[str, float, int], str] = {}


def _file_digest(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime, st.st_size)
    if key not in _DIGEST_CACHE:
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(_BLOCK), b""):
                h.update(block)
        _DIGEST_CACHE[key] = h.hexdigest()
    return _DIGEST_CACHE[key]


def expand_languages(language: str, known: Sequence[str] = LANGUAGES) -> tuple[str, ...]:
    """``all`` -> every known language; ``en+de`` -> (en, de); a single code -> itself."""
    if language == "all":
        return tuple(known)
    parts = tuple(p for p in re.split(r"[+,&]", language) if p)
    for p in parts:
        if p not in known:
            raise ConfigError(f"unknown language {p!r}; expected one of {', '.join(known)} or 'all'")
    return parts


def _expand_many(languages: Iterable[str], known: Sequence[str] = LANGUAGES) -> tuple[str, ...]:
    seen: list[str] = []
    for lang in languages:
        for code in expand_languages(lang, known):
            if code not in seen:
                seen.append(code)
    return tuple(seen)


def find_corpus(data_dir: str | os.PathLike | None = None, image_dir: str | os.PathLike | None = None,
                kind: str = "mmnerd", label_map: Mapping[str, str] | None = None) -> Corpus | None:
    """The corpus ``kind`` at ``data_dir`` (or the entry's ``data_env``); None when no root is given.

    A root holding a registered corpus's ``marker`` file is read as that corpus (a generated corpus
    is never reported as MMNERD). A root given but without any language's split files raises
    ``ConfigError``. The authors' repository layout (``<repo>/train_valid_test``) is accepted too.
    """
    entry = get_corpus_entry(kind)
    source = "--data-dir"
    if not data_dir and entry.data_env:
        data_dir, source = os.environ.get(entry.data_env) or None, f"${entry.data_env}"
    if not data_dir:
        return None
    root = Path(data_dir).expanduser()
    if (root / "train_valid_test").is_dir():  # the authors' repo layout one level up
        root = root / "train_valid_test"
    kind = _marked_kind(root) or kind
    marked = get_corpus_entry(kind)  # the asked-for entry's image variable holds for a marked root too
    corpus = Corpus(root, _image_dir(root, image_dir, marked, marked.image_env or entry.image_env), kind,
                    tuple(sorted((label_map or {}).items())))
    if not root.is_dir():
        raise ConfigError(f"{source} {root}: no such folder")
    if not corpus.available_languages():
        layout = corpus.entry.layout
        raise ConfigError(f"{source} {root}: no {corpus.entry.display} files found (expected "
                          f"{layout.describe()} for {'/'.join(corpus.entry.languages)}; --corpus picks another layout)")
    return corpus


def _marked_kind(root: Path) -> str | None:
    return next((e.name for e in CORPORA.values() if e.marker and (root / e.marker).is_file()), None)


def given_image_dir(image_dir: str | os.PathLike | None, image_env: str | None) -> tuple[Path, str] | None:
    """The image folder the user named (``--image-dir``, else the variable ``image_env``) and how it
    was named; None when neither is set. A named folder that does not exist is a ``ConfigError``."""
    source = "--image-dir"
    if not image_dir and image_env:
        image_dir, source = os.environ.get(image_env) or None, f"${image_env}"
    if not image_dir:
        return None
    path = Path(image_dir).expanduser()
    if not path.is_dir():
        what = "not a folder" if path.exists() else "no such folder"
        raise ConfigError(f"{source} {path}: {what}" + (f" (unset {source[1:]} or point it at the image folder)"
                                                        if source.startswith("$") else ""))
    return path, source


def _image_dir(root: Path, image_dir: str | os.PathLike | None, entry: CorpusEntry,
               image_env: str | None) -> Path | None:
    given = given_image_dir(image_dir, image_env)
    if given:
        return given[0]
    for name in entry.image_dirs:
        if (root / name).is_dir():
            return root / name
    return None

"""Tag schemes and label maps over the entity types (spelled once, in ``benchmark.types``).

Everything downstream (models, metrics, tables, ``bench check``) works on IOB2 tags over
``ENTITY_TYPES`` (a corpus entry may declare other types). Files in IOB1 or BIOES are converted to
IOB2 while they are read (``TagConverter``), because the metric (seqeval, scheme IOB2) expects it.
"""
from __future__ import annotations

import re
from typing import Iterable, Mapping

from benchmark.errors import ConfigError
from benchmark.types import ENTITY_TYPES

SCHEMES: tuple[str, ...] = ("iob2", "iob1", "bioes")
OUTSIDE = "O"
# O, or a one-letter upper-case prefix, a dash and a type without whitespace.
TAG_RE = re.compile(r"^(?:O|([A-Z])-(\S+))$")
_PREFIXES: dict[str, str] = {"iob2": "BI", "iob1": "BI", "bioes": "BIES"}


def parse_label_map(items: Iterable[str] | str | None) -> dict[str, str]:
    """``OTHER=MISC,X=O`` (or a list of such items) -> ``{"OTHER": "MISC", "X": "O"}``.

    A target ``O`` drops that type (its tokens become ``O``).
    """
    if not items:
        return {}
    if isinstance(items, str):
        items = [items]
    out: dict[str, str] = {}
    for item in items:
        for pair in item.split(","):
            pair = pair.strip()
            if not pair:
                continue
            source, sep, target = pair.partition("=")
            source, target = source.strip(), target.strip()
            if not sep or not source or not target or any(c.isspace() for c in source + target):
                raise ConfigError(f"--label-map expects TYPE=TYPE pairs such as OTHER=MISC, got {pair!r}")
            if source == OUTSIDE:
                raise ConfigError(f"--label-map {pair}: O is not an entity type, so nothing maps from it")
            for side in (source, target):
                tag = TAG_RE.match(side)
                if tag and tag.group(1):
                    raise ConfigError(f"--label-map {pair}: {side!r} is a tag, not an entity type "
                                      f"(map types, e.g. {tag.group(2)}=...)")
            if source in out and out[source] != target:
                raise ConfigError(f"--label-map maps {source} twice ({out[source]} and {target})")
            out[source] = target
    return out


def check_label_map(label_map: Mapping[str, str], entity_types: Iterable[str], corpus: str = "") -> None:
    """Every target must be a known type or ``O`` (raises ``ConfigError`` otherwise)."""
    known = tuple(entity_types)
    for source, target in label_map.items():
        if target != OUTSIDE and target not in known:
            where = f" of corpus {corpus}" if corpus else ""
            raise ConfigError(f"label map {source}={target}: {target!r} is not an entity type{where} "
                              f"({', '.join(known)}) or O")


class TagError(ValueError):
    """A tag the declared scheme, types and label map cannot read; the reader adds FILE:LINE."""


class TagConverter:
    """Reads one sentence's tags in a declared scheme and returns IOB2 tags.

    - ``iob2``: ``B-X``/``I-X``; an ``I-X`` that continues no ``X`` (orphan) is kept and counted.
    - ``iob1``: an ``I-X`` after ``O`` or another type starts an entity (becomes ``B-X``).
    - ``bioes``: ``S-X`` -> ``B-X``, ``E-X`` -> ``I-X``; orphan ``I-``/``E-`` kept as ``I-`` and counted.
    Types go through ``label_map`` first (target ``O`` drops the type), then must be in ``entity_types``.
    """

    def __init__(self, scheme: str = "iob2", entity_types: Iterable[str] | None = ENTITY_TYPES,
                 label_map: Mapping[str, str] | None = None) -> None:
        if scheme not in SCHEMES:
            raise ConfigError(f"unknown tag scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")
        self.scheme = scheme
        self.entity_types = tuple(entity_types) if entity_types is not None else None
        self.label_map = dict(label_map or {})
        self.prev_type: str | None = None
        self.orphans = 0
        self._parsed: dict[str, tuple[str, str]] = {}

    def reset(self) -> None:
        """Call at each sentence boundary."""
        self.prev_type = None

    def convert(self, tag: str) -> tuple[str, bool]:
        """``(iob2_tag, orphan)`` for one raw tag; raises ``TagError`` with the reason."""
        parsed = self._parsed.get(tag)
        if parsed is None:
            parsed = self._parsed[tag] = self._parse(tag)
        prefix, etype = parsed
        if etype == OUTSIDE:
            self.prev_type = None
            return OUTSIDE, False
        continues = self.prev_type == etype
        orphan = False
        if self.scheme == "iob1":
            out = "B" if prefix == "B" or not continues else "I"
        elif prefix in "BS":
            out = "B"
        else:  # I (all schemes) or E (bioes)
            out = "I"
            orphan = not continues
        # an S- (single) or E- (end) closes the entity: a following I-/E- of the same type is an orphan
        self.prev_type = None if prefix in "SE" else etype
        if orphan:
            self.orphans += 1
        return f"{out}-{etype}", orphan

    def _parse(self, tag: str) -> tuple[str, str]:
        """``(prefix, type after the label map)``; type ``O`` for ``O`` and for a dropped type."""
        m = TAG_RE.match(tag)
        if m is None:
            raise TagError(f"bad tag {tag!r}: expected O, B-<type> or I-<type>")
        if tag == OUTSIDE:
            return "", OUTSIDE
        prefix, raw_type = m.group(1), m.group(2)
        if prefix not in _PREFIXES[self.scheme]:
            if prefix in "ES" and self.scheme != "bioes":
                raise TagError(f"tag {tag!r} is BIOES but the declared scheme is {self.scheme} "
                               "(declare it: --scheme bioes, or tag_scheme='bioes' in the corpus entry)")
            raise TagError(f"bad tag {tag!r}: expected O, B-<type> or I-<type>"
                           + (", E-<type> or S-<type>" if self.scheme == "bioes" else ""))
        etype = self.label_map.get(raw_type, raw_type)
        if etype != OUTSIDE and self.entity_types is not None and etype not in self.entity_types:
            raise TagError(f"unknown entity type {raw_type!r} in tag {tag!r}; known types: "
                           f"{', '.join(self.entity_types)} (map it with --label-map {raw_type}=<type> "
                           "or the corpus entry's label_map)")
        return prefix, etype


def iob2_to_bioes(tags: Iterable[str]) -> list[str]:
    """One sentence's IOB2 tags in BIOES: an entity's last token ``E-X`` (``S-X`` when it is alone).

    An orphan ``I-X`` (no ``B-X``/``I-X`` before it) starts an entity, as conlleval reads it.
    """
    tags = list(tags)
    out: list[str] = []
    for i, tag in enumerate(tags):
        if tag == OUTSIDE:
            out.append(tag)
            continue
        etype = tag[2:]
        begins = tag.startswith("B-") or i == 0 or tags[i - 1][2:] != etype or tags[i - 1] == OUTSIDE
        ends = i + 1 == len(tags) or tags[i + 1] != f"I-{etype}"
        out.append(("S-" if ends else "B-") + etype if begins else ("E-" if ends else "I-") + etype)
    return out


def bioes_to_iob2(tags: Iterable[str]) -> list[str]:
    """One sentence's BIOES tags in IOB2 (``S-`` -> ``B-``, ``E-`` -> ``I-``)."""
    return [{"S": "B", "E": "I"}.get(t[0], t[0]) + t[1:] if t != OUTSIDE else t for t in tags]

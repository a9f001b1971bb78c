"""The types every layer shares: a sentence and the entity types (the bottom of the layers).

The corpus reader builds ``Sentence`` objects, models read them (``benchmark.api.Tagger``) and the
metric scores over ``ENTITY_TYPES``; all three import them from here, so none of them imports another.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ENTITY_TYPES", "Sentence"]

# MMNERD's entity types, in the paper's column order (a corpus entry may declare other types).
ENTITY_TYPES: tuple[str, ...] = ("PER", "LOC", "ORG", "MISC")


@dataclass(frozen=True)
class Sentence:
    """One annotated sentence (IOB2 tags). ``sid`` is ``file:line`` of its first line, for messages."""

    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    image_id: str | None = None
    language: str = "xx"
    source: str = "unknown"
    sid: str = ""

    def __len__(self) -> int:
        return len(self.tokens)

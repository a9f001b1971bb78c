"""A job's test predictions: ``predictions.conll`` beside its ``result.json``.

One token per line, ``token<TAB>gold<TAB>predicted``; a blank line after each sentence; before each
sentence a comment line ``# language=.. source=.. image=.. sid=..`` (the source tag is the reader's,
from the image id: ``twitter2017`` or ``cc12m-mbart50``). Written with the selected epoch's weights,
so the file reproduces the stored test metrics; used by ``bench report --significance`` and
``--by-source`` and useful on its own for error analysis.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from benchmark.errors import DataError
from benchmark.util.io import write_text

PREDICTIONS_FILE = "predictions.conll"


@dataclass(frozen=True)
class Predicted:
    """One test sentence with its gold and predicted tags."""

    tokens: tuple[str, ...]
    gold: tuple[str, ...]
    pred: tuple[str, ...]
    language: str = ""
    source: str = "unknown"
    image: str = ""
    sid: str = ""


def write_predictions(path: Path, sentences: Sequence, predicted: Sequence[Sequence[str]]) -> None:
    """Write ``sentences`` (``benchmark.corpora.reader.Sentence``) with ``predicted`` tags."""
    lines: list[str] = []
    for s, tags in zip(sentences, predicted, strict=True):
        lines.append(f"# language={s.language} source={s.source} image={s.image_id or ''} sid={s.sid}")
        lines += [f"{tok}\t{gold}\t{pred}" for tok, gold, pred in zip(s.tokens, s.tags, tags, strict=True)]
        lines.append("")
    write_text(path, "\n".join(lines))  # atomic; a full disk is one line naming the file


def read_predictions(path: Path) -> list[Predicted]:
    """Sentences of a ``predictions.conll`` file; a malformed line is a ``DataError`` (file:line)."""
    out: list[Predicted] = []
    meta: dict[str, str] = {}
    rows: list[list[str]] = []

    def close() -> None:
        if rows:
            out.append(Predicted(tuple(r[0] for r in rows), tuple(r[1] for r in rows), tuple(r[2] for r in rows),
                                 meta.get("language", ""), meta.get("source", "unknown"), meta.get("image", ""),
                                 meta.get("sid", "")))
        rows.clear()

    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            close()
        elif line.startswith("# "):
            close()
            head, _, sid = line[2:].partition(" sid=")  # the sid (file:line) may contain spaces: last
            meta = dict(part.split("=", 1) for part in head.split(" ") if "=" in part)
            meta["sid"] = sid
        else:
            cols = line.split("\t")
            if len(cols) != 3:
                raise DataError(str(path), lineno, f"expected token<TAB>gold<TAB>predicted, found {len(cols)} column(s)")
            rows.append(cols)
    close()
    return out

"""Table specifications: the rows of the paper's Tables 5-9 and their reference values.

A table is data: a caption, a list of ``Row``s (which model, trained and tested on what, with or
without images, how many repeats) and the paper's printed numbers for each row, read from the
transcribed CSVs in ``benchmark/reference``. Adding a table = one ``TableSpec`` + a golden test.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Callable

from benchmark.corpora.labels import ENTITY_TYPES
from benchmark.errors import ConfigError

COLUMNS: tuple[str, ...] = (*ENTITY_TYPES, "precision", "recall", "f1")
COLUMN_LABELS: dict[str, str] = {**{t: t for t in ENTITY_TYPES}, "precision": "P", "recall": "R", "f1": "F1"}
GROUPS: tuple[tuple[str, str], ...] = (("All", "all"), ("English", "en"), ("French", "fr"),
                                       ("Spanish", "es"), ("German", "de"))
LANG_CODE = dict(GROUPS)
METHODS_T5: tuple[tuple[str, str, bool], ...] = (
    # (printed method, registry name, uses images)
    ("BiLSTM-CRF", "bilstm-crf", False), ("HBiLSTM-CRF", "hbilstm-crf", False),
    ("BERT", "bert", False), ("BERT-CRF", "bert-crf", False),
    ("AdaCAN", "adacan", True), ("UMT", "umt", True), ("UMGF", "umgf", True),
    ("MKGFormer", "mkgformer", True), ("2M-NER", "2m-ner", True),
)
METHODS_T7: tuple[tuple[str, str], ...] = (
    ("AdaCAN", "adacan"), ("UMT", "umt"), ("UMGF", "umgf"), ("MKGFormer", "mkgformer"),
    ("2M-NER", "2m-ner-text"),
)


@dataclass(frozen=True)
class Row:
    """One printed row: a method on one language setting, possibly averaged over repeats/folds."""

    group: str  # block heading ("All", "English", ...) or "" for flat tables
    method: str  # printed label
    model: str  # registry name
    train_languages: tuple[str, ...]
    test_language: str
    use_image: bool
    modality: str  # printed modality ("Text", "Text + Image", "Only Text", "")
    fold: int | None = None
    repeats: int = 1
    paper: dict[str, float | None] = field(default_factory=dict, compare=False, hash=False)
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)  # extra label cells

    @property
    def language_code(self) -> str:
        return self.test_language


@dataclass(frozen=True)
class TableSpec:
    number: int
    caption: str
    rows: tuple[Row, ...]
    label_columns: tuple[str, ...] = ("Method", "Modality")  # printed label cells per row
    label_of: Callable[[Row], tuple[str, ...]] = lambda r: (r.method, r.modality)
    bold_best: bool = True
    show_groups: bool = True  # print the block headings (row.group); bold-best is per block either way
    note: str = ""


@lru_cache(maxsize=None)
def reference_rows(name: str) -> tuple[dict[str, str], ...]:
    """Rows of ``benchmark/reference/<name>.csv`` (the paper's tables, transcribed)."""
    text = resources.files("benchmark").joinpath("reference", f"{name}.csv").read_text(encoding="utf-8")
    return tuple(csv.DictReader(text.splitlines()))


def _values(rec: dict[str, str]) -> dict[str, float | None]:
    return {c: (float(rec[c]) if rec.get(c) not in (None, "") else None) for c in COLUMNS}


def _lookup(name: str, **keys: str) -> dict[str, float | None]:
    for rec in reference_rows(name):
        if all(rec.get(k) == v for k, v in keys.items()):
            return _values(rec)
    return {c: None for c in COLUMNS}


def _langs(code: str) -> tuple[str, ...]:
    return (code,)


def table5() -> TableSpec:
    rows = []
    for group, code in GROUPS:
        for method, model, image in METHODS_T5:
            modality = "Text + Image" if image else "Text"
            rows.append(Row(group, method, model, _langs(code), code, image, modality,
                            paper=_lookup("table5_main", language=group, method=method)))
    return TableSpec(5, "Main results on MMNERD: per-type F1 and overall micro P/R/F1 (%).", tuple(rows))


def table6() -> TableSpec:
    names = {"English": "en", "German": "de", "French": "fr", "Spanish": "es"}
    rows = []
    for rec in reference_rows("table6_multilingual"):
        train = tuple(names[p.strip()] for p in rec["train_languages"].split("&"))
        test = names[rec["test_language"]]
        rows.append(Row(rec["test_language"], rec["train_languages"], "2m-ner", train, test, True,
                        "Text + Image", paper=_values(rec),
                        extra={"Train": rec["train_languages"], "Test": rec["test_language"]}))
    return TableSpec(6, "2M-NER trained on language pairs (multilingual transfer), tested per language.",
                     tuple(rows), label_columns=("Train languages", "Test language"),
                     label_of=lambda r: (r.extra["Train"], r.extra["Test"]), show_groups=False)


def table7() -> TableSpec:
    rows = []
    for group, code in GROUPS:
        for method, model in METHODS_T7:
            rows.append(Row(group, method, model, _langs(code), code, False, "Only Text",
                            paper=_lookup("table7_text_only", language=group, method=method)))
    return TableSpec(7, "Multimodal methods run on text only (%).", tuple(rows))


def table8() -> TableSpec:
    rows = [Row("", f"K-fold-{k}", "2m-ner", ("all",), "all", True, "", fold=k, repeats=2,
                paper=_lookup("table8_kfold", run=f"K-fold-{k}")) for k in range(1, 6)]
    rows.append(Row("", "ALL", "2m-ner", ("all",), "all", True, "", paper=_lookup("table8_kfold", run="ALL")))
    return TableSpec(8, "2M-NER on five folds of the training set (each fold row: mean of 2 runs) and on all of it.",
                     tuple(rows), label_columns=("Data",), label_of=lambda r: (r.method,))


def table9() -> TableSpec:
    rows = [Row("", label, model, ("all",), "all", True, "", paper=_lookup("table9_ablation", model=label))
            for label, model in (("2M-NER", "2m-ner"), ("-ResNet", "2m-ner-no-resnet"), ("-ViT", "2m-ner-no-vit"))]
    return TableSpec(9, "Ablation of the image encoders (All languages).", tuple(rows),
                     label_columns=("Model",), label_of=lambda r: (r.method,))


TABLES: dict[int, Callable[[], TableSpec]] = {5: table5, 6: table6, 7: table7, 8: table8, 9: table9}


def get_table(number: int) -> TableSpec:
    if number not in TABLES:
        raise ConfigError(f"unknown table {number}; tables with runs: {', '.join(map(str, TABLES))} "
                          "(Table 2 is `bench stats`)")
    return TABLES[number]()

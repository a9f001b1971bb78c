"""Table specifications: the rows of the paper's Tables 2 and 5-9 and their reference values.

A table is data: a caption, a list of ``Row``s (which model, trained and tested on what, with or
without images, how many repeats) and the paper's printed numbers for each row, read from the
transcribed CSVs in ``benchmark/reference``. Adding a table = one ``TableSpec`` + a golden test.

A model that is not among the paper's rows (a user's own model) never edits a spec: a table with an
``extend`` rule turns it into extra rows, appended after the paper's rows of each block
(``TableSpec.with_models``). Table 2 (dataset statistics, counted from the files) is a
``StatsTableSpec``.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from typing import Callable, Iterable

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
    extension: bool = False  # True for a row added for a model that is not in the paper

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
    # (model, printed name, multimodal) -> the rows a non-paper model gets (one per block); None: no extras
    extend: Callable[[str, str, bool], list[Row]] | None = None
    # the row of each block that ``--significance`` tests every other row of that block against
    is_reference: Callable[[Row], bool] = lambda r: False
    wide: bool = False  # LaTeX: as wide as the paper's own table -> a landscape page (pdflscape)
    group_label: str = "Language"  # header of the block column (Markdown) / prefix of block headings

    def models(self) -> list[str]:
        return list(dict.fromkeys(r.model for r in self.rows))

    def with_models(self, extra: Iterable[tuple[str, str, bool]]) -> "TableSpec":
        """This table plus rows for ``(model, printed name, multimodal)`` models not in it, each
        appended after the rows of its block (paper rows keep their order and content)."""
        if self.extend is None:
            return self
        rows = list(self.rows)
        known = set(self.models())
        for model, display, multimodal in extra:
            if model in known:
                continue
            known.add(model)
            for new in self.extend(model, display, multimodal):
                last = max((i for i, r in enumerate(rows) if r.group == new.group), default=len(rows) - 1)
                rows.insert(last + 1, new)
        return replace(self, rows=tuple(rows))


@dataclass(frozen=True)
class StatsTableSpec:
    """Table 2: counts per (language, split) from the files; no jobs."""

    number: int
    caption: str
    columns: tuple[str, ...]  # record keys, in print order
    labels: tuple[str, ...]  # printed headers of ``columns``
    reference: str  # reference CSV name
    rows: tuple[Row, ...] = ()  # no jobs


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


def _extend_by_language(modality: Callable[[bool], str | None]) -> Callable[[str, str, bool], list[Row]]:
    """Extra rows, one per language block, for a model outside the paper (``modality`` maps
    multimodal -> printed modality, or None when the table has no row for such a model)."""
    def rows(model: str, display: str, multimodal: bool) -> list[Row]:
        printed = modality(multimodal)
        if printed is None:
            return []
        image = multimodal and printed != "Only Text"
        return [Row(group, display, model, _langs(code), code, image, printed, extension=True)
                for group, code in GROUPS]
    return rows


def table5() -> TableSpec:
    rows = []
    for group, code in GROUPS:
        for method, model, image in METHODS_T5:
            modality = "Text + Image" if image else "Text"
            rows.append(Row(group, method, model, _langs(code), code, image, modality,
                            paper=_lookup("table5_main", language=group, method=method)))
    return TableSpec(5, "Main results on {corpus}: per-type F1 and overall micro P/R/F1 (%).", tuple(rows),
                     extend=_extend_by_language(lambda mm: "Text + Image" if mm else "Text"),
                     is_reference=lambda r: r.model == "2m-ner", wide=True)


def table6() -> TableSpec:
    names = {"English": "en", "German": "de", "French": "fr", "Spanish": "es"}
    rows = []
    for rec in reference_rows("table6_multilingual"):
        train = tuple(names[p.strip()] for p in rec["train_languages"].split("&"))
        test = names[rec["test_language"]]
        rows.append(Row(rec["test_language"], rec["train_languages"], "2m-ner", train, test, True,
                        "Text + Image", paper=_values(rec),
                        extra={"Train": rec["train_languages"], "Test": rec["test_language"]}))
    return TableSpec(6, "2M-NER trained on one language or a language pair, tested per language (%).",
                     tuple(rows), label_columns=("Train languages",), label_of=lambda r: (r.extra["Train"],),
                     is_reference=lambda r: r.train_languages == (r.test_language,), group_label="Test language")


def table7() -> TableSpec:
    rows = []
    for group, code in GROUPS:
        for method, model in METHODS_T7:
            rows.append(Row(group, method, model, _langs(code), code, False, "Only Text",
                            paper=_lookup("table7_text_only", language=group, method=method)))
    return TableSpec(7, "Multimodal methods run on text only (%).", tuple(rows),
                     extend=_extend_by_language(lambda mm: "Only Text" if mm else None),
                     is_reference=lambda r: r.model == "2m-ner-text")


def table8() -> TableSpec:
    rows = [Row("", f"K-fold-{k}", "2m-ner", ("all",), "all", True, "", fold=k, repeats=2,
                paper=_lookup("table8_kfold", run=f"K-fold-{k}")) for k in range(1, 6)]
    rows.append(Row("", "ALL", "2m-ner", ("all",), "all", True, "", paper=_lookup("table8_kfold", run="ALL")))
    return TableSpec(8, "2M-NER trained on each of five disjoint subsets of the training split of All "
                        "(each subset row: mean of 2 runs) and on all of it (%).",
                     tuple(rows), label_columns=("Data",), label_of=lambda r: (r.method,),
                     is_reference=lambda r: r.fold is None)


def table9() -> TableSpec:
    rows = [Row("", label, model, ("all",), "all", True, "", paper=_lookup("table9_ablation", model=label))
            for label, model in (("2M-NER", "2m-ner"), ("-ResNet", "2m-ner-no-resnet"), ("-ViT", "2m-ner-no-vit"))]
    return TableSpec(9, "Ablation of the image encoders, all languages (%).", tuple(rows),
                     label_columns=("Model",), label_of=lambda r: (r.method,),
                     is_reference=lambda r: r.model == "2m-ner")


def table2() -> StatsTableSpec:
    return StatsTableSpec(2, "Dataset statistics: entities per type, total entities and sentences.",
                          ("PER", "LOC", "ORG", "MISC", "total_entities", "sentences"),
                          ("PER", "LOC", "ORG", "MISC", "Total", "Sentences"), "table2_dataset_stats")


TABLES: dict[int, Callable[[], TableSpec]] = {5: table5, 6: table6, 7: table7, 8: table8, 9: table9}
ALL_TABLES: tuple[int, ...] = (2, *TABLES)


def paper_models() -> set[str]:
    """Registry names that have rows of their own in some paper table (never extension rows)."""
    return {r.model for make in TABLES.values() for r in make().rows}


def extend_with(table: TableSpec, models: Iterable[str], image_models: Iterable[str] = ()) -> TableSpec:
    """``table`` plus extension rows for the ``models`` that are in no paper table.

    Printed name and modality come from the registry; an unregistered name (results of a plug-in not
    loaded now) prints as itself and counts as multimodal when it is in ``image_models``.
    """
    from benchmark.registry import MODELS

    skip, image_models, extra = paper_models(), set(image_models), []
    for name in dict.fromkeys(models):
        if name in skip:
            continue
        spec = MODELS.get(name)
        multimodal = ("image" in spec.modality) if spec is not None else name in image_models
        extra.append((name, spec.display if spec is not None else name, multimodal))
    return table.with_models(extra)


def get_table(number: int) -> TableSpec:
    """The spec of a table with runs (5-9); Table 2 is ``table2()`` (``bench stats``)."""
    if number not in TABLES:
        raise ConfigError(f"unknown table {number}; tables with runs: {', '.join(map(str, TABLES))} "
                          "(Table 2 is `bench stats` / `bench report --table 2`)")
    return TABLES[number]()

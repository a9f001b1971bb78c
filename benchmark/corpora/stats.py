"""Table 2: entity counts per type, total entities and sentences, per language and split."""
from __future__ import annotations

from typing import Any, Sequence

from tabulate import tabulate

from benchmark.corpora.labels import ENTITY_TYPES
from benchmark.corpora.reader import LANGUAGE_NAMES, SPLITS, Corpus, ReadReport, count_entities
from benchmark.corpora.registry import DEFAULT_CORPUS, corpus_display, corpus_note
from benchmark.report.tables import reference_rows


def stat_columns(entity_types: Sequence[str] = ENTITY_TYPES) -> tuple[str, ...]:
    return (*entity_types, "total_entities", "sentences")


STAT_COLUMNS = stat_columns()


def dataset_stats(corpus: Corpus) -> list[dict[str, Any]]:
    """One record per available (language, split) plus an ``All/all`` total; paper values for MMNERD."""
    types = corpus.entry.entity_types
    columns = stat_columns(types)
    paper = ({(r["language"], r["split"]): r for r in reference_rows("table2_dataset_stats")}
             if corpus.entry.paper_values else {})
    records = []
    totals = {c: 0 for c in columns}
    for lang in corpus.available_languages():
        for split in SPLITS:
            sents = corpus.read(corpus.split_path(lang, split), lang, ReadReport(""))
            counts = count_entities((s.tags for s in sents), types)
            rec: dict[str, Any] = {"language": LANGUAGE_NAMES.get(lang, lang), "split": split,
                                   **{t: counts.get(t, 0) for t in types}}
            rec["total_entities"] = sum(counts.values())
            rec["sentences"] = len(sents)
            ref = paper.get((rec["language"], split), {})
            for c in columns:
                rec[f"{c}_paper"] = int(ref[c]) if ref.get(c) else None
                totals[c] += rec[c]
            records.append(rec)
    if len(corpus.available_languages()) == len(corpus.entry.languages) > 1:
        ref = paper.get(("All", "all"), {})
        rec = {"language": "All", "split": "all", **totals}
        for c in columns:
            rec[f"{c}_paper"] = int(ref[c]) if ref.get(c) else None
        records.append(rec)
    return records


def render_stats(records: list[dict[str, Any]], fmt: str = "markdown", data_kind: str = DEFAULT_CORPUS) -> str:
    """Ours beside the paper's: ``ours (paper)`` per cell; CSV keeps both as separate columns."""
    fixed = {"language", "split", "total_entities", "sentences"}
    types = [k for k in records[0] if k not in fixed and not k.endswith("_paper")] if records else list(ENTITY_TYPES)
    columns = stat_columns(types)
    if fmt == "csv":
        import csv
        import io
        buf = io.StringIO()
        fields = ["language", "split"] + [f for c in columns for f in (c, f"{c}_paper")]
        w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        w.writerows(records)
        return buf.getvalue()
    headers = ["Language", "Split", *types, "Total", "Sentences"]

    def cell(rec: dict[str, Any], c: str) -> str:
        ours, ref = rec[c], rec.get(f"{c}_paper")
        if ref is None:
            return f"{ours:,}"
        return f"{ours:,} ({ref:,})" if ours != ref else f"{ours:,} (=)"

    body = [[r["language"], r["split"]] + [cell(r, c) for c in columns] for r in records]
    name = corpus_display(data_kind)
    compared = any(r.get(f"{c}_paper") is not None for r in records for c in columns)
    note = ("Each cell: ours (paper); (=) means identical to the paper's Table 2." if compared
            else f"Data: {name}; the paper's Table 2 counts MMNERD, so no paper values are shown.")
    if corpus_note(data_kind):
        note += " " + corpus_note(data_kind)
    if fmt == "latex":
        from benchmark.report.render import tex_escape
        caption = f"Dataset statistics of {tex_escape(name)}" + (" (Table 2): ours (paper)" if compared else "")
        lines = [r"\begin{table}[t]", r"\centering", r"\caption{" + caption + "}",
                 r"\begin{tabular}{ll" + "r" * (len(columns)) + "}", r"\toprule", " & ".join(headers) + r" \\",
                 r"\midrule"]
        lines += [" & ".join(tex_escape(x) for x in row) + r" \\" for row in body]
        lines += [r"\bottomrule", r"\end{tabular}", r"\par\smallskip\footnotesize " + tex_escape(note),
                  r"\end{table}"]
        return "\n".join(lines) + "\n"
    return f"**Table 2.** {name} statistics.\n\n" + tabulate(body, headers=headers, tablefmt="github",
                                                             disable_numparse=True) + f"\n\n- {note}\n"

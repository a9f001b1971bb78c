"""Table 2: entity counts per type, total entities and sentences, per language and split."""
from __future__ import annotations

from typing import Any

from tabulate import tabulate

from benchmark.corpora.reader import (ENTITY_TYPES, LANGUAGE_NAMES, LANGUAGES, SPLITS, Corpus, ReadReport,
                            count_entities, read_conll)
from benchmark.report.tables import reference_rows

STAT_COLUMNS = (*ENTITY_TYPES, "total_entities", "sentences")


def dataset_stats(corpus: Corpus) -> list[dict[str, Any]]:
    """One record per available (language, split) plus an ``All/all`` total, with paper values."""
    paper = {(r["language"], r["split"]): r for r in reference_rows("table2_dataset_stats")}
    records = []
    totals = {c: 0 for c in STAT_COLUMNS}
    for lang in corpus.available_languages():
        for split in SPLITS:
            sents = read_conll(corpus.split_path(lang, split), lang, ReadReport(""))
            counts = count_entities(s.tags for s in sents)
            rec: dict[str, Any] = {"language": LANGUAGE_NAMES[lang], "split": split,
                                   **{t: counts.get(t, 0) for t in ENTITY_TYPES}}
            rec["total_entities"] = sum(counts.values())
            rec["sentences"] = len(sents)
            ref = paper.get((rec["language"], split), {})
            for c in STAT_COLUMNS:
                rec[f"{c}_paper"] = int(ref[c]) if ref.get(c) else None
                totals[c] += rec[c]
            records.append(rec)
    if len(corpus.available_languages()) == len(LANGUAGES):
        ref = paper.get(("All", "all"), {})
        rec = {"language": "All", "split": "all", **totals}
        for c in STAT_COLUMNS:
            rec[f"{c}_paper"] = int(ref[c]) if ref.get(c) else None
        records.append(rec)
    return records


def render_stats(records: list[dict[str, Any]], fmt: str = "markdown", data_kind: str = "mmnerd") -> str:
    """Ours beside the paper's: ``ours (paper)`` per cell; CSV keeps both as separate columns."""
    if fmt == "csv":
        import csv
        import io
        buf = io.StringIO()
        fields = ["language", "split"] + [f for c in STAT_COLUMNS for f in (c, f"{c}_paper")]
        w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        w.writerows(records)
        return buf.getvalue()
    headers = ["Language", "Split", "PER", "LOC", "ORG", "MISC", "Total", "Sentences"]

    def cell(rec: dict[str, Any], c: str) -> str:
        ours, ref = rec[c], rec.get(f"{c}_paper")
        if ref is None:
            return f"{ours:,}"
        return f"{ours:,} ({ref:,})" if ours != ref else f"{ours:,} (=)"

    body = [[r["language"], r["split"]] + [cell(r, c) for c in STAT_COLUMNS] for r in records]
    note = "Each cell: ours (paper); (=) means identical to the paper's Table 2."
    if data_kind == "fallback":
        note += " Data: the built-in synthetic fallback corpus, not MMNERD."
    if fmt == "latex":
        from benchmark.report.render import tex_escape
        lines = [r"\begin{table}[t]", r"\centering", r"\caption{Dataset statistics (Table 2): ours (paper)}",
                 r"\begin{tabular}{llrrrrrr}", r"\toprule", " & ".join(headers) + r" \\", r"\midrule"]
        lines += [" & ".join(tex_escape(x) for x in row) + r" \\" for row in body]
        lines += [r"\bottomrule", r"\end{tabular}", r"\par\smallskip\footnotesize " + tex_escape(note),
                  r"\end{table}"]
        return "\n".join(lines) + "\n"
    return "**Table 2.** MMNERD statistics.\n\n" + tabulate(body, headers=headers, tablefmt="github",
                                                            disable_numparse=True) + f"\n\n- {note}\n"

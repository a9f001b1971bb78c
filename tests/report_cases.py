"""Fixed fake results and the golden render cases: shared by tests/test_render.py and
``python -m tests.refresh_golden`` (the only thing that rewrites tests/golden/)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from benchmark.report.render import Frame
from benchmark.report.render import build_frame as _build_frame
from benchmark.run.plan import seeds_for
from benchmark.run.predictions import write_predictions
from benchmark.run.specs import JobSpec, Result, Setting

GOLDEN = Path(__file__).parent / "golden"
TYPES = ("PER", "LOC", "ORG", "MISC")


def fake(model: str, train: tuple[str, ...], test: str, image: bool, seed: int, f1: float,
         fold: int | None = None, scale: str = "paper", kind: str = "mmnerd") -> Result:
    """A stored result whose every metric is derived from ``f1`` (a fraction)."""
    per = {t: {"precision": f1, "recall": f1, "f1": round(f1 - 0.01 * i, 6), "support": 5} for i, t in enumerate(TYPES)}
    m = {"precision": f1 + 0.01, "recall": f1 - 0.01, "f1": f1, "support": 20, "per_type": per}
    metrics = {"conlleval": m, "strict": {**m, "f1": f1 - 0.02}}
    job = JobSpec(model, Setting(train, test, image, fold), seed, scale, {"epochs": 1}, kind, "fp",
                  "listing:test" if image else "none")
    history = [{"epoch": e, "loss": 2.0 / e, "dev": metrics, "test": metrics} for e in (1, 2, 3)]
    return Result(job=job, test=metrics, dev=metrics, selected_epoch=1, epochs_run=3,
                  test_max={"epoch": 1, **metrics}, history=history, wall_time_s=1.0, peak_memory_mb=1.0,
                  environment={"finished_at": f"2026-01-0{seed}T00:00:00"})


def fake_for(job: JobSpec, f1: float) -> Result:
    """A stored result with ``job``'s identity (e.g. a real plan's job) and metrics derived from ``f1``."""
    import dataclasses
    return dataclasses.replace(fake(job.model, job.setting.train_languages, job.setting.test_language,
                                    job.setting.use_image, job.seed, f1, job.setting.fold), job=job)


def planned(table, seeds: int | None = None, scale: str = "paper", kind: str = "mmnerd"):
    """The (row, job) pairs a plan of ``table`` holds when every job has the fakes' identity."""
    return [(row, JobSpec(row.model, Setting(row.train_languages, row.test_language, row.use_image, row.fold),
                          seed, scale, {"epochs": 1}, kind, "fp", "listing:test" if row.use_image else "none"))
            for row in table.rows for seed in seeds_for(row, seeds)]


def build_frame(table, results, mode: str = "conlleval", selection: str = "dev", seeds: int | None = None,
                scale: str = "paper", kind: str = "mmnerd") -> Frame:
    """The frame of the ``profile``/``kind`` plan of ``table`` over the fake stored ``results``."""
    return _build_frame(table, planned(table, seeds, scale, kind), {r.job_id: r for r in results}, scale, kind,
                        mode, selection)


def results_t5() -> list[Result]:
    return [
        fake("bilstm-crf", ("all",), "all", False, 1, 0.6210),
        fake("bilstm-crf", ("en",), "en", False, 1, 0.6300),
        fake("bilstm-crf", ("en",), "en", False, 2, 0.6400),  # two seeds -> mean ± std
        fake("hbilstm-crf", ("en",), "en", False, 1, 0.6500),
        fake("2m-ner", ("en",), "en", True, 1, 0.7100),
        fake("2m-ner", ("en",), "en", False, 1, 0.9900),  # text-only run: must not land in Table 5
        fake("bilstm-crf", ("de",), "de", False, 1, 0.5000, scale="smoke"),  # other profile: ignored
        fake("bilstm-crf", ("fr",), "fr", False, 1, 0.4000, kind="fallback"),  # other corpus: ignored
    ]


def results_other(number: int) -> list[Result]:
    return {
        6: [fake("2m-ner", ("en", "de"), "en", True, 1, 0.7012), fake("2m-ner", ("en",), "en", True, 1, 0.7077),
            fake("2m-ner", ("fr",), "fr", True, 1, 0.6433)],
        7: [fake("2m-ner-text", ("es",), "es", False, 1, 0.7021), fake("umt", ("all",), "all", False, 1, 0.6990),
            fake("umt", ("all",), "all", False, 2, 0.6950)],
        8: [fake("2m-ner", ("all",), "all", True, 1, 0.69, fold=1), fake("2m-ner", ("all",), "all", True, 2, 0.70, fold=1),
            fake("2m-ner", ("all",), "all", True, 1, 0.68, fold=2), fake("2m-ner", ("all",), "all", True, 1, 0.7049)],
        9: [fake("2m-ner", ("all",), "all", True, 1, 0.7049), fake("2m-ner-no-vit", ("all",), "all", True, 1, 0.6923)],
    }[number]


def table2_records() -> list[dict]:
    """Hand-written Table 2 records (as ``dataset_stats`` returns them), one differing from the paper."""
    en = {"language": "English", "split": "train", "PER": 3344, "LOC": 4605, "ORG": 7342, "MISC": 23621,
          "total_entities": 38912, "sentences": 19968}
    paper = {"PER": 3340, "LOC": 4605, "ORG": 7342, "MISC": 23621, "total_entities": 38908, "sentences": 19966}
    en.update({f"{k}_paper": v for k, v in paper.items()})
    de = {"language": "German", "split": "test", "PER": 380, "LOC": 345, "ORG": 205, "MISC": 425,
          "total_entities": 1355, "sentences": 1093}
    de.update({f"{k}_paper": None for k in paper})
    return [en, de]


def _report(number: int, fmt: str, compare: bool) -> Callable[[], str]:
    def make() -> str:
        from benchmark.report.render import render
        from benchmark.tables import get_table
        results = results_t5() if number == 5 else results_other(number)
        return render(build_frame(get_table(number), results), fmt, compare)
    return make


def _stats(fmt: str, compare: bool) -> Callable[[], str]:
    def make() -> str:
        from benchmark.report.stats import render_stats
        return render_stats(table2_records(), fmt, "mmnerd", compare)
    return make


EXT = {"markdown": "md", "latex": "tex", "csv": "csv"}


def golden_cases() -> dict[str, Callable[[], str]]:
    """golden file name -> the render it pins (every table, every format; paper comparison on)."""
    cases: dict[str, Callable[[], str]] = {}
    for fmt, ext in EXT.items():
        cases[f"table2.{ext}"] = _stats(fmt, fmt != "csv")
        for number in (5, 6, 7, 8, 9):
            cases[f"table{number}_compare.{ext}" if fmt != "csv" else f"table{number}.csv"] = _report(number, fmt, True)
    cases["table5.md"] = _report(5, "markdown", False)
    cases["table5.tex"] = _report(5, "latex", False)
    return cases


def write_store(root: Path, results: list[Result], predictions: dict[str, list] | None = None) -> None:
    """Put ``results`` in a ResultStore at ``root``; ``predictions`` maps job_id -> (sentences, tags)."""
    from benchmark.run.store import ResultStore
    store = ResultStore(root)
    for res in results:
        path = store.put(res)
        if predictions and res.job_id in predictions:
            sentences, tags = predictions[res.job_id]
            write_predictions(path / "predictions.conll", sentences, tags)

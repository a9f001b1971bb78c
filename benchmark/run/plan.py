"""Expand a table into jobs: ``TableSpec -> [PlannedJob]``.

Each row becomes one job per seed (``repeats`` seeds unless ``--seeds`` says otherwise). A row whose
model is not registered, or whose languages are not in the corpus, is planned with a status that
says why it cannot run, so ``bench run`` can report it instead of failing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from benchmark.corpora.reader import Corpus
from benchmark.registry import MODELS
from benchmark.run.specs import JobSpec, Setting
from benchmark.report.tables import Row, TableSpec

FIRST_SEED = 1


@dataclass(frozen=True)
class PlannedJob:
    row: Row
    job: JobSpec | None
    status: str  # "ready", "not-implemented", "no-data", "no-weights"
    reason: str = ""


def seeds_for(row: Row, seeds: int | None) -> list[int]:
    n = seeds if seeds is not None else row.repeats
    return list(range(FIRST_SEED, FIRST_SEED + max(1, n)))


def missing_weights(needs: Iterable[str], hp: Mapping[str, Any]) -> list[str]:
    """Artefacts a job would load (named by a hyperparameter value) that cannot be found locally."""
    if not needs:
        return []
    from benchmark import weights

    values = {v for v in hp.values() if isinstance(v, str)}
    return [a for a in needs if a in values and weights.locate(a)[0] is None]


def row_matches(row: Row, models: Iterable[str] | None, languages: Iterable[str] | None) -> bool:
    if models is not None and row.model not in set(models):
        return False
    if languages is not None and row.language_code not in set(languages):
        return False
    return True


def plan_table(table: TableSpec, corpus: Corpus, profile: str = "paper", seeds: int | None = None,
               models: Iterable[str] | None = None, languages: Iterable[str] | None = None,
               overrides: Mapping[str, Any] | None = None) -> list[PlannedJob]:
    """All jobs of ``table`` (filtered by model names and test-language codes)."""
    models = list(models) if models is not None else None
    languages = list(languages) if languages is not None else None
    planned: list[PlannedJob] = []
    fingerprints: dict[tuple[str, ...], str] = {}
    for row in table.rows:
        if not row_matches(row, models, languages):
            continue
        spec = MODELS.get(row.model)
        if spec is None:
            planned.append(PlannedJob(row, None, "not-implemented",
                                      f"model {row.model!r} is not implemented in this version"))
            continue
        needed = tuple(dict.fromkeys(row.train_languages + (row.test_language,)))
        missing = [lang for lang in needed if not corpus.has_language(lang)]
        if missing:
            planned.append(PlannedJob(row, None, "no-data",
                                      f"language(s) {', '.join(missing)} not in {corpus.root}"))
            continue
        hp = spec.hparams(profile, overrides)
        needs = spec.needs if row.use_image or spec.text_only_needs is None else spec.text_only_needs
        absent = missing_weights(needs, hp)
        if absent:
            planned.append(PlannedJob(row, None, "no-weights",
                                      f"pretrained weights not found: {', '.join(absent)} (see `bench weights`)"))
            continue
        if needed not in fingerprints:
            fingerprints[needed] = corpus.fingerprint(needed)
        setting = Setting(row.train_languages, row.test_language, row.use_image, row.fold)
        for seed in seeds_for(row, seeds):
            job = JobSpec(row.model, setting, seed, profile, hp, corpus.kind, fingerprints[needed])
            planned.append(PlannedJob(row, job, "ready"))
    return planned


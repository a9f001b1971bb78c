"""Expand a table and the user's options into jobs: ``(TableSpec, PlanOptions) -> Plan``.

``make_plan`` is the one function behind ``bench run``, ``bench plan``, ``bench status`` and
``bench report``: the same options always give the same job list, so a report shows exactly the
jobs a run with those options trains. It checks every option before anything runs (one-line
``ConfigError`` otherwise): table, model names, languages (known codes, present in the corpus),
seeds, hyperparameter keys (with close-match hints), types and ranges, the corpus
(``benchmark.corpora.resolve``: a data folder given but absent or empty is an error; the built-in
corpus only when none is given, announced), and images for multimodal rows (refused unless
``allow_missing_images``).

Each row becomes one job per seed (``repeats`` seeds unless ``seeds`` says otherwise). A row that
cannot run here (model not implemented, language absent, weights absent, no images) is planned with
a status that says why; its job is still built when its identity is known, so a report can show a
result computed elsewhere (e.g. on a cluster that has the weights).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from benchmark.corpora.reader import LANGUAGES, Corpus, expand_languages
from benchmark.errors import ConfigError, did_you_mean
from benchmark.hparams import resolve_hparams
from benchmark.registry import MODELS, ModelSpec, get_model, is_hf_ref
from benchmark.tables import Row, TableSpec, extend_with, get_table
from benchmark.run.specs import NO_IMAGES, SCALE_LIMITS, JobSpec, Setting, dev_languages

FIRST_SEED = 1
LANGUAGE_CHOICES: tuple[str, ...] = ("all", *LANGUAGES)
Echo = Callable[[str], None]


@dataclass(frozen=True)
class PlannedJob:
    row: Row
    job: JobSpec | None
    status: str  # "ready", "not-implemented", "no-data", "no-weights", "no-images"
    reason: str = ""


@dataclass(frozen=True)
class PlanOptions:
    """Everything that decides which jobs a table expands to (shared by run/plan/status/report)."""

    table: int
    models: tuple[str, ...] | None = None
    languages: tuple[str, ...] | None = None
    scale: str = "paper"
    seeds: int | None = None
    hp: tuple[tuple[str, Any], ...] = ()
    data_dir: str | None = None
    image_dir: str | None = None
    allow_missing_images: bool = False
    corpus: str = "mmnerd"  # a registered corpus (benchmark.corpora.registry)
    label_map: tuple[tuple[str, str], ...] = ()  # extra TYPE=TYPE readings (--label-map)
    extend: tuple[str, ...] = ()  # models outside the paper that get rows of their own (besides --models)
    pretrained_vectors: bool = True  # False: embeddings="auto" is word2vec whatever is installed (see plan_table)

    @property
    def overrides(self) -> dict[str, Any]:
        return dict(self.hp)


@dataclass
class Plan:
    table: TableSpec
    corpus: Corpus
    options: PlanOptions
    jobs: list[PlannedJob]
    image_source: str
    warnings: list[str] = field(default_factory=list)

    @property
    def ready(self) -> list[JobSpec]:
        return [p.job for p in self.jobs if p.status == "ready" and p.job is not None]

    @property
    def known(self) -> list[PlannedJob]:
        """Planned jobs whose identity is known (ready or blocked only by weights/images here)."""
        return [p for p in self.jobs if p.job is not None]

    def blocked(self) -> dict[str, list[str]]:
        """Reason -> printed rows that cannot run here."""
        out: dict[str, list[str]] = {}
        for p in self.jobs:
            if p.status != "ready":
                label = f"{p.row.group} {p.row.method}".strip()
                rows = out.setdefault(p.reason, [])
                if label not in rows:
                    rows.append(label)
        return out

    def header(self) -> str:
        """Profile, corpus, images and hp overrides, in one line."""
        import json

        opts = self.options
        hp = ", ".join(f"{k}={json.dumps(v)}" for k, v in opts.hp)
        images = self.image_source if any(p.row.use_image for p in self.jobs) else None
        return (f"scale {opts.scale}, data {self.corpus.display} at {self.corpus.root}"
                + (f", images {images}" if images else "") + (f", hp {hp}" if hp else ""))

    def why_nothing(self) -> str:
        """Why no job can run, in one line."""
        if not self.jobs:
            return "no row of the table matches the options"
        return "; ".join(f"{len(rows)} row(s): {reason}" for reason, rows in self.blocked().items())


# ---------------------------------------------------------------------------------------------
# Option checks
# ---------------------------------------------------------------------------------------------

def check_languages(languages: Iterable[str] | None) -> tuple[str, ...] | None:
    """Known language codes (``all``, ``en``, ``fr``, ``es``, ``de``) or a ConfigError."""
    if languages is None:
        return None
    out = []
    for lang in languages:
        code = lang.strip().lower()
        if code not in LANGUAGE_CHOICES:
            raise ConfigError(f"--languages: unknown language {lang!r}{did_you_mean(code, LANGUAGE_CHOICES)} "
                              f"(expected codes: {', '.join(LANGUAGE_CHOICES)})")
        out.append(code)
    return tuple(dict.fromkeys(out))


def check_seeds(seeds: int | None) -> int | None:
    if seeds is not None and (isinstance(seeds, bool) or seeds < 1):
        raise ConfigError(f"--seeds must be >= 1 (runs per row), got {seeds}")
    return seeds


def check_models(table: TableSpec, names: Iterable[str] | None) -> tuple[str, ...] | None:
    """Registry names (or a table's not-yet-implemented row names); unknown names are an error."""
    if names is None:
        return None
    row_models = {r.model for r in table.rows}
    out = [n if n in row_models else get_model(n).name for n in names]
    absent = [n for n in out if n not in row_models]
    if absent:
        raise ConfigError(f"--models: Table {table.number} has no row for {', '.join(absent)} "
                          f"(its models: {', '.join(dict.fromkeys(r.model for r in table.rows))})")
    return tuple(dict.fromkeys(out))


# ---------------------------------------------------------------------------------------------
# Data and images
# ---------------------------------------------------------------------------------------------

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def image_source(image_dir: Path | None) -> str:
    """Fingerprint of an image folder's listing, or ``"none"`` when there is no usable folder.

    The fingerprint hashes every image file's name, size and modification time (not the pixels:
    hashing tens of thousands of JPEGs on every plan would be slow), so replacing, adding or
    removing an image changes it. It is recomputed on every plan (a listing is cheap; a cache keyed
    on the folder would miss a file rewritten in place).
    """
    if image_dir is None or not image_dir.is_dir():
        return NO_IMAGES
    entries = []
    with os.scandir(image_dir) as it:
        for entry in it:
            if entry.name.lower().endswith(IMAGE_SUFFIXES) and entry.is_file():
                est = entry.stat()
                entries.append(f"{entry.name}\t{est.st_size}\t{est.st_mtime_ns}")
    if not entries:
        return NO_IMAGES
    return "listing:" + hashlib.sha256("\n".join(sorted(entries)).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# Planning
# ---------------------------------------------------------------------------------------------

def seeds_for(row: Row, seeds: int | None) -> list[int]:
    n = seeds if seeds is not None else row.repeats
    return list(range(FIRST_SEED, FIRST_SEED + max(1, n)))


def missing_weights(needs: Iterable[str], hp: Mapping[str, Any], use_image: bool = True) -> list[str]:
    """Artefacts a job would load (named by a hyperparameter value) that cannot be found locally;
    a text-only job (``use_image`` False) needs no image encoder."""
    if not needs:
        return []
    from benchmark import weights

    values = {v for v in hp.values() if isinstance(v, str)}
    return [a for a in needs if a in values and weights.locate(a)[0] is None
            and (use_image or not (a in weights.ARTIFACTS and weights.ARTIFACTS[a].for_images))]


def row_matches(row: Row, models: Iterable[str] | None, languages: Iterable[str] | None) -> bool:
    if models is not None and row.model not in set(models):
        return False
    if languages is not None and row.language_code not in set(languages):
        return False
    return True


def plan_table(table: TableSpec, corpus: Corpus, scale: str = "paper", seeds: int | None = None,
               models: Iterable[str] | None = None, languages: Iterable[str] | None = None,
               overrides: Mapping[str, Any] | None = None, images: str | None = None,
               allow_missing_images: bool = False, pretrained_vectors: bool = True,
               resolved: Mapping[str, dict[str, Any]] | None = None) -> list[PlannedJob]:
    """All jobs of ``table`` (filtered by model names and test-language codes).

    ``resolved``: each model's hyperparameters as ``resolve_hparams`` gave them (``make_plan`` resolves
    them once, before any data is read); a model not in it is resolved here.

    ``pretrained_vectors=False``: ``embeddings="auto"`` is word2vec trained here whatever vectors are
    installed (``bench readme``, so its block is the same on every machine).

    ``images`` is the image source of the corpus (``image_source(corpus.image_dir)`` when None).
    """
    if scale not in SCALE_LIMITS:
        raise ConfigError(f"unknown scale {scale!r}; expected {', '.join(SCALE_LIMITS)}")
    models = list(models) if models is not None else None
    languages = list(languages) if languages is not None else None
    overrides = dict(overrides or {})
    images = image_source(corpus.image_dir) if images is None else images
    planned: list[PlannedJob] = []
    fingerprints: dict[tuple[str, ...], str] = {}
    resolved = dict(resolved or {})
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
        if spec.name not in resolved:
            resolved[spec.name] = resolve_hparams(spec, scale, overrides, pretrained_vectors)
        hp = resolved[spec.name]
        if needed not in fingerprints:
            fingerprints[needed] = corpus.fingerprint(needed)
        setting = Setting(row.train_languages, row.test_language, row.use_image, row.fold)
        row_hp = hp
        if "dev_set" in hp and dev_languages(setting, hp) == setting.train_languages:
            row_hp = {k: v for k, v in hp.items() if k != "dev_set"}  # the same dev data: the same job
        status, reason = "ready", ""
        absent = missing_weights(spec.needs, hp, row.use_image)
        if absent:
            status, reason = "no-weights", f"pretrained weights not found: {', '.join(absent)} (see `bench weights`)"
        elif row.use_image and images == NO_IMAGES and not allow_missing_images:
            where = corpus.image_dir or f"$MMNERD_IMAGE_DIR and {corpus.root}/images"
            status, reason = "no-images", (f"no images found (looked in {where}); give --image-dir, or "
                                           "--allow-missing-images to run on substituted default/blank images")
        source = images if row.use_image else NO_IMAGES
        for seed in seeds_for(row, seeds):
            job = JobSpec(row.model, setting, seed, scale, row_hp, corpus.kind, fingerprints[needed], source)
            planned.append(PlannedJob(row, job, status, reason))
    return planned


def resolve_hf_names(options: PlanOptions) -> PlanOptions:
    """``options`` with every ``hf:REF`` model (``--models`` and ``extend``) registered and replaced by
    its registry name, so that every command plans the same jobs (a missing encoder fails here,
    before any data is read)."""
    def names(values: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if values is None:
            return None
        return tuple(dict.fromkeys(get_model(n).name if is_hf_ref(n) else n for n in values))

    return replace(options, models=names(options.models), extend=names(options.extend) or ())


def make_plan(options: PlanOptions, echo: Echo = lambda m: None) -> Plan:
    """Check ``options`` and expand the table into its jobs (the one path for run/plan/status/report)."""
    table = get_table(options.table)
    options = resolve_hf_names(options)
    extra = [n for n in (*(options.models or ()), *options.extend) if n in MODELS or n.lower() in MODELS]
    if extra:  # a model outside the paper gets rows of its own; paper rows are never edited
        table = extend_with(table, [get_model(n).name for n in extra])
    if options.scale not in SCALE_LIMITS:
        raise ConfigError(f"unknown scale {options.scale!r}; expected {', '.join(SCALE_LIMITS)}")
    check_seeds(options.seeds)
    models = check_models(table, options.models)
    languages = check_languages(options.languages)
    resolved = {name: resolve_hparams(MODELS[name], options.scale, options.overrides, options.pretrained_vectors)
                for name in dict.fromkeys(models or [r.model for r in table.rows])  # before any data is read
                if name in MODELS}
    from benchmark.corpora.resolve import resolve_corpus  # strict: a named data dir must hold the corpus

    corpus = resolve_corpus(options.data_dir, options.image_dir, echo=echo, corpus=options.corpus,
                            label_map=dict(options.label_map))
    if languages:
        have = corpus.available_languages()
        absent = [lang for lang in languages
                  if not all(code in have for code in expand_languages(lang))]
        if absent:
            raise ConfigError(f"--languages {','.join(absent)}: not in the corpus at {corpus.root} "
                              f"(it has: {', '.join(have) or 'nothing'})")
    images = image_source(corpus.image_dir)
    jobs = plan_table(table, corpus, options.scale, options.seeds, models, languages, options.overrides,
                      images, options.allow_missing_images, options.pretrained_vectors, resolved)
    plan = Plan(table, corpus, options, jobs, images)
    names = {p.job.model for p in jobs if p.job is not None and p.status == "ready"}
    substituted = sorted(n for n in names if options.pretrained_vectors and resolved[n].get("embeddings") is None
                         and MODELS[n].hparams(options.scale, options.overrides).get("embeddings") == "auto")
    if substituted:
        tried = dict.fromkeys(v for n in substituted for v in MODELS[n].auto_vectors)
        plan.warnings.append(f"{', '.join(substituted)}: {' / '.join(tried)} not found (`bench weights` says "
                             "where each is looked for): word2vec vectors trained on the training split "
                             "instead (recorded in each result as embedding_source)")
    if options.allow_missing_images and images == NO_IMAGES and any(p.row.use_image for p in jobs):
        n = sum(1 for p in jobs if p.row.use_image and p.job is not None)
        plan.warnings.append(f"{n} multimodal job(s) run WITHOUT images (--allow-missing-images): every image "
                             "is substituted, counted in each result and flagged in reports")
    return plan

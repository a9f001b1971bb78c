"""``bench check``: regression checks of every registered model on a fixed subset of the data.

Each registered model is trained with its smoke configuration (tiny encoders) on a deterministic
slice of the English data (the real MMNERD when found, else the built-in corpus) — the ``check``
scale: a larger slice than ``smoke`` so that every checked figure is far from zero — with seed 1,
one torch thread and deterministic algorithms, whatever the caller's settings. Its metrics are
compared with a committed baseline (``results/baselines/<suite>.json``).

Tolerances are measured, not guessed: ``bench check --update`` trains every model with seeds 1-3
at one thread and seed 1 at two threads, stores the spread of each metric beside the seed-1 value,
and derives the allowed drop as ``max(floor, 3 x sample std)``. A small slice is noisy across
machines (another CPU's kernels change the floating-point sums, and training amplifies them), so the
honest tolerance is the seed-to-seed spread; what a check catches is a drop larger than that (a
frozen model, a broken CRF, a reader that drops entities). Only metrics that are stable enough to
mean something are checked: per-type F1 needs ``min_support`` gold entities in the test slice and a
baseline value of at least ``min_checked_f1``, a headline F1/P/R at least ``min_checked_headline``
(the authors' code recipes learn almost nothing with tiny random encoders: their word gathering is
off by one, which a pretrained encoder partly absorbs and a tiny one cannot); the others are kept as
information, and such a model is still checked on its final training loss and the data digest.

A digest of the parsed data slice is compared too, so a changed reader is caught even when the
models happen to score the same.
"""
from __future__ import annotations

import hashlib
import json
import statistics
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from benchmark.corpora.labels import ENTITY_TYPES
from benchmark.corpora.reader import Corpus, Sentence
from benchmark.errors import BenchError, ConfigError
from benchmark.hparams import resolve_hparams
from benchmark.registry import MODELS, get_model
from benchmark.run.specs import JobSpec, Setting
from benchmark.util.io import write_json

Echo = Callable[[str], None]
BASELINE_FORMAT = 2


@dataclass(frozen=True)
class CheckSuite:
    """What a check trains, and how its tolerances are measured."""

    name: str
    language: str = "en"
    seed: int = 1
    threads: int = 1  # fixed inside the check: the baseline is measured at this thread count
    scale: str = "check"  # smoke hyperparameters on the check slice (benchmark.run.specs.SCALE_LIMITS)
    spread_seeds: tuple[int, ...] = (1, 2, 3)
    spread_threads: tuple[int, ...] = (2,)  # extra runs of ``seed`` at these thread counts
    sigmas: float = 3.0  # allowed drop = max(floor, sigmas x sample std over the spread runs)
    min_support: int = 30  # per-type F1 is checked only with this many gold entities in the test slice ...
    min_checked_f1: float = 20.0  # ... and a baseline value of at least this (else informational)
    min_checked_headline: float = 10.0  # a headline F1/P/R below this is noise: recorded, not checked


SUITES: dict[str, CheckSuite] = {"smoke": CheckSuite("smoke")}

# Metric -> smallest allowed drop (F1-type metrics in percentage points; loss as a relative increase).
FLOORS: dict[str, float] = {
    "test_f1": 1.0, "test_precision": 1.5, "test_recall": 1.5, "test_f1_strict": 1.0, "dev_f1": 1.0,
    **{f"test_{t}": 2.0 for t in ENTITY_TYPES}, "final_loss": 0.05,
}
DEFAULT_TOLERANCES = FLOORS  # the floors double as tolerances for a baseline without measured spread
LOWER_IS_BETTER = {"final_loss"}
FAILING = {"regressed", "missing", "changed"}


@dataclass
class Finding:
    model: str
    metric: str
    baseline: float | str | None
    current: float | str | None
    status: str  # "ok", "regressed", "improved", "new", "missing", "changed"
    tolerance: float | None = None


def data_digest(sentences: list[Sentence]) -> str:
    h = hashlib.sha256()
    for s in sentences:
        h.update("\t".join(s.tokens).encode())
        h.update(b"\n")
        h.update("\t".join(s.tags).encode())
        h.update(f"\n{s.image_id}\n".encode())
    return h.hexdigest()[:16]


def builtin_models() -> list[str]:
    """The models a check covers by default: the registered ones, not a user's plugins (no baseline)."""
    from benchmark.registry import PLUGIN_SOURCES

    return [n for n in MODELS if n not in PLUGIN_SOURCES]


def get_suite(name: str) -> CheckSuite:
    if name not in SUITES:
        raise ConfigError(f"unknown check suite {name!r}; known: {', '.join(SUITES)}")
    return SUITES[name]


def check_jobs(corpus: Corpus, suite: str | CheckSuite = "smoke", models: Sequence[str] | None = None,
               seed: int | None = None) -> list[JobSpec]:
    cfg = get_suite(suite) if isinstance(suite, str) else suite
    names = list(models) if models else builtin_models()
    fingerprint = corpus.fingerprint([cfg.language])
    jobs = []
    for name in names:
        spec = get_model(name)
        setting = Setting((cfg.language,), cfg.language, use_image=spec.modality == "text+image")
        jobs.append(JobSpec(spec.name, setting, cfg.seed if seed is None else seed, cfg.scale,
                            resolve_hparams(spec, cfg.scale), corpus.kind, fingerprint))
    return jobs


class pinned_threads:
    """Context manager: run with ``n`` torch threads and deterministic algorithms, then restore."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __enter__(self) -> "pinned_threads":
        import torch

        self.saved = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())
        torch.set_num_threads(self.n)
        torch.use_deterministic_algorithms(True, warn_only=True)
        return self

    def __exit__(self, *exc: object) -> None:
        import torch

        torch.set_num_threads(self.saved[0])
        torch.use_deterministic_algorithms(self.saved[1])


def job_metrics(res: Any) -> dict[str, float]:
    """The figures a check compares, from a ``Result`` (F1-type metrics in %)."""
    from benchmark.metrics import headline

    test_h, dev_h = headline(res.test), headline(res.dev)
    metrics = {"test_f1": test_h["f1"], "test_precision": test_h["precision"], "test_recall": test_h["recall"],
               "test_f1_strict": 100 * res.test["strict"]["f1"], "dev_f1": dev_h["f1"],
               **{f"test_{t}": test_h[t] for t in ENTITY_TYPES}, "final_loss": res.history[-1]["loss"]}
    return {k: round(float(v), 4) for k, v in metrics.items()}


def _data_record(corpus: Corpus, cfg: CheckSuite) -> tuple[dict[str, Any], dict[str, int]]:
    from benchmark.run.train import job_data

    job = check_jobs(corpus, cfg, [next(iter(MODELS))])[0]
    train, dev, test = job_data(job, corpus)
    support = {t: 0 for t in ENTITY_TYPES}
    from benchmark.corpora.reader import count_entities
    for t, n in count_entities([s.tags for s in test]).items():
        support[t] = support.get(t, 0) + n
    record = {"kind": corpus.kind, "language": cfg.language, "digest": data_digest(train + dev + test),
              "sizes": [len(train), len(dev), len(test)], "test_support": support}
    return record, support


def _model_runs(corpus: Corpus, cfg: CheckSuite, name: str, combos: Sequence[tuple[int, int]]
                ) -> list[tuple[str, int, int, dict[str, float]]]:
    from benchmark.run.train import run_job

    out = []
    for seed, n in combos:
        job = check_jobs(corpus, cfg, [name], seed=seed)[0]
        with pinned_threads(n):
            out.append((name, seed, n, job_metrics(run_job(job, corpus))))
    return out


def _runs(corpus: Corpus, cfg: CheckSuite, names: Sequence[str], seeds: Sequence[int],
          threads: Sequence[int], workers: int = 1) -> Iterator[tuple[str, int, int, dict[str, float]]]:
    """(model, seed, threads, metrics) for each model x (seed at cfg.threads, cfg.seed at each of threads).

    With ``workers`` > 1 the models are spread over that many worker processes (spawned, so each
    starts clean); every run is still pinned to its own thread count, so results do not change.
    """
    from benchmark.registry import PLUGIN_SOURCES

    combos = [(s, cfg.threads) for s in seeds] + [(cfg.seed, t) for t in threads if t != cfg.threads]
    if any(n in PLUGIN_SOURCES for n in names):  # a spawned worker would not know a plugin's models
        workers = 1
    if workers <= 1 or len(names) <= 1:
        for name in names:
            yield from _model_runs(corpus, cfg, name, combos)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_model_runs, corpus, cfg, name, combos) for name in names]
        for future in futures:  # in registry order, whichever finishes first
            yield from future.result()


def measure(corpus: Corpus, suite: str = "smoke", models: Sequence[str] | None = None,
            echo: Echo = print, workers: int = 1) -> dict[str, Any]:
    """Train every model once (the suite's seed and threads); ``{"data": ..., "models": {name: metrics}}``.

    Each job is an ordinary job run by ``benchmark.run.train.run_job`` (same data slicing, seeding
    and training loop as ``bench run``), just not stored.
    """
    cfg = get_suite(suite)
    names = [get_model(n).name for n in models] if models else builtin_models()
    data, _ = _data_record(corpus, cfg)
    out: dict[str, Any] = {"data": data, "models": {}}
    for name, _seed, _n, metrics in _runs(corpus, cfg, names, [cfg.seed], [], workers):
        out["models"][name] = metrics
        echo(f"  {name}: test F1 {metrics['test_f1']:.2f} (dev {metrics['dev_f1']:.2f}, "
             f"final loss {metrics['final_loss']:.4f})")
    return out


def tolerance_from_spread(metric: str, values: Sequence[float], cfg: CheckSuite) -> float:
    """``max(floor, sigmas x sample std)``; for the loss, relative to the mean."""
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    if metric in LOWER_IS_BETTER:
        mean = statistics.fmean(values)
        std = std / mean if mean > 0 else 0.0
    return round(max(FLOORS.get(metric, 1.0), cfg.sigmas * std), 4)


def measure_baseline(corpus: Corpus, suite: str = "smoke", models: Sequence[str] | None = None,
                     echo: Echo = print, command: str = "", workers: int = 1) -> dict[str, Any]:
    """Seed-1 metrics plus the measured spread and the tolerances derived from it.

    Returns ``{"format", "data", "suite", "measured", "models", "info", "spread", "tolerances"}``:
    ``models`` holds the checked metrics, ``info`` the recorded-but-unchecked ones.
    """
    cfg = get_suite(suite)
    names = [get_model(n).name for n in models] if models else builtin_models()
    data, support = _data_record(corpus, cfg)
    per_model: dict[str, list[tuple[int, int, dict[str, float]]]] = {}
    for name, seed, n, metrics in _runs(corpus, cfg, names, cfg.spread_seeds, cfg.spread_threads, workers):
        per_model.setdefault(name, []).append((seed, n, metrics))
        echo(f"  {name} seed {seed} threads {n}: test F1 {metrics['test_f1']:.2f} (dev {metrics['dev_f1']:.2f})")
    out: dict[str, Any] = {
        "format": BASELINE_FORMAT, "data": data, "suite": asdict(cfg),
        "measured": {"command": command, "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     "runs": "seeds %s at %d thread(s) + seed %d at %s thread(s)" % (
                         list(cfg.spread_seeds), cfg.threads, cfg.seed, list(cfg.spread_threads))},
        "models": {}, "info": {}, "spread": {}, "tolerances": {}}
    for name, runs in per_model.items():
        ref = next(m for s, n, m in runs if s == cfg.seed and n == cfg.threads)
        checked, info, spread, tols = {}, {}, {}, {}
        for metric, value in ref.items():
            values = [m[metric] for _, _, m in runs]
            spread[metric] = {"min": min(values), "max": max(values), "n": len(values),
                              "std": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0}
            etype = metric[5:] if metric.startswith("test_") and metric[5:] in ENTITY_TYPES else None
            if metric in LOWER_IS_BETTER:
                stable = True
            elif etype is None:
                stable = value >= cfg.min_checked_headline
            else:
                stable = support.get(etype, 0) >= cfg.min_support and value >= cfg.min_checked_f1
            if stable:
                checked[metric] = value
                tols[metric] = tolerance_from_spread(metric, values, cfg)
            else:
                info[metric] = value
        out["models"][name], out["info"][name] = checked, info
        out["spread"][name], out["tolerances"][name] = spread, tols
    return out


def compare(baseline: Mapping[str, Any], current: Mapping[str, Any],
            tolerances: Mapping[str, float] | None = None) -> list[Finding]:
    """Findings per model and checked metric; ``regressed``/``missing``/``changed`` are failures.

    The allowed drop of a metric is, in order: ``tolerances[metric]`` (an explicit override),
    the baseline's measured tolerance for that model and metric, the metric's floor.
    """
    tolerances = tolerances or {}
    measured = baseline.get("tolerances", {})
    findings: list[Finding] = []
    if baseline["data"]["digest"] != current["data"]["digest"]:
        findings.append(Finding("(data)", "digest", baseline["data"]["digest"], current["data"]["digest"], "changed"))
    for model, base_metrics in baseline["models"].items():
        cur = current["models"].get(model)
        if cur is None:
            findings.append(Finding(model, "*", "present", None, "missing"))
            continue
        for metric, base in base_metrics.items():
            value = cur.get(metric)
            tol = tolerances.get(metric, measured.get(model, {}).get(metric, FLOORS.get(metric, 1.0)))
            if value is None:
                findings.append(Finding(model, metric, base, None, "missing", tol))
                continue
            if metric in LOWER_IS_BETTER:
                worse = value > base * (1 + tol) + 1e-9
                better = value < base * (1 - tol) - 1e-9
            else:
                worse = value < base - tol - 1e-9
                better = value > base + tol + 1e-9
            status = "regressed" if worse else "improved" if better else "ok"
            findings.append(Finding(model, metric, base, value, status, tol))
    for model in current["models"]:
        if model not in baseline["models"]:
            findings.append(Finding(model, "*", None, "present", "new"))
    return findings


def render_findings(findings: list[Finding], show_all: bool = False) -> str:
    from tabulate import tabulate

    rows = []
    for f in findings:
        if f.status == "ok" and not show_all:
            continue
        if isinstance(f.baseline, float) and isinstance(f.current, float):
            delta = f"{f.current - f.baseline:+.2f}"
        else:
            delta = ""
        tol = "" if f.tolerance is None else (f"{100 * f.tolerance:.0f}%" if f.metric in LOWER_IS_BETTER
                                              else f"{f.tolerance:.2f}")
        rows.append([f.model, f.metric, f.baseline, f.current, delta, tol,
                     f.status.upper() if f.status in FAILING else f.status])
    if not rows:
        return "all metrics within tolerance"
    return tabulate(rows, headers=["model", "metric", "baseline", "now", "Δ", "allowed drop", "status"],
                    tablefmt="github", disable_numparse=True)


def baseline_path(results: str | Path, suite: str) -> Path:
    return Path(results) / "baselines" / f"{suite}.json"


def load_baseline(path: Path, kind: str) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise BenchError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    entry = data.get(kind)
    if entry is not None and entry.get("format", 1) > BASELINE_FORMAT:
        raise BenchError(f"{path}: baseline format {entry['format']} is newer than this mmner-bench "
                         f"understands ({BASELINE_FORMAT}); upgrade")
    return entry


def merge_baseline(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """``new`` with the models it did not measure kept from ``old`` (a partial ``--update``)."""
    if not old:
        return dict(new)
    merged = dict(new)
    for key in ("models", "info", "spread", "tolerances"):
        merged[key] = {**old.get(key, {}), **new.get(key, {})}
    return merged


def save_baseline(path: Path, kind: str, measured: dict[str, Any]) -> None:
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[kind] = measured
    write_json(path, data)


def parse_tolerances(spec: str | None) -> dict[str, float]:
    """Explicit per-metric overrides (``test_f1=0.5,final_loss=0.1`` or ``all=2``); empty = measured."""
    tol: dict[str, float] = {}
    if not spec:
        return tol
    for item in spec.split(","):
        if "=" not in item:
            raise ConfigError(f"--tolerance expects METRIC=VALUE[,...], got {item!r}")
        key, value = item.split("=", 1)
        key = key.strip()
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"--tolerance {key}: {value!r} is not a number") from None
        if number < 0:
            raise ConfigError(f"--tolerance {key}: must be >= 0, got {number}")
        if key == "all":
            tol = {k: number for k in FLOORS}
            continue
        if key not in FLOORS:
            raise ConfigError(f"unknown metric {key!r} in --tolerance; known: {', '.join(FLOORS)}, all")
        tol[key] = number
    return tol

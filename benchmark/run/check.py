"""``bench check``: regression checks of every registered model on a small, fixed subset.

Each registered model is trained with its smoke configuration on a deterministic slice of the
English data (the real MMNERD when found, else the built-in fallback corpus), with seed 1, and its
metrics are compared with a committed baseline (``results/baselines/<suite>.json``) within
per-metric tolerances. A digest of the parsed data slice is compared too, so a changed reader is
caught even when the models happen to score the same.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from benchmark.corpora.labels import ENTITY_TYPES
from benchmark.corpora.reader import Corpus, Sentence
from benchmark.errors import BenchError, ConfigError
from benchmark.registry import MODELS, get_model
from benchmark.run.specs import JobSpec, Setting
from benchmark.util.io import write_json

SUITES: dict[str, dict[str, Any]] = {
    # language and seed; the slice sizes are the smoke profile's (benchmark.run.specs.PROFILE_LIMITS)
    "smoke": {"language": "en", "seed": 1},
}
# Metric name -> allowed drop (F1-type metrics in percentage points; loss as a relative increase).
DEFAULT_TOLERANCES: dict[str, float] = {
    "test_f1": 1.0, "test_precision": 1.5, "test_recall": 1.5, "test_f1_strict": 1.0, "dev_f1": 1.0,
    **{f"test_{t}": 3.0 for t in ENTITY_TYPES}, "final_loss": 0.05,
}
LOWER_IS_BETTER = {"final_loss"}


@dataclass
class Finding:
    model: str
    metric: str
    baseline: float | str | None
    current: float | str | None
    status: str  # "ok", "regressed", "improved", "new", "missing", "changed"


def data_digest(sentences: list[Sentence]) -> str:
    h = hashlib.sha256()
    for s in sentences:
        h.update("\t".join(s.tokens).encode())
        h.update(b"\n")
        h.update("\t".join(s.tags).encode())
        h.update(f"\n{s.image_id}\n".encode())
    return h.hexdigest()[:16]


def check_jobs(corpus: Corpus, suite: str = "smoke", models: list[str] | None = None) -> list[JobSpec]:
    cfg = SUITES[suite]
    names = models or list(MODELS)
    jobs = []
    for name in names:
        spec = get_model(name)
        setting = Setting((cfg["language"],), cfg["language"], use_image=spec.modality == "text+image")
        jobs.append(JobSpec(spec.name, setting, cfg["seed"], "smoke", spec.hparams("smoke"), corpus.kind,
                            corpus.fingerprint([cfg["language"]])))
    return jobs


def measure(corpus: Corpus, suite: str = "smoke", models: list[str] | None = None,
            echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Train every model of the suite; returns ``{"data": {...}, "models": {name: {metric: value}}}``.

    Each job is an ordinary smoke-profile job run by ``benchmark.run.train.run_job`` (same data slice,
    seeding and training loop as ``bench run --profile smoke``), just not stored.
    """
    from benchmark.metrics import headline
    from benchmark.run.train import job_data, run_job

    jobs = check_jobs(corpus, suite, models)
    train, dev, test = job_data(jobs[0], corpus)
    out: dict[str, Any] = {"data": {"kind": corpus.kind, "language": SUITES[suite]["language"],
                                    "digest": data_digest(train + dev + test),
                                    "sizes": [len(train), len(dev), len(test)]}, "models": {}}
    for job in jobs:
        res = run_job(job, corpus)
        test_h, dev_h = headline(res.test), headline(res.dev)
        metrics = {"test_f1": test_h["f1"], "test_precision": test_h["precision"], "test_recall": test_h["recall"],
                   "test_f1_strict": 100 * res.test["strict"]["f1"], "dev_f1": dev_h["f1"],
                   **{f"test_{t}": test_h[t] for t in ENTITY_TYPES},
                   "final_loss": res.history[-1]["loss"]}
        out["models"][job.model] = {k: round(float(v), 4) for k, v in metrics.items()}
        echo(f"  {job.model}: test F1 {metrics['test_f1']:.2f} (dev {metrics['dev_f1']:.2f}, "
             f"final loss {metrics['final_loss']:.4f})")
    return out


def compare(baseline: Mapping[str, Any], current: Mapping[str, Any],
            tolerances: Mapping[str, float] = DEFAULT_TOLERANCES) -> list[Finding]:
    """Findings per model and metric; ``regressed``/``missing``/``changed`` are failures."""
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
            tol = tolerances.get(metric, 1.0)
            if value is None:
                findings.append(Finding(model, metric, base, None, "missing"))
                continue
            if metric in LOWER_IS_BETTER:
                worse = value > base * (1 + tol) + 1e-9
                better = value < base * (1 - tol) - 1e-9
            else:
                worse = value < base - tol - 1e-9
                better = value > base + tol + 1e-9
            findings.append(Finding(model, metric, base, value, "regressed" if worse else "improved" if better else "ok"))
    for model in current["models"]:
        if model not in baseline["models"]:
            findings.append(Finding(model, "*", None, "present", "new"))
    return findings


FAILING = {"regressed", "missing", "changed"}


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
        rows.append([f.model, f.metric, f.baseline, f.current, delta, f.status.upper() if f.status in FAILING else f.status])
    if not rows:
        return "all metrics within tolerance"
    return tabulate(rows, headers=["model", "metric", "baseline", "now", "Δ", "status"], tablefmt="github",
                    disable_numparse=True)


def baseline_path(results: str | Path, suite: str) -> Path:
    return Path(results) / "baselines" / f"{suite}.json"


def load_baseline(path: Path, kind: str) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise BenchError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    return data.get(kind)


def save_baseline(path: Path, kind: str, measured: dict[str, Any]) -> None:
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[kind] = measured
    write_json(path, data)


def parse_tolerances(spec: str | None) -> dict[str, float]:
    tol = dict(DEFAULT_TOLERANCES)
    if not spec:
        return tol
    for item in spec.split(","):
        if "=" not in item:
            raise ConfigError(f"--tolerance expects METRIC=VALUE[,...], got {item!r}")
        key, value = item.split("=", 1)
        key = key.strip()
        if key == "all":
            tol = {k: float(value) for k in tol}
            continue
        if key not in tol:
            raise ConfigError(f"unknown metric {key!r} in --tolerance; known: {', '.join(tol)}, all")
        tol[key] = float(value)
    return tol

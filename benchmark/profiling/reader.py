"""``bench profile --reader``: peak memory and time of ``bench validate`` on generated files.

Each file holds one-token sentences (``t<k>\\t<tag>`` then a blank line: the most sentences per
megabyte, the worst case for a reader that keeps them). Every size is validated by a fresh
``python -m benchmark.cli validate`` process; its peak resident memory comes from the kernel
(``os.wait4``), as does its CPU time (user + system; unlike the wall time, not inflated when other
processes share the cores), its wall time from this process.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

TAGS = ("O", "O", "B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG", "O", "B-MISC")


def write_one_token_file(path: Path, size_mb: float) -> int:
    """Write about ``size_mb`` MB of one-token sentences to ``path``; the number of sentences."""
    target = int(size_mb * 1_000_000)
    block = "".join(f"t{k}\t{TAGS[k]}\n\n" for k in range(len(TAGS))).encode()
    copies = max(1, target // len(block))
    with path.open("wb") as fh:
        for start in range(0, copies, 10_000):
            fh.write(block * min(10_000, copies - start))
    return copies * len(TAGS)


def _validate(path: Path) -> tuple[float, float, float, str]:
    """``(wall seconds, CPU seconds, peak RSS in MB, first output line)`` of one ``bench validate`` process."""
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), *filter(None, [os.environ.get("PYTHONPATH")])]))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "benchmark.cli", "validate", str(path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"bench validate {path} exited {proc.returncode}: {out.strip()[:300]}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.splitlines()[0] if out else ""


def profile_reader(sizes_mb: Sequence[float] = (12.5, 25.0, 50.0)) -> dict[str, Any]:
    """Validate a generated file of each size (plus a tiny one: the process's own footprint)."""
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-reader-") as tmp:
        for size in (0.001, *sizes_mb):
            path = Path(tmp) / f"one_token_{size:g}MB.txt"
            sentences = write_one_token_file(path, size)
            seconds, cpu, peak_mb, line = _validate(path)
            runs.append({"size_mb": round(path.stat().st_size / 1e6, 3), "sentences": sentences,
                         "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2), "peak_rss_mb": round(peak_mb, 1),
                         "validate_output": line.replace(str(path), path.name)})
            path.unlink()
    big = runs[-1]
    return {"what": "bench validate on a file of one-token sentences, one fresh process per size",
            "runs": runs, "largest": {k: big[k] for k in ("size_mb", "seconds", "cpu_seconds", "peak_rss_mb")},
            "cpu_seconds_per_mb": [round(r["cpu_seconds"] / r["size_mb"], 3) for r in runs[1:]],
            "startup_rss_mb": runs[0]["peak_rss_mb"]}


def format_reader_profile(out: dict[str, Any]) -> str:
    lines = [f"{'size MB':>8} {'sentences':>10} {'wall s':>8} {'CPU s':>8} {'CPU s/MB':>8} {'peak RSS MB':>12}"]
    for i, r in enumerate(out["runs"]):
        per_mb = f"{r['cpu_seconds'] / r['size_mb']:.2f}" if i else "-"  # the first: start-up only
        lines.append(f"{r['size_mb']:>8.3f} {r['sentences']:>10} {r['seconds']:>8.2f} {r['cpu_seconds']:>8.2f} "
                     f"{per_mb:>8} {r['peak_rss_mb']:>12.1f}")
    return "\n".join(lines)

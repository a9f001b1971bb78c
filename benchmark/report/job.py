"""One stored job as text: its settings, metrics per epoch and log tail (``bench show``)."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from benchmark.errors import BenchError


def terminal_safe(text: str) -> str:
    """``text`` with control characters other than newline and tab shown as ``\\xNN`` escapes, so a
    stored string (a command, a log line) cannot move the cursor, recolour or retitle the terminal."""
    return "".join(c if c in "\n\t" or not (ord(c) < 32 or 127 <= ord(c) < 160) else f"\\x{ord(c):02x}"
                   for c in text)


def describe_job(folder: Path, log_lines: int = 12) -> str:
    """Settings, per-epoch metrics and the log tail of the job stored in ``folder``."""
    from tabulate import tabulate

    from benchmark.run.specs import JobSpec

    try:
        job = JobSpec.from_json(json.loads((folder / "job.json").read_text(encoding="utf-8")))
        result_file = folder / "result.json"
        res = json.loads(result_file.read_text(encoding="utf-8")) if result_file.is_file() else None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BenchError(f"{folder}: unreadable job record ({exc})") from None
    out = [f"job {job.job_id}  {'finished' if res else 'UNFINISHED (resumes on the next bench run)'}  {folder}",
           f"  model      {job.model}",
           f"  setting    {job.setting.label()}",
           f"  seed       {job.seed}    scale {job.scale}    data {job.corpus_name} ({job.data_fingerprint[:12]})",
           textwrap.fill(", ".join(f"{k}={v}" for k, v in sorted(job.hparams.items())), width=100,
                         initial_indent="  hparams    ", subsequent_indent=" " * 13)]
    history: list[dict[str, Any]] = []
    if res:
        from benchmark.util.machine import cpu_label

        env, test = res.get("environment", {}), res["test"]["conlleval"]
        dirty = " (uncommitted changes)" if env.get("dirty") else ""
        out += [f"  command    {env.get('command', '?')}",
                f"  commit     {str(env.get('commit', '?'))[:12]}{dirty}    finished {env.get('finished_at', '?')}",
                f"  machine    {env.get('device', '?')}"
                + (f" ({env['gpu']})" if env.get("gpu") else "")
                + (f", cpu {cpu_label(env)}" if env.get("cpu_model") else "")
                + f", {env.get('torch_threads', '?')} thread(s), "
                f"{res.get('wall_time_s', 0) / 60:.1f} min, peak {res.get('peak_memory_mb', 0):.0f} MB",
                f"  test       F1 {100 * test['f1']:.2f}  P {100 * test['precision']:.2f}  R {100 * test['recall']:.2f}"
                f"  (epoch {res['selected_epoch']} of {res['epochs_run']}, best {job.hparams.get('select_on', 'dev')})"
                f"; strict F1 {100 * res['test']['strict']['f1']:.2f}",
                "  counts     " + ", ".join(f"{k}={v}" for k, v in res.get("counts", {}).items())]
        history = res.get("history", [])
        selected = res["selected_epoch"]
    else:
        selected = None
    if history:
        rows = [[("* " if h["epoch"] == selected else "  ") + str(h["epoch"]), f"{h['loss']:.4f}",
                 f"{100 * h['dev']['conlleval']['f1']:.2f}", f"{100 * h['test']['conlleval']['f1']:.2f}",
                 f"{h.get('train_time_s', 0):.1f}"] for h in history]
        out += ["", "metrics per epoch (* = selected):",
                tabulate(rows, headers=["epoch", "loss", "dev F1", "test F1", "train s"], tablefmt="simple",
                         disable_numparse=True)]
    log = folder / "train.log"
    if log.is_file() and log_lines > 0:
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-log_lines:]
        out += ["", f"{log} (last {len(tail)} lines):", *("  " + line for line in tail)]
    error = folder / "error.txt"
    if error.is_file():
        out += ["", f"{error} (last lines):",
                *("  " + line for line in error.read_text(encoding="utf-8", errors="replace").splitlines()[-6:])]
    return "\n".join(out)

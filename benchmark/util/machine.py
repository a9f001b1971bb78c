"""What a result records about the processor it ran on: the facts that change float results.

oneDNN and PyTorch pick kernels by instruction set (AVX2, AVX-512, AMX/bf16), so the same job on
two CPU types gives close but not bitwise-equal numbers. ``cpu_facts`` names the CPU model, the
instruction-set features that decide those kernels, what PyTorch itself detected, and a runtime cap
(``ONEDNN_MAX_CPU_ISA``) when one is set, so two results that differ can be told apart.
"""
from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

# /proc/cpuinfo flags that change which float kernels run (AVX-512 foundation, bf16 and AMX units)
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16")


def _cpuinfo(path: Path = Path("/proc/cpuinfo")) -> tuple[str | None, set[str]]:
    """The first processor's model name and flags (Linux); (None, empty) where there is no cpuinfo."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None, set()
    model, flags = None, set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model is None:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
        if model is not None and flags:
            break
    return model, flags


def cpu_facts(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, Any]:
    """``cpu_model``, ``cpu_isa`` (which of ``ISA_FLAGS`` the CPU has), ``torch_cpu_capability`` (the
    kernel level PyTorch chose: DEFAULT, AVX2, AVX512, ...) and ``onednn_max_cpu_isa`` when set."""
    model, flags = _cpuinfo(cpuinfo)
    facts: dict[str, Any] = {"cpu_model": model or platform.processor() or platform.machine() or None,
                             "cpu_isa": [f for f in ISA_FLAGS if f in flags]}
    try:
        import torch

        facts["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    except (ImportError, AttributeError, RuntimeError):
        facts["torch_cpu_capability"] = None
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA")
    if cap:
        facts["onednn_max_cpu_isa"] = cap
    return facts


def cpu_label(env: dict[str, Any]) -> str:
    """A short name of a result's CPU type for tables: model and its widest vector unit, e.g.
    ``AMD EPYC (avx2)``; ``?`` for results stored before the CPU was recorded."""
    model = env.get("cpu_model")
    if not model:
        return "?"
    isa = env.get("cpu_isa") or []
    widest = next((f for f in ("amx_bf16", "avx512_bf16", "avx512f", "avx2") if f in isa), None)
    cap = env.get("onednn_max_cpu_isa")
    return f"{model} ({widest or 'no avx2'}{', oneDNN capped at ' + cap if cap else ''})"

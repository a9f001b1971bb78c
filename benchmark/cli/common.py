"""Helpers the command modules share: default results folders, option value parsing, output."""
from __future__ import annotations

import json
from typing import Any

import click

from benchmark.errors import ConfigError

DEFAULT_RESULTS = "results/local"  # the user's own runs (git-ignored); committed runs: results/reference
REFERENCE_RESULTS = "results/reference"


def parse_hp(items: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--hp expects KEY=VALUE, got {item!r}")
        key, raw = item.split("=", 1)
        if key.strip() in out:
            raise ConfigError(f"--hp {key.strip()} given twice ({key.strip()}={json.dumps(out[key.strip()])} "
                              f"and {item}); give each key once")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def split_csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def check_device_name(name: str) -> str:
    """``--device``: auto, cpu, cuda or cuda:N; anything else is one line, exit 2."""
    if name not in ("auto", "cpu", "cuda") and not (name.startswith("cuda:") and name[5:].isdigit()):
        raise ConfigError(f"--device {name}: not a device (use cpu, cuda, cuda:N or auto)")
    return name


def resolve_device(name: str) -> str:
    check_device_name(name)
    if name == "auto":
        import torch
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        import torch
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name}: no CUDA device is visible (use --device cpu)")
    return name


def set_threads(threads: int | None) -> None:
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {threads}")
    if threads:
        import torch
        torch.set_num_threads(threads)


def warn(message: str) -> None:
    click.echo(f"bench: warning: {message}", err=True)


def plan_header(plan) -> str:
    return plan.header()


def emit(text: str, output: str | None) -> None:
    if output:
        from benchmark.util.io import write_text
        write_text(output, text)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)

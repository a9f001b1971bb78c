"""``bench models``: the registered models and their recorded parameter counts."""
from __future__ import annotations

import json
from pathlib import Path

import click

from benchmark.cli.options import plugin_option


@click.command(epilog="""\b
Examples:
  bench models
  bench --plugin my_tagger:SPEC models    # your own model listed beside the nine""")
@click.option("--results", default="results", show_default=True, type=click.Path(file_okay=False),
              help="Where recorded parameter counts are looked up (RESULTS/benchmarks, RESULTS/reference).")
@plugin_option
def models(results: str) -> None:
    """List registered models: modality, recipe, variants, parameters, pretrained weights, source."""
    from tabulate import tabulate

    from benchmark.registry import HF_FORM, MODELS, PLUGIN_SOURCES, variant_base

    counts = recorded_parameters(Path(results))
    rows = []
    for s in MODELS.values():
        base = variant_base(s)
        rows.append([s.name, s.display, s.modality, s.recipe, base or "-", counts.get(s.name, "-"),
                     ", ".join(s.needs) or "-", PLUGIN_SOURCES.get(s.name, "built-in")])
    click.echo(tabulate(rows, headers=["name", "method", "modality", "recipe", "variant of", "parameters",
                                       "pretrained weights", "source"], tablefmt="github", disable_numparse=True))
    variants: dict[str, list[str]] = {}
    for s in MODELS.values():
        base = variant_base(s)
        if base:
            variants.setdefault(base, []).append(s.name + (f" ({s.recipe} recipe)" if s.recipe != "paper" else ""))
    for base, names in variants.items():
        click.echo(f"variants of {base}: {', '.join(names)}")
    click.echo(f"any Hugging Face encoder, without code: {HF_FORM}")
    click.echo("parameters: a recorded count (`bench profile --model NAME`, or a stored paper-profile run), "
               "with its profile; '-' when none is recorded. `bench weights` says which weights are present.")


def _human(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.0f}k" if n >= 1e3 else str(n)


def recorded_parameters(results: Path) -> dict[str, str]:
    """Model name -> recorded parameter count with its source; nothing is built to count them.

    Paper-size figures first: a paper-profile ``bench profile --model`` record in
    ``results/benchmarks``, then ``counts.parameters`` of a stored paper-profile run in
    ``results/reference``, then a smoke-profile ``bench profile`` record.
    """
    candidates: list[tuple[int, str, int, str]] = []  # (priority, model, count, source)
    for path in sorted((results / "benchmarks").glob("model_*.json")):
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
            paper = rec["profile"] == "paper"
            candidates.append((0 if paper else 2, rec["model"], int(rec["parameters"]["total"]),
                               f"{rec['profile']} profile, bench profile"))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    from benchmark.run.store import ResultStore
    for res in ResultStore(results / "reference").all():
        total = res.counts.get("parameters")
        if res.job.profile == "paper" and isinstance(total, int):
            candidates.append((1, res.job.model, total, f"paper run on {res.job.data_kind}"))
    found: dict[str, str] = {}
    for _, model, total, source in sorted(candidates):
        found.setdefault(model, f"{_human(total)} ({source})")
    return found

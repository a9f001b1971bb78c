"""``bench models``: the registered models and their recorded parameter counts."""
from __future__ import annotations

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
    from benchmark.report.parameters import recorded_parameters

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
    click.echo("parameters: a recorded count (`bench profile --model NAME`, or a stored paper-scale run), "
               "with its scale; '-' when none is recorded. `bench weights` says which weights are present.")



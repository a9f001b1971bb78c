"""``bench weights``: the pretrained artefacts each model needs, present or not."""
from __future__ import annotations

import click

from benchmark.cli.common import split_csv
from benchmark.cli.options import plugin_option


@click.command(epilog="""\b
Examples:
  bench weights
  bench weights --models hf:xlm-roberta-base              # where an encoder is found (HF cache)
  bench weights --download bert-base-multilingual-cased   # where a network exists""")
@click.option("--models", "model_names", help="Comma-separated registry names or hf:<hub id or folder>[+crf] (default: all).")
@click.option("--download", is_flag=True, help="Fetch what is missing (needs network; e.g. on a login node).")
@click.argument("artifacts", nargs=-1)
@plugin_option
def weights(model_names: str | None, download: bool, artifacts: tuple[str, ...]) -> None:
    """What pretrained artefacts each model needs, and whether they are present (or --download them)."""
    from tabulate import tabulate

    from benchmark import weights as w
    from benchmark.registry import HF_FORM, HF_PREFIX

    if download:
        ids = list(artifacts) or None
        if ids is None and model_names:
            from benchmark.registry import get_model
            ids = list(dict.fromkeys(a for n in split_csv(model_names) or [] for a in get_model(n).needs))
        w.download(ids, log=click.echo)
        return
    rows = w.status(split_csv(model_names))
    click.echo(tabulate([[r.model, r.artifact, "yes" if r.present else "NO", r.where] for r in rows],
                        headers=["model", "artefact", "present", "where"], tablefmt="github"))
    for art_id in dict.fromkeys(r.artifact for r in rows
                                if r.artifact in w.ARTIFACTS and w.ARTIFACTS[r.artifact].kind == "embeddings"):
        click.echo(f"{art_id} sources: {w.ARTIFACTS[art_id].provide}")
    if not any(r.artifact.startswith(HF_PREFIX) for r in rows):
        click.echo(f"any other encoder: --models {HF_FORM}; `bench weights --models hf:REF` says where it is found")
    if any(not r.present for r in rows):
        click.echo(f"weights folder: {w.weights_dir()} (set MMNER_WEIGHTS_DIR); "
                   "`bench weights --download` fetches missing ones where a network exists")

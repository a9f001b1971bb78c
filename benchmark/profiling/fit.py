"""``bench profile --model NAME --fit-steps N``: time training steps through the real trainer.

Builds the model (paper profile: with stand-in random weights of the real shapes when the
pretrained files are absent, as ``benchmark.profiling.model`` does), and runs ``fit`` for two
epochs of N steps on synthetic sentences with images, with a work folder (checkpoints written)
and an on-disk feature cache: epoch 1 starts cold, epoch 2 finds the frozen encoders' features
cached. Reports seconds per step of each epoch, peak RSS (or CUDA memory), the checkpoint files'
sizes, and the feature-cache counts. Usable on any tree that has ``fit(model, hp, train, dev,
test, seed, work_dir, log)`` (run as a script with ``PYTHONPATH`` set to compare two trees).
"""
from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmark.util.io import dumps, write_json

# hyperparameters that only size the measurement, not the model
SIZING = ("epochs", "num_workers", "batch_size", "eval_batch_size")


def profile_fit(model_name: str, scale: str = "paper", device: str = "cpu", steps: int = 2,
                batch_size: int = 16, overrides: dict[str, Any] | None = None,
                work_root: str | Path | None = None) -> dict[str, Any]:
    from benchmark.api import BuildContext
    from benchmark.corpora.fallback import generate_fallback
    from benchmark.corpora.images import ImageStore
    from benchmark.errors import MissingArtifactError
    from benchmark.hparams import resolve_hparams
    from benchmark.registry import get_model, load_factory
    from benchmark.run.train import fit, seed_everything

    spec = get_model(model_name)
    over = {**(overrides or {}), "epochs": 2, "num_workers": 0, "batch_size": batch_size,
            "eval_batch_size": batch_size}
    hp = {**resolve_hparams(spec, scale, over), "seed": 1}
    dev_ = torch.device(device)
    out: dict[str, Any] = {"model": spec.name, "profile": scale, "device": str(dev_), "steps_per_epoch": steps,
                           "batch_size": batch_size, "overrides": over, "status": "ok"}
    with tempfile.TemporaryDirectory(prefix="fitprofile-", dir=work_root) as tmp:
        root = Path(tmp)
        corpus = generate_fallback(root / "corpus", sizes=(batch_size * steps, 2, 2), seed=0, languages=("en",),
                                   image_size=int(hp.get("image_size") or 224))
        train, dev, test = (corpus.load(["en"], s) for s in ("train", "dev", "test"))
        seed_everything(1)
        images = ImageStore(corpus.image_dir) if spec.modality == "text+image" else None
        ctx = BuildContext(device=dev_, scale=scale, images=images, cache_dir=root / "features")
        t0 = time.perf_counter()
        try:
            model = load_factory(spec).from_training_data(hp, train, ctx)
            out["weights"] = "pretrained" if scale == "paper" else "random (smoke encoders)"
        except MissingArtifactError as exc:
            from benchmark.profiling.model import stand_in_model

            model, hp = stand_in_model(load_factory(spec), hp, train, ctx)
            out.update(weights="stand-in random weights of the paper shapes", missing=str(exc))
        model = model.to(dev_)
        out["build_s"] = time.perf_counter() - t0
        out["parameters"] = {"total": sum(p.numel() for p in model.parameters()),
                             "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad)}
        work = root / "work"
        work.mkdir()
        if dev_.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev_)
        res = fit(model, hp, train, dev, test, 1, work)
        epoch_s = [h["train_time_s"] for h in res["history"]]
        out["step_s_cold"], out["step_s_warm"] = epoch_s[0] / steps, epoch_s[-1] / steps
        out["train_sentences_per_s"] = batch_size * steps / epoch_s[-1]
        out["checkpoint_bytes"] = {p.name: p.stat().st_size for p in sorted(work.iterdir()) if p.suffix == ".pt"}
        out["run_notes"] = getattr(model, "run_notes", None)
        if dev_.type == "cuda":
            out["peak_memory_mb"] = torch.cuda.max_memory_allocated(dev_) / 2**20
            out["memory_kind"] = "cuda max_memory_allocated"
        else:
            out["peak_memory_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
            out["memory_kind"] = "process peak RSS (CPU)"
    return out


if __name__ == "__main__":  # python benchmark/profiling/fit.py OUT.json MODEL [KEY=JSON ...]
    torch.set_num_threads(1)
    extra = {k: json.loads(v) for k, v in (a.split("=", 1) for a in sys.argv[3:])}
    result = profile_fit(sys.argv[2], overrides=extra)
    write_json(sys.argv[1], result, sort_keys=False)
    print(dumps(result))

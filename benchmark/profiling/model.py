"""Cost of a registered model's configuration: parameters, training/inference throughput, peak memory.

``profile_model("2m-ner", "smoke", "cpu")`` (any registered model) builds it with its smoke (tiny) or
paper hyperparameters on synthetic sentences with images (the fallback corpus generator), times a
few optimisation steps at the configured batch size and reports a JSON-able dict. When the paper
profile's pretrained weights are absent the dict says so (``status: "missing"``) instead of raising.
"""
from __future__ import annotations

import resource
import tempfile
import time
from typing import Any

import torch

from benchmark.api import BuildContext, move_to
from benchmark.errors import MissingArtifactError


def _count(module: torch.nn.Module) -> dict[str, int]:
    params = list(module.parameters())
    return {"total": sum(p.numel() for p in params),
            "trainable": sum(p.numel() for p in params if p.requires_grad)}


def _peak_mb(device: torch.device) -> tuple[float, str]:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda max_memory_allocated"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, "process peak RSS (CPU)"


MBERT_VOCAB = 119547  # bert-base-multilingual-cased wordpieces (before the 8 added tokens)
BERT_BASE = {"tiny_hidden": 768, "tiny_layers": 12, "tiny_heads": 12, "tiny_intermediate": 3072,
             "tiny_max_positions": 512}


def _random_paper_hp(hp: dict[str, Any]) -> dict[str, Any]:
    """The paper configuration's architectures with random weights (no pretrained files needed)."""
    out = {**hp, **BERT_BASE, "text_encoder": "tiny"}
    for key in ("vision_encoder", "resnet"):
        if out.get(key) not in (None, "tiny") and not str(out[key]).startswith("random:"):
            out[key] = f"random:{out[key]}"
    return out


def stand_in_model(factory: Any, hp: dict[str, Any], train: Any, ctx: BuildContext) -> tuple[Any, dict[str, Any]]:
    """``(model, hp)``: the paper architectures with random weights, for timing where the pretrained
    files are absent; the text encoder (whatever attribute holds it) gets mBERT's vocabulary size."""
    from baselines.layers.text_encoder import EXTRA_SPECIAL_TOKENS

    hp = _random_paper_hp(hp)
    model = factory.from_training_data(hp, train, ctx)
    encoder = next((m for m in model.modules() if _has_word_embeddings(m)), None)
    if encoder is not None:
        encoder.resize_token_embeddings(MBERT_VOCAB + len(EXTRA_SPECIAL_TOKENS), mean_resizing=False)
    return model, hp


def _has_word_embeddings(module: torch.nn.Module) -> bool:
    """A Hugging Face model with a word-embedding table (a text encoder, not a vision tower)."""
    if not hasattr(module, "resize_token_embeddings"):
        return False
    try:
        return isinstance(module.get_input_embeddings(), torch.nn.Embedding)
    except (NotImplementedError, AttributeError):
        return False


def profile_model(model_name: str, scale: str = "smoke", device: str | torch.device = "cpu",
                  steps: int = 3, overrides: dict[str, Any] | None = None,
                  random_weights: bool = False) -> dict[str, Any]:
    """Parameters, training and inference sentences/s and peak memory of ``model_name``.

    ``steps`` timed training steps follow one untimed warm-up step; inference is timed on the same
    batches. Keys: model, profile, device, status ("ok" | "missing"), missing (the one-line reason),
    parameters (total/trainable, and per component), batch_size, image_size, train_sentences_per_s,
    eval_sentences_per_s, step_s, peak_memory_mb, memory_kind, weights.

    ``random_weights`` (paper profile only): when the pretrained weights are absent, time the paper
    architectures randomly initialised instead (BERT-base resized to mBERT's vocabulary, CLIP
    ViT-B/32, ResNet-152); ``missing`` still says what is absent.
    """
    from benchmark.corpora.fallback import generate_fallback
    from benchmark.corpora.images import ImageStore
    from benchmark.hparams import resolve_hparams
    from benchmark.registry import get_model, load_factory
    from benchmark.run.train import seed_everything

    spec = get_model(model_name)
    hp = {**resolve_hparams(spec, scale, overrides), "seed": 1}
    device = torch.device(device)
    report: dict[str, Any] = {"model": spec.name, "profile": scale, "device": str(device),
                              "batch_size": int(hp["batch_size"]), "image_size": hp.get("image_size"),
                              "needs": list(spec.needs) if scale == "paper" else []}
    bs = int(hp["batch_size"])
    with tempfile.TemporaryDirectory(prefix="2mner-profile-") as tmp:
        corpus = generate_fallback(tmp, sizes=(bs * (steps + 1), 2, 2), seed=0, languages=("en",),
                                   image_size=int(hp.get("image_size") or 224))
        train = corpus.load(["en"], "train")
        seed_everything(1)
        images = ImageStore(corpus.image_dir) if spec.modality == "text+image" else None
        ctx = BuildContext(device=device, scale=scale, images=images)
        try:
            model = load_factory(spec).from_training_data(hp, train, ctx).to(device)
            report["weights"] = "pretrained" if scale == "paper" else "random (smoke encoders)"
        except MissingArtifactError as exc:
            if not (random_weights and scale == "paper"):
                return {**report, "status": "missing", "missing": str(exc)}
            report.update(missing=str(exc), weights="random (paper architectures; pretrained weights absent)")
            model, hp = stand_in_model(load_factory(spec), hp, train, ctx)
            model = model.to(device)
        parts = {name: _count(getattr(model, name)) for name in ("text", "vit", "resnet")
                 if hasattr(model, name)}
        report["parameters"] = {**_count(model), "components": parts}
        optimizer, scheduler, _ = model.configure_optimizer(hp, steps + 1)
        batches = [model.collate(train[i * bs:(i + 1) * bs]) for i in range(steps + 1)]
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        model.train()
        elapsed = 0.0
        for i, batch in enumerate(batches):
            t0 = time.perf_counter()
            loss = model.loss(move_to(batch, device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i:  # the first step is a warm-up
                elapsed += time.perf_counter() - t0
        model.eval()
        t0 = time.perf_counter()
        with torch.no_grad():
            for batch in batches[1:]:
                model.decode(move_to(batch, device))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        eval_elapsed = time.perf_counter() - t0
        peak, kind = _peak_mb(device)
    n = bs * steps
    report.update(status="ok", train_sentences_per_s=n / max(elapsed, 1e-9),
                  eval_sentences_per_s=n / max(eval_elapsed, 1e-9), step_s=elapsed / steps,
                  peak_memory_mb=peak, memory_kind=kind,
                  note="collate (image decoding) is not timed; throughput is the model's")
    return report

"""Train one job and evaluate it: ``run_job(JobSpec) -> Result``.

Model selection is on the dev split (the paper's protocol); the test score of every epoch is kept
too, so the authors' code's "best test epoch" is available as ``Result.test_max`` and as
``select_on="test_max"``. After every epoch ``last.pt`` (trainable parameters, optimizer, RNG
states) and, when the epoch is the best so far, ``best.pt`` are written to the job's work folder
(``benchmark.run.checkpoints``), so an interrupted job resumes at its next epoch.

Speed without changing numbers: the loss is accumulated on the device and read every
``log_every`` steps, batches are pinned and copied without blocking on CUDA, images are decoded in
DataLoader workers (``num_workers``). ``hp["precision"] = "bf16"`` trains under bf16 autocast and
``hp["compile"]`` compiles the forward with ``torch.compile`` and ``hp["fused_optimizer"]`` steps torch
Adam/AdamW with its fused kernel (the same update up to the last bit); each is part of the job identity.
"""
from __future__ import annotations

import contextlib
import os
import platform
import random
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from benchmark.api import BuildContext, Tagger, move_to
from benchmark.corpora.reader import Corpus, Sentence
from benchmark.corpora.images import ImageStore
from benchmark.errors import ConfigError, JobError, first_sentence
from benchmark.util.command import recorded_command
from benchmark.util.machine import cpu_facts
from benchmark.metrics import evaluate
from benchmark.hparams import OPTIONAL_TRAINER_HPARAMS
from benchmark.registry import get_model, load_factory
from benchmark.run import checkpoints as ckpt
from benchmark.run.code import code_identity
from benchmark.run.folds import RULE as FOLD_RULE, fold_subset, subset_digest
from benchmark.run.predictions import PREDICTIONS_FILE, write_predictions
from benchmark.run.specs import SCALE_LIMITS, JobSpec, Result, dev_languages

Logger = Callable[[str], None]


# ---------------------------------------------------------------------------------------------
# Data for a job
# ---------------------------------------------------------------------------------------------

def take(sentences: Sequence[Sentence], limit: int | None) -> list[Sentence]:
    """A deterministic slice of at most ``limit`` sentences, round-robin over languages."""
    if limit is None or len(sentences) <= limit:
        return list(sentences)
    by_lang: dict[str, list[Sentence]] = {}
    for s in sentences:
        by_lang.setdefault(s.language, []).append(s)
    out: list[Sentence] = []
    queues = [iter(v) for v in by_lang.values()]
    while len(out) < limit and queues:
        for q in list(queues):
            item = next(q, None)
            if item is None:
                queues.remove(q)
                continue
            out.append(item)
            if len(out) == limit:
                break
    return out


def job_data(job: JobSpec, corpus: Corpus) -> tuple[list[Sentence], list[Sentence], list[Sentence]]:
    """(train, dev, test) for a job: languages, fold and scale limits applied."""
    st = job.setting
    limits = SCALE_LIMITS[job.scale]
    train = corpus.load(st.train_languages, "train")
    if st.fold:  # Table 8: train on one of n disjoint subsets (see benchmark.run.folds)
        train = fold_subset(train, st.fold, st.n_folds, st.fold_seed)
    dev = corpus.load(dev_languages(st, job.hparams), "dev")  # --hp dev_set (Table 6)
    test = corpus.load([st.test_language], "test")
    return take(train, limits["train"]), take(dev, limits["dev"]), take(test, limits["test"])


# ---------------------------------------------------------------------------------------------
# Reproducibility and environment
# ---------------------------------------------------------------------------------------------

def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def git_commit() -> dict[str, Any]:
    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=5).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                    capture_output=True, text=True, timeout=5).stdout.strip())
        return {"commit": sha or None, "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def environment(device: torch.device) -> dict[str, Any]:
    import importlib.metadata as md
    versions = {}
    for pkg in ("mmner-bench", "torch", "transformers", "seqeval", "allennlp-light", "gensim", "numpy"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    env = {"command": recorded_command(), "python": platform.python_version(), "platform": platform.platform(),
           "device": str(device), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
           "versions": versions, **git_commit(), **cpu_facts()}
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


# ---------------------------------------------------------------------------------------------
# Loops
# ---------------------------------------------------------------------------------------------

PRECISIONS = OPTIONAL_TRAINER_HPARAMS["precision"]  # hp "precision": fp32 (default) or bf16 (autocast)


def progress_enabled() -> bool:
    """Bars only on a terminal, and never in executor worker processes (``BENCH_PROGRESS=0``)."""
    return os.environ.get("BENCH_PROGRESS", "1") != "0" and sys.stderr.isatty()


def _bar(total: int, desc: str):
    """A tqdm bar on stderr (steps, rate, ETA), or None when output is not a terminal."""
    if not progress_enabled():
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return None
    return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True, file=sys.stderr)


def precision_of(hp: dict[str, Any]) -> str:
    value = str(hp.get("precision") or "fp32")
    if value not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {value!r}")
    return value


def autocast(device: torch.device, precision: str):
    """bf16 autocast for ``precision == "bf16"`` (CUDA; CPU autocast where torch supports it)."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def use_fused_kernel(optimizer: torch.optim.Optimizer) -> None:
    """``hp["fused_optimizer"]``: step torch Adam/AdamW with its fused kernel (one pass over each
    parameter instead of a dozen elementwise ops: ~6x faster on a CPU core over 285M parameters).
    The same update up to rounding in the last bit, so it is part of the job identity: on in the paper
    profile of the models whose spec says ``fusable``, off in the smoke scale (``ModelSpec.hparams``)."""
    if type(optimizer) not in (torch.optim.Adam, torch.optim.AdamW):
        raise ConfigError(f"fused_optimizer: the model's optimizer is {type(optimizer).__name__}, "
                          "not torch Adam/AdamW")
    if optimizer.state:
        raise ConfigError("fused_optimizer: the optimizer has already stepped")
    for group in optimizer.param_groups:
        group["fused"], group["foreach"] = True, False
    optimizer.defaults.update(fused=True, foreach=False)


def maybe_compile(model: Tagger, hp: dict[str, Any], log: Logger) -> None:
    """``hp["compile"]``: true = torch.compile (inductor) the model's forward, a string = that backend."""
    value = hp.get("compile")
    if not value:
        return
    backend = value if isinstance(value, str) else "inductor"
    model.compile(backend=backend, dynamic=True)
    log(f"torch.compile: forward compiled with backend {backend}")


def predict(model: Tagger, sentences: Sequence[Sentence], batch_size: int = 64,
            num_workers: int = 0, precision: str = "fp32") -> list[list[str]]:
    """Predicted tags in input order; batches are formed over length-sorted sentences."""
    model.eval()
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    device = next(model.parameters()).device
    loader = DataLoader(list(sentences), batch_sampler=batches, collate_fn=model.collate,
                        num_workers=num_workers, pin_memory=device.type == "cuda")
    out: list[list[str] | None] = [None] * len(sentences)
    with torch.no_grad(), autocast(device, precision):
        for idx, batch in zip(batches, loader):
            for i, tags in zip(idx, model.decode(move_to(batch, device))):
                out[i] = list(tags)
    for i, (s, tags) in enumerate(zip(sentences, out)):
        if tags is None or len(tags) != len(s):
            raise RuntimeError(f"{type(model).__name__} returned {0 if tags is None else len(tags)} tags "
                               f"for a {len(s)}-token sentence ({s.sid})")
    return out  # type: ignore[return-value]


def score(model: Tagger, sentences: Sequence[Sentence], hp: dict[str, Any]) -> dict[str, Any]:
    pred = predict(model, sentences, int(hp.get("eval_batch_size", 64)), int(hp.get("num_workers", 0)),
                   precision_of(hp))
    return evaluate([s.tags for s in sentences], pred)


def make_batches(train: Sequence[Sentence], batch_size: int, rng: random.Random,
                 length_buckets: int = 0) -> list[list[int]]:
    """Shuffled mini-batches of indices. With ``length_buckets`` = k > 0, the shuffled order is cut
    into chunks of k batches, each chunk sorted by length before batching, and the batches shuffled
    again: far less padding for the same random composition per epoch (AllenNLP/HF-style bucketing).
    """
    order = list(range(len(train)))
    rng.shuffle(order)
    if length_buckets > 0:
        chunk = batch_size * length_buckets
        order = [i for c in range(0, len(order), chunk)
                 for i in sorted(order[c:c + chunk], key=lambda j: len(train[j]))]
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if length_buckets > 0:
        rng.shuffle(batches)
    return batches


def diverged_error(epoch: int, step: int, read_at: int, steps: int, values: list[float], mean: float) -> JobError:
    """The one-line failure of a job whose loss (or clipped gradient norm) stopped being finite at
    ``step`` (0: every step was finite but their sum overflowed by ``read_at``)."""
    if not step:
        what, step = f"summed loss {mean}", read_at
    elif not np.isfinite(values[0]):
        what = f"loss {values[0]}"
    else:
        what = f"gradient norm {values[1]}"
    return JobError(f"training diverged: {what} at epoch {epoch}, step {step}/{steps}, so nothing is stored; "
                    "a smaller lr or --hp grad_clip may help")


def add_counts(before: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """Counts of two processes of one job added up: numbers summed (``peak_*`` ones: the larger),
    lists joined, dicts added key by key, anything else (names, paths) taken from ``now``."""
    out = dict(before)
    for key, value in now.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            out[key] = add_counts(old, value)
        elif isinstance(old, list) and isinstance(value, list):
            out[key] = old + value
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (old, value)):
            out[key] = max(old, value) if key.startswith("peak") else old + value
        else:
            out[key] = value
    return out


def fit(model: Tagger, hp: dict[str, Any], train: Sequence[Sentence], dev: Sequence[Sentence],
        test: Sequence[Sentence], seed: int, work_dir: Path | None = None,
        log: Logger = lambda m: None, log_every: int = 50,
        counts: Callable[[], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Train for ``hp['epochs']`` epochs, scoring dev and test after each; resume from work_dir.

    Returns ``{"history", "selected_epoch", "dev", "test", "test_max", "epochs_run", "carried_counts"}``
    and leaves the selected epoch's weights loaded in ``model``. ``counts()`` is this process's tally
    (images loaded, ...): each checkpoint keeps it added to the tally of the processes before
    (``carried_counts``, restored on resume, with ``resumed_after_epochs``), so the result's counts
    cover every process that contributed an epoch. The loss is summed on the device (float64, as
    the former per-step ``float(loss)`` sum) and read back every ``log_every`` steps only.
    """
    device = next(model.parameters()).device
    precision = precision_of(hp)
    bs = int(hp["batch_size"])
    steps_per_epoch = max(1, (len(train) + bs - 1) // bs)
    epochs = int(hp["epochs"])
    optimizer, scheduler, sched_unit = model.configure_optimizer(hp, steps_per_epoch * epochs)
    if hp.get("fused_optimizer"):
        use_fused_kernel(optimizer)
    history: list[dict[str, Any]] = []
    carried: dict[str, Any] = {}  # the counts of the processes before this one, up to their last epoch
    best_state: dict[str, torch.Tensor] | None = None
    start_epoch = 1
    rng = random.Random(seed)  # batch order; its state is checkpointed
    last_path = work_dir / ckpt.LAST if work_dir else None
    best_path = work_dir / ckpt.BEST if work_dir else None
    fingerprint = ckpt.frozen_fingerprint(model)
    if work_dir and (work_dir / ckpt.LEGACY).is_file():
        ckpt.discard(work_dir / ckpt.LEGACY, "old format: loading it would need unpickling arbitrary objects", log)
    if last_path and last_path.is_file():
        restored = ckpt.read_last(last_path, model, optimizer, scheduler, fingerprint, rng, log)
        if restored is None:
            if best_path.is_file():  # type: ignore[union-attr]
                best_path.unlink()  # type: ignore[union-attr]
        else:
            start_epoch, history = restored[0] + 1, restored[1]
            carried = add_counts(restored[2], {"resumed_after_epochs": [restored[0]]})
            log(f"resumed from {last_path} after epoch {restored[0]}")
    maybe_compile(model, hp, log)

    select_key = "test" if hp.get("select_on") == "test_max" else "dev"
    patience = hp.get("patience")
    grad_clip = hp.get("grad_clip")
    for epoch in range(start_epoch, epochs + 1):
        if patience is not None and history:
            best_epoch = max(history, key=lambda h: h[select_key]["conlleval"]["f1"])["epoch"]
            if epoch - 1 - best_epoch >= int(patience):
                log(f"early stop: no {select_key} improvement for {patience} epochs")
                break
        model.train()
        t0 = time.perf_counter()
        batches = make_batches(train, bs, rng, int(hp.get("length_buckets") or 0))
        loader = DataLoader(list(train), batch_sampler=batches, collate_fn=model.collate,
                            num_workers=int(hp.get("num_workers", 0)), pin_memory=device.type == "cuda")
        # Random-stream compatibility: the trainer used to open each epoch's loader twice (the
        # tqdm.asyncio wrapper called iter() eagerly: 4 workers started for 2, 2x collate work), and
        # each DataLoader iterator draws one base seed from torch's generator. The loader is now
        # iterated once; the discarded draw is kept so results stay bitwise equal to earlier runs.
        torch.empty((), dtype=torch.int64).random_()
        total_loss = torch.zeros((), dtype=torch.float64, device=device)
        # the first step whose loss (or clipped gradient norm) is not finite, and those values
        diverged = torch.zeros((), dtype=torch.int64, device=device)
        bad = torch.zeros(2, dtype=torch.float64, device=device)
        bar = _bar(len(batches), f"epoch {epoch}/{epochs}")
        for step, batch in enumerate(loader, start=1):
            try:
                with autocast(device, precision):
                    loss = model.loss(move_to(batch, device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
            except RuntimeError as exc:
                if precision == "fp32":
                    raise
                raise ConfigError(f"precision {precision} cannot run on this {device.type} device "
                                  f"(epoch {epoch}, step {step}: {first_sentence(exc)}); use --precision fp32") from None
            values = loss.detach().to(torch.float64).reshape(1)
            if grad_clip:
                norm = torch.nn.utils.clip_grad_norm_(model.parameters(), float(grad_clip))
                values = torch.cat([values, norm.detach().to(device, torch.float64).reshape(1)])
            first = (diverged == 0) & ~torch.isfinite(values).all()  # on the device: no host sync
            diverged = torch.where(first, step, diverged)
            bad[:len(values)] = torch.where(first, values, bad[:len(values)])
            optimizer.step()
            if scheduler is not None and sched_unit == "step":
                scheduler.step()
            total_loss += loss.detach().to(torch.float64)
            if step % log_every == 0 or step == len(batches):
                # the only host sync of the loop: the loss so far, and the first non-finite step (0: none)
                read = torch.cat([total_loss.reshape(1), diverged.to(torch.float64).reshape(1), bad]).tolist()
                mean = read[0] / step
                if read[1] or not np.isfinite(mean):
                    raise diverged_error(epoch, int(read[1]), step, len(batches), read[2:], mean)
                if step % log_every == 0:
                    log(f"epoch {epoch} step {step}/{len(batches)}: mean loss {mean:.4f} "
                        f"({time.perf_counter() - t0:.1f}s)")
                if bar is not None:
                    bar.set_postfix(loss=f"{mean:.4f}", refresh=False)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        if scheduler is not None and sched_unit == "epoch":
            scheduler.step()
        train_time = time.perf_counter() - t0
        dev_m, test_m = score(model, dev, hp), score(model, test, hp)
        entry = {"epoch": epoch, "loss": float(total_loss) / len(batches), "train_time_s": train_time,
                 "dev": dev_m, "test": test_m}
        history.append(entry)
        log(f"epoch {epoch}: loss {entry['loss']:.4f} dev F1 {100 * dev_m['conlleval']['f1']:.2f} "
            f"test F1 {100 * test_m['conlleval']['f1']:.2f} ({train_time:.1f}s)")
        best = max(history, key=lambda h: h[select_key]["conlleval"]["f1"])
        if best["epoch"] == epoch:
            if best_path:  # on disk only: the host keeps no second copy of the model
                ckpt.write_best(best_path, epoch, ckpt.trainable_state(model, copy=False))
            else:
                best_state = ckpt.trainable_state(model)
        if last_path:
            ckpt.write_last(last_path, epoch, model, optimizer, scheduler, history, fingerprint, rng,
                            counts=add_counts(carried, counts()) if counts is not None else carried)
    if not history:
        raise RuntimeError("no epoch was run (epochs must be >= 1)")
    selected = max(history, key=lambda h: h[select_key]["conlleval"]["f1"])
    test_max = max(history, key=lambda h: h["test"]["conlleval"]["f1"])
    if best_path is not None and best_path.is_file():
        best_state = ckpt.read_best(best_path, model)
    if best_state is not None:
        ckpt.load_model_state(model, best_state)
    return {"history": history, "selected_epoch": selected["epoch"], "dev": selected["dev"],
            "test": selected["test"], "test_max": {"epoch": test_max["epoch"], **test_max["test"]},
            "epochs_run": len(history), "carried_counts": carried}


def build_context(job: JobSpec, corpus: Corpus, device: torch.device, cache_dir: Path | None,
                  log: Logger) -> BuildContext:
    images = ImageStore(corpus.image_dir) if job.setting.use_image else None
    return BuildContext(device=device, scale=job.scale, images=images, cache_dir=cache_dir, log=log)


def run_job(job: JobSpec, corpus: Corpus, device: torch.device | str = "cpu",
            work_dir: Path | None = None, cache_dir: Path | None = None,
            log: Logger = lambda m: None) -> Result:
    """Train and evaluate one job; the result is returned (the caller stores it)."""
    device = torch.device(device)
    t0 = time.perf_counter()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    spec = get_model(job.model)
    cls = load_factory(spec)
    code = code_identity(job.model)  # the code this job runs, read before it trains (benchmark.run.code)
    seed_everything(job.seed)
    train, dev, test = job_data(job, corpus)
    log(f"job {job.job_id}: {spec.display} {job.setting.label()} seed {job.seed} scale {job.scale}; "
        f"{len(train)}/{len(dev)}/{len(test)} sentences")
    ctx = build_context(job, corpus, device, cache_dir, log)
    hp = {**job.hparams, "seed": job.seed}
    model = cls.from_training_data(hp, train, ctx).to(device)

    def tally() -> dict[str, Any]:
        """This process's share of the counts that add up across resumes (see ``fit``)."""
        out: dict[str, Any] = {"wall_time_s": time.perf_counter() - t0, "peak_memory_mb": peak_memory_mb(device)}
        if ctx.images is not None:
            out["images"] = ctx.images.summary()
        notes = getattr(model, "run_notes", None)
        if notes:
            out["notes"] = notes
        return out

    outcome = fit(model, hp, train, dev, test, job.seed, work_dir, log, counts=tally)
    counts: dict[str, Any] = {"train": len(train), "dev": len(dev), "test": len(test),
                              "parameters": sum(p.numel() for p in model.parameters())}
    if job.setting.fold:
        counts["fold"] = {"subset": job.setting.fold, "of": job.setting.n_folds, "rule": FOLD_RULE,
                          "digest": subset_digest(train)}
    if work_dir is not None:  # the selected epoch's test predictions (store.put copies them)
        write_predictions(work_dir / PREDICTIONS_FILE, test,
                          predict(model, test, int(hp.get("eval_batch_size", 64)), int(hp.get("num_workers", 0))))
    total = add_counts(outcome["carried_counts"], tally())  # every process that contributed an epoch
    if ctx.images is not None:
        counts["images"] = total.get("images", {})
        if int(hp.get("num_workers", 0)) > 0:  # workers count in their own processes
            counts["images_note"] = "image loads happened in DataLoader workers: counts above cover the main process only"
    if total.get("notes"):
        counts["notes"] = total["notes"]
    if total.get("resumed_after_epochs"):
        counts["resumed_after_epochs"] = total["resumed_after_epochs"]
    env = environment(device)
    env["code"] = code
    env["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return Result(job=job, test=outcome["test"], dev=outcome["dev"], selected_epoch=outcome["selected_epoch"],
                  epochs_run=outcome["epochs_run"], test_max=outcome["test_max"], history=outcome["history"],
                  wall_time_s=total["wall_time_s"], peak_memory_mb=total["peak_memory_mb"],
                  environment=env, counts=counts)

"""``bench profile --viterbi``: time CRF decoding + scoring of a test set with both decoders.

The LSTM-CRF models spend their evaluation time in Viterbi decoding and in the metric. This
profile builds the suite's CRF over the test set's tag inventory, draws random emissions of the
right shapes (batches formed over length-sorted sentences, as ``benchmark.run.train.predict`` does),
and times, for the batched decoder (``CRF.decode``) and allennlp-light's per-sentence loop
(``CRF.decode_reference``): decoding, turning ids into tags, and ``benchmark.metrics.evaluate``.
"""
from __future__ import annotations

import time
from typing import Any, Sequence

import torch

from benchmark.api import tag_inventory
from benchmark.corpora.reader import Sentence
from benchmark.metrics import evaluate


def _batches(sentences: Sequence[Sentence], batch_size: int) -> list[list[int]]:
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def profile_viterbi(test_sentences: Sequence[Sentence], batch_size: int = 64, seed: int = 0,
                    repeats: int = 3, threads: int | None = 1) -> dict[str, Any]:
    """Seconds to decode and score ``test_sentences`` with each decoder (best of ``repeats``).

    Returns ``{"sentences", "tokens", "batch_size", "threads", "tags", "batched": {...},
    "allennlp": {...}, "speedup", "identical"}`` where each decoder entry has ``decode_s``,
    ``score_s``, ``total_s`` and ``f1`` (of the random predictions; equal for both when the paths
    are) and ``identical`` says whether both decoders returned the same paths.

    ``threads`` defaults to 1: per-step tensors are tiny (``[64, 9, 9]``), so intra-op threads only
    add synchronisation, and on a CPU shared with other processes OpenMP's spinning threads make the
    batched decoder ~20x slower (measured: 0.07 s with 1 thread, 1.4 s with 2, on a loaded 2-core
    machine). ``None`` keeps torch's current setting.
    """
    from baselines.layers.crf import CRF

    if not test_sentences:
        raise ValueError("no test sentences to profile")
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        gen = torch.Generator().manual_seed(seed)
        tags = tag_inventory(test_sentences)
        torch.manual_seed(seed)
        crf = CRF(tags, constrained=True).eval()
        with torch.no_grad():
            crf.crf.transitions.normal_(0.0, 1.0, generator=gen)
        batches = _batches(test_sentences, batch_size)
        inputs = []
        for idx in batches:
            longest = max(len(test_sentences[i]) for i in idx)
            mask = torch.zeros(len(idx), longest, dtype=torch.bool)
            for r, i in enumerate(idx):
                mask[r, : len(test_sentences[i])] = True
            inputs.append((torch.randn(len(idx), longest, len(tags), generator=gen) * 3.0, mask))
        gold = [list(test_sentences[i].tags) for idx in batches for i in idx]
        results: dict[str, Any] = {}
        paths_by: dict[str, list[list[int]]] = {}
        for name, fn in (("batched", crf.decode), ("allennlp", crf.decode_reference)):
            best: dict[str, float] | None = None
            for _ in range(max(1, repeats)):
                t0 = time.perf_counter()
                paths = [p for emissions, mask in inputs for p in fn(emissions, mask)]
                pred = [[tags[k] for k in p] for p in paths]
                t1 = time.perf_counter()
                metrics = evaluate(gold, pred)
                t2 = time.perf_counter()
                run = {"decode_s": t1 - t0, "score_s": t2 - t1, "total_s": t2 - t0,
                       "f1": metrics["conlleval"]["f1"]}
                if best is None or run["total_s"] < best["total_s"]:
                    best = run
            results[name] = best
            paths_by[name] = paths
        return {"sentences": len(test_sentences), "tokens": sum(len(s) for s in test_sentences),
                "batch_size": batch_size, "threads": torch.get_num_threads(), "tags": len(tags),
                **results,
                "speedup": results["allennlp"]["total_s"] / max(results["batched"]["total_s"], 1e-9),
                "identical": paths_by["batched"] == paths_by["allennlp"]}
    finally:
        torch.set_num_threads(old_threads)


def format_profile(result: dict[str, Any]) -> str:
    """A few human-readable lines for the CLI."""
    lines = [f"Viterbi decoding + scoring of {result['sentences']} sentences ({result['tokens']} tokens, "
             f"{result['tags']} tags, batches of {result['batch_size']}, {result['threads']} torch threads)"]
    for name, label in (("batched", "batched (CRF.decode)"), ("allennlp", "allennlp viterbi_tags loop")):
        r = result[name]
        lines.append(f"  {label:28s} decode {r['decode_s']:.3f}s  score {r['score_s']:.3f}s  "
                     f"total {r['total_s']:.3f}s")
    lines.append(f"  speed-up x{result['speedup']:.1f}; identical paths: {'yes' if result['identical'] else 'NO'}")
    return "\n".join(lines)

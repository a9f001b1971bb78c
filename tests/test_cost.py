"""Plan pricing (benchmark.run.cost): measured records win over the FLOP model, sizes per job,
device-hours and the number of devices for a wall time."""
from __future__ import annotations

import json

import pytest

from benchmark.registry import get_model
from benchmark.run.cost import estimate, estimate_detail, price, split_sizes
from benchmark.run.specs import JobSpec, Setting


def _job(model="bilstm-crf", scale="paper", train=("en",), test="en", fold=None, corpus_name="mmnerd", **hp):
    spec = get_model(model)
    return JobSpec(model, Setting(tuple(train), test, spec.modality == "text+image", fold), 1, scale,
                   spec.hparams(scale, hp or None), corpus_name, "fp")


def test_split_sizes_follow_table2_fold_and_profile():
    assert split_sizes(_job()) == (19966, 2463, 2533)  # Table 2, English
    assert split_sizes(_job(train=("all",), test="fr")) == (19966 + 4812 + 4798 + 4750, 2463 + 609 + 591 + 628, 561)
    assert split_sizes(_job(fold=2))[0] == 19966 - 19966 // 5
    assert split_sizes(_job(scale="smoke")) == (240, 80, 80)
    assert split_sizes(_job(corpus_name="fallback")) == (400, 100, 100)


def test_a_profile_record_for_the_device_is_used(tmp_path):
    job = _job("2m-ner", epochs=2)
    rec = {"model": "2m-ner", "profile": "paper", "device": "cuda", "status": "ok", "train_sentences_per_s": 100.0,
           "eval_sentences_per_s": 400.0, "peak_memory_mb": 2048.0, "machine": {"gpu": "NVIDIA H100 80GB HBM3"},
           "measured_at": "2026-11-30T10:00:00+00:00"}
    (tmp_path / "model_2m-ner_paper_cuda.json").write_text(json.dumps(rec))
    e = estimate_detail(job, "H100", tmp_path)
    assert e.source == "profile:model_2m-ner_paper_cuda.json"
    assert e.seconds == pytest.approx(2 * (19966 / 100.0 + (2463 + 2533) / 400.0))
    assert e.peak_mem_bytes == 2048 * 2**20
    assert estimate(job, "H100", tmp_path) == (e.seconds, e.peak_mem_bytes)
    # another GPU kind, the CPU, or another model: no record -> FLOP model
    assert estimate_detail(job, "A100", tmp_path).source == "flops"
    assert estimate_detail(job, "cpu", tmp_path).source == "flops"
    assert estimate_detail(_job("2m-ner-code"), "H100", tmp_path).source == "flops"
    # a record measured on another configuration of the model does not price this one
    (tmp_path / "model_2m-ner_paper_cuda.json").write_text(json.dumps({**rec, "overrides": {"resnet_trainable": False,
                                                                                             "batch_size": 16}}))
    assert estimate_detail(job, "H100", tmp_path).source == "flops"
    assert estimate_detail(_job("2m-ner", resnet_trainable=False), "H100", tmp_path).source.startswith("profile:")


def test_flop_model_orders_models_devices_and_precisions(tmp_path):
    two_m, lstm = _job("2m-ner"), _job("bilstm-crf")
    cpu, h100 = estimate(two_m, "cpu", tmp_path)[0], estimate(two_m, "h100", tmp_path)[0]
    assert h100 < cpu / 100
    assert estimate(lstm, "cpu", tmp_path)[0] < cpu
    assert estimate(_job("2m-ner", precision="bf16"), "h100", tmp_path)[0] < h100
    assert estimate(_job("2m-ner", scale="smoke"), "cpu", tmp_path)[0] < cpu / 1000
    # a trained ResNet costs more time and memory than a frozen, cached one
    frozen = _job("2m-ner", resnet_trainable=False, resnet_bn="frozen")
    assert estimate(frozen, "h100", tmp_path)[0] < h100
    assert estimate(frozen, "h100", tmp_path)[1] < estimate(two_m, "h100", tmp_path)[1]


def test_price_totals_and_devices_for_a_wall_time():
    hours = [3, 3, 2, 2, 2]
    p = price([h * 3600 for h in hours], wall_time_s=6 * 3600)
    assert p.device_hours == pytest.approx(12) and p.jobs == 5
    assert p.devices_needed == 2 and p.makespan_s == pytest.approx(6 * 3600)  # {3,3} and {2,2,2}
    assert price([h * 3600 for h in hours], wall_time_s=5 * 3600).devices_needed == 3
    too_long = price([7 * 3600, 3600], wall_time_s=6 * 3600)
    assert too_long.devices_needed is None and too_long.too_long == [0]
    assert "exceed the wall time" in too_long.summary()
    assert price([3600.0]).devices_needed is None


def test_bench_plan_price_lists_hours_and_devices_for_a_wall_time(tiny_corpus, tmp_path):
    from click.testing import CliRunner

    from benchmark.cli import main

    out = CliRunner().invoke(main, ["plan", "--table", "5", "--languages", "en", "--models", "bilstm-crf,hbilstm-crf",
                                    "--data-dir", str(tiny_corpus.root), "--results", str(tmp_path),
                                    "--price", "--device", "cpu", "--wall-time", "100"])
    assert out.exit_code == 0, out.output
    assert "hours (cpu)" in out.output and "estimate from" in out.output
    assert "price: 2 jobs" in out.output and "1 CPU(s) finish within 100.00 h" in out.output

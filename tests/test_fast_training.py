"""Speed work that must not change numbers: no per-step host syncs, bf16 autocast and
torch.compile as options, precision-independent feature caches, quiet progress off a terminal."""
from __future__ import annotations

import math
import sys

import pytest
import torch

from benchmark.api import BuildContext, move_to
from benchmark.corpora.fallback import generate_fallback
from benchmark.corpora.images import ImageStore
from benchmark.errors import ConfigError
from benchmark.registry import get_model, load_factory
from benchmark.run import train as trainer
from benchmark.run.precision import precision_problem
from benchmark.run.train import fit, seed_everything

SYNCS = ("item", "__float__", "__bool__", "tolist", "__int__", "__index__")


def _count_syncs(monkeypatch, files: tuple[str, ...]) -> dict[str, int]:
    """Count tensor -> Python conversions (host syncs on a GPU) called from ``files``."""
    counts: dict[str, int] = {}
    for name in SYNCS:
        original = getattr(torch.Tensor, name)

        def wrapped(self, *args, _original=original, _name=name, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if any(caller.endswith(f) for f in files):
                counts[_name] = counts.get(_name, 0) + 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, wrapped)
    return counts


def _bilstm(corpus, **hp):
    hp = {**get_model("bilstm-crf").hparams("smoke"), "seed": 2, **hp}
    train, dev, test = (corpus.load(["en"], s) for s in ("train", "dev", "test"))
    seed_everything(2)
    return load_factory(get_model("bilstm-crf")).from_training_data(hp, train, BuildContext()), hp, train, dev, test


def test_the_training_loop_reads_the_loss_once_per_epoch_not_per_step(tiny_corpus, monkeypatch):
    model, hp, train, dev, test = _bilstm(tiny_corpus, epochs=2, batch_size=4)
    counts = _count_syncs(monkeypatch, ("benchmark/run/train.py",))
    out = fit(model, hp, train, dev, test, seed=2, log_every=1000)
    steps = math.ceil(len(train) / 4)
    assert steps >= 10
    assert sum(counts.values()) == 2 * 2  # per epoch: the mean for the bar/log and the history entry
    assert all(math.isfinite(h["loss"]) for h in out["history"])


def test_two_m_ner_training_step_has_no_host_sync_in_its_own_code(tmp_path, monkeypatch):
    corpus = generate_fallback(tmp_path / "c", sizes=(16, 2, 2), seed=3, languages=("en",))
    train = corpus.load(["en"], "train")
    spec = get_model("2m-ner")
    hp = {**spec.hparams("smoke", {"resnet_trainable": False, "resnet_bn": "frozen"}), "seed": 1}
    ctx = BuildContext(images=ImageStore(corpus.image_dir), cache_dir=tmp_path / "features")
    model = load_factory(spec).from_training_data(hp, train, ctx).train()
    for _ in range(2):  # first batch fills the ResNet feature cache, second one mixes hits and misses
        batch = move_to(model.collate(train[:6] if _ == 0 else train[3:9]), torch.device("cpu"))
        counts = _count_syncs(monkeypatch, ("two_m_ner/model.py", "two_m_ner/alignment.py", "layers/fusion.py"))
        model.loss(batch).backward()
        assert counts == {}
        monkeypatch.undo()
    assert model.caches["resnet"].hits == 3 and model.caches["resnet"].misses == 9


def test_cached_features_do_not_depend_on_the_precision(tmp_path):
    """A frozen encoder's features are computed in fp32 even under bf16 autocast before caching."""
    corpus = generate_fallback(tmp_path / "c", sizes=(4, 2, 2), seed=3, languages=("en",))
    train = corpus.load(["en"], "train")
    spec = get_model("2m-ner")
    hp = {**spec.hparams("smoke", {"resnet_trainable": False, "resnet_bn": "frozen", "use_vit": False}), "seed": 1}
    feats = {}
    for precision in ("bf16", "fp32"):
        seed_everything(1)
        ctx = BuildContext(images=ImageStore(corpus.image_dir), cache_dir=tmp_path / precision)
        model = load_factory(spec).from_training_data(hp, train, ctx).train()
        batch = model.collate(train[:4])
        with trainer.autocast(torch.device("cpu"), precision):
            model.loss(batch)
        key = batch["resnet_keys"][0]
        feats[precision] = model.caches["resnet"].get(key)
    assert feats["bf16"].dtype == torch.float32 and torch.equal(feats["bf16"], feats["fp32"])


def test_bf16_autocast_is_an_option_and_part_of_the_identity(tiny_corpus):
    """bf16 trains where this CPU has bf16 LSTM kernels (AVX-512/AMX); where it has not (x86-64
    without AVX-512), the probe names the problem and the trainer fails in one line, not a traceback."""
    problem = precision_problem("bilstm-crf", "cpu", "bf16")
    model, hp, train, dev, test = _bilstm(tiny_corpus, epochs=1)
    fp32 = fit(model, hp, train, dev, test, seed=2)
    model, hp, train, dev, test = _bilstm(tiny_corpus, epochs=1, precision="bf16")
    if problem is None:
        bf16 = fit(model, hp, train, dev, test, seed=2)
        assert math.isfinite(bf16["history"][0]["loss"]) and bf16["history"][0]["loss"] != fp32["history"][0]["loss"]
    else:
        assert problem.startswith("bilstm-crf: precision bf16 cannot run on this cpu device") and "\n" not in problem
        with pytest.raises(ConfigError, match=r"precision bf16 cannot run on this cpu device \(epoch 1, step 1: "):
            fit(model, hp, train, dev, test, seed=2)
    spec = get_model("bilstm-crf")
    assert "precision" not in spec.hparams("smoke") and "precision" not in spec.hparams("smoke", {"precision": "fp32"})
    assert spec.hparams("smoke", {"precision": "bf16"})["precision"] == "bf16"
    with pytest.raises(ConfigError, match="precision"):
        spec.hparams("smoke", {"precision": "fp16"})


def test_compile_option_compiles_the_forward(tiny_corpus):
    model, hp, *_ = _bilstm(tiny_corpus)
    messages: list[str] = []
    trainer.maybe_compile(model, {**hp, "compile": "eager"}, messages.append)
    assert model._compiled_call_impl is not None and "backend eager" in messages[0]
    plain, _, *_ = _bilstm(tiny_corpus)
    trainer.maybe_compile(plain, hp, messages.append)
    assert plain._compiled_call_impl is None


def test_progress_bars_only_on_a_terminal(monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert trainer._bar(10, "epoch 1") is None
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.setenv("BENCH_PROGRESS", "0")  # executor worker processes
    assert trainer._bar(10, "epoch 1") is None
    monkeypatch.setenv("BENCH_PROGRESS", "1")
    bar = trainer._bar(10, "epoch 1")
    assert bar is not None and bar.total == 10
    bar.close()


def test_fused_optimizer_option_steps_adam_with_its_fused_kernel(tiny_corpus, monkeypatch):
    """``fused_optimizer``: on in the paper profile of Adam(W) models, off (and out of the identity)
    in the smoke profile and with ``=false``, refused (before any job) for a model whose optimizer
    has no fused kernel, and fit() really steps the fused kernel."""
    import torch.optim.adam as adam_module

    from benchmark.hparams import check_hparams
    spec = get_model("bert")
    assert "fused_optimizer" not in spec.hparams("smoke")
    assert "fused_optimizer" not in spec.hparams("smoke", {"fused_optimizer": False})
    assert spec.hparams("paper")["fused_optimizer"] is True
    assert "fused_optimizer" not in spec.hparams("paper", {"fused_optimizer": False})
    assert "fused_optimizer" not in get_model("bilstm-crf").hparams("paper")
    assert check_hparams(spec, "smoke", {"fused_optimizer": True})["fused_optimizer"] is True
    with pytest.raises(ConfigError, match="not torch Adam/AdamW"):
        check_hparams(get_model("bilstm-crf"), "smoke", {"fused_optimizer": True})
    # same update as the per-tensor loop up to rounding
    torch.manual_seed(0)
    plain, fused = torch.nn.Linear(6, 3), torch.nn.Linear(6, 3)
    fused.load_state_dict(plain.state_dict())
    opts = [torch.optim.AdamW(m.parameters(), lr=0.01, weight_decay=0.1) for m in (plain, fused)]
    trainer.use_fused_kernel(opts[1])
    for _ in range(3):
        x = torch.randn(4, 6)
        for m, opt in zip((plain, fused), opts):
            opt.zero_grad()
            m(x).pow(2).sum().backward()
            opt.step()
    assert torch.allclose(plain.weight, fused.weight, atol=1e-6)
    with pytest.raises(ConfigError, match="SGD"):
        trainer.use_fused_kernel(torch.optim.SGD(plain.parameters(), lr=0.1))
    # fit() honours the option
    calls = []
    real = adam_module._fused_adam
    monkeypatch.setattr(adam_module, "_fused_adam", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    hp = {**get_model("bert").hparams("smoke", {"fused_optimizer": True}), "seed": 1, "epochs": 1}
    train = tiny_corpus.load(["en"], "train")[:16]
    seed_everything(1)
    model = load_factory(get_model("bert")).from_training_data(hp, train, BuildContext())
    fit(model, hp, train, train[:4], train[:4], seed=1)
    assert calls


_PROBE = "from benchmark.run.precision import precision_problem as p; print(p('bilstm-crf', 'cpu', 'bf16') or 'OK')"


@pytest.mark.parametrize("isa_cap", [None, "AVX2"])
def test_bench_run_refuses_a_precision_the_cpu_cannot_run_before_any_job(tmp_path, isa_cap):
    """With oneDNN capped at AVX2 (what an x86-64 CPU without AVX-512 has) bf16 LSTMs cannot run:
    ``bench run --precision bf16`` is then one line, exit 2, before any job; uncapped it is refused
    exactly where the probe fails on this machine, and planned otherwise."""
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("MMNERD_DIR", "ONEDNN_MAX_CPU_ISA")}
    env["MMNER_BENCH_CACHE"] = str(tmp_path / "cache")
    if isa_cap:
        env["ONEDNN_MAX_CPU_ISA"] = isa_cap
    probe = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert probe.returncode == 0, probe.stderr
    verdict = probe.stdout.strip().splitlines()[-1]
    if isa_cap:
        assert verdict != "OK" and "could not create a primitive descriptor" in verdict
    cmd = [sys.executable, "-m", "benchmark.cli", "run", "--table", "5", "--models", "bilstm-crf", "--languages", "en",
           "--scale", "smoke", "--precision", "bf16", "--device", "cpu", "--results", str(tmp_path / "r"), "--dry-run"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    if verdict == "OK":
        assert out.returncode == 0 and "would run" in out.stdout, out.stderr
    else:
        assert out.returncode == 2 and "Traceback" not in out.stderr and "would run" not in out.stdout
        assert out.stderr.strip().splitlines()[-1] == f"bench: {verdict}"

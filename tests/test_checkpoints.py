"""Epoch checkpoints: what they hold, that loading never runs code, that a bad one is discarded
with a warning and the job restarts, that a resume is bitwise the uninterrupted run, and that the
random states of every device (CUDA faked on CPU) are saved and restored."""
from __future__ import annotations

import pathlib
import random

import numpy as np
import pytest
import torch

from benchmark.api import BuildContext
from benchmark.registry import get_model, load_factory
from benchmark.run import checkpoints as ckpt
from benchmark.run.train import fit, seed_everything


def _setup(corpus, epochs=3, freeze=True):
    """BiLSTM-CRF smoke model with its CRF transitions frozen (a stand-in for a frozen encoder)."""
    hp = {**get_model("bilstm-crf").hparams("smoke"), "epochs": epochs, "seed": 5}
    train, dev, test = (corpus.load(["en"], s) for s in ("train", "dev", "test"))
    seed_everything(5)
    model = load_factory(get_model("bilstm-crf")).from_training_data(hp, train, BuildContext())
    if freeze:
        for name, p in model.named_parameters():
            if "transitions" in name:
                p.requires_grad_(False)
    return model, hp, train, dev, test


def _interrupt_after(epoch: int):
    def log(msg: str) -> None:
        if msg.startswith(f"epoch {epoch + 1}:"):
            raise KeyboardInterrupt
    return log


def _losses(out):
    return [h["loss"] for h in out["history"]]


def test_last_and_best_hold_trainable_state_only_and_load_with_weights_only(tiny_corpus, tmp_path):
    model, hp, train, dev, test = _setup(tiny_corpus)
    frozen = ckpt.frozen_names(model)
    assert frozen, "the test needs a frozen parameter"
    with pytest.raises(KeyboardInterrupt):
        fit(model, hp, train, dev, test, seed=5, work_dir=tmp_path, log=_interrupt_after(2))
    last = torch.load(tmp_path / ckpt.LAST, map_location="cpu", weights_only=True)
    best = torch.load(tmp_path / ckpt.BEST, map_location="cpu", weights_only=True)
    full = model.state_dict()
    assert set(last["model"]) == set(full) - frozen and set(best["model"]) == set(full) - frozen
    assert last["epoch"] == 2 and last["kind"] == "last" and best["kind"] == "best"
    assert {"python", "numpy_keys", "numpy_rest", "torch", "cuda", "batches"} <= set(last["rng"])
    assert "best_state" not in last  # the best weights live in best.pt only


def test_resume_is_bitwise_the_uninterrupted_run(tiny_corpus, tmp_path):
    model, hp, train, dev, test = _setup(tiny_corpus)
    straight = fit(model, hp, train, dev, test, seed=5)
    model, hp, train, dev, test = _setup(tiny_corpus)
    with pytest.raises(KeyboardInterrupt):
        fit(model, hp, train, dev, test, seed=5, work_dir=tmp_path, log=_interrupt_after(1))
    random.random(), np.random.rand(), torch.rand(3)  # the resumed process starts from other states
    messages: list[str] = []
    model, hp, train, dev, test = _setup(tiny_corpus)
    resumed = fit(model, hp, train, dev, test, seed=5, work_dir=tmp_path, log=messages.append)
    assert any("resumed" in m and "after epoch 1" in m for m in messages)
    assert _losses(resumed) == _losses(straight)  # exact, not approximate
    assert resumed["test"] == straight["test"] and resumed["selected_epoch"] == straight["selected_epoch"]
    with torch.no_grad():
        final = {k: v.clone() for k, v in model.state_dict().items()}
    ref_model, *_ = _setup(tiny_corpus)
    fit(ref_model, hp, train, dev, test, seed=5)
    assert all(torch.equal(final[k], v) for k, v in ref_model.state_dict().items())  # best epoch's weights


class _Planted:
    """Unpickling this object would write a file (as any pickled callable could run any code)."""

    def __init__(self, target: pathlib.Path) -> None:
        self.target = target

    def __reduce__(self):
        return (pathlib.Path.write_text, (self.target, "code from the results folder ran"))


def test_a_checkpoint_that_would_run_code_is_refused_never_executed(tiny_corpus, tmp_path):
    marker = tmp_path / "pwned"
    work = tmp_path / "work"
    work.mkdir()
    torch.save({"format": ckpt.FORMAT, "kind": "last", "epoch": 1, "payload": _Planted(marker)}, work / ckpt.LAST)
    # the planted file is really dangerous: the unrestricted unpickler runs its code
    torch.load(work / ckpt.LAST, weights_only=False)
    assert marker.read_text() == "code from the results folder ran"
    marker.unlink()

    with pytest.raises(ckpt.CheckpointError, match="Unpickl|GLOBAL|weights_only"):
        ckpt.load(work / ckpt.LAST)
    assert not marker.exists()

    messages: list[str] = []
    model, hp, train, dev, test = _setup(tiny_corpus, epochs=2)
    out = fit(model, hp, train, dev, test, seed=5, work_dir=work, log=messages.append)
    assert not marker.exists()
    warning = [m for m in messages if m.startswith("WARNING")]
    assert len(warning) == 1 and "discarded" in warning[0] and "restarts from epoch 1" in warning[0]
    # never repeat torch's advice to load with weights_only=False (that runs the planted code)
    assert "weights_only" not in warning[0] and "trust" not in warning[0] and "\x1b" not in warning[0]
    assert (work / (ckpt.LAST + ".bad")).is_file() and not any("resumed" in m for m in messages)
    model, hp, train, dev, test = _setup(tiny_corpus, epochs=2)
    assert _losses(out) == _losses(fit(model, hp, train, dev, test, seed=5))


@pytest.mark.parametrize("damage", ["truncated", "garbage", "other-frozen-weights", "legacy"])
def test_a_bad_checkpoint_is_discarded_with_a_warning_and_the_job_restarts(tiny_corpus, tmp_path, damage):
    model, hp, train, dev, test = _setup(tiny_corpus, epochs=2)
    with pytest.raises(KeyboardInterrupt):
        fit(model, hp, train, dev, test, seed=5, work_dir=tmp_path, log=_interrupt_after(1))
    path = tmp_path / ckpt.LAST
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00not a checkpoint")
    elif damage == "other-frozen-weights":
        state = torch.load(path, weights_only=True)
        state["frozen_fingerprint"] = "0" * 24
        torch.save(state, path)
    else:  # a checkpoint.pt of the previous format (pickled RNG states): never loaded
        path.rename(tmp_path / ckpt.LEGACY)
    messages: list[str] = []
    model, hp, train, dev, test = _setup(tiny_corpus, epochs=2)
    out = fit(model, hp, train, dev, test, seed=5, work_dir=tmp_path, log=messages.append)
    warnings = [m for m in messages if m.startswith("WARNING")]
    assert len(warnings) == 1 and "discarded" in warnings[0]
    assert not any("resumed" in m for m in messages) and out["epochs_run"] == 2
    model, hp, train, dev, test = _setup(tiny_corpus, epochs=2)
    assert _losses(out) == _losses(fit(model, hp, train, dev, test, seed=5))


class _FakeCuda:
    """Two fake CUDA devices with byte-tensor RNG states, as torch.cuda's API exposes them."""

    def __init__(self, count: int = 2) -> None:
        self.count = count
        self.states = [torch.arange(16, dtype=torch.uint8) + i for i in range(count)]
        self.restored: list[torch.Tensor] | None = None

    def is_available(self) -> bool:
        return True

    def device_count(self) -> int:
        return self.count

    def get_rng_state_all(self) -> list[torch.Tensor]:
        return [s.clone() for s in self.states]

    def set_rng_state_all(self, states) -> None:
        self.restored = [s.clone() for s in states]


def test_rng_states_of_every_device_round_trip(tmp_path):
    batch_rng = random.Random(11)
    cuda = _FakeCuda(2)
    state = ckpt.rng_state(batch_rng, cuda)
    torch.save({"rng": state}, tmp_path / "rng.pt")
    loaded = torch.load(tmp_path / "rng.pt", weights_only=True)["rng"]
    expected = (random.random(), np.random.rand(), torch.rand(2), batch_rng.random())
    random.seed(0), np.random.seed(0), torch.manual_seed(0), batch_rng.seed(0)
    target = _FakeCuda(2)
    ckpt.restore_rng(loaded, batch_rng, target)
    again = (random.random(), np.random.rand(), torch.rand(2), batch_rng.random())
    assert again[0] == expected[0] and again[1] == expected[1] and torch.equal(again[2], expected[2])
    assert again[3] == expected[3]
    assert target.restored is not None and all(torch.equal(a, b) for a, b in zip(target.restored, cuda.states))
    messages: list[str] = []
    ckpt.restore_rng(loaded, None, _FakeCuda(1), messages.append)  # fewer devices now: said, not silent
    assert len(messages) == 1 and "2 CUDA RNG state(s) but 1" in messages[0]


@pytest.mark.gpu
def test_cuda_rng_states_round_trip_on_a_real_gpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    state = ckpt.rng_state()
    expected = torch.rand(4, device="cuda")
    torch.cuda.manual_seed_all(0)
    ckpt.restore_rng(state)
    assert torch.equal(torch.rand(4, device="cuda"), expected)

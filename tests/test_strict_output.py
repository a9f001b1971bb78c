"""A run that blew up is a failed job, never a result; everything the suite writes is strict JSON."""
from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from benchmark.cli import main
from benchmark.errors import JobError
from benchmark.run.store import ResultStore
from benchmark.run.train import fit
from benchmark.util.io import NonFiniteJSONError, dumps, write_json
from benchmark.run.plan import PlanOptions, make_plan
from tests.test_train import _setup

ROOT = Path(__file__).resolve().parent.parent


def _plant(model, steps: int, at: tuple[int, int], kind: str = "loss") -> None:
    """From (epoch, step) = ``at`` on, the model's loss is NaN (``kind="loss"``) or its gradient infinite."""
    real, calls = model.loss, [0]

    def loss(batch):
        value = real(batch)
        calls[0] += 1
        if ((calls[0] - 1) // steps + 1, (calls[0] - 1) % steps + 1) < at:
            return value
        if kind == "loss":
            return value * float("nan")
        twin = next(model.parameters()).clone()
        twin.register_hook(lambda g: torch.full_like(g, float("inf")))
        return value + (twin * 0).sum()  # a finite value with an infinite gradient

    model.loss = loss


@pytest.mark.parametrize("kind, words", [("loss", "loss nan"), ("grad", "gradient norm inf")])
def test_non_finite_loss_or_gradient_fails_naming_epoch_and_step(tiny_corpus, tmp_path, kind, words):
    model, hp, train, dev, test = _setup(tiny_corpus)
    hp = {**hp, "grad_clip": 5.0} if kind == "grad" else {**hp, "grad_clip": None}
    steps = (len(train) + hp["batch_size"] - 1) // hp["batch_size"]
    assert steps >= 2
    _plant(model, steps, (2, 2), kind)
    with pytest.raises(JobError) as err:
        fit(model, hp, train, dev, test, seed=3, work_dir=tmp_path)
    assert f"training diverged: {words} at epoch 2, step 2/{steps}" in str(err.value)
    assert "\n" not in str(err.value)
    # the checkpoint holds epoch 1 only: the diverged epoch is never saved as if it had trained
    assert torch.load(tmp_path / "last.pt", weights_only=True)["epoch"] == 1


def test_a_job_that_diverges_is_failed_and_not_stored(tiny_corpus, tmp_path):
    """``--hp lr=1e30``: finite, accepted, and the model blows up inside the job."""
    out = CliRunner().invoke(main, ["run", "--table", "5", "--models", "bilstm-crf", "--languages", "en,de",
                                    "--scale", "smoke", "--hp", "epochs=1", "--hp", "w2v_epochs=1",
                                    "--hp", "lr=1e30", "--data-dir", str(tiny_corpus.root),
                                    "--results", str(tmp_path), "--threads", "1", "--device", "cpu"])
    assert out.exit_code == 1, out.output
    assert out.exception is None or isinstance(out.exception, SystemExit)
    assert "Traceback" not in out.output
    store = ResultStore(tmp_path)
    plan = make_plan(PlanOptions(table=5, models=("bilstm-crf",), languages=("en", "de"), scale="smoke",
                                 hp=(("epochs", 1), ("w2v_epochs", 1), ("lr", 1e30)), data_dir=str(tiny_corpus.root)))
    assert len(plan.ready) == 2
    for job in plan.ready:  # both jobs ran (one failing does not stop the other) and both failed
        assert f"{job.setting.label()} seed 1: FAILED (training diverged: loss nan at epoch 1, step" in out.output
        assert not store.has(job) and not store.run_dir(job).exists()
        assert store.state(job)[0] == "failed"
        error = (store.work_path(job) / "error.txt").read_text()
        assert error.startswith("training diverged: loss nan at epoch 1, step") and error.count("\n") == 1
    assert "2 failed" in out.output


# -- strict JSON ------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_write_json_refuses_non_finite_numbers_and_names_them(tmp_path, value):
    path = tmp_path / "r.json"
    path.write_text('{"old": 1}\n')
    with pytest.raises(NonFiniteJSONError) as err:
        write_json(path, {"history": [{"loss": 1.0}, {"loss": value}]})
    assert str(path) in str(err.value) and f"history[1].loss is {value}" in str(err.value)
    assert json.loads(path.read_text()) == {"old": 1}  # the old file is untouched
    with pytest.raises(NonFiniteJSONError):
        dumps({"a": value})


def test_written_json_is_strict_and_none_is_null(tmp_path):
    path = write_json(tmp_path / "r.json", {"undefined": None, "path": tmp_path, "x": 1.5})
    data = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"non-strict constant {c}"))
    assert data == {"undefined": None, "path": str(tmp_path), "x": 1.5}


def _writes_json(node: ast.Call) -> bool:
    f = node.func
    return isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "json" \
        and f.attr in ("dump", "dumps")


WRITERS = {"write_text", "write", "write_bytes", "echo", "secho", "print"}


def test_no_module_writes_json_around_the_strict_helper():
    """``json.dump`` never (files go through ``benchmark.util.io.write_json``); ``json.dumps`` into a
    writer (``write_text``, ``write``, ``echo``, ``print``) only with ``allow_nan=False`` (``util.io.dumps``).
    ``json.dumps`` of a value inside a message or an identity hash is not a write and stays allowed."""
    offenders = []
    for path in sorted([*(ROOT / "benchmark").rglob("*.py"), *(ROOT / "models").rglob("*.py")]):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            strict = any(k.arg == "allow_nan" and isinstance(k.value, ast.Constant) and k.value.value is False
                         for k in node.keywords)
            if _writes_json(node) and node.func.attr == "dump" and not strict:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} json.dump")
            if name in WRITERS:
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Call) and _writes_json(inner) and not any(
                            k.arg == "allow_nan" and isinstance(k.value, ast.Constant) and k.value.value is False
                            for k in inner.keywords):
                        offenders.append(f"{path.relative_to(ROOT)}:{inner.lineno} {name}(json.dumps(...))")
    assert not offenders, "write through benchmark.util.io (write_json / dumps): " + ", ".join(offenders)

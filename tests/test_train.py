"""Trainer behaviour: determinism, resume after interruption, bucketing, fold split."""
from __future__ import annotations

import random

import pytest

from benchmark.api import BuildContext
from benchmark.registry import get_model, load_factory
from benchmark.run.folds import fold_subset
from benchmark.run.train import fit, make_batches, seed_everything, take


def _setup(corpus, epochs=3):
    hp = {**get_model("bilstm-crf").hparams("smoke"), "epochs": epochs, "seed": 3}
    train, dev, test = (corpus.load(["en"], s) for s in ("train", "dev", "test"))
    seed_everything(3)
    model = load_factory(get_model("bilstm-crf")).from_training_data(hp, train, BuildContext())
    return model, hp, train, dev, test


def test_same_job_twice_gives_identical_metrics(tiny_corpus):
    runs = []
    for _ in range(2):
        model, hp, train, dev, test = _setup(tiny_corpus)
        runs.append(fit(model, hp, train, dev, test, seed=3))
    assert runs[0]["test"] == runs[1]["test"]
    assert [h["loss"] for h in runs[0]["history"]] == [h["loss"] for h in runs[1]["history"]]


def test_interrupted_fit_resumes_to_the_same_result(tiny_corpus, tmp_path):
    model, hp, train, dev, test = _setup(tiny_corpus)
    straight = fit(model, hp, train, dev, test, seed=3)

    def stop_after_epoch_2(msg: str) -> None:
        if msg.startswith("epoch 2:"):
            raise KeyboardInterrupt

    model, hp, train, dev, test = _setup(tiny_corpus)
    with pytest.raises(KeyboardInterrupt):
        fit(model, hp, train, dev, test, seed=3, work_dir=tmp_path, log=stop_after_epoch_2)
    assert (tmp_path / "last.pt").is_file()
    messages: list[str] = []
    model, hp, train, dev, test = _setup(tiny_corpus)
    resumed = fit(model, hp, train, dev, test, seed=3, work_dir=tmp_path, log=messages.append)
    assert any("resumed" in m and "after epoch 1" in m for m in messages)
    assert len(resumed["history"]) == 3
    assert resumed["test"] == straight["test"]
    assert [h["loss"] for h in resumed["history"]] == pytest.approx([h["loss"] for h in straight["history"]])


def test_bucketed_batches_cover_every_sentence_once(tiny_corpus):
    train = tiny_corpus.load(["all"], "train")
    batches = make_batches(train, 7, random.Random(0), length_buckets=5)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(train)))
    spread = [max(len(train[i]) for i in b) - min(len(train[i]) for i in b) for b in batches]
    plain = make_batches(train, 7, random.Random(0), 0)
    plain_spread = [max(len(train[i]) for i in b) - min(len(train[i]) for i in b) for b in plain]
    assert sum(spread) < sum(plain_spread)


def test_fold_split_and_take(tiny_corpus):
    train = tiny_corpus.load(["all"], "train")
    folds = [fold_subset(train, k, 5) for k in range(1, 6)]  # Table 8 trains on ONE subset (the paper)
    assert all(len(f) in (len(train) // 5, len(train) // 5 + 1) for f in folds)
    sids = [s.sid for f in folds for s in f]
    assert sorted(sids) == sorted(s.sid for s in train)  # disjoint, and together the whole split
    sub = take(train, 10)
    assert len(sub) == 10 and {s.language for s in sub} == {"en", "fr", "es", "de"}


def test_recorded_command_is_the_one_a_user_types():
    from benchmark.util.command import bench_command

    assert bench_command(["/usr/local/bin/bench", "run", "--hp", "lr=0.1 x"]) == "bench run --hp 'lr=0.1 x'"
    assert bench_command(["/work/clone/benchmark/cli/__main__.py", "run", "--table", "5"]) == "bench run --table 5"
    # benchmark/cli.py: the CLI before it became a package (older stored commands)
    assert bench_command(["/work/clone/benchmark/cli.py", "run", "--table", "5"]) == "bench run --table 5"
    assert bench_command(["myscript.py", "--x"]) == "myscript.py --x"


def test_result_counts_add_up_across_resumes(tiny_corpus, tmp_path):
    """2M-NER (images), interrupted after epochs 1 and 2 and resumed in a fresh build each time (as a
    new process would): the images loaded are those of every epoch, as in an uninterrupted run."""
    from benchmark.run.plan import PlanOptions, make_plan
    from benchmark.run.train import run_job

    plan = make_plan(PlanOptions(table=5, models=("2m-ner",), languages=("en",), scale="smoke",
                                 hp=(("epochs", 3),), data_dir=str(tiny_corpus.root)))
    job = plan.ready[0]
    assert job.setting.use_image
    (tmp_path / "straight").mkdir()
    (tmp_path / "resumed").mkdir()
    straight = run_job(job, tiny_corpus, work_dir=tmp_path / "straight")

    def stop_at(epoch: int):
        def log(msg: str) -> None:
            if msg.startswith(f"epoch {epoch}:"):  # before that epoch's checkpoint: resumes after epoch - 1
                raise KeyboardInterrupt
        return log

    for epoch in (2, 3):
        with pytest.raises(KeyboardInterrupt):
            run_job(job, tiny_corpus, work_dir=tmp_path / "resumed", log=stop_at(epoch))
    resumed = run_job(job, tiny_corpus, work_dir=tmp_path / "resumed")
    assert resumed.test == straight.test
    assert resumed.counts.pop("resumed_after_epochs") == [1, 2]
    assert resumed.counts == straight.counts
    # every epoch scores train batches, dev and test, plus the test predictions once
    n = straight.counts
    assert n["images"]["loaded"] == 3 * (n["train"] + n["dev"] + n["test"]) + n["test"]

"""Finding things without reading code: `bench models`, `bench show`, `--version`, `--help` examples,
and the end-of-run summary of `bench run`."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from benchmark.cli import main
from benchmark.cli.run import run_summary_lines

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_RUN = ROOT / "results" / "experiments" / "runs" / "bilstm-crf" / "886bdf610bfcc8c6"  # committed


def bench(*args: str):
    return CliRunner().invoke(main, list(args))


def cells(output: str, name: str) -> list[str]:
    row = next(line for line in output.splitlines() if line.startswith(f"| {name} "))
    return [c.strip() for c in row.split("|")[1:-1]]


def test_models_shows_recipe_variant_parameters_and_weights():
    out = bench("models", "--results", str(ROOT / "results"))
    assert out.exit_code == 0, out.output
    code = cells(out.output, "2m-ner-code")
    assert code[:5] == ["2m-ner-code", "2M-NER (code)", "text+image", "code", "2m-ner"]
    assert "torchvision/resnet152" in code[6] and code[7] == "built-in"
    assert cells(out.output, "2m-ner")[3:5] == ["paper", "-"]
    # the count stored by the committed reference runs (results.json counts.parameters = 3651101)
    assert cells(out.output, "bilstm-crf")[5] == "3.65M (paper run on mmnerd)"
    assert cells(out.output, "bert")[5] == "-"  # nothing recorded: unknown, never estimated
    assert cells(out.output, "bert")[6] == "bert-base-multilingual-cased"
    assert "variants of 2m-ner: 2m-ner-no-resnet, 2m-ner-no-vit, 2m-ner-text, 2m-ner-code (code recipe)" in out.output


def test_show_prints_settings_epochs_and_log_tail():
    out = bench("show", "886bdf61", "--results", str(ROOT / "results" / "experiments"), "--log-lines", "2")
    assert out.exit_code == 0, out.output
    text = out.output
    assert text.startswith(f"job 886bdf610bfcc8c6  finished  {ROOT / 'results' / 'experiments'}")
    assert "setting    train en -> test en (text)" in text
    assert "command    bench run --table 5 --models bilstm-crf --languages en --threads 1" in text
    assert "commit     839c7e2bd488 (uncommitted changes)" in text
    assert "F1 59.44" in text and "(epoch 15 of 23, best dev)" in text
    epochs = [line for line in text.splitlines() if re.match(r"^(\* |  )?\d+ ", line)]
    assert len(epochs) == 23
    assert re.match(r"^\* 15\s+17\.0540\s+60\.38\s+59\.44", next(e for e in epochs if e.startswith("*")))
    log_tail = (REFERENCE_RUN / "train.log").read_text().splitlines()[-2:]
    assert text.rstrip().splitlines()[-2:] == ["  " + line for line in log_tail]


def test_show_finds_unfinished_jobs_and_refuses_ambiguity(tmp_path):
    res = tmp_path / "res"
    for folder in (res / "runs" / "bilstm-crf" / "abcd000000000001", res / ".work" / "abcd000000000002"):
        folder.mkdir(parents=True)
        shutil.copy(REFERENCE_RUN / "job.json", folder / "job.json")
    (res / ".work" / "abcd000000000002" / "train.log").write_text("10:00:00 epoch 1: loss 9.0\n")
    out = bench("show", "abcd", "--results", str(res))
    assert out.exit_code == 2 and "ambiguous: abcd000000000001, abcd000000000002" in out.output
    out = bench("show", "abcd0000000000020", "--results", str(res))
    assert out.exit_code == 2 and "no job abcd0000000000020" in out.output
    out = bench("show", "abcd000000000002", "--results", str(res))
    assert out.exit_code == 0, out.output
    assert "UNFINISHED" in out.output and "10:00:00 epoch 1: loss 9.0" in out.output
    assert bench("show", "xyz", "--results", str(res)).exit_code == 2


def test_version_matches_the_package():
    version = re.search(r'^version = "(.+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    out = bench("--version")
    assert out.exit_code == 0 and out.output.strip().endswith(f"version {version}")


def test_every_command_help_has_an_example():
    commands = [[]] + [[name] for name in main.commands]
    assert len(commands) >= 11
    for args in commands:
        out = bench(*args, "--help")
        assert out.exit_code == 0
        example = out.output.split("Example", 1)
        assert len(example) == 2, f"bench {' '.join(args)} --help has no example"
        assert re.search(r"^\s+bench ", example[1], re.M), f"bench {' '.join(args)}: example is not a command"


def planned(status: str, reason: str = ""):
    return SimpleNamespace(status=status, reason=reason)


def test_summary_counts_and_reasons():
    plan = [planned("ready"), planned("ready"), planned("no-data", "language(s) fr not in /d"),
            planned("no-data", "language(s) fr not in /d"), planned("no-weights", "pretrained weights not found: x"),
            planned("no-gpu", "needs CUDA"), planned("no-images", "no image folder")]
    done = SimpleNamespace(done=["j1"], failed=[("0123456789abcdef", "ValueError: x")])
    lines = run_summary_lines(plan, 1, done, "bench report --table 5 --compare-paper", seconds=90)
    assert lines[1:3] == ["Summary:", "  ran 1 job(s) in 1.5 min, reused 1 already stored, 1 failed, skipped 5 row(s)"]
    assert "  skipped 2 row(s) (language absent): language(s) fr not in /d" in lines
    assert "  skipped 1 row(s) (no weights): pretrained weights not found: x" in lines
    assert "  skipped 1 row(s) (no GPU): needs CUDA" in lines and "  skipped 1 row(s) (no images): no image folder" in lines
    assert "  failed 0123456789abcdef: ValueError: x (bench show 01234567)" in lines
    assert lines[-1].startswith("Next: bench report --table 5 --compare-paper")


@pytest.mark.parametrize("statuses, nxt", [
    (["no-weights", "no-data"], "Next: bench weights"),
    (["no-data"], "Next: bench stats"),
    (["not-implemented"], "Next: bench models"),
])
def test_summary_next_command_when_nothing_could_run(statuses, nxt):
    lines = run_summary_lines([planned(s, "why") for s in statuses], 0, None, "bench report --table 5")
    assert "  ran 0 job(s), reused 0 already stored, 0 failed, skipped %d row(s)" % len(statuses) in lines
    assert lines[-1].startswith(nxt)


def test_run_reuses_and_says_so(tiny_corpus, tmp_path):
    """The second run of the same command trains nothing, says it reused the job, and still renders it."""
    args = ["run", "--table", "5", "--models", "bilstm-crf", "--languages", "en", "--scale", "smoke",
            "--data-dir", str(tiny_corpus.root), "--results", str(tmp_path), "--device", "cpu", "--hp", "epochs=1"]
    first = bench(*args)
    assert first.exit_code == 0, first.output
    assert "ran 1 job(s)" in first.output
    again = bench(*args)
    assert "ran 0 job(s), reused 1 already stored" in again.output
    stored = json.loads(next(tmp_path.glob("runs/bilstm-crf/*/result.json")).read_text())
    row = next(line for line in again.output.splitlines() if "| BiLSTM-CRF" in line)
    assert f"{100 * stored['test']['conlleval']['f1']:.2f} (62.68, " in row  # ours beside the paper's English F1


def test_parameter_counts_prefer_paper_size_records(tmp_path):
    """A smoke-profile record must not hide a paper-size count; a paper-profile record wins over a run."""
    from benchmark.report.parameters import recorded_parameters

    bench_dir = tmp_path / "benchmarks"
    bench_dir.mkdir()
    run = tmp_path / "reference" / "runs" / "bilstm-crf" / REFERENCE_RUN.name
    shutil.copytree(REFERENCE_RUN, run)  # counts.parameters = 14682229, paper profile
    (bench_dir / "model_bilstm-crf_smoke_cpu.json").write_text(
        json.dumps({"model": "bilstm-crf", "profile": "smoke", "parameters": {"total": 5000}}))
    (bench_dir / "model_bert_smoke_cpu.json").write_text(
        json.dumps({"model": "bert", "profile": "smoke", "parameters": {"total": 120000}}))
    (bench_dir / "model_bert_paper_cuda.json").write_text(
        json.dumps({"model": "bert", "profile": "paper", "parameters": {"total": 177900000}}))
    (bench_dir / "model_broken.json").write_text("{not json")
    counts = recorded_parameters(tmp_path)
    assert counts == {"bilstm-crf": "14.68M (paper run on mmnerd)", "bert": "177.90M (paper profile, bench profile)"}


def test_show_escapes_terminal_control_characters_from_stored_strings(tmp_path):
    """A stored log line with ANSI / OSC sequences is printed escaped, not sent to the terminal (issue 27 item 8)."""
    folder = tmp_path / "res" / ".work" / "abcd000000000003"
    folder.mkdir(parents=True)
    shutil.copy(REFERENCE_RUN / "job.json", folder / "job.json")
    (folder / "train.log").write_text("epoch 1 \x1b[2J\x1b]0;pwned\x07 bell\x9b done\tok\n")
    out = bench("show", "abcd000000000003", "--results", str(tmp_path / "res"))
    assert out.exit_code == 0, out.output
    assert "\x1b" not in out.output and "\x07" not in out.output and "\x9b" not in out.output
    assert "epoch 1 \\x1b[2J\\x1b]0;pwned\\x07 bell\\x9b done\tok" in out.output

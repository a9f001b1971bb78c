"""Models from the user's own package: ``--plugin module:attr`` and ``mmner_bench.models`` entry points.

A toy package is written into a temp folder (never installed into the venv); each test restores the
registry, so plugin models do not leak into other tests (e.g. `bench check` over every model).
"""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmark import registry
from benchmark.cli import main
from benchmark.report.render import CAP_MARK
from tests.helpers import registry_restored

ROOT = Path(__file__).resolve().parent.parent

TOY = '''
from torch import nn
from benchmark.api import Tagger, pad_ids, tag_inventory
from benchmark.registry import ModelSpec


class Toy(Tagger):
    def __init__(self, config, ctx):
        super().__init__(config, ctx)
        self.vocab = {w: i for i, w in enumerate(config["vocab"])}
        self.embed = nn.Embedding(len(self.vocab), 16, padding_idx=0)
        self.out = nn.Linear(16, len(self.tags))

    @classmethod
    def from_training_data(cls, hp, train, ctx):
        words = sorted({w for s in train for w in s.tokens})
        return cls({"tags": tag_inventory(train), "vocab": ["<pad>", "<unk>", *words]}, ctx)

    def collate(self, sentences):
        ids, mask = pad_ids([[self.vocab.get(w, 1) for w in s.tokens] for s in sentences])
        tags, _ = pad_ids([[self.tag_to_id[t] for t in s.tags] for s in sentences])
        return {"ids": ids, "mask": mask, "tags": tags}

    def loss(self, batch):
        logits = self.out(self.embed(batch["ids"]))
        return nn.functional.cross_entropy(logits[batch["mask"]], batch["tags"][batch["mask"]])

    def decode(self, batch):
        best = self.out(self.embed(batch["ids"])).argmax(-1).tolist()
        return [[self.tags[t] for t in row[:n]] for row, n in zip(best, batch["mask"].sum(1).tolist())]


def specs():
    common = dict(factory="toy_models:Toy", citation="test", defaults={"epochs": 2, "lr": 0.05}, smoke={"epochs": 2})
    return [ModelSpec(name="toy-text", display="ToyText", modality="text", **common),
            ModelSpec(name="toy-mm", display="ToyMM", modality="text+image", variant_of="toy-text", **common)]
'''


@pytest.fixture(autouse=True)
def restore_registry():
    with registry_restored():
        yield


@pytest.fixture()
def site(tmp_path, monkeypatch):
    """A folder on sys.path holding the toy package (and, when asked, its entry-point metadata)."""
    folder = tmp_path / "site"
    (folder / "toy_models").mkdir(parents=True)
    (folder / "toy_models" / "__init__.py").write_text(TOY)
    monkeypatch.syspath_prepend(str(folder))
    return folder


def add_entry_point(site: Path, value: str, name: str = "toy") -> None:
    info = site / "toy_models-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-models\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[mmner_bench.models]\n{name} = {value}\n")



def bench(*args: str):
    return CliRunner().invoke(main, list(args))


def test_plugin_runs_in_a_table_and_renders_as_extra_rows(site, tiny_corpus, tmp_path):
    """--plugin (per command) -> planned beside the paper rows -> trained -> stored -> extra row + summary."""
    res = str(tmp_path / "res")
    out = bench("run", "--plugin", "toy_models:specs", "--table", "5", "--models", "toy-text,toy-mm,bilstm-crf",
                "--languages", "en", "--scale", "smoke", "--data-dir", str(tiny_corpus.root), "--results", res,
                "--device", "cpu")
    assert out.exit_code == 0, out.output
    assert "3 to run" in out.output
    stored = {p.parent.parent.name: json.loads(p.read_text()) for p in Path(res).glob("runs/*/*/result.json")}
    assert set(stored) == {"toy-text", "toy-mm", "bilstm-crf"}
    assert stored["toy-mm"]["job"]["setting"]["use_image"] is True  # multimodal plugin gets the images
    assert stored["toy-text"]["job"]["setting"]["use_image"] is False
    lines = out.output.splitlines()
    table = [line for line in lines if line.startswith("| ")]
    # header, then rows; a smoke run stopped at its epochs cap carries the cap mark (tests/test_render.py)
    methods = [line.split("|")[2].strip().removesuffix(CAP_MARK) for line in table[1:]]
    # the paper's English rows (values from the paper beside ours where we ran one), then the extras
    assert methods == ["BiLSTM-CRF", "HBiLSTM-CRF", "BERT", "BERT-CRF", "AdaCAN", "UMT", "UMGF", "MKGFormer",
                       "2M-NER", "ToyText", "ToyMM"]
    assert "– (93.53)" in next(line for line in table if "| UMT" in line)  # paper value beside an empty cell
    toy_row = next(line for line in table if "| ToyText" in line)
    f1 = 100 * stored["toy-text"]["test"]["conlleval"]["f1"]
    assert f"{f1:.2f} (–)" in toy_row  # measured value, no paper value beside it
    assert "ran 3 job(s)" in out.output and "reused 0 already stored" in out.output
    assert f"Next: bench report --table 5 --compare-paper --results {res} --scale smoke" in out.output


def test_plugin_model_runs_in_worker_processes(site, tiny_corpus, tmp_path):
    """--devices cpu,cpu: each job in its own process, which must load the parent's plugin too."""
    res = str(tmp_path / "res")
    out = bench("run", "--plugin", "toy_models:specs", "--table", "5", "--models", "toy-text", "--languages", "en",
                "--scale", "smoke", "--data-dir", str(tiny_corpus.root), "--results", res, "--devices", "cpu,cpu")
    assert out.exit_code == 0, out.output
    assert [p.parent.parent.name for p in Path(res).glob("runs/*/*/result.json")] == ["toy-text"]


def test_entry_point_models_are_listed_with_their_source(site):
    add_entry_point(site, "toy_models:specs")
    out = bench("models", "--results", str(ROOT / "results"))
    assert out.exit_code == 0, out.output
    row = next(line for line in out.output.splitlines() if line.startswith("| toy-mm "))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[:5] == ["toy-mm", "ToyMM", "text+image", "paper", "toy-text"]
    assert cells[5] == "-"  # no recorded parameter count: unknown, not estimated
    assert cells[7] == "entry point toy = toy_models:specs (toy-models)"
    assert "variants of toy-text: toy-mm" in out.output


def test_global_plugin_option_and_a_single_spec(site, tmp_path):
    (site / "one_spec.py").write_text("from toy_models import specs\nSPEC = specs()[0]\n")
    out = bench("--plugin", "one_spec:SPEC", "models", "--results", str(tmp_path))
    assert out.exit_code == 0, out.output
    assert "| toy-text " in out.output and "--plugin one_spec:SPEC" in out.output
    assert "toy-mm" not in out.output


@pytest.mark.parametrize("module, ref, expected", [
    (None, "no_such_module_xyz:SPEC", "cannot import 'no_such_module_xyz' (ModuleNotFoundError"),
    ("raise RuntimeError('boom at import')\n", "MOD:SPEC", "RuntimeError: boom at import"),
    ("SPEC = 3\n", "MOD:SPEC", "expected a ModelSpec"),
    ("X = 1\n", "MOD:SPEC", "has no attribute 'SPEC'"),
    ("def SPEC():\n    raise ValueError('bad call')\n", "MOD:SPEC", "calling it failed (ValueError: bad call)"),
    ("from toy_models import specs\nfrom dataclasses import replace\nSPEC = replace(specs()[0], name='bilstm-crf')\n",
     "MOD:SPEC", "'bilstm-crf' is already registered by the built-in registry"),
    ("from toy_models import specs\nfrom dataclasses import replace\nSPEC = replace(specs()[0], modality='image')\n",
     "MOD:SPEC", "modality must be 'text' or 'text+image'"),
    (None, "no-colon", "--plugin expects module:attribute"),
])
def test_broken_plugin_is_one_line_exit_2(site, module, ref, expected):
    name = f"broken_{abs(hash(str(site))) % 10**8}"  # a fresh module per case (imports are cached)
    ref = ref.replace("MOD", name)
    if module is not None:
        (site / f"{name}.py").write_text(module)
    for args in (["--plugin", ref, "models"], ["run", "--plugin", ref, "--table", "5", "--dry-run"]):
        out = bench(*args)
        assert out.exit_code == 2, out.output
        assert out.output.startswith(f"bench: plugin {ref}: " if ":" in ref else "bench: --plugin")
        assert expected in out.output and out.output.count("\n") == 1 and "Traceback" not in out.output


def test_broken_entry_point_stops_every_command_with_one_line(site):
    add_entry_point(site, "toy_models_missing:specs", name="gone")
    out = bench("models")
    assert out.exit_code == 2
    assert out.output.startswith("bench: plugin entry point gone = toy_models_missing:specs (toy-models): cannot load")
    assert "fix or uninstall" in out.output and out.output.count("\n") == 1


def test_factory_module_missing_is_one_line_when_the_job_runs(tmp_path, tiny_corpus):
    """A spec whose factory module does not exist: listed fine, the run stops with one line."""
    from benchmark.registry import ModelSpec, load_factory, register

    spec = ModelSpec(name="ghost", display="Ghost", factory="ghost_module_xyz:Model", modality="text", citation="-")
    register(spec, "test")
    with pytest.raises(registry.ConfigError, match="factory module 'ghost_module_xyz' not found"):
        load_factory(spec)

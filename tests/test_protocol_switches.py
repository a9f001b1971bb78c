"""Every protocol choice is a named switch (issue 23 item 5): Table 6's dev set, CRF constraints and
CRF initialisation for every CRF model, with the defaults the README's Protocol table documents."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from baselines.layers.crf import CRF, allowed_transitions
from benchmark.errors import ConfigError
from benchmark.registry import MODELS, PLUGIN_SOURCES, get_model
from benchmark.run.plan import PlanOptions, make_plan
from benchmark.run.specs import JobSpec, Setting
from benchmark.run.train import job_data
from tests.helpers import build_model, hand_made_sentences

README = Path(__file__).resolve().parents[1] / "README.md"
SWITCHES = ("crf_constrained", "crf_init")


def _crfs(model: torch.nn.Module) -> list[CRF]:
    return [m for m in model.modules() if isinstance(m, CRF)]


def _switch_default(name: str, key: str):
    """The registry's default of a CRF switch: the resolved value, else the optional hp's first value."""
    spec = get_model(name)
    hp = spec.hparams("smoke")
    return hp[key] if key in hp else spec.optional[key][0]


def _protocol_row(switch: str) -> str:
    """The README Protocol table's row of ``switch`` (``| `switch` | values | default | reason |``)."""
    text = README.read_text(encoding="utf-8").split("## Protocol", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip() for line in text.splitlines() if line.strip().startswith(f"| `{switch}` |")]
    assert len(rows) == 1, f"the README's Protocol table must have one row for {switch}"
    return rows[0]


def _documented_defaults(switch: str) -> dict[str, str]:
    """``model -> value`` from the row's default cell: "`VALUE`: model, model; `VALUE`: ..."."""
    cell = _protocol_row(switch).split(" | ")[2]
    out: dict[str, str] = {}
    for value, models in re.findall(r"`([^`]+)`: ([^;]+)", cell):
        for name in re.findall(r"[a-z0-9-]+", models):
            out[name] = value
    return out


@pytest.fixture(scope="module")
def built() -> dict[str, tuple[torch.nn.Module, dict]]:
    """Every built-in model, tiny (smoke, text-only), built once with its default switches."""
    train = hand_made_sentences()
    return {name: build_model(name, train) for name in MODELS if name not in PLUGIN_SOURCES}


def crf_models(built) -> list[str]:
    return [n for n, (m, _) in built.items() if _crfs(m)]


def test_every_crf_model_takes_both_switches_with_the_documented_default(built):
    """Catches a CRF model whose constraints or initialisation are hard-coded (no switch), and a
    default that differs from the README's Protocol table."""
    names = crf_models(built)
    assert {"bilstm-crf", "hbilstm-crf", "adacan", "umgf", "umt", "mkgformer", "bert-crf", "2m-ner-text"} <= set(names)
    documented = {s: _documented_defaults(s) for s in SWITCHES}
    for name in names:
        spec = get_model(name)
        model = built[name][0]
        for key in SWITCHES:
            assert key in spec.hparams("smoke") or key in spec.optional, f"{name}: no {key} switch"
            assert name in documented[key], f"{name}: {key} default missing from the README Protocol table"
        assert str(_switch_default(name, "crf_constrained")).lower() == documented["crf_constrained"][name], name
        assert _switch_default(name, "crf_init") == documented["crf_init"][name], name
        assert model.crf.constrained is bool(_switch_default(name, "crf_constrained")), name
        assert model.crf.init == _switch_default(name, "crf_init"), name


@pytest.mark.parametrize("name", ["bilstm-crf", "hbilstm-crf", "adacan", "umgf", "umt", "mkgformer",
                                  "bert-crf", "bert-crf-code", "2m-ner-text"])
def test_crf_constrained_switch_changes_decoding(name):
    """Both values of crf_constrained reach the model's CRF: emissions that favour ``I-X`` first are
    decoded as ``I-X`` unconstrained and never so constrained."""
    train = hand_made_sentences()
    paths = {}
    for value in (True, False):
        model, _ = build_model(name, train, crf_constrained=value)
        crf = model.crf
        assert crf.constrained is value
        tags = model.tags
        inside = next(i for i, t in enumerate(tags) if t.startswith("I-"))
        with torch.no_grad():
            for p in (crf.crf.transitions, crf.crf.start_transitions, crf.crf.end_transitions):
                p.zero_()
        emissions = torch.zeros(1, 3, len(tags))
        emissions[0, :, inside] = 5.0
        paths[value] = crf.decode(emissions, torch.ones(1, 3, dtype=torch.bool))[0]
    assert paths[False][0] == paths[False][1] == inside
    assert not tags[paths[True][0]].startswith("I-")  # an entity never starts with I-
    assert paths[True] != paths[False]


@pytest.mark.parametrize("name", ["bilstm-crf", "umgf", "umt", "mkgformer", "bert-crf", "2m-ner-text"])
def test_crf_init_switch_changes_the_start_and_end_scores(name):
    """``uniform``: every CRF score in U(-0.1, 0.1); ``allennlp``: start/end N(0, 1) (some > 0.1)."""
    train = hand_made_sentences()
    scores = {}
    for init in ("allennlp", "uniform"):
        model, _ = build_model(name, train, crf_init=init)
        for crf in _crfs(model):  # UMT's span CRF follows the switch too
            assert crf.init == init
        crf = model.crf.crf
        scores[init] = torch.cat([crf.start_transitions, crf.end_transitions]).detach()
    assert scores["uniform"].abs().max() <= 0.1
    assert scores["allennlp"].abs().max() > 0.1


def test_bad_switch_values_are_one_line_errors_before_any_job(tiny_corpus):
    for hp in ((("crf_init", "zeros"),), (("crf_constrained", "yes"),), (("dev_set", "english"),)):
        with pytest.raises(ConfigError, match=hp[0][0]):
            make_plan(PlanOptions(table=5, models=("umt",), languages=("en",), scale="smoke",
                                  data_dir=str(tiny_corpus.root), hp=hp))


def test_wordpiece_continuation_tag_is_transparent_under_constraints():
    """Scheme A (UMT/MKGFormer): ``B-PER X I-PER`` is a valid path; ``O I-PER`` and ``[CLS] I-PER`` not."""
    tags = ["[PAD]", "O", "B-PER", "I-PER", "X", "[CLS]", "[SEP]"]
    allowed = allowed_transitions(tags)
    ix = {t: i for i, t in enumerate(tags)}
    assert allowed[ix["B-PER"], ix["X"]] and allowed[ix["X"], ix["I-PER"]] and allowed[ix["X"], len(tags) + 1]
    assert not allowed[ix["O"], ix["I-PER"]] and not allowed[ix["[CLS]"], ix["I-PER"]]
    word_level = allowed_transitions(["O", "B-PER", "I-PER"])  # no X: the plain IOB2 mask
    assert word_level.sum() == allowed_transitions(["O", "B-PER", "I-PER"]).sum()


def test_bert_crf_and_2m_ner_text_differ_only_by_the_constraint_switch(built):
    """BERT-CRF decodes constrained, 2m-ner-text does not (README); ``--hp crf_constrained=false``
    on bert-crf gives 2m-ner-text's CRF (same init, reduction and decoding)."""
    a, b = built["bert-crf"][0].crf, built["2m-ner-text"][0].crf
    assert (a.constrained, b.constrained) == (True, False)
    same, _ = build_model("bert-crf", hand_made_sentences(), crf_constrained=False)
    assert (same.crf.constrained, same.crf.init, same.crf.reduction) == (b.constrained, b.init, b.reduction)
    assert torch.equal(same.crf.allowed, b.allowed)


# -- Table 6: the dev set ----------------------------------------------------------------------

def _table6(corpus, *hp):
    plan = make_plan(PlanOptions(table=6, scale="smoke", data_dir=str(corpus.root), hp=tuple(hp)))
    return {(p.job.setting.train_languages, p.job.setting.test_language, p.job.seed): p.job
            for p in plan.jobs if p.job is not None}


def test_dev_set_switch_picks_the_test_language_dev_split(tiny_corpus):
    """Catches 'Table 6 always selects on the union of the training languages' dev sets'."""
    setting = Setting(("de", "en"), "de", True)
    hp = get_model("2m-ner").hparams("smoke")
    union = JobSpec("2m-ner", setting, 1, "smoke", hp, "fallback", "x")
    own = JobSpec("2m-ner", setting, 1, "smoke", {**hp, "dev_set": "test-language"}, "fallback", "x")
    dev_union, dev_own = job_data(union, tiny_corpus)[1], job_data(own, tiny_corpus)[1]
    assert {s.language for s in dev_union} == {"de", "en"}
    assert {s.language for s in dev_own} == {"de"}
    assert [s.sid for s in dev_own] == [s.sid for s in tiny_corpus.load(["de"], "dev")][:len(dev_own)]


def test_dev_set_enters_the_job_id_only_where_it_changes_the_dev_data(tiny_corpus):
    """The default (train-languages) keeps every id; test-language changes the language-pair rows
    only (a row trained on its test language alone reads the same dev split either way)."""
    default = _table6(tiny_corpus)
    assert _table6(tiny_corpus, ("dev_set", "train-languages")).keys() == default.keys()
    assert {k: j.job_id for k, j in _table6(tiny_corpus, ("dev_set", "train-languages")).items()} == \
        {k: j.job_id for k, j in default.items()}
    own = _table6(tiny_corpus, ("dev_set", "test-language"))
    pairs = [k for k in default if len(k[0]) > 1]
    singles = [k for k in default if len(k[0]) == 1]
    assert pairs and singles
    for k in pairs:
        assert own[k].job_id != default[k].job_id and own[k].hparams["dev_set"] == "test-language"
    for k in singles:
        assert own[k].job_id == default[k].job_id and "dev_set" not in own[k].hparams

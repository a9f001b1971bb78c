"""A corpus is data: registry entries, layouts, resolution rules, and a new corpus end to end."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from benchmark.cli import main
from benchmark.corpora import registry
from benchmark.corpora.fallback import NAMES, TEMPLATES, generate_fallback
from benchmark.corpora.labels import ENTITY_TYPES
from benchmark.corpora.reader import Corpus, ReadReport
from benchmark.corpora.registry import (CONLL_LAYOUT, MMNERD_LAYOUT, CorpusEntry, corpus_display,
                                        get_corpus_entry, register_corpus)
from benchmark.corpora.resolve import resolve_corpus
from benchmark.errors import ConfigError


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_every_registered_entry_is_consistent():
    assert {"mmnerd", "fallback", "twitter2017", "twitter2015"} <= set(registry.CORPORA)
    for entry in registry.CORPORA.values():
        entry.check()
    with pytest.raises(ConfigError, match="did you mean mmnerd"):
        get_corpus_entry("mmnerdd")
    bad = CorpusEntry("two", "Two", ("en", "de"), CONLL_LAYOUT)
    with pytest.raises(ConfigError, match="holds one language, 2 declared"):
        bad.check()
    with pytest.raises(ConfigError, match="'MSC' is not an entity type"):
        CorpusEntry("x", "X", ("en",), CONLL_LAYOUT, label_map={"OTHER": "MSC"}).check()


def test_entity_types_are_spelled_once():
    """Tables, `bench check` and the generated corpus all follow benchmark.corpora.labels.ENTITY_TYPES."""
    from benchmark.metrics import headline
    from benchmark.tables import COLUMNS
    from benchmark.run.check import DEFAULT_TOLERANCES

    assert ENTITY_TYPES == ("PER", "LOC", "ORG", "MISC")
    assert COLUMNS[:4] == ENTITY_TYPES
    assert [k for k in DEFAULT_TOLERANCES if k[5:] in ENTITY_TYPES] == [f"test_{t}" for t in ENTITY_TYPES]
    assert tuple(NAMES) == ENTITY_TYPES and all(set(t) - {"neutral"} == set(ENTITY_TYPES) for t in TEMPLATES.values())
    empty = {"precision": 0, "recall": 0, "f1": 0, "per_type": {"OTHER": {"f1": 0.5}}}
    assert headline({"conlleval": empty}, entity_types=("OTHER",))["OTHER"] == 50.0


def test_reader_does_not_import_the_generated_corpus():
    code = ("import sys, benchmark.corpora.reader, benchmark.corpora.registry; "
            "print('benchmark.corpora.fallback' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_fallback_corpus_only_when_no_data_is_named(tiny_corpus, monkeypatch, tmp_path):
    import benchmark.corpora.fallback as fallback

    monkeypatch.setattr(fallback, "ensure_fallback_corpus", lambda: tiny_corpus)
    monkeypatch.delenv("MMNERD_DIR", raising=False)
    said: list[str] = []
    corpus = resolve_corpus(echo=said.append)
    assert corpus.kind == "fallback" and "using the built-in synthetic corpus" in said[0]
    monkeypatch.setenv("MMNERD_DIR", str(tmp_path / "typo"))  # a data dir that is not there: an error
    with pytest.raises(ConfigError, match=r"\$MMNERD_DIR .*typo: no such folder"):
        resolve_corpus(echo=said.append)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"--data-dir .*empty: no MMNERD files found \(expected "
                                          r"train_valid_test_<lang>/\{train,valid,test\}_conll_format.txt"):
        resolve_corpus(tmp_path / "empty", echo=said.append)
    with pytest.raises(ConfigError, match="corpus twitter2017 .*give its folder with --data-dir"):
        resolve_corpus(corpus="twitter2017", echo=said.append)
    assert len(said) == 1


def test_marker_keeps_a_generated_corpus_from_being_called_mmnerd(tiny_corpus):
    corpus = resolve_corpus(tiny_corpus.root, corpus="mmnerd", echo=lambda m: None)
    assert corpus.kind == "fallback" and corpus.display == "built-in synthetic corpus"


def _twitter_file(n: int, first: int) -> str:
    """Twitter-style sentences: OTHER type, an orphan I- tag, NBSP and zero-width tokens (12 tokens each)."""
    out = []
    for i in range(first, first + n):
        out += [f"IMGID:{1000 + i}", "RT\tO", "@user\tO", ":\tO", "Super\tB-OTHER", "Bowl\tI-OTHER", "in\tO",
                "Houston\tI-LOC", "\u00a0\tO", "with\tO", "Tom\tB-PER", "Brady\tI-PER", "\u200b\tO", ""]
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("name, display", [("twitter2017", "Twitter-2017"), ("twitter2015", "Twitter-2015")])
def test_twitter_entries_read_the_conll_layout_with_other_as_misc(tmp_path, name, display):
    """<root>/{train,valid,test}.txt, OTHER read as MISC, orphan I- counted (6/2/3 sentences)."""
    for split, n in (("train", 6), ("valid", 2), ("test", 3)):
        (tmp_path / f"{split}.txt").write_text(_twitter_file(n, 10 * n), encoding="utf-8")
    corpus = resolve_corpus(tmp_path, corpus=name, echo=lambda m: None)
    assert corpus.kind == name and corpus.available_languages() == ("en",)
    assert not corpus.has_language("all") and not corpus.has_language("fr")
    assert [len(corpus.load(["en"], s)) for s in ("train", "dev", "test")] == [6, 2, 3]
    sent = corpus.load(["en"], "test")[0]
    assert sent.tags[3:7] == ("B-MISC", "I-MISC", "O", "I-LOC") and sent.tokens[7] == "\u00a0"
    assert sent.image_id == "1030"
    out = invoke("stats", "--corpus", name, "--data-dir", str(tmp_path))
    assert out.exit_code == 0, out.output
    assert f"Data: {display}.\n" in out.output and "| English    | train   | 6" in out.output
    report = ReadReport("t")
    corpus.read(corpus.split_path("en", "train"), "en", report)
    assert report.entities == 18 and report.orphans == 6 and len(report.warnings) == 6
    # the same file read as MMNERD (no label map): the unknown type at its line, with the option to use
    bad = invoke("validate", str(tmp_path / "train.txt"))
    assert bad.exit_code == 2 and f"{tmp_path / 'train.txt'}:5: unknown entity type 'OTHER'" in bad.output
    ok = invoke("validate", "--label-map", "OTHER=MISC", str(tmp_path / "train.txt"))
    assert ok.exit_code == 0 and "6 sentences, 72 tokens, 18 entities, 6 warning(s)" in ok.output
    assert invoke("validate", "--corpus", name, str(tmp_path / "train.txt")).exit_code == 0


def test_validate_scheme_option(tmp_path):
    path = tmp_path / "bioes.txt"
    path.write_text("IMGID:1\nObama\tS-PER\nin\tO\nNew\tB-LOC\nYork\tE-LOC\n\n")
    bad = invoke("validate", str(path))
    assert bad.exit_code == 2 and f"bench: {path}:2: tag 'S-PER' is BIOES" in bad.output
    good = invoke("validate", "--scheme", "bioes", str(path))
    assert good.exit_code == 0 and "1 sentences, 4 tokens, 2 entities" in good.output
    typo = invoke("validate", "--label-map", "OTHER", str(path))
    assert typo.exit_code == 2 and "--label-map expects TYPE=TYPE" in typo.output


@pytest.fixture()
def my_corpus(tmp_path):
    """A second corpus in the MMNERD layout, made and registered on the fly (60/20/20 English sentences)."""
    root = tmp_path / "mycorpus"
    generate_fallback(root, sizes=(60, 20, 20), seed=11, languages=("en",))
    (root / "FALLBACK_CORPUS").unlink()  # not the generated corpus any more: a corpus of its own
    entry = register_corpus(CorpusEntry(
        name="my-corpus", display="My Corpus 2026", languages=("en",), layout=MMNERD_LAYOUT,
        citation="a test", note="Data is My Corpus 2026, made by a test."))
    yield root, entry
    registry.CORPORA.pop(entry.name)


def test_a_new_mmnerd_layout_corpus_runs_a_table5_row_and_is_named_in_the_table(my_corpus, tmp_path):
    root, entry = my_corpus
    res = str(tmp_path / "results")
    out = invoke("run", "--table", "5", "--corpus", "my-corpus", "--data-dir", str(root), "--models", "bilstm-crf",
                 "--languages", "en", "--scale", "smoke", "--threads", "1", "--results", res, "--device", "cpu")
    assert out.exit_code == 0, out.output
    assert "1 to run" in out.output and "data My Corpus 2026 at" in out.output
    stored = list((tmp_path / "results" / "runs" / "bilstm-crf").glob("*/result.json"))
    assert len(stored) == 1
    result = json.loads(stored[0].read_text())
    assert result["job"]["data_kind"] == "my-corpus" and result["counts"]["train"] == 60
    f1 = 100 * result["test"]["conlleval"]["f1"]
    same = ("--corpus", "my-corpus", "--data-dir", str(root))  # report takes the run's options (issue 9)
    for args in (same, (*same, "--models", "bilstm-crf", "--languages", "en")):
        rep = invoke("report", "--table", "5", "--results", res, "--scale", "smoke", *args)
        assert rep.exit_code == 0, rep.output
        assert "data My Corpus 2026." in rep.output and "Data is My Corpus 2026, made by a test." in rep.output
        assert f"{f1:.2f}" in rep.output and "MMNERD" not in rep.output.split("\n\n")[-1]
    tex = invoke("report", "--table", "5", "--results", res, "--scale", "smoke", "--format", "latex", *same)
    assert "Data: My Corpus 2026 (test sets: en) (Data is My Corpus 2026, made by a test)" in tex.output
    assert corpus_display("my-corpus") == "My Corpus 2026"
    other = CliRunner().invoke(main, ["report", "--table", "5", "--results", res, "--scale", "smoke",
                                      "--corpus", "mmnerd", "--data-dir", str(root)])
    assert other.exit_code == 2 and f"{f1:.2f}" not in other.output  # another corpus's results stay out
    assert "no stored result" in other.output and "1 with corpus my-corpus" in other.output


def test_label_map_changes_the_data_fingerprint(tiny_corpus):
    mapped = Corpus(tiny_corpus.root, tiny_corpus.image_dir, tiny_corpus.kind, (("MISC", "O"),))
    assert mapped.fingerprint(["en"]) != tiny_corpus.fingerprint(["en"])
    assert all(t in ("O",) or t[2:] != "MISC" for s in mapped.load(["en"], "test") for t in s.tags)

"""The MMNERD / CoNLL reader: every rule of the format, and its one-line errors."""
from __future__ import annotations

import pytest

from benchmark.corpora.reader import ReadReport, expand_languages, read_conll, source_of
from benchmark.errors import ConfigError, DataError

MMNERD = "IMGID:16_05_01_360\nJohn\tB-PER\nSmith\tI-PER\nin\tO\nParis\tB-LOC\n\nIMGID:0001---a-b\nHi\tO\n\n"


def test_mmnerd_format(write):
    sents = read_conll(write("a.txt", MMNERD), language="en")
    assert [s.tokens for s in sents] == [("John", "Smith", "in", "Paris"), ("Hi",)]
    assert sents[0].tags == ("B-PER", "I-PER", "O", "B-LOC")
    assert sents[0].image_id == "16_05_01_360" and sents[0].source == "twitter2017"
    assert sents[1].image_id == "0001---a-b" and sents[1].source == "cc12m-mbart50"
    assert sents[0].language == "en" and sents[0].sid.endswith("a.txt:1")


def test_plain_conll_with_docstart_and_columns(write):
    text = "-DOCSTART- -X- O O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP B-PER\n"
    sents = read_conll(write("c.txt", text))
    assert [s.tokens for s in sents] == [("EU", "rejects"), ("Peter",)]
    assert [s.tags for s in sents] == [("B-ORG", "O"), ("B-PER",)]
    assert sents[0].image_id is None


def test_crlf_missing_final_blank_and_repeated_blanks(write):
    text = "IMGID:1\r\nA\tB-ORG\r\n\r\n\r\n\r\nIMGID:2\r\nB\tO\r\nC\tB-MISC"
    sents = read_conll(write("crlf.txt", text.encode()))
    assert [s.tokens for s in sents] == [("A",), ("B", "C")]
    assert sents[1].tags == ("O", "B-MISC")


def test_orphan_inside_tag_is_a_warning_not_an_error(write):
    report = ReadReport("w")
    sents = read_conll(write("w.txt", "IMGID:1\nx\tO\ny\tI-LOC\nz\tI-PER\n\n"), report=report)
    assert sents[0].tags == ("O", "I-LOC", "I-PER")
    assert len(report.warnings) == 2
    assert "w.txt:3" in report.warnings[0] and "I-LOC" in report.warnings[0]
    assert report.entities == 2  # conlleval chunking: each orphan starts an entity


@pytest.mark.parametrize("content, line, fragment", [
    ("IMGID:1\nx\tB-PER\ny\tPER\n\n", 3, "bad tag 'PER'"),
    ("IMGID:1\nx\tB-PER\ny\tO\textra\n\n", 3, "expected 2 tab-separated columns"),
    ("IMGID:1\nx\tB-PER\n\nlonely\n", 4, "expected at least 2 columns"),
    ("IMGID:1\nx\tb-per\n", 2, "bad tag"),
])
def test_bad_input_names_file_and_line(write, content, line, fragment):
    path = write("bad.txt", content)
    with pytest.raises(DataError) as err:
        read_conll(path)
    assert str(err.value).startswith(f"{path}:{line}: ")
    assert fragment in str(err.value)


def test_undecodable_bytes(write):
    path = write("latin1.txt", "IMGID:1\nok\tO\n\nIMGID:2\nM\u00fcnchen\tB-LOC\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1.txt:5: undecodable bytes"):
        read_conll(path)


def test_file_without_sentences(write):
    with pytest.raises(DataError, match="no sentences"):
        read_conll(write("empty.txt", "\n\n\n"))


def test_language_expansion():
    assert expand_languages("all") == ("en", "fr", "es", "de")
    assert expand_languages("en+de") == ("en", "de")
    with pytest.raises(ConfigError, match="unknown language 'xx'"):
        expand_languages("xx")
    assert source_of("17_06_4705") == "twitter2017" and source_of("abc") == "unknown"


def test_corpus_union_and_fingerprint(tiny_corpus):
    en = tiny_corpus.load(["en"], "train")
    both = tiny_corpus.load(["en", "de"], "train")
    everything = tiny_corpus.load(["all"], "train")
    assert len(both) == 2 * len(en) and len(everything) == 4 * len(en)
    assert {s.language for s in everything} == {"en", "fr", "es", "de"}
    assert tiny_corpus.fingerprint(["en"]) != tiny_corpus.fingerprint(["de"])
    # same content at another path -> same fingerprint; the committed value: tests/test_identity.py
    import shutil
    from benchmark.corpora.reader import Corpus
    copy = tiny_corpus.root.parent / (tiny_corpus.root.name + "-copy")
    if not copy.exists():
        shutil.copytree(tiny_corpus.root / "train_valid_test_en", copy / "train_valid_test_en")
    assert Corpus(copy).fingerprint(["en"]) == tiny_corpus.fingerprint(["en"])


def test_real_mmnerd_counts(mmnerd):
    assert len(mmnerd.load(["en"], "train")) == 19968
    assert len(mmnerd.load(["en"], "dev")) == 2463
    assert len(mmnerd.load(["en"], "test")) == 2533

"""The MMNERD / CoNLL reader: every rule of the format, and its one-line errors."""
from __future__ import annotations

import pytest

from benchmark.corpora.images import ImageStore
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
    # a TAB file splits every line on TAB (before: any whitespace, "expected at least 2 columns")
    ("IMGID:1\nx\tB-PER\n\nlonely\n", 4, "expected 2 tab-separated columns (token, label), found 1"),
    ("x B-PER\n\nlonely\n", 3, "expected at least 2 columns"),
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


# --- real corpora (Twitter-2015/2017): what a token may hold, what a line may not ------------------

def test_nbsp_token_is_a_token_in_tab_and_space_files(write):
    """Twitter-2015 has an NBSP token: one sentence of 3 tokens, not "empty token"."""
    sents = read_conll(write("nbsp.txt", "IMGID:1\nRT\tO\n\u00a0\tO\nObama\tB-PER\n\n"))
    assert len(sents) == 1 and sents[0].tokens == ("RT", "\u00a0", "Obama")
    plain = read_conll(write("nbsp_space.txt", "RT O\n\u00a0 O\nObama B-PER\n"))
    assert len(plain) == 1 and plain[0].tokens == ("RT", "\u00a0", "Obama")


@pytest.mark.parametrize("token", ["\u200b", "\u200d", "\u2066", "\ufe0f", "\u00ad"])
def test_zero_width_and_format_character_tokens_stay_accepted(write, token):
    """Twitter-2017 holds 154 such tokens: 1 sentence of 3 tokens each time."""
    sents = read_conll(write("zw.txt", f"IMGID:1\nhello\tO\n{token}\tO\nParis\tB-LOC\n\n"))
    assert len(sents) == 1 and sents[0].tokens == ("hello", token, "Paris")


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e"])
def test_unicode_line_separators_inside_a_token_do_not_end_the_line(write, char):
    """2 sentences, the token keeps the character, and line numbers count \\n only (error at :6)."""
    text = f"IMGID:1\nab{char}cd\tB-PER\nx\tO\n\nIMGID:2\ny\tO\n\n"
    sents = read_conll(write("sep.txt", text))
    assert len(sents) == 2 and sents[0].tokens == (f"ab{char}cd", "x") and sents[0].tags == ("B-PER", "O")
    path = write("sep_bad.txt", text.replace("y\tO", "y\tBAD"))
    with pytest.raises(DataError, match=r"sep_bad.txt:6: bad tag 'BAD'"):
        read_conll(path)


def test_nul_byte_is_rejected_at_its_line(write):
    path = write("nul.txt", "IMGID:1\nx\tO\ny\x00\tO\n\n")
    with pytest.raises(DataError, match=r"nul.txt:3: NUL byte"):
        read_conll(path)


def test_empty_image_id_is_rejected_at_its_line(write):
    path = write("imgid.txt", "IMGID:1\nx\tO\n\nIMGID:  \ny\tO\n\n")
    with pytest.raises(DataError, match=r"imgid.txt:4: image id '  ' is empty"):
        read_conll(path)


@pytest.mark.parametrize("image_id", ["../../x", "/etc/passwd", "a/b", "..\\x", "C:x", ".."])
def test_image_id_that_would_leave_the_image_folder_is_rejected(write, tmp_path, image_id):
    """At its line in the reader (FILE:5), and refused by the ImageStore even when built by hand."""
    path = write("escape.txt", f"IMGID:ok\nx\tO\n\n\nIMGID:{image_id}\ny\tO\n\n")
    with pytest.raises(DataError, match=r"escape.txt:5: image id .* (leave the image folder|is a path)"):
        read_conll(path)
    (tmp_path / "x.jpg").write_bytes(b"")  # a target the id would reach
    store = ImageStore(tmp_path / "images")
    with pytest.raises(ConfigError, match="refused"):
        store.load(image_id)
    assert not store.summary()  # nothing was opened or counted


def test_real_image_ids_with_colons_and_percent_signs_are_file_names(write):
    """MMNERD has ids like 03736561---2017%2010:48:00 (1 sentence)."""
    sents = read_conll(write("colon.txt", "IMGID:03736561---2017%2010:48:00\nx\tO\n\n"))
    assert len(sents) == 1 and sents[0].image_id == "03736561---2017%2010:48:00"


def test_stray_carriage_return_is_rejected_at_its_line(write):
    path = write("cr.txt", b"IMGID:1\r\nx\tO\r\ny\rz\tO\r\n")
    with pytest.raises(DataError, match=r"cr.txt:3: carriage return inside a line"):
        read_conll(path)


def test_token_with_a_space_in_a_tab_file(write):
    """TAB splits columns: 1 sentence whose first token is "New York"."""
    sents = read_conll(write("space.txt", "IMGID:1\nNew York\tB-LOC\nrocks\tO\n\n"))
    assert len(sents) == 1 and sents[0].tokens == ("New York", "rocks")
    with pytest.raises(DataError, match=r"spaceonly.txt:2: empty token"):
        read_conll(write("spaceonly.txt", "IMGID:1\n  \tO\n\n"))


# --- tag schemes ----------------------------------------------------------------------------------

BIOES = "IMGID:1\nObama\tS-PER\nvisits\tO\nNew\tB-LOC\nYork\tI-LOC\nCity\tE-LOC\n\nIMGID:2\nhi\tO\n\n"


def test_bioes_without_a_declared_scheme_is_rejected_at_the_first_such_tag(write):
    path = write("bioes.txt", BIOES)
    with pytest.raises(DataError, match=r"bioes.txt:2: tag 'S-PER' is BIOES but the declared scheme is iob2"):
        read_conll(path)


def test_bioes_declared_is_read_as_iob2(write):
    report = ReadReport("b")
    sents = read_conll(write("bioes.txt", BIOES), scheme="bioes", report=report)
    assert len(sents) == 2
    assert sents[0].tags == ("B-PER", "O", "B-LOC", "I-LOC", "I-LOC")
    assert report.entities == 2 and not report.warnings


def test_iob1_declared_is_read_as_iob2(write):
    """IOB1: I- starts an entity, B- only splits two adjacent entities of one type (1 sentence)."""
    text = "IMGID:1\nJohn\tI-PER\nSmith\tI-PER\nMary\tB-PER\nin\tO\nParis\tI-LOC\nUN\tI-ORG\n\n"
    report = ReadReport("i")
    sents = read_conll(write("iob1.txt", text), scheme="iob1", report=report)
    assert len(sents) == 1
    assert sents[0].tags == ("B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG")
    assert report.entities == 4 and not report.warnings
    with pytest.raises(DataError, match=r"iob1_bad.txt:3: tag 'E-PER' is BIOES but the declared scheme is iob1"):
        read_conll(write("iob1_bad.txt", text.replace("Smith\tI-PER", "Smith\tE-PER")), scheme="iob1")


def test_iob1_undeclared_reads_with_orphan_warnings_and_a_note(write):
    text = "IMGID:1\nJohn\tI-PER\nin\tO\nParis\tI-LOC\n\n"
    report = ReadReport("i")
    sents = read_conll(write("iob1.txt", text), report=report)
    assert sents[0].tags == ("I-PER", "O", "I-LOC") and report.orphans == 2 and len(report.warnings) == 2
    assert "declare it (--scheme iob1" in report.notes[0]


# --- entity types and label maps ------------------------------------------------------------------

OTHER = "IMGID:1\nRT\tO\nSuper\tB-OTHER\nBowl\tI-OTHER\nin\tO\nHouston\tB-LOC\n\n"


def test_other_type_is_read_through_a_label_map(write):
    sents = read_conll(write("t15.txt", OTHER), label_map={"OTHER": "MISC"})
    assert len(sents) == 1 and sents[0].tags == ("O", "B-MISC", "I-MISC", "O", "B-LOC")
    dropped = read_conll(write("t15.txt", OTHER), label_map={"OTHER": "O"})
    assert dropped[0].tags == ("O", "O", "O", "O", "B-LOC")


def test_other_type_without_a_label_map_is_rejected_naming_types_and_option(write):
    path = write("t15.txt", OTHER)
    with pytest.raises(DataError) as err:
        read_conll(path)
    assert str(err.value).startswith(f"{path}:3: unknown entity type 'OTHER'")
    assert "PER, LOC, ORG, MISC" in str(err.value) and "--label-map OTHER=" in str(err.value)


# --- issue 27 item 9: the reader streams ---------------------------------------------------------

def test_validate_streams_a_file_in_flat_memory(tmp_path):
    """`bench validate` on ~1 MB of one-token sentences (123k sentences): Python's peak allocation stays
    under 10 MB (measured ~5.5 MB, flat from 0.5 to 1.5 MB); a reader that keeps the file, its lines or
    its sentences needs ~50 MB here. The 50 MB figure: `bench profile --reader` (results/benchmarks)."""
    import tracemalloc

    from click.testing import CliRunner

    from benchmark.cli import main
    from benchmark.profiling.reader import write_one_token_file

    path = tmp_path / "big.txt"
    sentences = write_one_token_file(path, 1.0)
    CliRunner().invoke(main, ["validate", "--help"])  # imports outside the measurement
    tracemalloc.start()
    try:
        out = CliRunner().invoke(main, ["validate", str(path)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.exit_code == 0, out.output
    assert f"{sentences} sentences, {sentences} tokens" in out.output
    assert peak < 10e6, f"peak {peak / 1e6:.1f} MB"


def test_every_warning_is_counted_but_only_the_first_are_kept(write):
    from click.testing import CliRunner

    from benchmark.cli import main

    n = ReadReport.KEPT_WARNINGS + 5
    path = write("orphans.txt", "IMGID:1\n" + "x\tO\ny\tI-LOC\n" * n + "\n")
    report = ReadReport(str(path))
    read_conll(path, report=report)
    assert report.warning_count == n and len(report.warnings) == ReadReport.KEPT_WARNINGS
    out = CliRunner().invoke(main, ["validate", "--max-warnings", "3", str(path)])
    assert f"{n} warning(s)" in out.output and f"... {n - 3} more warning(s)" in out.output


def test_blocks_of_the_stream_keep_line_numbers_and_characters(write, monkeypatch):
    """Blocks smaller than a line and cut inside a multi-byte character read as one pass would."""
    import benchmark.corpora.reader as reader

    text = "IMGID:1\nM\u00fcnchen\tB-LOC\n\u00e9t\u00e9\tO\n\nIMGID:2\nx\tO\ny\tBAD\n"
    monkeypatch.setattr(reader, "_BLOCK", 3)
    sents = read_conll(write("blocks.txt", text.replace("y\tBAD\n", "")))
    assert [s.tokens for s in sents] == [("M\u00fcnchen", "\u00e9t\u00e9"), ("x",)] and sents[1].sid.endswith(":5")
    with pytest.raises(DataError, match=r"blocks_bad.txt:7: bad tag 'BAD'"):
        read_conll(write("blocks_bad.txt", text))
    path = write("blocks_latin1.txt", text.replace("y\tBAD\n", "").encode("utf-8") + "z\u00fc\tO\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"blocks_latin1.txt:7: undecodable bytes \(not UTF-8\) at byte 45"):
        read_conll(path)


# --- issue 27 item 6: image ids are all there, or none is; a sentence is not split by spaces ----------

def test_a_sentence_without_imgid_in_an_imgid_file_is_an_error_at_its_line(write):
    path = write("mixed.txt", "IMGID:1\nx\tO\n\ny\tB-PER\nz\tO\n\nIMGID:3\nw\tO\n\n")
    with pytest.raises(DataError, match=r"mixed.txt:4: sentence without an IMGID line"):
        read_conll(path)
    first = write("mixed_first.txt", "y\tB-PER\n\nIMGID:3\nw\tO\n\n")  # known before the first IMGID line
    with pytest.raises(DataError, match=r"mixed_first.txt:1: sentence without an IMGID line"):
        read_conll(first)


@pytest.mark.parametrize("blank", [" ", "\t", "  \t "])
@pytest.mark.parametrize("imgid", [True, False])
def test_a_whitespace_only_line_inside_a_sentence_is_an_error_at_its_line(write, blank, imgid):
    head = "IMGID:1\n" if imgid else ""
    path = write("split.txt", f"{head}John\tB-PER\n{blank}\nSmith\tI-PER\n\n")
    with pytest.raises(DataError, match=rf"split.txt:{3 if imgid else 2}: whitespace-only line inside a sentence"):
        read_conll(path)


def test_whitespace_only_lines_between_sentences_still_end_them(write):
    sents = read_conll(write("ws.txt", "IMGID:1\nx\tO\n \n\nIMGID:2\ny\tO\n\t\nIMGID:3\nz\tO\n  \n"))
    assert [s.tokens for s in sents] == [("x",), ("y",), ("z",)]
    assert [s.image_id for s in sents] == ["1", "2", "3"]


def test_validate_notes_a_file_without_image_ids(write):
    from click.testing import CliRunner

    from benchmark.cli import main

    plain = write("plain.txt", "x\tO\n\ny\tB-PER\n\n")
    out = CliRunner().invoke(main, ["validate", str(plain)])
    assert out.exit_code == 0, out.output
    assert f"  note: {plain}: no IMGID lines: no sentence names an image" in out.output
    with_ids = write("ids.txt", "IMGID:1\nx\tO\n\n")
    assert "  note:" not in CliRunner().invoke(main, ["validate", str(with_ids)]).output


def test_real_mmnerd_files_validate_cleanly(mmnerd):
    """The public English files: every sentence has its IMGID line, no whitespace-only line, no note."""
    from click.testing import CliRunner

    from benchmark.cli import main

    files = [str(mmnerd.split_path("en", split)) for split in ("train", "dev", "test")]
    out = CliRunner().invoke(main, ["validate", *files])
    assert out.exit_code == 0, out.output
    assert "  note:" not in out.output and "warning" not in out.output
    assert "19968 sentences, 328043 tokens, 41172 entities" in out.output

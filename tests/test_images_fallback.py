"""Image lookup with the default-image convention, and the fallback corpus whose images matter."""
from __future__ import annotations

from PIL import Image

from benchmark.corpora.fallback import AMBIGUOUS, TYPE_COLOURS, ensure_fallback_corpus, generate_fallback
from benchmark.corpora.images import ImageStore


def test_missing_and_unreadable_images_fall_back_to_default(tmp_path):
    Image.new("RGB", (8, 8), (1, 2, 3)).save(tmp_path / "17_06_4705.jpg")
    Image.new("RGB", (8, 8), (200, 0, 0)).save(tmp_path / "ok.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    store = ImageStore(tmp_path)
    assert store.load("ok").getpixel((4, 4))[0] > 150
    assert store.load("absent").size == (8, 8)  # the default image
    assert store.load("broken").size == (8, 8)
    assert store.summary() == {"loaded": 1, "missing": 1, "unreadable": 1, "default_used": 2}


def test_blank_image_when_default_is_absent_too(tmp_path):
    store = ImageStore(tmp_path, blank_size=16)
    img = store.load("nothing")
    assert img.size == (16, 16) and img.mode == "RGB"
    assert store.summary() == {"missing": 1, "blank_used": 1}
    assert ImageStore(None).load(None).size == (224, 224)


def _colour_type(rgb):
    return min(TYPE_COLOURS, key=lambda t: sum((a - b) ** 2 for a, b in zip(TYPE_COLOURS[t], rgb)))


def test_fallback_images_decide_ambiguous_entities(tiny_corpus):
    store = ImageStore(tiny_corpus.image_dir)
    ambiguous = [s for s in tiny_corpus.load(["all"], "train") if any(t in AMBIGUOUS for t in s.tokens)]
    assert len(ambiguous) > 50
    for s in ambiguous:
        etype = next(tag[2:] for tok, tag in zip(s.tokens, s.tags) if tok in AMBIGUOUS)
        pixel = store.load(s.image_id).getpixel((31, 31))  # corner: background colour
        assert _colour_type(pixel) == etype, s
    types = {next(tag[2:] for tok, tag in zip(s.tokens, s.tags) if tok in AMBIGUOUS) for s in ambiguous}
    assert types == {"PER", "LOC", "ORG", "MISC"}  # the same names take every type: text alone cannot decide
    assert store.summary().get("loaded") == len(ambiguous)


def test_fallback_is_deterministic_and_cached(tmp_path):
    a = generate_fallback(tmp_path / "a", sizes=(5, 2, 2), seed=3)
    b = generate_fallback(tmp_path / "b", sizes=(5, 2, 2), seed=3)
    for lang in ("en", "de"):
        assert a.split_path(lang, "train").read_text() == b.split_path(lang, "train").read_text()
    c = ensure_fallback_corpus(tmp_path / "c")
    assert c.kind == "fallback" and c.available_languages() == ("en", "fr", "es", "de")
    assert len(c.load(["en"], "train")) == 400
    mtime = c.split_path("en", "train").stat().st_mtime
    assert ensure_fallback_corpus(tmp_path / "c").split_path("en", "train").stat().st_mtime == mtime

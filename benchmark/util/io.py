"""The one atomic-write helper of the harness: every file the suite writes goes through here.

``write_text`` / ``write_bytes`` / ``write_json`` / ``write_stream`` (e.g. ``torch.save`` into a file
object) write to a temporary file in the target's folder, flush and ``fsync`` it, then ``os.replace``
it onto the target, so a reader sees either the old file or the complete new one, never a fragment.
``write_named`` / ``write_torch`` do the same for a library that writes a file by its name (the
temporary file is ``<target's name>`` in a temporary folder beside the target). On any failure the temporary file is removed and the old
file is left as it was. Disk full, read-only file system, permission denied and similar ``OSError``s
become one-line ``StoreWriteError``s (a ``BenchError``: exit code 2, no traceback) naming the path.
Everything written as JSON, to a file or to stdout, is strict JSON (``dumps``: no NaN/Infinity).
"""
from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

from benchmark.errors import BenchError

# errno values that mean "the environment refuses the write", reported as one line.
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.EIO,
                         errno.ENOTDIR})


class StoreWriteError(BenchError):
    """A file or folder could not be written (disk full, read-only, no permission, ...)."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: cannot write ({reason})")


def cache_root() -> Path:
    """The suite's cache folder: ``$MMNER_BENCH_CACHE``, else ``$XDG_CACHE_HOME/mmner-bench``, else
    ``~/.cache/mmner-bench`` (built-in corpus, weights, features, fetched corpora live below it)."""
    base = os.environ.get("MMNER_BENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "mmner-bench")
    return Path(base).expanduser()


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def write_error(exc: OSError, path: str | os.PathLike | None = None) -> StoreWriteError:
    """The one-line ``StoreWriteError`` for an OSError met while writing ``path``."""
    return StoreWriteError(path if path is not None else (exc.filename or "?"), _reason(exc))


def ensure_dir(path: str | os.PathLike) -> Path:
    """``mkdir -p path``; an OSError becomes a one-line ``StoreWriteError``."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(exc, path) from None
    return path


def write_stream(path: str | os.PathLike, write: Callable[[BinaryIO], Any], mode: int | None = None,
                 fsync: bool = True) -> Path:
    """Write what ``write(fh)`` writes into a binary file (e.g. ``torch.save(obj, fh)``) to ``path``
    atomically (temp file in the same folder + fsync + os.replace).

    ``torch.save`` reports a failed write as a ``RuntimeError`` (``unexpected pos``, ``basic_ios::clear``):
    the ``OSError`` behind it (or, failing that, a full disk seen by ``shutil.disk_usage``) becomes the
    one-line ``StoreWriteError`` like any other. ``fsync=False`` skips the fsyncs (a cache entry whose
    loss only means recomputing it): the rename is still atomic.
    """
    path = Path(path)
    ensure_dir(path.parent)
    tmp: str | None = None
    try:
        with _one_line_errors(path):
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            with os.fdopen(fd, "wb") as fh:
                write(fh)
                fh.flush()
                if fsync:
                    os.fsync(fh.fileno())
            _commit(tmp, path, mode, fsync)
            tmp = None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return path


def write_named(path: str | os.PathLike, write: Callable[[Path], Any], mode: int | None = None) -> Path:
    """Write the file that ``write(name)`` writes at the path ``name`` to ``path`` atomically, for a
    writer that records the file's name in the file: ``torch.save(obj, "weights.pt")`` stores its
    records under ``weights/``, ``torch.save(obj, fh)`` under ``archive/``. ``name`` is
    ``<tmp folder>/<path's name>``, the temporary folder beside ``path``, so the bytes are those a
    plain ``write(path)`` gives (and so is the file's mode); then fsync + os.replace as ``write_stream``.
    """
    path = Path(path)
    ensure_dir(path.parent)
    folder: str | None = None
    try:
        with _one_line_errors(path):
            folder = tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            tmp = os.path.join(folder, path.name)
            write(Path(tmp))
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            _commit(tmp, path, mode, True)
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    return path


def write_torch(path: str | os.PathLike, obj: Any) -> Path:
    """``torch.save(obj, path)`` atomically (``write_named``): the same bytes and mode as the plain call."""
    import torch

    return write_named(path, lambda name: torch.save(obj, name))


def _commit(tmp: str, path: Path, mode: int | None, fsync: bool) -> None:
    """Give the finished temp file ``mode`` and rename it onto ``path`` (then persist the rename)."""
    if mode is not None:
        os.chmod(tmp, mode)
    os.replace(tmp, path)
    if fsync:
        _fsync_dir(path.parent)


@contextlib.contextmanager
def _one_line_errors(path: Path) -> Iterator[None]:
    """An OSError (or a RuntimeError with a disk problem behind it) while writing ``path`` becomes the
    one-line ``StoreWriteError`` naming ``path``; any other RuntimeError passes as it is."""
    try:
        yield
    except OSError as exc:
        raise write_error(exc, path) from None
    except RuntimeError as exc:
        behind = _os_error_behind(exc)
        if behind is not None:
            raise write_error(behind, path) from None
        if _disk_full(path.parent):
            raise StoreWriteError(path, os.strerror(errno.ENOSPC)) from None
        raise


def default_file_mode() -> int:
    """The mode ``open(path, "w")`` would give a new file (0o666 less the umask); temp files are 0o600."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _os_error_behind(exc: BaseException) -> OSError | None:
    """The environment's ``OSError`` (disk full, read-only, ...) that caused ``exc``, if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in DISK_ERRNOS:
            return current
        current = current.__cause__ or current.__context__
    return None


def _disk_full(folder: Path, margin: int = 1 << 20) -> bool:
    """Whether the file system holding ``folder`` has (almost) no space left."""
    try:
        return shutil.disk_usage(folder).free < margin
    except OSError:
        return False


def write_bytes(path: str | os.PathLike, data: bytes, mode: int | None = None, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same folder + fsync + os.replace)."""
    return write_stream(path, lambda fh: fh.write(data), mode, fsync)


def write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically."""
    return write_bytes(path, text.encode(encoding))


class NonFiniteJSONError(ValueError):
    """A NaN or infinity on its way into a file or onto stdout, where only strict JSON is written."""


def _non_finite(obj: Any, where: str = "") -> str | None:
    """The path (``history[2].loss``) of the first NaN/infinity in ``obj`` and its value, or None."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return f"{where or 'the value'} is {obj}"
    if isinstance(obj, dict):
        items: Any = ((f"{where}.{k}" if where else str(k), v) for k, v in obj.items())
    elif isinstance(obj, (list, tuple)):
        items = ((f"{where}[{i}]", v) for i, v in enumerate(obj))
    else:
        return None
    for sub, value in items:
        found = _non_finite(value, sub)
        if found:
            return found
    return None


def dumps(obj: Any, indent: int | None = 1, sort_keys: bool = False, where: str = "output") -> str:
    """Strict JSON text of ``obj`` (the one ``json.dumps`` of everything the suite writes or prints).

    NaN and infinities are refused (``NonFiniteJSONError`` naming ``where`` and the value's path):
    strict JSON has no such numbers, and a writer that needs "undefined" must write ``None``
    (``null``) explicitly. Values JSON has no type for (paths, dates) are written as strings.
    """
    try:
        return json.dumps(obj, indent=indent, sort_keys=sort_keys, default=str, allow_nan=False)
    except ValueError:
        found = _non_finite(obj)
        if found is None:
            raise
        raise NonFiniteJSONError(f"{where}: refusing to write non-finite number ({found}); "
                                 "strict JSON has no NaN or Infinity") from None


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 1, sort_keys: bool = True) -> Path:
    """Write ``obj`` as strict JSON (plus a final newline) to ``path`` atomically (see ``dumps``)."""
    return write_text(path, dumps(obj, indent=indent, sort_keys=sort_keys, where=str(path)) + "\n")


def _fsync_dir(folder: Path) -> None:
    """Persist the rename itself (best effort: some file systems refuse to open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

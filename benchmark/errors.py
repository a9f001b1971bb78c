"""User-facing errors: one line, exit code 2, no traceback (see ``benchmark.cli``)."""
from __future__ import annotations


def first_sentence(exc: BaseException, limit: int = 160) -> str:
    """The first sentence of an exception's first line (its type name when empty), for one-line messages."""
    lines = str(exc).strip().splitlines()
    return (lines[0].split(". ")[0].rstrip(".") if lines else type(exc).__name__)[:limit]


class BenchError(Exception):
    """An error caused by the user's input or environment, shown as one line."""

    exit_code = 2


class DataError(BenchError):
    """A malformed data file. Renders as ``FILE:LINE: message``."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class MissingArtifactError(BenchError):
    """A pretrained artefact (weights, embeddings, tokenizer) cannot be found."""


class ConfigError(BenchError):
    """An unknown model/table/option name or an inconsistent configuration."""


class JobError(BenchError):
    """One job cannot finish (its training diverged, its work folder vanished): that job fails with
    this one line in its ``error.txt`` and the summary, nothing of it is stored, the other jobs run."""

    exit_code = 1


def did_you_mean(word: str, choices) -> str:
    """``"; did you mean a, b?"`` for the close matches of ``word`` among ``choices``, else ``""``."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.5)
    return f"; did you mean {', '.join(close)}?" if close else ""

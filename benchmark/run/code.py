"""Code identity: a digest of the source files that can change a job's numbers.

Every result records ``environment["code"] = {"digest", "rule", "files"}`` (``code_identity``). The
boundary (rule ``CODE_RULE``) is the transitive closure of the import statements (function-level
ones included, read statically with ``ast``) of

- the model's factory module (``ModelSpec.factory``): the model, the layers it runs through
  (``baselines/layers/...``, ``models/...``), and what those import; and
- the trainer, ``benchmark/run/train.py``, with what it imports: the reader
  (``benchmark/corpora/reader.py``, ``labels.py``), the metric (``benchmark/metrics.py``), the
  ``Tagger`` base (``benchmark/api.py``), checkpoints, folds, images, weights loading,

restricted to the modules of this repository (and, for a plug-in model, to the plug-in's own
package), and stopping at the modules in ``OUTSIDE`` that cannot change a number (the registry: its
values are in the job id; errors, I/O, command strings, the job/result records, predictions
writing). The digest is the SHA-256 of the files' paths and bytes (16 hex digits). It is not part
of the job id: a job whose code changed is the same job, run at another code version, which
``bench report`` / ``plan`` / ``status`` / ``readme`` mark (``CODE_MARK``: mixed or stale).

A result stored before the digest existed can get it from the git commit it recorded
(``code_identity(model, reader=git_reader(commit))``, ``bench code --backfill``).
"""
from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import subprocess
from pathlib import Path
from typing import Callable, Iterable

REPO = Path(__file__).resolve().parents[2]
CODE_RULE = 1  # the boundary above; a digest is compared only with one of the same rule
TRAINER = "benchmark.run.train"
# Modules the closure does not enter: they cannot change a trained number.
OUTSIDE = frozenset({
    "benchmark.registry",  # hyperparameter values (in the job id) and model lookup
    "benchmark.errors", "benchmark.util.io", "benchmark.util.command", "benchmark.util",
    "benchmark.run", "benchmark.run.specs", "benchmark.run.predictions", "benchmark.run.code",
    "benchmark.corpora.registry",
    "benchmark", "baselines", "models", "baselines.layers",  # empty package __init__ files
})

Reader = Callable[[str], "bytes | None"]  # repository-relative path -> file bytes (None: absent)


def tree_reader(root: Path = REPO) -> Reader:
    """Read files from the working tree at ``root``."""
    def read(rel: str) -> bytes | None:
        path = root / rel
        return path.read_bytes() if path.is_file() else None
    return read


def git_reader(commit: str, root: Path = REPO) -> Reader:
    """Read files as they were at ``commit`` (``git show COMMIT:path``); ValueError when the
    commit is not in the repository's history."""
    listing = subprocess.run(["git", "ls-tree", "-r", "--name-only", commit], cwd=root, capture_output=True,
                             text=True, timeout=60)
    if listing.returncode != 0:
        raise ValueError(f"commit {commit} is not in the git history of {root}")
    present = set(listing.stdout.splitlines())

    def read(rel: str) -> bytes | None:
        if rel not in present:
            return None
        out = subprocess.run(["git", "show", f"{commit}:{rel}"], cwd=root, capture_output=True, timeout=30)
        return out.stdout if out.returncode == 0 else None
    return read


def _imports(source: bytes, module: str, is_package: bool) -> list[str]:
    """Every module name an import statement of ``source`` could refer to (absolute)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    package = module if is_package else module.rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            names.append(base)
            names += [f"{base}.{a.name}" for a in node.names]  # `from pkg import submodule`
    return names


def _plugin_path(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    return Path(spec.origin) if spec and spec.origin and spec.origin.endswith(".py") else None


def closure(starts: Iterable[str], reader: Reader) -> dict[str, bytes]:
    """``{file key: bytes}`` of the modules reachable from ``starts`` (see the module docstring).

    A repository module's key is its path (``baselines/layers/crf.py``); a plug-in module outside
    the repository (only in the start modules' own top-level package) is keyed ``plugin:<module>``.
    """
    starts = list(starts)
    plugin_tops = {m.split(".")[0] for m in starts if reader(m.replace(".", "/") + ".py") is None
                   and reader(m.replace(".", "/") + "/__init__.py") is None}
    files: dict[str, bytes] = {}
    seen: set[str] = set()
    todo = list(starts)
    while todo:
        module = todo.pop()
        if module in seen or module in OUTSIDE or not module:
            continue
        seen.add(module)
        rel = module.replace(".", "/")
        found = None
        for key, is_package in ((f"{rel}.py", False), (f"{rel}/__init__.py", True)):
            data = reader(key)
            if data is not None:
                found = key, data, is_package
                break
        if found is None and module.split(".")[0] in plugin_tops:
            path = _plugin_path(module)
            if path is not None:
                found = f"plugin:{module}", path.read_bytes(), path.name == "__init__.py"
        if found is None:
            continue  # a third-party or standard-library module, or a name that is not a module
        key, data, is_package = found
        files[key] = data
        todo += _imports(data, module, is_package)
    return files


def digest_of(files: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for key in sorted(files):
        h.update(key.encode() + b"\0" + files[key] + b"\0")
    return h.hexdigest()[:16]


def factory_module(model: str) -> str:
    from benchmark.registry import get_model

    return get_model(model).factory.partition(":")[0]


def code_identity(model: str, reader: Reader | None = None) -> dict[str, object]:
    """``{"digest", "rule", "files"}`` of ``model``'s code boundary, read by ``reader`` (the tree)."""
    files = closure([factory_module(model), TRAINER], reader or tree_reader())
    return {"digest": digest_of(files), "rule": CODE_RULE, "files": sorted(files)}


@functools.lru_cache(maxsize=None)
def current_digest(model: str) -> str | None:
    """The digest of ``model``'s code in this checkout (None for a model that is not registered)."""
    try:
        return str(code_identity(model)["digest"])
    except Exception:  # noqa: BLE001 - an unregistered model (a stored plug-in run): no current code
        return None


def stored_digest(environment: dict) -> str | None:
    """The digest a result recorded (None: predates the digest, or of another boundary rule)."""
    code = environment.get("code")
    if isinstance(code, dict) and code.get("rule") == CODE_RULE and isinstance(code.get("digest"), str):
        return code["digest"]
    return None


def backfill(folder: Path, model: str, environment: dict, write: bool,
             readers: dict[str, Reader] | None = None) -> tuple[str | None, str]:
    """The digest of a stored run's code and where it comes from: recorded, or computed from the
    clean git commit the run recorded (written into its ``result.json`` when ``write``, marked
    ``"source": "git COMMIT (backfilled)"``; nothing else in the file changes). A run from a tree
    with uncommitted changes, or without a commit in this history, stays unknown (None)."""
    recorded = stored_digest(environment)
    if recorded:
        return recorded, str((environment.get("code") or {}).get("source", "recorded by the run"))
    commit = environment.get("commit")
    if not commit:
        return None, "unknown: no commit recorded"
    if environment.get("dirty") is not False:
        return None, f"unknown: {str(commit)[:7]} had uncommitted changes"
    readers = {} if readers is None else readers
    try:
        reader = readers.get(commit) or readers.setdefault(commit, git_reader(commit))
    except (ValueError, OSError, subprocess.SubprocessError):
        return None, f"unknown: commit {str(commit)[:7]} is not in this git history"
    from benchmark.errors import ConfigError

    try:
        code = {**code_identity(model, reader), "source": f"git {commit} (backfilled)"}
    except ConfigError:  # a stored run of a model not registered here (a plug-in not loaded)
        return None, f"unknown: model {model!r} is not registered (load its --plugin)"
    if write:
        import json

        from benchmark.util.io import write_json

        path = folder / "result.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        data["environment"]["code"] = code
        write_json(path, data)
    return str(code["digest"]), f"from git {str(commit)[:7]}" + (" (written)" if write else "")

"""Imports only run downhill (issue 24 item 1): every import statement of the repository's own code,
module-level and function-level, read statically with ``ast``, goes from a module to a layer its
own layer may import (the table below; the picture is in CONTRIBUTING.md, "Layers").

Bug it catches: a lower layer reaching up (the planner importing the renderer, the corpus reader
importing table rendering, the harness importing a concrete model) or the two model folders
(``baselines/`` and ``models/two_m_ner/``) importing each other instead of the shared
``baselines/layers/``.
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("benchmark", "baselines", "models")

# Module prefix -> layer; the longest matching prefix wins.
LAYER_OF = {
    "benchmark": "contracts",  # the package __init__
    "benchmark.errors": "contracts",
    "benchmark.util": "contracts",
    "benchmark.types": "contracts",
    "benchmark.api": "contracts",
    "benchmark.metrics": "contracts",
    "benchmark.corpora": "corpora",
    "benchmark.registry": "specs",
    "benchmark.hparams": "specs",
    "benchmark.weights": "specs",
    "benchmark.tables": "specs",
    "benchmark.run": "run",
    "benchmark.profiling": "profiling",
    "benchmark.report": "report",
    "benchmark.cli": "cli",
    "baselines": "baselines",
    "baselines.layers": "layers",
    "models": "two_m_ner",  # the package __init__
    "models.two_m_ner": "two_m_ner",
}

# Layer -> the layers its modules may import (its own included).
MAY_IMPORT = {
    "contracts": {"contracts"},
    "corpora": {"contracts", "corpora"},
    "specs": {"contracts", "corpora", "specs"},
    "run": {"contracts", "corpora", "specs", "run"},
    "layers": {"contracts", "corpora", "specs", "layers"},
    "baselines": {"contracts", "corpora", "specs", "layers", "baselines"},
    "two_m_ner": {"contracts", "corpora", "specs", "layers", "two_m_ner"},
    "profiling": {"contracts", "corpora", "specs", "run", "layers", "baselines", "two_m_ner", "profiling"},
    "report": {"contracts", "corpora", "specs", "run", "report"},
    "cli": {"contracts", "corpora", "specs", "run", "profiling", "report", "cli"},
}


def layer_of(module: str) -> str | None:
    """The layer of a repository module, None for a module outside the repository."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        layer = LAYER_OF.get(".".join(parts[:n]))
        if layer is not None:
            return layer
    return None


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_repo_module(module: str) -> bool:
    rel = REPO / module.replace(".", "/")
    return rel.with_suffix(".py").is_file() or (rel / "__init__.py").is_file()


def imported_modules(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, absolute module name) for every import statement of ``source`` (the code of
    ``module``), at any depth; ``from pkg import sub`` counts as importing ``pkg.sub``."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((node.lineno, sub if is_repo_module(sub) else base))
    return sorted(set(found), key=lambda item: (item[0], item[1]))


def source_files() -> list[Path]:
    return sorted(p for root in ROOTS for p in (REPO / root).rglob("*.py"))


def uphill_imports() -> list[str]:
    problems = []
    for path in source_files():
        own = layer_of(module_name(path))
        assert own is not None, f"{path.relative_to(REPO)} has no layer in LAYER_OF"
        source = path.read_text(encoding="utf-8")
        for line, target in imported_modules(source, module_name(path), path.name == "__init__.py"):
            theirs = layer_of(target)
            if theirs is not None and theirs not in MAY_IMPORT[own]:
                problems.append(f"{path.relative_to(REPO)}:{line}: {own} imports {target} ({theirs})")
    return problems


def test_layer_table_is_complete():
    """Every layer named in LAYER_OF has its row in MAY_IMPORT and may import itself."""
    assert set(LAYER_OF.values()) == set(MAY_IMPORT)
    assert all(layer in allowed for layer, allowed in MAY_IMPORT.items())
    assert all(allowed <= set(MAY_IMPORT) for allowed in MAY_IMPORT.values())


def test_the_checker_sees_function_level_and_relative_imports():
    """The reader finds an import inside a function and resolves relative and `from pkg import sub`
    imports (a checker that only read module-level absolute imports would pass what it should fail)."""
    source = ("def f():\n    from benchmark.report import render\n    from ..run import plan\n"
              "from benchmark import errors\n")
    found = imported_modules(source, "benchmark.corpora.probe")
    assert found == [(2, "benchmark.report.render"), (3, "benchmark.run.plan"), (4, "benchmark.errors")]
    assert [layer_of(m) for _, m in found] == ["report", "run", "contracts"]


def test_imports_only_run_downhill():
    """No import from a lower layer to a higher one, nor across between the model folders; no
    exception is listed."""
    problems = uphill_imports()
    assert not problems, f"{len(problems)} uphill imports:\n" + "\n".join(problems)

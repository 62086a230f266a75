"""The folders are the architecture: every import inside the package points down a layer.

Layers, bottom first (each may import itself and the layers its rule names):

    errors                 nothing of tensoralg
    algebra                errors
    formula                errors, algebra
    models                 errors, algebra
    paths                  errors, algebra, models
    training               errors, algebra, models (an optional part: torch is imported lazily)
    verify                 errors, algebra, formula, models, paths
    plots                  errors, algebra, models, paths (matplotlib, the ``plot`` extra)
    display                everything but cli (HTML pages, Jupyter helpers)
    cli                    everything

Imports are read from the source (``ast``), including those inside functions and under
``TYPE_CHECKING``, so a lazy import cannot hide an upward arrow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tensoralg"

ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "algebra": {"errors"},
    "formula": {"errors", "algebra"},
    "models": {"errors", "algebra"},
    "paths": {"errors", "algebra", "models"},
    "training": {"errors", "algebra", "models"},
    "verify": {"errors", "algebra", "formula", "models", "paths", "proofs"},
    "plots": {"errors", "algebra", "models", "paths"},
    "display": {"errors", "algebra", "formula", "models", "paths", "verify", "proofs", "plots"},
    "cli": {"errors", "algebra", "formula", "models", "paths", "verify", "proofs", "plots", "display", "training"},
}


def _layer(module: str) -> str | None:
    """``tensoralg.algebra.expr`` → ``algebra``; None for the package root itself."""
    parts = module.split(".")
    if parts[0] != "tensoralg" or len(parts) < 2 or parts[1].startswith("__"):
        return None  # the package root (its version) or not ours
    return parts[1]


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) for every import of a tensoralg module in ``path``."""
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    package = list(relative.parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
            else:
                names = [node.module or ""]
            found += [(node.lineno, n) for n in names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
    return [(line, name) for line, name in found if name.startswith("tensoralg")]


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE or p.name not in ("__init__.py", "__main__.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path: Path) -> None:
    own = path.stem if path.parent == PACKAGE else path.relative_to(PACKAGE).parts[0]
    assert own in ALLOWED, f"{path.relative_to(PACKAGE)} is in no layer; add its subpackage to ALLOWED"
    upward = [
        f"line {line}: {name}"
        for line, name in _imports(path)
        if (layer := _layer(name)) is not None and layer != own and layer not in ALLOWED[own]
    ]
    assert not upward, f"{path.relative_to(PACKAGE)} imports upward: {upward}"


def test_core_reads_bottom_up() -> None:
    """normal_form and printing know nothing of expression trees; expr builds on both."""
    algebra = PACKAGE / "algebra"
    for name in ("normal_form", "printing", "symbols"):
        names = [n for _, n in _imports(algebra / f"{name}.py")]
        assert "tensoralg.algebra.expr" not in names, f"{name} imports expr"
    assert "tensoralg.algebra.printing" not in [n for _, n in _imports(algebra / "normal_form.py")]

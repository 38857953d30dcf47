"""The package layout is the architecture: layers import only downwards, the core never imports torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "treemtl"

#: Bottom to top. Top-level modules (errors, atomic, the results tree) are the foundation.
LAYERS = ("core", "nets", "training", "evaluation", "execution", "cli")


def _rank(module: str) -> int:
    """0 for foundation modules, 1.. for the layers in :data:`LAYERS` order."""
    parts = module.split(".")
    if module == "treemtl.__main__":  # ``python -m treemtl`` is the command line
        return 1 + LAYERS.index("cli")
    if len(parts) < 2 or parts[1] not in LAYERS:
        return 0
    return 1 + LAYERS.index(parts[1])


def _module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _treemtl_imports(path: Path) -> list[tuple[int, str]]:
    """Every ``treemtl...`` module imported anywhere in the file (function-level imports too)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.startswith("treemtl")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("treemtl"):
            module = node.module or ""
            found.append((node.lineno, module))
            if module == "treemtl":  # ``from treemtl import core``
                found += [(node.lineno, f"treemtl.{alias.name}") for alias in node.names]
    return found


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_module_belongs_to_a_layer_or_the_foundation() -> None:
    top_level = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert top_level == set(LAYERS), f"packages outside the layer list: {sorted(top_level - set(LAYERS))}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_go_downwards(path: Path) -> None:
    own = _module_name(path)
    upward = [
        f"line {line}: {own} imports {target}"
        for line, target in _treemtl_imports(path)
        if target != "treemtl" and _rank(target) > _rank(own)
    ]
    assert not upward, "\n".join(upward)


def test_the_layer_check_catches_an_upward_import(tmp_path: Path) -> None:
    module = PACKAGE / "core" / "layout.py"
    assert _rank("treemtl.nets.model") > _rank(_module_name(module))
    fake = tmp_path / "m.py"
    fake.write_text("def f():\n    from treemtl.training.trainer import train\n")
    assert _treemtl_imports(fake) == [(2, "treemtl.training.trainer")]


def test_the_recommender_core_never_imports_torch() -> None:
    core = [_module_name(p) for p in sorted((PACKAGE / "core").glob("*.py"))]
    code = (
        "import importlib, sys\n"
        f"for name in {core!r}:\n"
        "    importlib.import_module(name)\n"
        "heavy = sorted(m for m in ('torch', 'torchvision', 'fvcore') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"the core imported {result.stdout.strip()}"

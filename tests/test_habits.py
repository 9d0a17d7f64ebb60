"""The habits that keep the code tidy, run as tests: ruff (lint and import order) and mypy (the
annotations, as pyproject's [tool.mypy] sets it) over the sources.

The checkers come with the test extra; a missing one fails rather than skips, so a run that did not
check never passes for one that did."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(tool: str, *args: str) -> None:
    assert importlib.util.find_spec(tool) is not None, f"{tool} is not installed: pip install -e '.[test]'"
    proc = subprocess.run([sys.executable, "-m", tool, *args], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, f"python -m {tool} {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}"


def test_ruff():
    _run("ruff", "check", "src", "tests", "benchmarks")


def test_mypy():
    """The package ships py.typed: its annotations are checked with pyproject's [tool.mypy]."""
    _run("mypy", "src/optarena")


def test_import_layers():
    """import-linter keeps the layers of pyproject's [tool.importlinter] (faces on the engine on the
    rules): a face importing upwards, or two faces importing each other, fails here."""
    assert importlib.util.find_spec("importlinter") is not None, "import-linter is not installed: pip install -e '.[test]'"
    proc = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def _private_imports() -> list[str]:
    """Imports of another package's private parts: ``from ..pkg._mod import x`` or
    ``from ..pkg.mod import _x`` where pkg is not the importing module's own package."""
    import ast

    src = ROOT / "src" / "optarena"
    found = []
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src).with_suffix("")
        parts = rel.parts if rel.name != "__init__" else rel.parts[:-1]
        package = parts[:-1] if path.name != "__init__.py" else parts
        own = package[0] if package else ""
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or not node.level:
                continue
            base = list(package[: len(package) - node.level + 1]) + (node.module.split(".") if node.module else [])
            if not base or base[0] == own:
                continue
            names = [a.name for a in node.names]
            # optarena's root modules (_files, _timing) are the root package's, shared by every package
            private_module = len(base) > 1 and any(p.startswith("_") and p != "__init__" for p in base)
            private_names = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private_module or private_names:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: from {'.'.join(base)} import {', '.join(names)}")
    return found


def test_no_package_imports_another_packages_private_names():
    """The seams between packages are their public names (``landscapes.resolve``, not
    ``arena.engine._resolve_landscape``): what a package keeps private it may change freely."""
    assert _private_imports() == []

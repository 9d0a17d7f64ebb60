"""Package-level promises: a light import, an explicit public API, a fast --help."""

from __future__ import annotations

import subprocess
import sys

import optarena


def test_import_is_light():
    code = (
        "import sys, optarena, optarena.landscapes, optarena.measure; "
        "heavy = [m for m in ('torch', 'matplotlib', 'fastapi', 'dask', 'numba', 'sympy', 'scipy') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_all_matches_public_names():
    public = {n for n in dir(optarena) if not n.startswith("_") and n not in {"annotations"}}
    modules = {n for n in public if type(getattr(optarena, n)).__name__ == "module"}
    assert set(optarena.__all__) | {"__version__"} >= public - modules
    for name in optarena.__all__:
        assert hasattr(optarena, name), name


def test_help_is_fast_and_lists_commands():
    out = subprocess.run([sys.executable, "-m", "optarena", "--help"], capture_output=True, text=True, check=True)
    assert "optimizers" in out.stdout and "sweep" in out.stdout

"""The habits that keep the code tidy, run as tests: ruff (lint and import order) over the sources.

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

"""An optimizer added by an installed package, with no edit to optarena: clipped SGD
(tests/plugins/optarena_clipsgd, one file) installed as a distribution whose entry point in the
group ``optarena.optimizers`` names its SPEC. Every check runs in a fresh interpreter with the
distribution on its path, as after ``pip install``: the CLI's race, listing and sweep, the web
API's sliders, optarena.torch, and optarena's own reference/fused/stateful tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PLUGIN = Path(__file__).parent / "plugins" / "optarena_clipsgd"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A folder as pip leaves it: the package and its dist-info with the entry point."""
    site = tmp_path_factory.mktemp("site")
    shutil.copytree(PLUGIN, site / PLUGIN.name)
    info = site / "optarena_clipsgd-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: optarena-clipsgd\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[optarena.optimizers]\nclipsgd = optarena_clipsgd:SPEC\n")
    return site


def _run(site: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)


def test_not_there_without_the_package():
    out = subprocess.run([sys.executable, "-m", "optarena.cli", "optimizers"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "clipsgd" not in out.stdout.lower()


def test_listed_and_raced_from_the_cli(site):
    listed = _run(site, "-m", "optarena.cli", "optimizers")
    assert listed.returncode == 0, listed.stderr
    assert "clipsgd" in listed.stdout and "Clipped SGD" in listed.stdout and "[entry point optarena_clipsgd:SPEC]" in listed.stdout
    race = _run(site, "-m", "optarena.cli", "race", "--optimizer", "clipsgd(learning_rate=0.1, clip_value=0.5)",
                "--optimizer", "adam", "--steps", "15", "--format", "json")
    assert race.returncode == 0, race.stderr
    run = json.loads(race.stdout)["runs"][0]
    assert run["label"] == "Clipped SGD"
    # the race's path is clipped descent on the landscape, computed here independently
    from optarena import landscapes

    ls = landscapes.get("quadratic")
    p = np.array(run["positions"][0], dtype=float)
    for k in range(1, 16):
        p = p - 0.1 * np.clip(np.array(ls.grad(p[0], p[1])), -0.5, 0.5)
        np.testing.assert_allclose(run["positions"][k], p, rtol=0, atol=1e-12)


def test_swept_from_the_cli(site):
    out = _run(site, "-m", "optarena.cli", "sweep", "--optimizer", "clipsgd", "--axis", "clip_value=0.1,1",
               "--steps", "20", "--format", "json")
    assert out.returncode == 0, out.stderr
    assert "clipsgd" in out.stdout


def test_web_sliders_and_torch_bridge(site):
    code = """
import json, torch
from fastapi.testclient import TestClient
from optarena.web.app import create_app
import optarena.torch as ot
from optarena_clipsgd.reference import ClipSGD

specs = {o["name"]: o for o in TestClient(create_app(), base_url="http://127.0.0.1").get("/api/optimizers").json()}
print(json.dumps([h["name"] for h in specs["clipsgd"]["hyperparameters"]]))
torch.manual_seed(0)
a, b = torch.nn.Linear(4, 3).double(), torch.nn.Linear(4, 3).double()
b.load_state_dict(a.state_dict())
ours = ot.ClipSGD(a.parameters(), lr=0.05, clip_value=0.2, weight_decay=0.1)
ref = ClipSGD(b.parameters(), lr=0.05, clip_value=0.2, weight_decay=0.1)
x = torch.randn(8, 4, dtype=torch.float64)
for _ in range(5):
    for m, o in ((a, ours), (b, ref)):
        o.zero_grad(); m(x).pow(2).sum().backward(); o.step()
print(max(float((p - q).detach().abs().max()) for p, q in zip(a.parameters(), b.parameters())))
"""
    out = _run(site, "-c", code)
    assert out.returncode == 0, out.stderr
    sliders, gap = out.stdout.strip().splitlines()
    assert json.loads(sliders) == ["learning_rate", "clip_value", "weight_decay", "maximize"]
    assert float(gap) <= 1e-15  # the same rule; one rounding apart at most


def test_optarenas_own_tests_take_it_in(site):
    """The reference, fused and stateful tests read the registry: the plug-in's examples run in them."""
    out = _run(site, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "clipsgd",
               "tests/optim/test_reference.py", "tests/optim/test_fused.py", "tests/optim/test_stateful.py")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    passed = int(out.stdout.strip().splitlines()[-1].split(" passed")[0].split()[-1])
    assert passed >= 10, out.stdout[-500:]


def test_code_for_a_plugin_uses_its_reference(site):
    """`optarena code` writes a plug-in's torch reference (held equal to the rule by the parity
    tests) with every setting spelled out; a framework with no translation is a usage error."""
    out = _run(site, "-m", "optarena.cli", "code", "clipsgd", "--learning-rate", "0.05")
    assert out.returncode == 0, out.stderr
    assert "from optarena_clipsgd.reference import ClipSGD" in out.stdout
    assert "optimizer = ClipSGD(params, lr=0.05, clip_value=1.0, weight_decay=0.0, maximize=False)" in out.stdout
    bad = _run(site, "-m", "optarena.cli", "code", "clipsgd", "--framework", "optax")
    assert bad.returncode == 2 and "no optax translation of Clipped SGD; it has: torch" in bad.stderr
    assert "Traceback" not in bad.stderr

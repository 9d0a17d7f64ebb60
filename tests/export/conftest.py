"""Races shared by the export tests (computed once per session)."""

from __future__ import annotations

import pytest

from optarena.arena import race

ROSENBROCK = ["sgd(learning_rate=0.001)", "momentum(learning_rate=0.001)", "adam(learning_rate=0.05)"]


@pytest.fixture(scope="session")
def rosen():
    return race("rosenbrock", ROSENBROCK, steps=100)


@pytest.fixture(scope="session")
def diverging():
    """SGD at learning rate 1.5 on x^2 + y^2 doubles its distance every step: diverged at step 9."""
    res = race("quadratic", ["sgd(learning_rate=1.5)", "adam(learning_rate=0.1)", "adam(learning_rate=0.3, beta1=0.8)"],
               steps=30)
    assert res.diverged_at[0, 0] == 9 and res.diverged_at[1, 0] == -1
    return res


@pytest.fixture(scope="session")
def formula():
    pytest.importorskip("sympy")
    return race({"formula": "sin(x)*cos(y) + 0.1*(x^2+y^2)"}, ["sgd", "adam(learning_rate=0.1)"],
                starts=[(2, 2), (-2, 1)], steps=40)

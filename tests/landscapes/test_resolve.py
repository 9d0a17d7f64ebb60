"""``landscapes.resolve``: every way a face or a config names a landscape, and what it refuses."""

from __future__ import annotations

import pytest

from optarena import landscapes
from optarena.arena.plan import landscape_ref
from optarena.errors import UnknownNameError, UsageError, UsageTypeError


def test_resolve_takes_every_way_of_naming_a_landscape():
    booth = landscapes.get("booth")
    assert landscapes.resolve(None) is landscapes.get(landscapes.DEFAULT)
    assert landscapes.resolve(booth) is booth
    assert landscapes.resolve("Booth") is booth
    assert landscapes.resolve({"name": "booth"}) is booth
    ill = landscapes.resolve({"name": "ill_conditioned", "params": {"kappa": 50.0, "theta": 30.0}})
    assert ill.params == {"kappa": 50.0, "theta": 30.0}
    assert landscapes.resolve("ill_conditioned", {"kappa": 5.0}).params["kappa"] == 5.0
    f = landscapes.resolve({"formula": "x**2 + 10*y**2", "window": [[-2, 2], [-1, 1]]})
    assert f.name == "formula" and f.window == ((-2.0, 2.0), (-1.0, 1.0))


@pytest.mark.parametrize("name", ["quadratic", "rosenbrock", "ill_conditioned"])
def test_resolve_replays_a_configs_reference(name):
    ls = landscapes.get(name)
    again = landscapes.resolve(landscape_ref(ls))
    assert again.name == ls.name and again.params == ls.params and again.window == ls.window


@pytest.mark.parametrize("ref,cls,field", [
    ("nowhere", UnknownNameError, "name"),
    ({"name": "nowhere"}, UnknownNameError, "name"),
    ({"params": {}}, UsageError, "name"),
    ({"name": "booth", "params": {"kappa": 1}}, UsageTypeError, "params.kappa"),
    ({"name": "booth", "params": [1, 2]}, UsageTypeError, "params"),
    ({"name": "ill_conditioned", "params": {"kappa": 0.5}}, UsageError, "params.kappa"),
    ({"name": "ill_conditioned", "params": {"theta": float("inf")}}, UsageError, "params.theta"),
    ({"name": "ill_conditioned", "params": {"kappa": "big"}}, UsageTypeError, "params.kappa"),
    ({"formula": "x +"}, landscapes.FormulaError, "formula"),
    ({"formula": 3}, UsageTypeError, "formula"),
    ({"formula": "x", "window": [[1, 0], [0, 1]]}, UsageError, "window"),
    ({"formula": "x", "window": [[0, "a"], [0, 1]]}, UsageTypeError, "window"),
    (42, UsageTypeError, None),
])
def test_resolve_names_the_part_of_the_reference_at_fault(ref, cls, field):
    with pytest.raises(cls) as info:
        landscapes.resolve(ref)
    assert info.value.field == field


def test_unknown_names_keep_their_valueerror_and_list_the_names():
    with pytest.raises(ValueError, match="did you mean 'rosenbrock'") as info:
        landscapes.get("rosenbrok")
    assert info.value.allowed == landscapes.names(every=True)  # N-D ones too: get() takes every name

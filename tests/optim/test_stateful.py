"""The class API: containers, dtypes, validation, rejected calls, state_dict round trips."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import optarena as oa
from optarena.optim import registry

from cases import CASES, FIRST_ORDER, case_id

NAMES = FIRST_ORDER  # every optimizer that steps from a gradient alone


def _state_copy(opt):
    return copy.deepcopy(opt.state_dict())


def _assert_state_equal(a, b):
    assert a.keys() == b.keys()
    assert a["steps"] == b["steps"]
    if a["state"] is None or b["state"] is None:
        assert a["state"] is b["state"] is None
        return
    for sa, sb in zip(a["state"], b["state"]):
        assert sa.keys() == sb.keys()
        for k in sa:
            np.testing.assert_array_equal(sa[k], sb[k])


# ---- containers and dtypes -------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(NAMES),
    arr=hnp.arrays(dtype=st.sampled_from([np.float32, np.float64]),
                   shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
                   elements=st.floats(-10, 10, width=32)),
)
def test_dtype_and_shape_preserved_in_place(name, arr):
    opt = oa.optimizer_class(name)()
    p = arr.copy()
    out = opt.update(p, np.ones_like(p))
    assert out is p and p.dtype == arr.dtype and p.shape == arr.shape


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(NAMES), xs=st.lists(st.floats(-100, 100), min_size=1, max_size=6))
def test_list_in_list_out(name, xs):
    opt = oa.optimizer_class(name)()
    out = opt.update(list(xs), [1.0] * len(xs))
    assert isinstance(out, list) and len(out) == len(xs)
    assert all(isinstance(v, float) for v in out)


def test_containers_of_arrays_update_in_place():
    a, b = np.ones(3, np.float32), np.ones((2, 2))
    opt = oa.Adam(learning_rate=0.1)
    out = opt.update({"w": a, "b": b}, {"w": np.ones(3), "b": np.ones((2, 2))})
    assert out["w"] is a and a.dtype == np.float32 and np.all(a < 1) and np.all(b < 1)
    t = (np.ones(2), np.ones(1))
    out = oa.SGD().update(t, (np.ones(2), np.ones(1)))
    assert isinstance(out, tuple) and out[0] is t[0]
    assert oa.SGD(learning_rate=0.5).update(3.0, 2.0) == 2.0


# ---- validation --------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("lr", [-0.1, float("nan"), float("inf")])
def test_bad_learning_rate_names_the_argument(name, lr):
    with pytest.raises(ValueError, match="learning_rate must be a finite number in"):
        oa.optimizer_class(name)(learning_rate=lr)


@pytest.mark.parametrize("name", [n for n in NAMES if "beta1" in registry.get(n).defaults])
@pytest.mark.parametrize("beta", [-0.1, 1.0, 1.5])
def test_betas_outside_unit_interval(name, beta):
    # [0, 1); (0, 1) for Schedule-Free AdamW, whose x = y + (1 - 1/beta1)(z - y) needs beta1 > 0
    with pytest.raises(ValueError, match=r"beta1 must be a finite number in [\[(]0.0, 1.0\)"):
        oa.optimizer_class(name)(beta1=beta)
    with pytest.raises(ValueError, match="beta2"):
        oa.optimizer_class(name)(beta2=beta)


def test_unknown_and_non_numeric_hyperparameters():
    with pytest.raises(TypeError, match="unknown hyperparameter 'lr'; allowed: .*learning_rate"):
        oa.Adam(lr=0.1)
    with pytest.raises(TypeError, match="learning_rate must be"):
        oa.SGD(learning_rate="fast")
    with pytest.raises(TypeError, match="nesterov must be True or False"):
        oa.SGD(nesterov="yes")
    with pytest.raises(ValueError, match="nesterov=True requires momentum > 0"):
        oa.SGD(nesterov=True)
    opt = oa.Adam()
    with pytest.raises(ValueError, match="beta2"):
        opt.beta2 = 1.0
    assert opt.beta2 == 0.999


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_rejected_call_changes_nothing(case):
    name, hp = case
    opt = oa.optimizer_class(name)(**hp)
    p = {"a": np.linspace(-1, 1, 6), "b": np.ones(3)}
    opt.update(p, {"a": np.ones(6), "b": np.ones(3)})
    before_p = {k: v.copy() for k, v in p.items()}
    before_s = _state_copy(opt)
    bad_calls = [
        ({"a": np.ones(6), "b": np.ones(4)}, ValueError, "shape"),
        ({"a": np.ones(6), "b": ["x", "y", "z"]}, TypeError, "numeric"),
        ({"a": np.ones(6)}, ValueError, "same keys"),
        ({"a": np.ones(6), "b": np.array(["1", "2", "3"])}, TypeError, "numeric"),
    ]
    for grads, exc, msg in bad_calls:
        with pytest.raises(exc, match=msg):
            opt.update(p, grads)
        for k in p:
            np.testing.assert_array_equal(p[k], before_p[k])
        _assert_state_equal(_state_copy(opt), before_s)


def test_list_length_mismatch_and_bad_params():
    with pytest.raises(ValueError, match="params has 2 entries but gradients has 3"):
        oa.SGD().update([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="float dtype"):
        oa.SGD().update(np.arange(3), np.ones(3))
    with pytest.raises(TypeError, match="params must be"):
        oa.SGD().update("abc", "def")
    with pytest.raises(ValueError, match="changed structure"):
        opt = oa.Adam()
        opt.update(np.ones(3), np.ones(3))
        opt.update(np.ones(4), np.ones(4))


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(NAMES), n=st.integers(1, 5), extra=st.integers(1, 3))
def test_rejected_calls_leave_params_and_state_untouched(name, n, extra):
    opt = oa.optimizer_class(name)()
    p = np.linspace(-1.0, 1.0, n)
    opt.update(p, np.ones(n))
    p0, s0 = p.copy(), _state_copy(opt)
    with pytest.raises(ValueError):
        opt.update(p, np.ones(n + extra))
    np.testing.assert_array_equal(p, p0)
    _assert_state_equal(_state_copy(opt), s0)


# ---- state_dict ---------------------------------------------------------------------------

@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_state_dict_round_trip_is_bitwise(case, fused):
    name, hp = case
    cls = oa.optimizer_class(name)
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=(64,)).astype(np.float32) for _ in range(10)]
    a = cls(**hp, fused=fused, schedule={"name": "exponential", "gamma": 0.9})
    pa = np.linspace(-1, 1, 64, dtype=np.float32)
    for g in grads[:5]:
        a.update(pa, g)
    saved = a.state_dict()
    b = cls(fused=fused)
    b.load_state_dict(saved)
    pb = pa.copy()
    for g in grads[5:]:
        a.update(pa, g)
        b.update(pb, g)
    np.testing.assert_array_equal(pa, pb)
    _assert_state_equal(a.state_dict(), b.state_dict())
    with pytest.raises(ValueError, match="not"):
        oa.optimizer_class("sgd" if name != "sgd" else "adam")().load_state_dict(saved)


def test_repr_and_signature():
    import inspect

    assert repr(oa.Adam(learning_rate=0.1)) == "Adam(learning_rate=0.1)"
    sig = inspect.signature(oa.Adam)
    assert list(sig.parameters)[:4] == ["learning_rate", "beta1", "beta2", "epsilon"]
    assert oa.Adam(0.5).learning_rate == 0.5


def test_readme_functional_example():
    from optarena.optim import get

    spec = get("adam")
    params = np.full((1000, 2), 3.0)
    before = params.copy()
    hp = spec.bind({"learning_rate": np.logspace(-3, 0, 1000)}, params)
    state = spec.init(params, hp)
    new, state = spec.update(params, 2 * params, state, hp)
    np.testing.assert_array_equal(params, before)  # pure
    # Adam's first step moves each coordinate by about its own learning rate
    np.testing.assert_allclose(before - new, np.logspace(-3, 0, 1000)[:, None] * np.ones((1, 2)), rtol=1e-6)

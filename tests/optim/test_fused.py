"""The numba kernels equal the readable NumPy rules, on params and on every state buffer."""

from __future__ import annotations

import numpy as np
import pytest

import optarena as oa
from optarena.optim import registry, stateful

from cases import CASES, case_id

pytest.importorskip("numba")

#: the cases whose rule has a fused cell (Adafactor's step takes norms over the whole parameter: none)
FUSED_CASES = [c for c in CASES if registry.get(c[0]).cell is not None]


def _run(name, hp, p0, grads, fused):
    opt = oa.optimizer_class(name)(**hp, fused=fused)
    p = p0.copy()
    for g in grads:
        opt.update(p, g)
    return p, opt.state[0]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", FUSED_CASES, ids=case_id)
def test_fused_equals_readable(case, dtype):
    name, hp = case
    rng = np.random.default_rng(0)
    p0 = rng.normal(size=(37, 29)).astype(dtype)
    grads = [rng.normal(size=p0.shape).astype(dtype) for _ in range(12)]
    grads[3][0, :5] = 0.0  # exact zeros exercise sign() and max() ties
    p_ref, s_ref = _run(name, hp, p0, grads, fused=False)
    p_fast, s_fast = _run(name, hp, p0, grads, fused=True)
    # Same float operations in the same order: equal up to the last bit or one ulp
    # (LLVM may evaluate a libm sqrt differently from NumPy's SIMD loop).
    np.testing.assert_array_max_ulp(p_fast, p_ref, maxulp=2)
    assert set(s_fast) == set(s_ref)
    for key in s_ref:
        if isinstance(s_ref[key], np.ndarray) and s_ref[key].ndim:
            np.testing.assert_array_max_ulp(s_fast[key], s_ref[key], maxulp=2)
        else:
            assert s_fast[key] == s_ref[key], key


def test_auto_picks_fused_for_large_arrays():
    opt = oa.Adam()
    small = np.zeros(10, np.float32)
    big = np.zeros(stateful.FUSED_MIN_SIZE, np.float32)
    hp = opt.hyperparameters
    assert not opt._use_fused(small, small, hp)
    assert opt._use_fused(big, big, hp)
    assert not oa.Adam(fused=False)._use_fused(big, big, hp)
    assert not opt._use_fused(big[::2], big[::2], hp)  # strided views take the NumPy path


def test_a_rule_without_a_cell_takes_the_readable_path():
    """Adafactor has no cell: fused=True (and None on a large array) is the documented fallback, its
    NumPy rule, with the same bits as fused=False; the kernels refuse it by name."""
    from optarena.optim import kernels

    spec = registry.get("adafactor")
    assert spec.cell is None
    rng = np.random.default_rng(0)
    big = rng.normal(size=(256, stateful.FUSED_MIN_SIZE // 256)).astype(np.float32)
    grads = [rng.normal(size=big.shape).astype(np.float32) for _ in range(3)]
    assert not oa.Adafactor(fused=True)._use_fused(big, big, oa.Adafactor().hyperparameters)
    assert not oa.Adafactor()._use_fused(big, big, oa.Adafactor().hyperparameters)
    p_ref, s_ref = _run("adafactor", {}, big, grads, fused=False)
    p_true, s_true = _run("adafactor", {}, big, grads, fused=True)
    np.testing.assert_array_equal(p_true, p_ref)
    assert set(s_true) == set(s_ref) == {"step", "row_var", "col_var"}
    for key in ("row_var", "col_var"):
        np.testing.assert_array_equal(s_true[key], s_ref[key])
    assert "no fused kernel" in (oa.Adafactor.__doc__ or "")
    with pytest.raises(ValueError, match="'adafactor' has no fused cell"):
        kernels.compiled_cell(spec)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", FUSED_CASES, ids=case_id)
def test_step_many_equals_readable(case, dtype):
    """One multi-array kernel call (the torch bridge's path) per step equals the readable rule
    on each array: arrays empty, tiny and spanning several work chunks, absent slots skipped."""
    from optarena.optim import kernels, registry

    name, hp = case
    spec = registry.get(name)
    hp = spec.validate(hp, name)
    rng = np.random.default_rng(1)
    sizes = (0, 1, 3 * kernels._CHUNK + 17, 5)
    ps = [rng.normal(size=n).astype(dtype) for n in sizes]
    refs = [p.copy() for p in ps]
    states = [spec.init(p, hp) for p in ps]
    ref_states = [spec.init(p, hp) for p in ps]
    present = tuple(k in states[0] for k in spec.slots)
    chunks = kernels.chunk_table(sizes)
    assert chunks.shape[0] == 4 + 1 + 1  # a chunk per 65,536 elements, none for the empty array
    for _ in range(4):
        gs = [rng.normal(size=n).astype(dtype) for n in sizes]
        for j, (g, st) in enumerate(zip(gs, ref_states)):
            refs[j], ref_states[j] = spec.update(refs[j], g, st, hp)
        c, scalars = kernels.step_coefficients(spec, dtype, states[0], hp)
        rows = [[p.ctypes.data, g.ctypes.data] + [st[k].ctypes.data if k in st else p.ctypes.data for k in spec.slots]
                + [p.ctypes.data] * (3 - len(spec.slots)) for p, g, st in zip(ps, gs, states)]
        kernels.step_many(spec, present, np.array(rows, np.int64), np.array(sizes, np.int64), chunks, c, dtype)
        for st in states:
            st["step"] += 1
            st.update(scalars)
    for p, ref, st, ref_st in zip(ps, refs, states, ref_states):
        np.testing.assert_array_max_ulp(p, np.asarray(ref, dtype), maxulp=2)
        for k in spec.slots:
            if k in ref_st:
                np.testing.assert_array_max_ulp(st[k], np.asarray(ref_st[k], dtype), maxulp=2)

"""The two-pass fused form (``TwoPass``) of the rules whose step takes sums over the whole parameter
equals their readable NumPy rule, on params and on every piece of state, step after step. The
elementwise arithmetic is the same; only the sums' order differs (chunked float64 against NumPy's
pairwise), hence the tolerances: 1e-12 relative in float64, a few float32 ulp."""

from __future__ import annotations

import numpy as np
import pytest

import optarena as oa
from optarena.optim import registry, stateful
from optarena.optim._spec import TwoPass
from optarena.optim.rules import adafactor, lamb, lars

pytest.importorskip("numba")

TWO_PASS = [s.name for s in registry.all_specs() if s.two_pass is not None]
#: settings the shared examples leave out (the reference has no argument for them)
EXTRA = {"lamb": lamb.CLAMP_EXAMPLES, "lars": lars.VECTOR_EXAMPLES, "adafactor": adafactor.PAIR_EXAMPLES}
CASES = [(name, dict(ex)) for name in TWO_PASS for ex in registry.get(name).examples + EXTRA.get(name, ())]
#: a vector over several parallel chunks and a matrix (LARS's trust ratio and MARS's correction
#: by default; Adafactor factors it, so the readable rule runs there: see below)
SHAPES = {"vector": (3 * 65536 + 17,), "matrix": (301, 211)}
TOL = {np.float64: 1e-12, np.float32: 4 * float(np.finfo(np.float32).eps)}


def test_the_five_rules_have_the_form():
    assert sorted(TWO_PASS) == ["adafactor", "lamb", "lars", "mars", "prodigy"]


def _steps(name, hp, p0, grads, fused):
    opt = oa.optimizer_class(name)(**hp, fused=fused)
    p = p0.copy()
    for g in grads:
        if fused:
            assert opt._use_fused(p, g, opt.hyperparameters), "the fused path was not taken"
        opt.update(p, g)
    return p, opt.state[0]


def _close(fast, ref, dtype, what):
    """Equal within the dtype's tolerance, relative to the array's largest magnitude (an element
    that nearly cancels is no more precise than its terms), NaN where NaN."""
    fast, ref = np.asarray(fast, np.float64), np.asarray(ref, np.float64)
    scale = np.max(np.abs(ref[np.isfinite(ref)]), initial=0.0)
    np.testing.assert_allclose(fast, ref, rtol=TOL[dtype], atol=TOL[dtype] * scale, err_msg=what)


def _same(fast_p, fast_s, ref_p, ref_s, dtype):
    _close(fast_p, ref_p, dtype, "params")
    assert set(fast_s) == set(ref_s)
    for key, ref in ref_s.items():
        if isinstance(ref, (np.ndarray, np.generic)):  # NumPy gives a 0-d parameter's state as a scalar, the kernel as 0-d
            assert np.asarray(fast_s[key]).dtype == ref.dtype and np.shape(fast_s[key]) == np.shape(ref), key
        else:
            assert type(fast_s[key]) is type(ref), key
        _close(fast_s[key], ref, dtype, key)


def _grads(rng, shape, dtype, n=6):
    grads = [rng.normal(size=shape).astype(dtype) for _ in range(n)]
    grads[2].reshape(-1)[:100] = 0.0  # exact zeros: sign flips, max() ties
    return grads


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", [(c, s) for c in CASES for s in SHAPES if not (c[0] == "adafactor" and s == "matrix")],
                         ids=lambda c: f"{c[0][0]}-{c[1]}-{'-'.join(f'{k}={v}' for k, v in c[0][1].items()) or 'defaults'}")
def test_two_pass_equals_readable(case, dtype):
    """Adafactor factors a matrix: no two-pass form there (test_adafactor_matrices_keep_the_readable_rule)."""
    (name, hp), shape = case
    rng = np.random.default_rng(0)
    p0 = rng.normal(size=SHAPES[shape]).astype(dtype)
    grads = _grads(rng, p0.shape, dtype)
    ref_p, ref_s = _steps(name, hp, p0, grads, fused=False)
    fast_p, fast_s = _steps(name, hp, p0, grads, fused=True)
    assert not np.array_equal(ref_p, p0)  # the steps moved
    _same(fast_p, fast_s, ref_p, ref_s, dtype)


#: (rule, settings, how to make the params and gradients, which branch of combine it takes)
BRANCHES = [
    ("lamb", {}, "zero params", "||p|| = 0: trust ratio 1"),
    ("lamb", {}, "zero grads", "||u|| = 0: trust ratio 1"),
    ("lamb", {"clamp": 0.5}, "normal", "||p|| above the clamp"),
    ("lamb", {"weight_decay": 0.1, "weight_decouple": False, "clamp": 0.0}, "normal", "clamp 0: trust ratio 1"),
    ("lars", {"adapt_vectors": True}, "zero params", "||p|| = 0: ratio 1"),
    ("lars", {"adapt_vectors": True}, "zero grads", "denominator 0: ratio 1"),
    ("lars", {"adapt_vectors": True, "weight_decay": 0.1}, "normal", "the ratio"),
    ("lars", {}, "normal", "a vector: no ratio, pass 1 skipped"),
    ("mars", {"optimize_1d": True}, "normal", "||c|| > 1: clipped"),
    ("mars", {"optimize_1d": True}, "tiny grads", "||c|| <= 1: not clipped"),
    ("mars", {}, "normal", "a vector: AdamW, pass 1 skipped"),
    ("adafactor", {}, "zero params", "RMS(p) < eps2"),
    ("adafactor", {"d": 100.0}, "normal", "RMS(u) under d: not clipped"),
    ("adafactor", {"d": 1.0, "weight_decay": 0.1}, "normal", "RMS(u) clipped"),
    ("prodigy", {}, "zero grads", "D = 0: no move, the step not counted"),
    ("prodigy", {"learning_rate": 0.0}, "normal", "lr 0: nothing gathered"),
    ("prodigy", {"growth_rate": 1.01}, "constant grads", "d grows at most 1% a step"),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("branch", BRANCHES, ids=lambda b: f"{b[0]}-{b[3]}")
def test_each_branch_of_combine(branch, dtype):
    name, hp, data, _ = branch
    rng = np.random.default_rng(1)
    shape = (2 * 65536 + 3,)
    p0 = np.zeros(shape, dtype) if data == "zero params" else rng.normal(size=shape).astype(dtype)
    grads = _grads(rng, shape, dtype, n=4)
    if data == "zero grads":
        grads = [np.zeros_like(g) for g in grads]
    if data == "constant grads":
        grads = [grads[0]] * len(grads)
    if data == "tiny grads":
        grads = [g * dtype(1e-5) for g in grads]
    ref_p, ref_s = _steps(name, hp, p0, grads, fused=False)
    fast_p, fast_s = _steps(name, hp, p0, grads, fused=True)
    _same(fast_p, fast_s, ref_p, ref_s, dtype)
    # the first step took the branch named (read from the state the fused path recorded)
    first = _steps(name, hp, p0, grads[:1], fused=True)[1]
    if name == "lamb" and (data != "normal" or hp.get("clamp") == 0.0):
        assert float(first["trust_ratio"]) == 1.0
    if name == "lamb" and hp.get("clamp") == 0.5:
        assert float(first["weight_norm"]) == 0.5 and float(first["trust_ratio"]) != 1.0
    if name == "prodigy" and data == "zero grads":
        assert fast_s["step"] == 0 and fast_s["k"] == 0 and np.array_equal(fast_p, p0)
    if name == "prodigy" and hp.get("growth_rate") == 1.01:  # d jumps to d_hat at step 2, then grows by the rate
        assert fast_s["d"] / _steps(name, hp, p0, grads[:3], fused=True)[1]["d"] == pytest.approx(1.01, rel=1e-12)


def test_mars_clipping_is_exercised_both_ways():
    """The clip divisor combine gives: ||c|| for N(0, 1) gradients over 10^5 elements, 1 for tiny ones."""
    form = registry.get("mars").two_pass
    assert form is not None
    p = np.zeros(4)
    assert form.combine(p, {"cc": 400.0 ** 2}, {}, {}, {})[0]["clip"] == 400.0
    assert form.combine(p, {"cc": 0.25}, {}, {}, {})[0]["clip"] == 1.0


def test_adafactor_matrices_keep_the_readable_rule():
    """Factored second moment: no two-pass form, fused=True is the documented fallback (same bits)."""
    rng = np.random.default_rng(2)
    p0 = rng.normal(size=(256, stateful.FUSED_MIN_SIZE // 256)).astype(np.float32)
    grads = _grads(rng, p0.shape, np.float32, n=3)
    opt = oa.Adafactor(fused=True)
    assert not opt._use_fused(p0, p0, opt.hyperparameters)
    assert oa.Adafactor()._use_fused(p0.reshape(-1), p0.reshape(-1), opt.hyperparameters)  # a vector: fused
    p_ref = p0.copy()
    p_true = p0.copy()
    ref, true = oa.Adafactor(fused=False), oa.Adafactor(fused=True)
    for g in grads:
        ref.update(p_ref, g)
        true.update(p_true, g)
    np.testing.assert_array_equal(p_true, p_ref)


def test_prodigy_over_several_arrays_keeps_the_readable_rule():
    """Its sums run over every array: a list steps through the readable reduction, fused or not."""
    rng = np.random.default_rng(3)
    ps = [rng.normal(size=stateful.FUSED_MIN_SIZE).astype(np.float32) for _ in range(2)]
    gs = [rng.normal(size=p.shape).astype(np.float32) for p in ps]
    a, b = [p.copy() for p in ps], [p.copy() for p in ps]
    oa.Prodigy(fused=True).update(a, gs)
    oa.Prodigy(fused=False).update(b, gs)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("name", TWO_PASS)
def test_auto_picks_the_two_pass_kernels_for_large_arrays(name, monkeypatch):
    from optarena.optim import kernels_two_pass

    cls = oa.optimizer_class(name)
    big = np.zeros(stateful.FUSED_MIN_SIZE, np.float32)
    opt = cls()
    hp = opt.hyperparameters
    assert opt._use_fused(big, big, hp)
    assert not opt._use_fused(big[:10], big[:10], hp)  # small: NumPy
    assert not cls(fused=False)._use_fused(big, big, hp)
    batched = {**hp, "learning_rate": np.array([hp["learning_rate"]] * 2)}
    assert not opt._use_fused(big.reshape(2, -1), big.reshape(2, -1), batched)  # a race's runs: NumPy
    with pytest.raises(ValueError, match="fused=True needs C-contiguous"):
        cls(fused=True)._use_fused(big[::2], big[::2], hp)
    calls = []
    real = kernels_two_pass.step
    monkeypatch.setattr(kernels_two_pass, "step", lambda *a: calls.append(a[0].name) or real(*a))
    opt.update(big.copy(), np.ones_like(big))
    assert calls == [name]


def test_tiny_and_zero_dimensional_params_step_fused():
    """Arrays smaller than one block and 0-d ones (fused=True) equal the readable rule too."""
    for name in TWO_PASS:
        for shape in ((), (5,)):
            rng = np.random.default_rng(4)
            p0 = np.asarray(rng.normal(size=shape))
            grads = [np.asarray(rng.normal(size=shape)) for _ in range(3)]
            ref_p, ref_s = _steps(name, {}, p0, grads, fused=False)
            fast_p, fast_s = _steps(name, {}, p0, grads, fused=True)
            _same(fast_p, fast_s, ref_p, ref_s, np.float64)


def test_a_malformed_form_is_refused_by_name():
    def cell(p, g, a, c):
        return (p,)

    with pytest.raises(ValueError, match="gather_writes .* must name slots"):
        TwoPass(slots=("a",), sums=("x",), coefficients=dict, gather=cell, combine=dict, apply=cell, gather_writes=("b",))
    with pytest.raises(ValueError, match="reduces.* must write no slot"):
        TwoPass(slots=("a",), sums=("x",), coefficients=dict, gather=cell, combine=dict, apply=cell, gather_writes=("a",),
                reduces=lambda p, hp: True)
    with pytest.raises(ValueError, match="one argument per slot"):
        TwoPass(slots=("a", "b", "c"), sums=("x",), coefficients=dict, gather=cell, combine=dict, apply=cell)


def test_the_benchmark_times_the_two_pass_kernels(monkeypatch, capsys):
    """``bench_optim.py --catalogue`` times ``ours.update(p, g)``: at its sizes that is the two passes.
    The script runs in this process (as ``python benchmarks/bench_optim.py`` would: run as __main__), so
    it steps on the two-pass kernels the tests above compiled (in a subprocess: 10 parallel compiles, ~20 s)."""
    import runpy
    import sys
    from pathlib import Path

    pytest.importorskip("torch")
    pytest.importorskip("pytorch_optimizer")
    pytest.importorskip("prodigyopt")
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_optim.py"
    monkeypatch.setattr(sys, "argv", [str(script), "--size", "70000", "--rounds", "1", "--only", ",".join(TWO_PASS)])
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "two passes" in line]
    assert sorted(r.split()[1] for r in rows) == sorted(TWO_PASS), out

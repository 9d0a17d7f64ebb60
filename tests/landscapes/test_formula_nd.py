"""Typed formulas in x1 ... xN (issue 15): the grammar and its errors, values against hand NumPy,
the exact gradient and Hessian-vector product against finite differences, the minimum claim, the
CLI race against torch.optim, and replay of a saved race."""

from __future__ import annotations

import json

import numpy as np
import pytest

sp = pytest.importorskip("sympy")

from optarena import landscapes  # noqa: E402
from optarena.arena.plan import landscape_ref  # noqa: E402
from optarena.errors import UsageError  # noqa: E402
from optarena.landscapes import Landscape, NDLandscape  # noqa: E402
from optarena.landscapes.formula import MAX_VARIABLES, FormulaError, dimension, formula_landscape, parse  # noqa: E402

# (text, d, the same function written by hand in NumPy over p[..., i])
CASES = [
    ("x1^2 + 10*x2^2 + (x3-1)^2", 3, lambda p: p[..., 0]**2 + 10 * p[..., 1]**2 + (p[..., 2] - 1)**2),
    ("sin(x1)*cos(x2) + 0.1*(x3^2 + x4^2) + exp(-x5^2)*x1*x3 + log(1 + x2^2*x4^2)", 5,
     lambda p: (np.sin(p[..., 0]) * np.cos(p[..., 1]) + 0.1 * (p[..., 2]**2 + p[..., 3]**2)
                + np.exp(-p[..., 4]**2) * p[..., 0] * p[..., 2] + np.log(1 + p[..., 1]**2 * p[..., 3]**2))),
    (" + ".join(f"100*(x{i + 1} - x{i}^2)^2 + (1 - x{i})^2" for i in range(1, 10)), 10,
     lambda p: np.sum(100 * (p[..., 1:] - p[..., :-1]**2)**2 + (1 - p[..., :-1])**2, axis=-1)),
    ("tanh(x1*x7) + sqrt(1 + x10^2) * cosh(x3/4) - x2*x9/3", 10,
     lambda p: np.tanh(p[..., 0] * p[..., 6]) + np.sqrt(1 + p[..., 9]**2) * np.cosh(p[..., 2] / 4)
     - p[..., 1] * p[..., 8] / 3),
]
IDS = ["quadratic-3", "mixed-5", "rosenbrock-10", "gaps-10"]


@pytest.fixture(scope="module", params=range(len(CASES)), ids=IDS)
def case(request):
    text, d, hand = CASES[request.param]
    return formula_landscape(text), d, hand


def _points(d, n=7, seed=0):
    return np.random.default_rng(seed).uniform(-1.5, 1.5, size=(n, d))


def test_an_indexed_formula_is_an_nd_landscape(case):
    ls, d, hand = case
    assert isinstance(ls, NDLandscape) and ls.dim == d and ls.name == "formula" and ls.source == "typed formula"
    P = _points(d)
    np.testing.assert_allclose(ls.value(P), hand(P), rtol=1e-13, atol=1e-13)
    assert ls.value(P[0]).shape == () and ls.value(P.reshape(7, 1, d)).shape == (7, 1)
    np.testing.assert_array_equal(ls.lo, -3.0)
    np.testing.assert_array_equal(ls.hi, 3.0)
    # the documented default start: 15% of the window on x1, x3, ...; 85% on x2, x4, ...
    np.testing.assert_allclose(ls.default_start, [-2.1 if i % 2 == 0 else 2.1 for i in range(d)], rtol=1e-15)


def test_gradient_matches_central_differences(case):
    ls, d, hand = case
    P, h = _points(d, seed=1), 1e-6
    E = h * np.eye(d)
    fd = (hand(P[:, None, :] + E) - hand(P[:, None, :] - E)) / (2 * h)  # of the hand NumPy function
    g = ls.gradient(P)
    assert g.shape == (7, d)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-6 * (1 + np.abs(g).max()))


def test_hessian_vector_product_matches_differences_of_the_gradient(case):
    ls, d, _ = case
    P, V = _points(d, seed=2), np.random.default_rng(3).standard_normal((7, d))
    h = 1e-6
    fd = (ls.gradient(P + h * V) - ls.gradient(P - h * V)) / (2 * h)
    hv = ls.hessian_vector_product(P, V)
    np.testing.assert_allclose(hv, fd, rtol=1e-5, atol=1e-5 * (1 + np.abs(hv).max()))
    H = ls.hessian(P)  # d products with the basis, broadcast
    np.testing.assert_allclose(H, np.swapaxes(H, -1, -2), rtol=0, atol=0)
    np.testing.assert_allclose(np.einsum("kij,kj->ki", H, V), hv, rtol=1e-12, atol=1e-12)


def test_dimension_is_the_largest_index_and_gaps_are_flat_coordinates():
    assert dimension("x1^2 + x3") == 3 and dimension("x**2 + y") == 2 and dimension("x1") == 2
    assert dimension(f"x{MAX_VARIABLES}") == MAX_VARIABLES == 64
    assert dimension("x3 - x3 + 1") == 3  # from the text, though sympy cancels x3
    ls = formula_landscape("x1^2 + x3^2")
    assert ls.dim == 3 and ls.minimum_kind == "lower_bound" and ls.min_value == 0.0
    np.testing.assert_array_equal(ls.gradient(np.array([1.0, 5.0, -2.0])), [2.0, 0.0, -4.0])


def test_x1_x2_is_the_plane_as_x_y():
    a, b = formula_landscape("sin(x1)*cos(x2) + 0.1*(x1^2+x2^2)"), formula_landscape("sin(x)*cos(y) + 0.1*(x^2+y^2)")
    assert isinstance(a, Landscape) and isinstance(b, Landscape)
    X, Y = np.meshgrid(np.linspace(-3, 3, 9), np.linspace(-2, 2, 7))
    np.testing.assert_array_equal(a.f(X, Y), b.f(X, Y))
    np.testing.assert_array_equal(np.stack(a.grad(X, Y)), np.stack(b.grad(X, Y)))
    assert a.window == b.window and a.starts == b.starts and a.minima == b.minima
    assert a.formula == r"0.1 x_{1}^{2} + 0.1 x_{2}^{2} + \sin{\left(x_{1} \right)} \cos{\left(x_{2} \right)}"
    one = formula_landscape("(x1 - 1)^2")  # one index: the plane, flat in x2 (as "x^2" is flat in y)
    assert isinstance(one, Landscape) and one.minimum_kind == "lower_bound"


@pytest.mark.parametrize(("text", "position", "expected"), [
    ("x + x1", 4, "variables of one kind: x, y, as at position 0"),
    ("x1 + y", 5, "variables of one kind: x1 ... x64, as at position 0"),
    ("sin(x3) * x", 10, "variables of one kind: x1 ... x64, as at position 4"),
    ("x0 + x1", 0, "a variable x1 ... x64 (indices from 1"),
    ("x1 + x65", 5, "a variable x1 ... x64 (at most 64 coordinates)"),
    ("x1 + x100000000000000000000", 5, "a variable x1 ... x64 (at most 64 coordinates)"),
    ("x1 + x01", 5, "a variable x1 ... x64 (indices from 1, no leading zeros)"),
    ("x1 + z3", 5, "a variable (x1 ... x64), a function (sin, cos"),
    ("x1 * X2", 5, "a variable (x1 ... x64), a function"),
    ("z3 + x1", 0, "a variable (x, y), a function (sin, cos, tan, exp, log, sqrt, abs, tanh, sinh, cosh) or a "
                   "constant (pi, e) (or variables x1 ... x64 in place of x, y)"),
    ("x1 + ", 5, "a number, a variable (x1 ... x64), a function or '('"),
    ("2x3", 1, "an operator"),
])
def test_errors_point_at_the_variable(text, position, expected):
    with pytest.raises(FormulaError) as info:
        parse(text)
    err = info.value
    assert err.position == position and err.expected.startswith(expected), str(err)
    assert err.field == "formula" and str(err).split("\n")[2].strip() == "^"


def test_window_and_start():
    ls = formula_landscape("x1^2 + x2^2 + x3^2", window=[(-1, 2), (0, 4), (-5, 5)], start=(1, 2, 3))
    np.testing.assert_array_equal(ls.lo, [-1, 0, -5])
    np.testing.assert_array_equal(ls.hi, [2, 4, 5])
    np.testing.assert_array_equal(ls.default_start, [1, 2, 3])
    np.testing.assert_allclose(ls.minima, [[0, 0, 0]], atol=1e-8)
    for bad in ([(-1, 1)] * 2, [(-1, 1)] * 4, [(-1, 1), (1, -1), (0, 1)], [(0, np.inf)] * 3, "abc"):
        with pytest.raises(UsageError, match="3 \\(min, max\\) pairs") as info:
            formula_landscape("x1 + x2 + x3", window=bad)
        assert info.value.field == "window"
    with pytest.raises(UsageError, match="start must be 3 finite numbers"):
        formula_landscape("x1 + x2 + x3", start=(0, 0))


def test_a_convex_quadratic_claims_its_minimum():
    A = np.array([[4, 1, 0, 0, 0], [1, 3, 1, 0, 0], [0, 1, 5, 2, 0], [0, 0, 2, 6, 1], [0, 0, 0, 1, 2]], dtype=float)
    b = np.array([1.0, -2.0, 0.5, 1.5, -1.0])
    quad = " + ".join(f"{A[i, j] / 2}*x{i + 1}*x{j + 1}" for i in range(5) for j in range(5) if A[i, j])
    text = quad + " + " + " + ".join(f"({b[i]})*x{i + 1}" for i in range(5))  # x'Ax/2 + b'x
    ls = formula_landscape(text)
    x_star = np.linalg.solve(A, -b)
    assert ls.minimum_kind == "minimum" and ls.minima.shape == (1, 5)
    np.testing.assert_allclose(ls.minima[0], x_star, atol=1e-8)
    assert ls.min_value == pytest.approx(0.5 * b @ x_star, rel=1e-12)
    H = ls.hessian(np.zeros(5))
    np.testing.assert_allclose(H, A, rtol=1e-14)


@pytest.mark.parametrize("text", ["x1^3 + x2^2 + x3^2", "x1^2 - x2^2 + x3^2", "x1 + x2 + x3 + x4",
                                  "x1^2 + x2^2 + x3^2 - 0.2*x1^4"])
def test_no_minimum_is_claimed_when_f_falls_lower(text):
    ls = formula_landscape(text)
    assert ls.minimum_kind == "none" and len(ls.minima) == 0 and np.isnan(ls.min_value)
    assert "no minimum" in ls.no_minimum or "f goes lower" in ls.no_minimum


def test_landscape_ref_replays_the_box():
    ls = landscapes.from_formula("x1^2 + 10*x2^2 + (x3-1)^2", window=[(-1, 1), (-2, 2), (0, 3)])
    ref = landscape_ref(ls)
    assert ref == {"formula": "x1^2 + 10*x2^2 + (x3-1)^2", "window": [[-1, 1], [-2, 2], [0, 3]]}
    assert json.loads(json.dumps(ref)) == ref
    back = landscapes.resolve(ref)
    assert back is ls  # cached: the same formula and box give the same (frozen) landscape
    assert landscapes.from_formula("x1^2 + 10*x2^2 + (x3-1)^2") is not ls


def test_two_isolated_minima_are_both_claimed():
    # (r^2 - 1)^2 - 0.01 z^4 with r^2 = x1^2 + x2^2 + x3^2: lowest at the poles, x3^2 (1 - 0.01) = 1
    ls = formula_landscape("(x1^2 + x2^2 + x3^2 - 1)^2 - 0.01*x3^4")
    z = 1 / np.sqrt(0.99)
    assert ls.minimum_kind == "minimum" and ls.minima.shape == (2, 3)
    np.testing.assert_allclose(sorted(ls.minima.tolist(), key=lambda m: m[2]), [[0, 0, -z], [0, 0, z]], atol=1e-7)
    assert ls.min_value == pytest.approx((z**2 - 1) ** 2 - 0.01 * z**4, rel=1e-10)


def _torch_final(start, opt, kw, steps):
    """torch.optim on the same function, its gradient from torch autograd: the final point."""
    import torch

    p = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
    o = opt([p], **kw)
    for _ in range(steps):
        o.zero_grad()
        loss = p[0] ** 2 + 10 * p[1] ** 2 + (p[2] - 1) ** 2
        loss.backward()
        o.step()
    return p.detach().numpy()


def test_cli_race_is_torch_and_replays_from_its_config(tmp_path):
    torch = pytest.importorskip("torch")
    from optarena.cli import main

    out, again = tmp_path / "race.json", tmp_path / "again.json"
    code = main(["race", "--formula", "x1^2 + 10*x2^2 + (x3-1)^2", "--optimizer", "adam", "--optimizer", "sgd",
                 "--steps", "150", "--quiet", "--format", "json", "--output", str(out)])
    assert code == 0
    data = json.loads(out.read_text())
    cfg = data["config"]
    assert cfg["landscape"] == {"formula": "x1^2 + 10*x2^2 + (x3-1)^2", "window": [[-3.0, 3.0]] * 3}
    start = cfg["starts"][0]
    assert len(start) == 3
    adam, sgd = (np.array(run["positions"][-1]) for run in data["runs"])
    hp = [r["hyperparameters"] for r in cfg["racers"]]
    want_adam = _torch_final(start, torch.optim.Adam, {"lr": hp[0]["learning_rate"],
                                                       "betas": (hp[0]["beta1"], hp[0]["beta2"]),
                                                       "eps": hp[0]["epsilon"]}, 150)
    want_sgd = _torch_final(start, torch.optim.SGD, {"lr": hp[1]["learning_rate"]}, 150)
    np.testing.assert_allclose(adam, want_adam, rtol=1e-12)
    np.testing.assert_allclose(sgd, want_sgd, rtol=1e-12)
    # and by hand: SGD at lr 0.01 multiplies x1 and x3 - 1 by 0.98 and x2 by 0.8 each step
    np.testing.assert_allclose(sgd, [start[0] * 0.98**150, start[1] * 0.8**150, 1 + (start[2] - 1) * 0.98**150],
                               rtol=1e-12)
    assert data["minimum"]["kind"] == "minimum"
    np.testing.assert_allclose(data["minima"], [[0, 0, 1]], atol=1e-8)
    assert main(["race", "--config", str(out), "--quiet", "--format", "json", "--output", str(again)]) == 0
    replay = json.loads(again.read_text())
    assert replay["config"] == cfg and replay["runs"] == data["runs"]
    # a saved race with its own box replays on that box
    cfg["landscape"]["window"] = [[-4.0, 4.0], [-1.0, 3.0], [0.0, 2.0]]
    out.write_text(json.dumps({"config": cfg}))
    assert main(["race", "--config", str(out), "--quiet", "--format", "json", "--output", str(again)]) == 0
    assert json.loads(again.read_text())["config"]["landscape"]["window"] == cfg["landscape"]["window"]


def test_parsing_indexed_text_never_evaluates_it(monkeypatch):
    import builtins

    import sympy.parsing.sympy_parser as sympy_parser

    parse("sin(x1) + x2")  # warm sympy's caches and lazy imports first

    def forbidden(*args, **kwargs):
        raise AssertionError("forbidden call during parse")

    for target, name in [(builtins, "eval"), (builtins, "exec"), (builtins, "compile"),
                         (sp, "sympify"), (sp, "parse_expr"), (sympy_parser, "parse_expr")]:
        monkeypatch.setattr(target, name, forbidden)
    for text, _, _ in CASES:
        assert {s.name for s in parse(text).free_symbols} <= {f"x{i}" for i in range(1, 11)}

"""Typed formulas: parsing, precedence, exact gradients, error positions, and safety."""

from __future__ import annotations

import builtins
import string
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sp = pytest.importorskip("sympy")

from optarena.landscapes import formula as fm  # noqa: E402
from optarena.landscapes.formula import FormulaError, formula_landscape, parse, validate  # noqa: E402

X, Y = sp.Symbol("x", real=True), sp.Symbol("y", real=True)
RNG_POINTS = np.random.default_rng(0).uniform(-2.5, 2.5, size=(50, 2))

EXAMPLES = [
    ("x**2 + 10*y**2", lambda x, y: x**2 + 10 * y**2),
    ("sin(x)*cos(y) + 0.1*(x^2+y^2)", lambda x, y: np.sin(x) * np.cos(y) + 0.1 * (x**2 + y**2)),
    ("exp(-x^2) * tanh(y) + abs(x - y) / 3", lambda x, y: np.exp(-x**2) * np.tanh(y) + np.abs(x - y) / 3),
    ("log(1 + x^2) + sqrt(y^2 + 1) - cosh(x/4) + sinh(y/5) + tan(x/3)",
     lambda x, y: np.log(1 + x**2) + np.sqrt(y**2 + 1) - np.cosh(x / 4) + np.sinh(y / 5) + np.tan(x / 3)),
    ("pi * x - e**y + 1.5e-3 * x*y", lambda x, y: np.pi * x - np.exp(y) + 1.5e-3 * x * y),
]


@pytest.mark.parametrize(("text", "reference"), EXAMPLES)
def test_values_match_numpy(text, reference):
    land = formula_landscape(text)
    x, y = RNG_POINTS[:, 0], RNG_POINTS[:, 1]
    np.testing.assert_allclose(land.f(x, y), reference(x, y), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(land.value(RNG_POINTS), reference(x, y), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("text", "reference"), EXAMPLES)
def test_gradient_matches_central_differences(text, reference):
    land = formula_landscape(text)
    x, y, h = RNG_POINTS[:, 0], RNG_POINTS[:, 1], 1e-6
    fd = np.stack([(reference(x + h, y) - reference(x - h, y)) / (2 * h),
                   (reference(x, y + h) - reference(x, y - h)) / (2 * h)], axis=-1)
    np.testing.assert_allclose(land.gradient(RNG_POINTS), fd, rtol=1e-6, atol=1e-6)


def test_caret_equals_double_star():
    assert parse("x^2 + y^3 - 2^x") == parse("x**2 + y**3 - 2**x") == X**2 + Y**3 - 2**X


@pytest.mark.parametrize(("text", "expected"), [
    ("-x**2", -(X**2)), ("-x^2", -(X**2)), ("-2**2", -4), ("(-2)**2", 4),
    ("2**3**2", 512), ("2^3^2", 2**9), ("(2**3)**2", 64), ("2**-1", sp.Rational(1, 2)),
    ("x/y/2", X / (2 * Y)), ("8/4/2", 1), ("x-y-1", X - Y - 1), ("2+3*4", 14), ("(2+3)*4", 20),
    ("--x", X), ("-+-x", X), ("---x", -X), ("+x", X), ("2*-x", -2 * X), ("x**-y", X**-Y),
    ("pi", sp.pi), ("e", sp.E), ("e**x", sp.exp(X)), ("2*pi*e", 2 * sp.pi * sp.E),
    (" 1e-3 ", sp.Float("0.001")), ("1.5", sp.Float("1.5")), (".5*x", X / 2), ("3.", 3),
])
def test_precedence_and_constants(text, expected):
    assert sp.simplify(parse(text) - expected) == 0


@pytest.mark.parametrize(("text", "position", "expected"), [
    ("x +", 3, "a number, a variable (x, y), a function or '('"),
    ("x * * y", 4, "a number, a variable"),
    ("(x", 2, "an operator or ')'"),
    ("x)", 1, "an operator or the end"),
    ("sin x", 4, "'(' after sin"),
    ("sin", 3, "'(' after sin"),
    ("2x", 1, "an operator"),
    ("pi(x)", 2, "an operator"),
    ("sin(x, y)", 5, "an operator or ')'"),
    ("foo(x)", 0, "a variable (x, y), a function"),
    ("z + 1", 0, "a variable (x, y), a function"),
    ("os", 0, "a variable (x, y), a function"),
    ("x.y", 1, "an operator"),
    ("__import__('os')", 0, "a variable (x, y), a function"),
    ("().__class__", 1, "a number, a variable"),
    ("lambda x: x", 0, "a variable (x, y), a function"),
    ("[x for x in y]", 0, "a number, a variable"),
    ("{x}", 0, "a number, a variable"),
    ("'x'", 0, "a number, a variable"),
    ("x; y", 1, "an operator"),
    ("x = 1", 2, "an operator"),
    ("x \\ y", 2, "an operator"),
    ("x + \u00e9", 4, "a number, a variable"),
    ("x + \u0663", 4, "a number, a variable"),  # non-ASCII digit
    ("", 0, "a number, a variable"),
    ("   ", 3, "a number, a variable"),
    ("x**999999", 3, "an exponent between -64 and 64"),
    ("x**-65", 3, "an exponent between -64 and 64"),
    ("x**(100)", 3, "an exponent between -64 and 64"),
    ("1e400", 0, "a number of magnitude at most 1e6"),
    ("x + 1000001", 4, "a number of magnitude at most 1e6"),
    ("x" * 501, 500, "at most 500 characters"),
    ("(" * 60 + "x" + ")" * 60, 50, "at most 50 levels of nesting"),
    ("sin(" * 60 + "x" + ")" * 60, 200, "at most 50 levels of nesting"),
    ("-" * 60 + "x", 50, "at most 50 levels of nesting"),
    ("+".join(["x"] * 151), 300, "at most 300 tokens"),
    ("x / 0", 4, "a nonzero divisor"),
    ("x / (y - y)", 4, "a nonzero divisor"),
    ("sqrt(-1)", 0, "a real, finite constant"),
    ("x + log(0)", 4, "a real, finite constant"),
    ("0**-1 + x", 0, "a real, finite constant"),
    ("exp(1000) * x", 0, "a real, finite constant"),
    ("10**10**10", 0, "a smaller power"),
    ("2**(60*60)", 0, "a power whose value fits in a float"),
])
def test_errors_carry_position_and_expectation(text, position, expected):
    with pytest.raises(FormulaError) as info:
        validate(text)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.position == position, str(err)
    assert err.expected.startswith(expected), str(err)
    first, shown, caret = str(err).split("\n")
    assert first.startswith(f"formula error at position {position}: expected {err.expected} but found ")
    assert caret.strip() == "^"


def test_message_points_at_the_error():
    with pytest.raises(FormulaError) as info:
        parse("sin(x)+)")
    assert str(info.value) == (
        "formula error at position 7: expected a number, a variable (x, y), a function or '(' "
        "but found ')'\n  sin(x)+)\n         ^"
    )


def test_bounds_are_inclusive():
    parse("(" * 50 + "x" + ")" * 50)
    parse("+".join(["x"] * 150))  # 299 tokens
    parse("x**64 + x**-64 + 1e6 + y*" + "1" * 5)
    parse("x" + " " * 499)
    parse("x**y")  # non-literal exponents are fine


def test_import_stays_light():
    code = "import sys, optarena.landscapes.formula; assert 'sympy' not in sys.modules, 'sympy imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_sympy_is_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "sympy", None)
    with pytest.raises(ImportError, match=r"pip install 'optarena\[formula\]'"):
        parse("x")


def test_parse_never_evaluates_text(monkeypatch):
    """parse() builds sympy nodes itself: eval/exec/compile/sympify/parse_expr must never run.

    Patched only around parse(): formula_landscape() calls sympy.lambdify, which exec()s source
    that sympy prints from our own tree (never the user's text), so that use is fine.
    """
    import sympy.parsing.sympy_parser as sympy_parser

    parse("sin(x) + 1")  # warm sympy's caches and lazy imports first

    def forbidden(*args, **kwargs):
        raise AssertionError("forbidden call during parse")

    for target, name in [(builtins, "eval"), (builtins, "exec"), (builtins, "compile"),
                         (sp, "sympify"), (sp, "parse_expr"), (sympy_parser, "parse_expr")]:
        monkeypatch.setattr(target, name, forbidden)
    for text in ["x**2 + 10*y**2", "sin(x)*cos(y) + 0.1*(x^2+y^2)", "exp(-(x-1)^2) / (1 + abs(y))"]:
        assert parse(text).free_symbols <= {X, Y}
    with pytest.raises(FormulaError):
        parse("__import__('os').system('true')")


def test_minimum_is_found():
    land = formula_landscape("(x-1)**2 + (y+0.5)**2")
    (mx, my), = land.minima
    assert abs(mx - 1) < 1e-6 and abs(my + 0.5) < 1e-6
    assert abs(land.min_value) < 1e-10
    assert land.name == "formula" and land.source == "typed formula" and land.params == {}
    assert land.window == ((-3.0, 3.0), (-3.0, 3.0))
    assert land.starts == ((-3 + 0.15 * 6, -3 + 0.85 * 6),)
    assert land.log_colour is False
    assert land.formula == sp.latex(parse("(x-1)**2 + (y+0.5)**2"))


def test_window_start_and_title():
    land = formula_landscape("  x^2 +\n y^2 ", window=((0, 2), (-1, 5)), start=(1.5, 4))
    assert land.title == "x^2 + y^2"
    assert land.window == ((0.0, 2.0), (-1.0, 5.0))
    assert land.starts == ((1.5, 4.0),)
    assert land.minima[0] == pytest.approx((0.0, 0.0), abs=1e-6)
    with pytest.raises(ValueError):
        formula_landscape("x", window=((1, 0), (0, 1)))


def test_constants_broadcast_and_domain_errors_are_silent():
    land = formula_landscape("2")
    z = np.zeros((3, 4))
    assert land.f(z, 0.0).shape == (3, 4) and land.f(z, 0.0).dtype == np.float64
    gx, gy = land.grad(z, z)
    assert gx.shape == gy.shape == (3, 4) and not gx.any() and not gy.any()
    assert land.gradient(np.zeros((5, 2))).shape == (5, 2)
    log = formula_landscape("log(x) + sqrt(y) + 1/x", window=((0.5, 2), (0.5, 2)))
    values = log.f(np.array([-1.0, 0.0, 1.0]), np.array([1.0, 1.0, -1.0]))  # no RuntimeWarning
    assert values.dtype == np.float64 and np.isnan(values[0]) and np.isnan(values[2])
    assert isinstance(log.f(1.0, 1.0), float)
    with pytest.raises(FormulaError, match="finite values in the window"):
        formula_landscape("log(-1 - x^2)")


# -- fuzzing --------------------------------------------------------------------------------

TOKENS = ["x", "y", "1", "2.5", "1e-3", "64", "999999", "pi", "e", "+", "-", "*", "/", "**", "^",
          "(", ")", "sin", "log", "sqrt", "abs", "exp", "tanh", ".", ",", "[", "]", "'", "=", "_", "z",
          "__import__", "lambda", " "]
FUNCTION_NAMES = ["sin", "cos", "tan", "exp", "log", "sqrt", "abs", "tanh", "sinh", "cosh"]
GRAMMAR = st.recursive(  # mostly valid formulas, so the compile/evaluate path is fuzzed too
    st.sampled_from(["x", "y", "0", "2", "0.5", "1e-3", "64", "1000000", "pi", "e"]),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "**", "^"]), inner).map("({0[0]}){0[1]}({0[2]})".format),
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "**", "^"]), inner).map("".join),
        st.tuples(st.sampled_from(FUNCTION_NAMES), inner).map("{0[0]}({0[1]})".format),
        inner.map("-{}".format),
    ),
    max_leaves=25,
)
FUZZ = st.one_of(
    GRAMMAR,
    st.text(max_size=80),
    st.text(alphabet=string.printable, max_size=80),
    st.lists(st.sampled_from(TOKENS), max_size=40).map("".join),
    st.lists(st.sampled_from(TOKENS), max_size=40).map(" ".join),
)


@pytest.fixture(scope="module")
def warm():
    formula_landscape("sin(x) + y**2")  # sympy/scipy imports must not count against the deadline


def _claim_holds_on_a_grid(land) -> None:
    """Whatever a formula's landscape claims about its minimum, a grid of the window agrees."""
    if land.minimum_kind == "none":
        assert not land.minima and np.isnan(land.min_value) and land.no_minimum
        return
    assert np.isfinite(land.min_value)
    _, _, z = land.grid(101)
    assert np.nanmin(z) >= land.min_value - 1e-9 * (1 + abs(land.min_value))
    for m in land.minima:
        assert float(land.f(*m)) == pytest.approx(land.min_value, rel=1e-9, abs=1e-12)


def _landscape_or_formula_error(text: str) -> None:
    try:
        land = formula_landscape(text)
    except FormulaError as err:
        assert 0 <= err.position <= len(text) and err.expected
        return
    if land.dim > 2:  # x1 ... xN (tests/landscapes/test_formula_nd.py tests these landscapes)
        pts = np.random.default_rng(0).uniform(-2.5, 2.5, size=(3, land.dim))
        assert land.value(pts).shape == (3,) and land.gradient(pts).shape == (3, land.dim)
        assert fm.parse(text).free_symbols <= set(fm._indexed(sp, land.dim))
        return
    pts = np.array([[0.3, -0.7], [1.1, 2.0], [-2.5, 0.0]])
    assert land.value(pts).dtype == np.float64 and land.value(pts).shape == (3,)
    assert land.gradient(pts).dtype == np.float64 and land.gradient(pts).shape == (3, 2)
    _claim_holds_on_a_grid(land)
    assert fm.parse(text).free_symbols <= {X, Y} | set(fm._indexed(sp, 2))


@settings(max_examples=300, deadline=2000)
@given(text=FUZZ)
def test_any_text_is_a_landscape_or_a_formula_error(warm, text):
    _landscape_or_formula_error(text)


@settings(max_examples=300, deadline=2000)
@given(text=GRAMMAR)
def test_grammatical_text_is_a_landscape_or_a_formula_error(warm, text):
    _landscape_or_formula_error(text)


def test_formula_error_pickles():
    import pickle

    with pytest.raises(FormulaError) as info:
        parse("x +")
    again = pickle.loads(pickle.dumps(info.value))
    assert (again.position, again.expected, str(again)) == (3, info.value.expected, str(info.value))


def test_from_formula_is_cached_and_errors_are_not():
    from optarena import landscapes

    a = landscapes.from_formula("x**2 + 3*y**2", window=[[-2, 2], [-1, 1]])
    b = landscapes.from_formula("x**2 + 3*y**2", window=((-2.0, 2.0), (-1.0, 1.0)))
    assert a is b and a.window == ((-2.0, 2.0), (-1.0, 1.0))
    assert landscapes.from_formula("x**2 + 3*y**2") is not a  # another window, another landscape
    for _ in range(2):
        with pytest.raises(landscapes.FormulaError):
            landscapes.from_formula("x +")

"""Typed formulas become landscapes, safely.

The text is read by our own tokenizer and recursive-descent parser; the sympy expression is
built node by node from fixed whitelists. No ``eval``/``exec``/``compile``/``sympify``/
``parse_expr`` ever sees the text. Grammar (EBNF; blanks between tokens are ignored)::

    formula  = sum , END ;
    sum      = product , { ( "+" | "-" ) , product } ;
    product  = unary , { ( "*" | "/" ) , unary } ;
    unary    = ( "+" | "-" ) , unary | power ;
    power    = atom , [ ( "**" | "^" ) , unary ] ;       (* right-assoc: -x**2 = -(x**2) *)
    atom     = number | variable | "pi" | "e"
             | function , "(" , sum , ")" | "(" , sum , ")" ;
    variable = "x" | "y" | "x" , index ;                 (* index: 1 ... MAX_VARIABLES, no leading 0 *)
    function = "sin" | "cos" | "tan" | "exp" | "log" | "sqrt" | "abs" | "tanh" | "sinh" | "cosh" ;
    number   = ( digits , [ "." , [ digits ] ] | "." , digits ) , [ ( "e" | "E" ) , [ "+" | "-" ] , digits ] ;

Bounds (checked before sympy sees anything they guard): MAX_LENGTH characters, MAX_TOKENS
tokens, MAX_DEPTH nesting levels, literals up to MAX_LITERAL in magnitude, literal exponents up
to MAX_LITERAL_EXPONENT; constant parts must be real and finite, and exact numbers stay below
MAX_BITS bits, so sympy never computes a huge exact power.

Variables: either ``x`` and ``y`` (a 2-D ``Landscape``), or ``x1 ... xN`` with N up to
MAX_VARIABLES, never both in one formula. An indexed formula's dimension is its largest index
written (at least 2); gaps are allowed and an index not written is a coordinate f does not depend
on (as ``y`` is in ``"x^2"``). Dimension 2 (``x1``, ``x2``) gives the same ``Landscape`` as ``x``,
``y``; above 2 an ``NDLandscape`` (``formula_landscape``).
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Sequence

import numpy as np

from ..errors import MissingExtraError, UsageError, UsageTypeError
from ._base import Landscape, Point
from .nd import NDLandscape
from .registry import AnyLandscape

if TYPE_CHECKING:  # sympy is optional and heavy: imported lazily at run time
    import sympy

__all__ = ["FormulaError", "dimension", "formula_landscape", "parse", "validate"]

MAX_LENGTH = 500
MAX_TOKENS = 300
MAX_DEPTH = 50
MAX_LITERAL = 1e6
MAX_LITERAL_EXPONENT = 64
MAX_BITS = 4096  # exact integers/rationals: far below Python's 4300-digit str() limit
_MAX_POWER_BITS = 16 * MAX_BITS  # |exponent| * bits of the base's exact numbers, before Pow
_MAX_CONSTANT = 1e300  # constant sub-expressions must fit comfortably in a float64
MAX_VARIABLES = 64  # x1 ... x64: the largest index (and so dimension) of a typed formula

FUNCTIONS = ("sin", "cos", "tan", "exp", "log", "sqrt", "abs", "tanh", "sinh", "cosh")
CONSTANTS = ("pi", "e")
VARIABLES = ("x", "y")

_OPERAND = "a number, a variable (x, y), a function or '('"
_NAME = ("a variable (x, y), a function (" + ", ".join(FUNCTIONS) + ") or a constant (pi, e)"
         f" (or variables x1 ... x{MAX_VARIABLES} in place of x, y)")
_INDEXED = f"x1 ... x{MAX_VARIABLES}"
_NAME_INDEXED = f"a variable ({_INDEXED}), a function (" + ", ".join(FUNCTIONS) + ") or a constant (pi, e)"
_OPERAND_INDEXED = f"a number, a variable ({_INDEXED}), a function or '('"
_INDEX = re.compile(r"x([0-9]+)", re.ASCII)

# re.ASCII: \d must not match other scripts' digits.
_TOKEN = re.compile(
    r"(?P<ws>[ \t\r\n]+)"
    r"|(?P<num>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>\*\*|[-+*/^()])",
    re.ASCII,
)


class FormulaError(UsageError):
    """A typed formula was rejected; ``position`` is a 0-based index into ``text``; ``field`` is
    ``"formula"`` (a ``UsageError``, so also a ``ValueError``)."""

    def __init__(self, text: str, position: int, expected: str, found: str) -> None:
        self.text, self.position, self.expected, self.found = text, position, expected, found
        # First line is self-contained (CLIs print only it); then the text and a caret.
        lo, hi = max(0, position - 60), min(len(text), position + 60)
        shown = re.sub(r"[\t\r\n]", " ", text[lo:hi])  # one line, so the caret lines up
        shown = ("..." if lo else "") + shown + ("..." if hi < len(text) else "")
        caret = " " * (position - lo + (3 if lo else 0)) + "^"
        super().__init__(
            f"formula error at position {position}: expected {expected} but found {found}\n"
            f"  {shown}\n  {caret}",
            field="formula",
        )

    def __reduce__(self) -> tuple[Any, ...]:  # picklable despite the custom signature (field kept)
        return (type(self), (self.text, self.position, self.expected, self.found), dict(self.__dict__))


class _Tok(NamedTuple):
    kind: str  # num, name, op, bad, end
    text: str
    pos: int


def _describe(tok: _Tok) -> str:
    return "end of input" if tok.kind == "end" else repr(tok.text)


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i = 0
    while i < len(text):
        m = _TOKEN.match(text, i)
        if m is None:  # the parser reports it with what it expected there
            toks.append(_Tok("bad", text[i], i))
            i += 1
            continue
        if m.lastgroup != "ws":
            toks.append(_Tok(str(m.lastgroup), m.group(), i))
        i = m.end()
    toks.append(_Tok("end", "", len(text)))
    return toks


def _sympy() -> Any:
    try:
        import sympy
    except ImportError as exc:  # optional dependency
        raise MissingExtraError("typed formulas need sympy: pip install 'optarena[formula]'", field="formula") from exc
    return sympy


def _symbols(sp: Any) -> tuple[Any, Any]:
    # real=True: d|x|/dx is sign(x), not an expression in re(x)/im(x).
    return sp.Symbol("x", real=True), sp.Symbol("y", real=True)


def _indexed(sp: Any, d: int) -> tuple[Any, ...]:
    """The symbols x1 ... xd (real, as ``_symbols``)."""
    return tuple(sp.Symbol(f"x{i}", real=True) for i in range(1, d + 1))


def _bits(sp: Any, expr: Any) -> int:
    """Largest bit length among the exact numbers in expr."""
    return max((max(abs(r.p).bit_length(), r.q.bit_length()) for r in expr.atoms(sp.Rational)), default=0)


class _Parser:
    def __init__(self, sp: Any, text: str, toks: list[_Tok]) -> None:
        self.sp, self.text, self.toks, self.i, self.depth = sp, text, toks, 0, 0
        x, y = _symbols(sp)
        self.names: dict[str, Any] = {"x": x, "y": y, "pi": sp.pi, "e": sp.E}
        self.first: _Tok | None = None  # the first variable: x/y or x1..., the kind the formula uses
        self.largest = 0  # the largest index of x1 ... xN written
        self.functions: dict[str, Any] = {
            "sin": sp.sin, "cos": sp.cos, "tan": sp.tan, "exp": sp.exp, "log": sp.log,
            "sqrt": sp.sqrt, "abs": sp.Abs, "tanh": sp.tanh, "sinh": sp.sinh, "cosh": sp.cosh,
        }

    # -- helpers ---------------------------------------------------------------------------
    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def fail(self, expected: str, tok: _Tok | None = None) -> FormulaError:
        tok = tok or self.peek()
        return FormulaError(self.text, tok.pos, expected, _describe(tok))

    def fail_span(self, expected: str, start: int) -> FormulaError:
        last = self.toks[self.i - 1]
        return FormulaError(self.text, start, expected, repr(self.text[start:last.pos + len(last.text)]))

    def enter(self, tok: _Tok) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"at most {MAX_DEPTH} levels of nesting", tok)

    def checked(self, expr: Any, start: int) -> Any:
        """Constant parts must be real, finite and of moderate size (else numpy sees nan/zoo/I)."""
        if expr.is_number:
            try:
                z = complex(expr.evalf(20))
            except (TypeError, ValueError, OverflowError):
                z = complex(math.nan)
            if z.imag != 0 or not abs(z.real) <= _MAX_CONSTANT:
                raise self.fail_span("a real, finite constant (at most 1e300)", start)
        if _bits(self.sp, expr) > MAX_BITS:
            raise self.fail_span(f"exact numbers of at most {MAX_BITS} bits", start)
        return expr

    def indexed(self) -> bool:
        return self.first is not None and self.first.text not in ("x", "y")

    def variable(self, tok: _Tok) -> Any:
        """x, y or x1 ... xN, the kind the formula's first variable set; else None (not a variable)."""
        m = _INDEX.fullmatch(tok.text)
        if m is None and tok.text not in ("x", "y"):
            return None
        if m is not None:
            digits = m.group(1)
            if digits[0] == "0":
                raise self.fail(f"a variable {_INDEXED} (indices from 1, no leading zeros)", tok)
            if int(digits) > MAX_VARIABLES:
                raise self.fail(f"a variable {_INDEXED} (at most {MAX_VARIABLES} coordinates)", tok)
        if self.first is None:
            self.first = tok
        elif (m is None) == self.indexed():
            kind = f"{_INDEXED}, as" if self.indexed() else "x, y, as"
            raise self.fail(f"variables of one kind: {kind} at position {self.first.pos}", tok)
        if m is None:
            return self.names[tok.text]
        i = int(m.group(1))
        self.largest = max(self.largest, i)
        return self.sp.Symbol(f"x{i}", real=True)

    # -- grammar ---------------------------------------------------------------------------
    def formula(self) -> Any:
        expr = self.sum()
        if self.peek().kind != "end":
            raise self.fail("an operator or the end of the formula")
        return expr

    def sum(self) -> Any:
        start = self.peek().pos
        expr = self.product()
        while self.peek().text in ("+", "-") and self.peek().kind == "op":
            op, rhs = self.take().text, self.product()
            expr = self.checked(expr + rhs if op == "+" else expr - rhs, start)
        return expr

    def product(self) -> Any:
        start = self.peek().pos
        expr = self.unary()
        while self.peek().text in ("*", "/") and self.peek().kind == "op":
            op = self.take().text
            rstart = self.peek().pos
            rhs = self.unary()
            if op == "/" and rhs == 0:  # structural zero: x/0, x/(y-y)
                raise self.fail_span("a nonzero divisor", rstart)
            expr = self.checked(expr * rhs if op == "*" else expr / rhs, start)
        return expr

    def unary(self) -> Any:
        tok = self.peek()
        if tok.kind == "op" and tok.text in ("+", "-"):
            self.take()
            self.enter(tok)
            operand = self.unary()
            self.depth -= 1
            return -operand if tok.text == "-" else operand
        return self.power()

    def power(self) -> Any:
        start = self.peek().pos
        base = self.atom()
        tok = self.peek()
        if not (tok.kind == "op" and tok.text in ("**", "^")):
            return base
        self.take()
        self.enter(tok)
        first, estart = self.i, self.peek().pos
        exponent = self.unary()
        self.depth -= 1
        used = [t.kind if t.kind == "num" else t.text for t in self.toks[first:self.i]]
        literal = used.count("num") == 1 and set(used) <= {"num", "+", "-", "(", ")"}  # e.g. -3, (64)
        if literal and abs(float(exponent)) > MAX_LITERAL_EXPONENT:
            bound = MAX_LITERAL_EXPONENT
            raise self.fail_span(f"an exponent between -{bound} and {bound}", estart)
        if exponent.is_number:
            # Bound the work before sympy.Pow: it computes exact powers eagerly, and it
            # distributes integer powers over products ((2*x)**n -> 2**n * x**n).
            e = float(exponent.evalf(20))
            if abs(e) * _bits(self.sp, base) > _MAX_POWER_BITS:
                raise self.fail_span("a smaller power", start)
            if base.is_number:
                b = abs(float(base.evalf(20)))
                if abs(e) > 1024 or (b != 0 and abs(e * math.log2(b)) > 1000):
                    raise self.fail_span("a power whose value fits in a float", start)
        return self.checked(self.sp.Pow(base, exponent), start)

    def atom(self) -> Any:
        tok = self.take()
        if tok.kind == "num":
            value = float(tok.text)
            if not abs(value) <= MAX_LITERAL:
                raise self.fail("a number of magnitude at most 1e6", tok)
            if tok.text.isdigit():
                return self.sp.Integer(int(tok.text))
            return self.sp.Float(tok.text, 15)  # 15 digits: no 500-digit mpmath arithmetic
        if tok.kind == "name":
            var = self.variable(tok)
            if var is not None:
                return var
            if tok.text in self.names:
                return self.names[tok.text]
            if tok.text not in self.functions:
                raise self.fail(_NAME_INDEXED if self.indexed() else _NAME, tok)
            paren = self.take()
            if paren.text != "(" or paren.kind != "op":
                raise self.fail(f"'(' after {tok.text}", paren)
            self.enter(tok)
            arg = self.sum()
            self.close()
            self.depth -= 1
            return self.checked(self.functions[tok.text](arg), tok.pos)
        if tok.kind == "op" and tok.text == "(":
            self.enter(tok)
            expr = self.sum()
            self.close()
            self.depth -= 1
            return expr
        raise self.fail(_OPERAND_INDEXED if self.indexed() else _OPERAND, tok)

    def close(self) -> None:
        if self.peek().text != ")" or self.peek().kind != "op":
            raise self.fail("an operator or ')'")
        self.take()


def parse(text: str) -> sympy.Expr:
    """The sympy expression of a typed formula in x and y, or in x1 ... xN; raises FormulaError."""
    return _parse(text).expr


def dimension(text: str) -> int:
    """The dimension of a typed formula's landscape: 2 for x, y; else its largest index xN (at least
    2; indices it skips are coordinates f does not depend on); raises FormulaError."""
    return _parse(text).dim


class _Parsed(NamedTuple):
    expr: sympy.Expr
    dim: int  # from the text: ``x3 - x3`` has 3 coordinates
    indexed: bool  # x1 ... xN, not x, y


def _parse(text: str) -> _Parsed:
    if not isinstance(text, str):
        raise UsageTypeError(f"formula must be a str, not {type(text).__name__}", field="formula")
    if len(text) > MAX_LENGTH:
        raise FormulaError(text, MAX_LENGTH, f"at most {MAX_LENGTH} characters", f"{len(text)} characters")
    toks = _tokenize(text)
    if len(toks) - 1 > MAX_TOKENS:
        raise FormulaError(text, toks[MAX_TOKENS].pos, f"at most {MAX_TOKENS} tokens", f"{len(toks) - 1} tokens")
    sp = _sympy()
    parser = _Parser(sp, text, toks)
    expr = parser.formula()
    if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo, sp.I):
        raise FormulaError(text, 0, "a real, finite formula", repr(str(expr)))
    return _Parsed(expr, max(2, parser.largest), parser.indexed())


def validate(text: str) -> None:
    """Raise FormulaError if text is not a valid formula."""
    parse(text)


def _lambdify(sp: Any, syms: tuple[Any, ...], exprs: Any, cse: bool = False) -> Callable[..., Any]:
    """sympy.lambdify to NumPy of an expression (or a list of them) printed from our own tree
    (``cse``: common subexpressions computed once, for lists that share them)."""
    def floats(expr: Any) -> Any:
        # Big exact numbers would reach NumPy as Python ints (OverflowError): make them floats.
        return expr.xreplace({r: sp.Float(r) for r in expr.atoms(sp.Rational) if max(abs(r.p), r.q) > 2**53})

    return sp.lambdify(syms, [floats(e) for e in exprs] if isinstance(exprs, list) else floats(exprs),
                       modules="numpy", cse=cse)


def _call(fn: Callable[..., Any], args: list[np.ndarray], k: int | None = None) -> Any:
    """fn(*args) without warnings (nan/inf outside the domain is fine); a Python-float overflow in
    a constant part gives NaN (k values for a list of k expressions)."""
    with np.errstate(all="ignore"):
        try:
            return fn(*args)
        except ArithmeticError:
            return np.nan if k is None else [np.nan] * k


def _real(out: Any, shape: tuple[int, ...]) -> np.ndarray:
    """out as float64 of ``shape``; a value with an imaginary part becomes NaN."""
    out = np.asarray(out)
    if np.iscomplexobj(out):
        out = np.where(out.imag == 0, out.real, np.nan)
    return np.array(np.broadcast_to(out, shape), dtype=np.float64)


def _numeric(sp: Any, expr: Any, syms: tuple[Any, Any] | None = None) -> Callable[[Any, Any], Any]:
    """A NumPy function of (x, y) for expr (``syms``: the two symbols, x and y by default):
    float64 output of the broadcast input shape."""
    fn = _lambdify(sp, syms or _symbols(sp), expr)

    def call(x: Any, y: Any) -> Any:
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        result = _real(_call(fn, [x, y]), np.broadcast_shapes(x.shape, y.shape))
        return result if result.ndim else result[()]

    return call


def _numeric_nd(sp: Any, exprs: list[Any], syms: tuple[Any, ...]) -> Callable[[Any], np.ndarray]:
    """A NumPy function of points (..., d) for k expressions in ``syms`` (the d coordinates),
    lambdified together: float64 of shape (..., k)."""
    fn = _lambdify(sp, syms, list(exprs), cse=len(exprs) > 1)

    def call(points: Any) -> np.ndarray:
        P = np.asarray(points, dtype=np.float64)
        outs = _call(fn, list(np.moveaxis(P, -1, 0)), len(exprs))
        return np.stack([_real(o, P.shape[:-1]) for o in outs], axis=-1) if len(exprs) else np.zeros(P.shape[:-1] + (0,))

    return call


class _Minimum(NamedTuple):
    """What a typed formula's landscape may claim about its lowest value in the window."""

    minima: tuple[Any, ...]  # isolated global minima (points: 2 or d floats); () when none is claimed
    value: float  # their value, or the lower bound; NaN when nothing is claimed
    local: tuple[Point, ...]  # other verified isolated minima, lowest first
    note: str  # why no minimum is claimed ("" when one is)


GRID = 201  # points a side of the grid that is searched and that a claimed minimum must not beat
EDGE = 2001  # points per edge of the window's boundary sample
MAX_STARTS = 12  # local searches, from the lowest cells of the grid that are lower than their neighbours
NEWTON_STEPS = 200
RING = 16  # directions of the isolation test around a degenerate (zero-curvature) minimum


def _at(p: Any) -> str:
    return f"({float(p[0]):.4g}, {float(p[1]):.4g})"


def _hessians(grad: Callable[[Any, Any], tuple[Any, Any]], P: np.ndarray, h: np.ndarray) -> np.ndarray:
    """(K, 2, 2) Hessians by central differences of the exact gradient, symmetrised."""
    cols = []
    for e in (np.array([1.0, 0.0]), np.array([0.0, 1.0])):
        gp = np.stack(np.broadcast_arrays(*grad(*(P + h[:, None] * e).T)), axis=-1)
        gm = np.stack(np.broadcast_arrays(*grad(*(P - h[:, None] * e).T)), axis=-1)
        cols.append((gp - gm) / (2.0 * h[:, None]))
    H = np.stack(cols, axis=-1)
    return 0.5 * (H + np.swapaxes(H, -1, -2))


def _newton(f: Callable[[Any, Any], Any], grad: Callable[[Any, Any], tuple[Any, Any]], P: np.ndarray,
            window: tuple[Point, Point], h: float, gtol: float) -> np.ndarray:
    """Damped Newton (Levenberg-Marquardt) from every row of P at once, inside the window.

    A step is taken only when f does not rise (beyond rounding) and the point stays in the
    window; otherwise the damping grows, so a run that can only go down by leaving the window
    stalls at its edge with a gradient that is not zero, and is not verified.
    """
    (x0, x1), (y0, y1) = window
    P = P.copy()
    F = np.asarray(f(P[:, 0], P[:, 1]), dtype=np.float64) * np.ones(len(P))
    lam = np.full(len(P), 1e-3)
    moving = np.ones(len(P), dtype=bool)
    tiny = 1e-14 * math.hypot(x1 - x0, y1 - y0)
    for _ in range(NEWTON_STEPS):
        G = np.stack(np.broadcast_arrays(*grad(P[:, 0], P[:, 1])), axis=-1)
        active = moving & np.isfinite(G).all(axis=1) & (np.hypot(G[:, 0], G[:, 1]) > gtol) & (lam < 1e12)
        if not active.any():
            break
        H = _hessians(grad, P, np.full(len(P), h))
        H = np.where(np.isfinite(H), H, 0.0)
        low = np.linalg.eigvalsh(H)[:, 0]
        shift = np.maximum(0.0, -low) + lam * (1.0 + np.abs(H).max(axis=(1, 2)))
        A = H + shift[:, None, None] * np.eye(2)
        D = -np.linalg.solve(A, np.where(np.isfinite(G), G, 0.0)[..., None])[..., 0]
        T = P + D
        FT = np.asarray(f(T[:, 0], T[:, 1]), dtype=np.float64) * np.ones(len(P))
        inside = (T[:, 0] >= x0) & (T[:, 0] <= x1) & (T[:, 1] >= y0) & (T[:, 1] <= y1)
        ok = active & inside & np.isfinite(FT) & (FT <= F + 4 * np.finfo(float).eps * np.abs(F))
        P[ok], F[ok] = T[ok], FT[ok]
        moving &= ~ok | (np.hypot(D[:, 0], D[:, 1]) > tiny)  # converged to rounding: stop
        lam = np.where(ok, np.maximum(lam / 4.0, 1e-12), np.where(active, lam * 4.0, lam))
    return P


def _verified_minimum(f: Callable[[Any, Any], Any], grad: Callable[[Any, Any], tuple[Any, Any]],
                      window: tuple[Point, Point], text: str) -> _Minimum:
    """The window's minimum, claimed only when found and verified.

    Local searches (damped Newton on the exact gradient) start from the grid's lowest local
    cells; a point they reach counts as a minimum when its gradient is ~0, its Hessian is
    positive definite (or, where it is only semi-definite, f rises on a ring around it) and it
    lies in the window. The lowest of those is claimed only when f is finite on the whole grid and
    on a dense sample of the window's boundary and goes below it nowhere there. When the lowest
    verified value is also taken along a line or region (a degenerate minimum that does not rise
    in every direction), it is claimed as a lower bound, with no point.
    """
    nothing = math.nan
    (x0, x1), (y0, y1) = window
    xs, ys = np.linspace(x0, x1, GRID), np.linspace(y0, y1, GRID)
    X, Y = np.meshgrid(xs, ys)
    Z = np.asarray(f(X, Y), dtype=np.float64)
    finite = np.isfinite(Z)
    if not finite.any():
        raise FormulaError(text, 0, "a formula with finite values in the window", "none")
    t = np.linspace(0.0, 1.0, EDGE)
    B = np.concatenate([np.stack([x0 + (x1 - x0) * t, np.full(EDGE, v)], axis=1) for v in (y0, y1)]
                       + [np.stack([np.full(EDGE, v), y0 + (y1 - y0) * t], axis=1) for v in (x0, x1)])
    ZB = np.asarray(f(B[:, 0], B[:, 1]), dtype=np.float64) * np.ones(len(B))
    if not finite.all() or not np.isfinite(ZB).all():
        bad = (X[~finite][0], Y[~finite][0]) if not finite.all() else B[~np.isfinite(ZB)][0]
        return _Minimum((), nothing, (), f"f is not finite everywhere in the window (at {_at(bad)}), "
                                         "so no minimum is claimed")
    size = math.hypot(x1 - x0, y1 - y0)
    gscale = (float(Z.max()) - float(Z.min())) / size  # a typical slope over the window
    if not math.isfinite(gscale):  # Python floats: the range overflows to inf without a warning
        return _Minimum((), nothing, (), "f's values in the window span more than a float holds, "
                                         "so no minimum is claimed")
    gtol = 1e-6 * gscale + 1e-12
    # Start from the grid's discrete local minima (no lower neighbour), lowest first.
    pad = np.pad(Z, 1, constant_values=np.inf)
    local = np.ones_like(Z, dtype=bool)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di or dj:
                local &= Z <= pad[1 + di:1 + di + GRID, 1 + dj:1 + dj + GRID]
    idx = np.flatnonzero(local)
    idx = idx[np.argsort(Z.flat[idx], kind="stable")][:MAX_STARTS]
    starts = np.stack([X.flat[idx], Y.flat[idx]], axis=1)
    with np.errstate(all="ignore"):
        P = _newton(f, grad, starts, window, 1e-6 * size, 1e-6 * gtol)
        F = np.asarray(f(P[:, 0], P[:, 1]), dtype=np.float64) * np.ones(len(P))
        G = np.stack(np.broadcast_arrays(*grad(P[:, 0], P[:, 1])), axis=-1)
        H = _hessians(grad, P, np.full(len(P), 1e-4 * size))
    stationary = np.isfinite(F) & np.isfinite(G).all(axis=1) & (np.hypot(G[:, 0], G[:, 1]) <= gtol)
    stationary &= np.isfinite(H).all(axis=(1, 2))
    eig = np.linalg.eigvalsh(np.where(np.isfinite(H), H, 0.0))
    curv = 1e-8 * (np.abs(eig).max(axis=1) + gscale / size)
    definite = stationary & (eig[:, 0] > curv)
    semi = stationary & ~definite & (eig[:, 0] >= -curv)
    # Semi-definite: a minimum if f rises on rings around it in every direction (isolated), or
    # at least does not fall (not isolated: the minimizers form a line or a region).
    angle = np.linspace(0.0, 2.0 * math.pi, RING, endpoint=False)
    ring = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    isolated, flat = _around(lambda Q: np.asarray(f(Q[:, 0], Q[:, 1]), dtype=np.float64), P, F, definite, semi,
                             size, ring)
    verified = isolated | flat
    if not verified.any():
        k = int(np.argmin(np.where(np.isfinite(F), F, np.inf)))
        return _Minimum((), nothing, (), f"no minimum could be verified in the window: the lowest point "
                                         f"found, {_at(P[k])} (f = {F[k]:.4g}), is not a stationary point "
                                         "with f rising around it, so f may fall without bound")
    best = float(F[verified].min())
    vtol = 1e-9 * (1.0 + abs(best))
    k = int(np.argmin(Z))
    kb = int(np.argmin(ZB))
    low, where = (Z.flat[k], (X.flat[k], Y.flat[k])) if Z.flat[k] <= ZB[kb] else (ZB[kb], B[kb])
    if low < best - vtol:
        return _Minimum((), nothing, (), f"f goes lower at {_at(where)} (f = {low:.4g}) than at any minimum "
                                         f"verified in the window (f = {best:.4g}), so f may fall without "
                                         "bound and no minimum is claimed")
    if (flat & (F <= best + vtol)).any():  # the lowest value is taken along a line or a region
        return _Minimum((), best, (), f"f >= {best:.6g} in the window, and that value is taken along a "
                                      "line or a region, not at a single point")

    def distinct(rows: np.ndarray, taken: list[Point]) -> list[Point]:
        """Rows not within 1e-4 window diagonals of one taken (searches that met at one minimum)."""
        out: list[Point] = []
        for p in rows:
            if all(math.hypot(p[0] - q[0], p[1] - q[1]) > 1e-4 * size for q in taken + out):
                out.append((float(p[0]), float(p[1])))
        return out

    order = np.argsort(F, kind="stable")
    glob = distinct(P[order[(isolated & (F <= best + vtol))[order]]], [])
    others = distinct(P[order[(isolated & (F > best + vtol))[order]]], glob)
    value = float(min(f(*p) for p in glob))
    return _Minimum(tuple(glob), value, tuple(others), "")


SAMPLES = 16384  # uniform points of the box that a claimed N-D minimum must not beat
FACE_SAMPLES = 8192  # points on the box's faces (one coordinate at its min or max), same rule
CORNERS = 1024  # box corners (all of them when there are at most this many), same rule
EXTRA_DIRECTIONS = 16  # random directions, besides +-each axis, of the N-D isolation test


def _fd_hessians_nd(grad: Callable[[Any], np.ndarray], P: np.ndarray, h: float) -> np.ndarray:
    """(K, d, d) Hessians by central differences of the exact gradient, symmetrised."""
    E = h * np.eye(P.shape[1])
    H = (grad(P[:, None, :] + E) - grad(P[:, None, :] - E)) / (2.0 * h)  # row i: dg/dx_i
    return 0.5 * (H + np.swapaxes(H, -1, -2))


def _newton_nd(f: Callable[[Any], np.ndarray], grad: Callable[[Any], np.ndarray], P: np.ndarray,
               lo: np.ndarray, hi: np.ndarray, h: float, gtol: float) -> np.ndarray:
    """``_newton`` in d dimensions (the same damped Newton, box for window)."""
    P = P.copy()
    F = f(P)
    lam = np.full(len(P), 1e-3)
    moving = np.ones(len(P), dtype=bool)
    tiny = 1e-14 * float(np.linalg.norm(hi - lo))
    eye = np.eye(P.shape[1])
    for _ in range(NEWTON_STEPS):
        G = grad(P)
        active = moving & np.isfinite(G).all(axis=1) & (np.linalg.norm(G, axis=1) > gtol) & (lam < 1e12)
        if not active.any():
            break
        H = _fd_hessians_nd(grad, P, h)
        H = np.where(np.isfinite(H), H, 0.0)
        low = np.linalg.eigvalsh(H)[:, 0]
        shift = np.maximum(0.0, -low) + lam * (1.0 + np.abs(H).max(axis=(1, 2)))
        D = -np.linalg.solve(H + shift[:, None, None] * eye, np.where(np.isfinite(G), G, 0.0)[..., None])[..., 0]
        T = P + D
        FT = f(T)
        inside = np.all((T >= lo) & (T <= hi), axis=1)
        ok = active & inside & np.isfinite(FT) & (FT <= F + 4 * np.finfo(float).eps * np.abs(F))
        P[ok], F[ok] = T[ok], FT[ok]
        moving &= ~ok | (np.linalg.norm(D, axis=1) > tiny)
        lam = np.where(ok, np.maximum(lam / 4.0, 1e-12), np.where(active, lam * 4.0, lam))
    return P


def _box_samples(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The box's centre, SAMPLES uniform points, FACE_SAMPLES on its faces and CORNERS corners
    (seeded: the same formula always gets the same verdict)."""
    rng = np.random.default_rng(0)
    d = len(lo)
    inner = lo + rng.random((SAMPLES, d)) * (hi - lo)
    face = lo + rng.random((FACE_SAMPLES, d)) * (hi - lo)
    axis, side = rng.integers(d, size=FACE_SAMPLES), rng.random(FACE_SAMPLES) < 0.5
    face[np.arange(FACE_SAMPLES), axis] = np.where(side, hi[axis], lo[axis])
    if 2**d <= CORNERS:
        bits = (np.arange(2**d)[:, None] >> np.arange(d)) & 1 == 1
    else:
        bits = rng.random((CORNERS, d)) < 0.5
    corners = np.where(bits, hi, lo)
    return np.concatenate([(0.5 * (lo + hi))[None, :], inner, face, corners])


def _around(values: Any, P: np.ndarray, F: np.ndarray, definite: np.ndarray, semi: np.ndarray, size: float,
            ring: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(isolated, flat): the definite points, and the semi-definite ones where f (``values`` of (n, d)
    points) rises on rings of directions ``ring`` at 1e-3 and 1e-2 of ``size`` around them in every
    direction (isolated), or at least does not fall (flat: the minimizers form a line or region)."""
    isolated = definite.copy()
    flat = np.zeros(len(P), dtype=bool)
    for j in np.flatnonzero(semi):
        Q = np.concatenate([P[j] + r * size * ring for r in (1e-3, 1e-2)])
        with np.errstate(all="ignore"):
            rise = values(Q) - F[j]
        vtol_j = 1e-9 * (1.0 + abs(F[j]))
        if np.all(rise > vtol_j):
            isolated[j] = True
        elif np.all(rise >= -vtol_j):
            flat[j] = True
    return isolated, flat


def _verified_minimum_nd(f: Callable[[Any], np.ndarray], grad: Callable[[Any], np.ndarray],
                         lo: np.ndarray, hi: np.ndarray, text: str) -> _Minimum:
    """``_verified_minimum`` in d dimensions, the box sampled instead of gridded.

    f is evaluated at the box's centre, SAMPLES uniform points, FACE_SAMPLES points on its faces
    and CORNERS corners (seeded); damped Newton on the exact gradient starts from the MAX_STARTS
    lowest. A point reached counts as a minimum when its gradient is ~0 and its Hessian (central
    differences of the exact gradient) is positive definite, or, where only semi-definite, f rises
    at two radii along +-every axis and EXTRA_DIRECTIONS random directions (isolated; does not fall
    there: a lower bound, minimizers along a line or region). The lowest is claimed only when f is
    finite on every sample and no sample is lower. A sample is not a proof: a narrow dip between
    samples can be missed (as between the 2-D grid's points), more easily as d grows.
    """
    nothing = math.nan
    S = _box_samples(lo, hi)
    with np.errstate(all="ignore"):
        Z = f(S)
    finite = np.isfinite(Z)
    if not finite.any():
        raise FormulaError(text, 0, "a formula with finite values in the window", "none")
    if not finite.all():
        return _Minimum((), nothing, (), f"f is not finite everywhere in the window (at {_at_nd(S[~finite][0])}), "
                                         "so no minimum is claimed")
    size = float(np.linalg.norm(hi - lo))
    gscale = (float(Z.max()) - float(Z.min())) / size
    if not math.isfinite(gscale):
        return _Minimum((), nothing, (), "f's values in the window span more than a float holds, "
                                         "so no minimum is claimed")
    gtol = 1e-6 * gscale + 1e-12
    starts = S[np.argsort(Z, kind="stable")[:MAX_STARTS]]
    with np.errstate(all="ignore"):
        P = _newton_nd(f, grad, starts, lo, hi, 1e-6 * size, 1e-6 * gtol)
        F, G = f(P), grad(P)
        H = _fd_hessians_nd(grad, P, 1e-4 * size)
    stationary = np.isfinite(F) & np.isfinite(G).all(axis=1) & (np.linalg.norm(G, axis=1) <= gtol)
    stationary &= np.isfinite(H).all(axis=(1, 2))
    eig = np.linalg.eigvalsh(np.where(np.isfinite(H), H, 0.0))
    curv = 1e-8 * (np.abs(eig).max(axis=1) + gscale / size)
    definite = stationary & (eig[:, 0] > curv)
    semi = stationary & ~definite & (eig[:, 0] >= -curv)
    d = len(lo)
    rand = np.random.default_rng(1).standard_normal((EXTRA_DIRECTIONS, d))
    ring = np.concatenate([np.eye(d), -np.eye(d), rand / np.linalg.norm(rand, axis=1, keepdims=True)])
    isolated, flat = _around(f, P, F, definite, semi, size, ring)
    verified = isolated | flat
    if not verified.any():
        k = int(np.argmin(np.where(np.isfinite(F), F, np.inf)))
        return _Minimum((), nothing, (), f"no minimum could be verified in the window: the lowest point "
                                         f"found, {_at_nd(P[k])} (f = {F[k]:.4g}), is not a stationary point "
                                         "with f rising around it, so f may fall without bound")
    best = float(F[verified].min())
    vtol = 1e-9 * (1.0 + abs(best))
    k = int(np.argmin(Z))
    if Z[k] < best - vtol:
        return _Minimum((), nothing, (), f"f goes lower at {_at_nd(S[k])} (f = {Z[k]:.4g}) than at any minimum "
                                         f"verified in the window (f = {best:.4g}), so f may fall without "
                                         "bound and no minimum is claimed")
    if (flat & (F <= best + vtol)).any():
        return _Minimum((), best, (), f"f >= {best:.6g} on the window's samples, and that value is taken along "
                                      "a line or a region, not at a single point")
    order = np.argsort(F, kind="stable")
    out: list[np.ndarray] = []
    for p in P[order[(isolated & (F <= best + vtol))[order]]]:  # searches that met at one minimum: once
        if all(np.linalg.norm(p - q) > 1e-4 * size for q in out):
            out.append(p)
    glob = np.array(out)
    return _Minimum(tuple(tuple(float(v) for v in p) for p in glob), float(f(glob).min()), (), "")


def _at_nd(p: np.ndarray) -> str:
    shown = ", ".join(f"{float(v):.4g}" for v in p[:4])
    return f"({shown}{', ...' if len(p) > 4 else ''})"


def _hessian(sp: Any, dx: Any, dy: Any, window: tuple[Point, Point],
             syms: tuple[Any, Any] | None = None) -> tuple[Callable[[Any, Any], tuple[Any, Any, Any]] | None, str]:
    """(hess, "") from the gradient's own expressions, lambdified like them; (None, why) if sympy fails.

    d2f/dxdy is differentiated once (from df/dx), so the Hessian is exactly symmetric. Where f is
    not twice differentiable (abs: d sign(t)/dt = 2 DiracDelta(t)) the delta is replaced by 0: the
    Hessian where it exists, and 0 from that term on the kink itself. Elsewhere, as for f and the
    gradient, points outside the expression's domain give NaN or inf.
    """
    syms = syms or _symbols(sp)
    x, y = syms
    try:
        exprs = [sp.diff(dx, x), sp.diff(dx, y), sp.diff(dy, y)]
        exprs = [e.replace(sp.DiracDelta, lambda *args: sp.S.Zero) for e in exprs]
        hxx, hxy, hyy = (_numeric(sp, e, syms) for e in exprs)
        (x0, x1), (y0, y1) = window
        for fn in (hxx, hxy, hyy):  # lambdify succeeds on names NumPy lacks; the call would not
            fn(np.array([x0, 0.5 * (x0 + x1)]), np.array([y0, 0.5 * (y0 + y1)]))
    except Exception as exc:  # defensive: any failure means no Hessian, never a rejected formula
        first = (str(exc).strip().splitlines() or [""])[0]
        return None, f"sympy could not give its Hessian ({type(exc).__name__}: {first})"

    def hess(a: Any, b: Any) -> tuple[Any, Any, Any]:
        return hxx(a, b), hxy(a, b), hyy(a, b)

    return hess, ""


#: the default window of every coordinate
DEFAULT_WINDOW = (-3.0, 3.0)


def formula_landscape(
    text: str,
    window: Sequence[tuple[float, float]] | None = None,
    start: Sequence[float] | None = None,
) -> AnyLandscape:
    """The landscape of a typed formula, with its symbolic gradient and Hessian.

    In x and y (or x1, x2): a ``Landscape``, ``window`` ((xmin, xmax), (ymin, ymax)). In x1 ... xN,
    N > 2: an ``NDLandscape`` of dimension N (``dimension``), ``window`` N (min, max) pairs, one
    per coordinate. Default window (-3, 3) on every coordinate; default start at 15% of the window
    on odd coordinates and 85% on even ones (x1, x2, x3, ... = -2.1, 2.1, -2.1, ... by default: the
    2-D start, continued).
    """
    sp = _sympy()
    expr, d, indexed = _parse(text)
    pairs = _window_pairs(window, d)
    if d > 2:
        return _nd_landscape(sp, text, expr, d, pairs, start)
    syms = _indexed(sp, 2) if indexed else _symbols(sp)
    x, y = syms
    win = (pairs[0], pairs[1])
    (x0, x1), (y0, y1) = win
    f = _numeric(sp, expr, syms)
    dx, dy = sp.diff(expr, x), sp.diff(expr, y)
    gx, gy = _numeric(sp, dx, syms), _numeric(sp, dy, syms)

    def grad(a: Any, b: Any) -> tuple[Any, Any]:
        return gx(a, b), gy(a, b)

    hess, no_hessian = _hessian(sp, dx, dy, win, syms)

    found = _verified_minimum(f, grad, win, text)
    sx, sy = (x0 + 0.15 * (x1 - x0), y0 + 0.85 * (y1 - y0)) if start is None else _start(start, 2)
    return Landscape(
        name="formula", title=" ".join(text.split()), f=f, grad=grad,
        window=win, minima=found.minima, min_value=found.value, starts=((sx, sy),), log_colour=False,
        formula=sp.latex(expr), source="typed formula", params={}, local_minima=found.local,
        no_minimum=found.note, hess=hess, no_hessian=no_hessian,
    )


def _window_pairs(window: Sequence[tuple[float, float]] | None, d: int) -> list[tuple[float, float]]:
    """d (min, max) pairs of finite floats with min < max; ``UsageError`` (field ``window``) else."""
    if window is None:
        return [DEFAULT_WINDOW] * d
    want = "((xmin, xmax), (ymin, ymax))" if d == 2 else f"{d} (min, max) pairs, one per coordinate x1 ... x{d}"
    try:
        pairs = [(float(a), float(b)) for a, b in window]
    except (TypeError, ValueError):
        pairs = []
    if len(pairs) != d or not all(math.isfinite(a) and math.isfinite(b) and a < b for a, b in pairs):
        raise UsageError(f"window must be {want} with min < max, got {window}", field="window")
    return pairs


def _start(start: Sequence[float], d: int) -> tuple[float, ...]:
    try:
        s = tuple(float(v) for v in start)
    except (TypeError, ValueError):
        s = ()
    if len(s) != d or not all(math.isfinite(v) for v in s):
        raise UsageError(f"start must be {d} finite numbers, got {start!r}", field="start")
    return s


def _hvp_nd(sp: Any, grads: list[Any], syms: tuple[Any, ...],
            lo: np.ndarray, hi: np.ndarray) -> tuple[Callable[[Any, Any], np.ndarray] | None, str]:
    """(hvp, "") from the directional derivative of the gradient, (H v)_i = d/dt g_i(x + t v) at
    t = 0 (d derivatives, not d^2 / 2 Hessian entries), lambdified in x1 ... xd, v1 ... vd; (None,
    why) if sympy fails. DiracDelta (from abs) becomes 0, as in ``_hessian``."""
    d = len(syms)
    v = tuple(sp.Symbol(f"v{i}", real=True) for i in range(1, d + 1))
    t = sp.Symbol("t", real=True)
    shift = {x: x + t * vi for x, vi in zip(syms, v)}
    try:
        exprs = [sp.diff(g.xreplace(shift), t).replace(sp.DiracDelta, lambda *args: sp.S.Zero).xreplace({t: 0})
                 for g in grads]
        product = _numeric_nd(sp, exprs, syms + v)
        product(np.stack([np.concatenate([lo, hi - lo]), np.concatenate([0.5 * (lo + hi), lo])]))  # see _hessian
    except Exception as exc:  # defensive: any failure means no Hessian, never a rejected formula
        first = (str(exc).strip().splitlines() or [""])[0]
        return None, f"sympy could not give its Hessian ({type(exc).__name__}: {first})"

    def hvp(points: Any, vectors: Any) -> np.ndarray:
        P, V = np.broadcast_arrays(np.asarray(points, dtype=np.float64), np.asarray(vectors, dtype=np.float64))
        return product(np.concatenate([P, V], axis=-1))

    return hvp, ""


def _nd_landscape(sp: Any, text: str, expr: Any, d: int, window: list[tuple[float, float]],
                  start: Sequence[float] | None) -> NDLandscape:
    syms = _indexed(sp, d)
    lo, hi = (np.array(v, dtype=np.float64) for v in zip(*window))
    f1 = _numeric_nd(sp, [expr], syms)
    grads = [sp.diff(expr, x) for x in syms]
    g = _numeric_nd(sp, grads, syms)

    def f(points: Any) -> np.ndarray:
        return f1(points)[..., 0]

    hvp, no_hessian = _hvp_nd(sp, grads, syms, lo, hi)
    found = _verified_minimum_nd(f, g, lo, hi, text)
    odd = np.arange(d) % 2 == 0  # x1, x3, ...
    s = lo + np.where(odd, 0.15, 0.85) * (hi - lo) if start is None else np.array(_start(start, d))
    return NDLandscape(
        name="formula", title=" ".join(text.split()), dim=d, f=f, grad=g, hvp=hvp, lo=lo, hi=hi,
        minima=np.array(found.minima).reshape(-1, d), min_value=found.value, starts=s[None, :], log_colour=False,
        start_source="15% of the window on x1, x3, ...; 85% on x2, x4, ..." if start is None else "given",
        formula=sp.latex(expr), source="typed formula", params={}, no_minimum=found.note,
        no_hessian=no_hessian,
    )

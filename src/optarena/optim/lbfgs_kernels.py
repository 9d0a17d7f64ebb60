"""L-BFGS's two-loop recursion compiled: one dot-product routine for every path, so a run stepped
alone (``rules.lbfgs.LBFGS``), the same run stepped in a race's batch and in the compiled race loop
(``arena.fused_lbfgs``, through ``dot_pair``) give the same bits.

Imported when an L-BFGS step runs (numba stays out of ``import optarena``). The recursion over
the history is the cost of an L-BFGS iteration: as NumPy calls it was two small operations per
pair and row (up to 400 calls an iteration at the default history of 100), here one call.
"""

from __future__ import annotations

import numba
import numpy as np
from numba.core import types
from numba.extending import intrinsic


#: Vectors up to this length get compensated dot products; longer ones (a model's parameters
#: through the torch bridge) plain ones, where the memory stream, not rounding, is the concern.
COMPENSATED_MAX = 4096


@intrinsic
def _fma(typingctx, a, b, c):  # pragma: no cover - compiled
    """fl(a b + c), one rounding (LLVM's fma: the instruction where the CPU has it)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return sig, codegen


@numba.njit(error_model="numpy", cache=True, nogil=True, inline="always")
def _two_product(a, b):  # pragma: no cover - compiled
    """(x, e) with x = fl(a b) and x + e = a b exactly: e = fl(a b - x) by a fused multiply-add,
    exact wherever a b does not underflow (Dekker's splitting gives the same e, in 16 operations
    to the fma's one: the two-loop recursion's latency chain)."""
    x = a * b
    return x, _fma(a, b, -x)  # type: ignore[call-arg]  # numba supplies typingctx


@numba.njit(error_model="numpy", cache=True, nogil=True, inline="always")
def _dot2_add(p, s, a, b):  # pragma: no cover - compiled
    """Dot2's running (sum, compensation) after the term a b: TwoSum(p, fl(a b)), the two
    roundings' errors added into s. p is the plain sum of the rounded products."""
    x, e = _two_product(a, b)
    t = p + x
    z = t - p
    return t, s + (((p - (t - z)) + (x - z)) + e)


@numba.njit(error_model="numpy", cache=True, nogil=True)
def dot(a, b):  # pragma: no cover - compiled
    """a . b in float64. Up to ``COMPENSATED_MAX`` elements compensated (Ogita, Rump & Oishi's
    Dot2: as if summed in twice the precision, then rounded), so it sits within rounding of the
    exact value, where torch's BLAS dot also sits: the two L-BFGS agree to 1e-10 after many
    iterations, as a plain sum in another order did not. Longer vectors: four interleaved
    partial sums, (s0 + s1) + (s2 + s3). A fixed order either way: the same bits wherever called.
    (Dot2 starts from the first product and its error; a product that overflows makes the sum NaN.)"""
    n = a.size
    if n == 0:
        return 0.0
    if n <= COMPENSATED_MAX:
        p, s = _two_product(np.float64(a[0]), np.float64(b[0]))
        for j in range(1, n):
            p, s = _dot2_add(p, s, np.float64(a[j]), np.float64(b[j]))
        return p + s
    s0 = s1 = s2 = s3 = 0.0
    m = n - n % 4
    for j in range(0, m, 4):
        s0 += np.float64(a[j]) * b[j]
        s1 += np.float64(a[j + 1]) * b[j + 1]
        s2 += np.float64(a[j + 2]) * b[j + 2]
        s3 += np.float64(a[j + 3]) * b[j + 3]
    for j in range(m, n):
        s0 += np.float64(a[j]) * b[j]
    return (s0 + s1) + (s2 + s3)


@numba.njit(error_model="numpy", cache=True, nogil=True)
def dot_pair(a0, a1, b0, b1):  # pragma: no cover - compiled
    """``dot`` of the 2-vectors (a0, a1) and (b0, b1) from scalars (the same steps, the same bits):
    the race loop's L-BFGS on a 2-D landscape keeps its vectors in registers."""
    p, s = _two_product(a0, b0)
    p, s = _dot2_add(p, s, a1, b1)
    return p + s


@numba.njit(error_model="numpy", cache=True, nogil=True)
def dot_rows(a, b):  # pragma: no cover - compiled
    """``dot(a[i], b[i])`` for each row of the (k, n) arrays a and b."""
    out = np.empty(a.shape[0])
    for i in range(a.shape[0]):
        out[i] = dot(a[i], b[i])
    return out


@numba.njit(error_model="numpy", cache=True, nogil=True)
def two_loop_rows(g, old_dirs, old_stps, ro, h_diag, count):  # pragma: no cover - compiled
    """-H g for each row: g (k, n), histories (k, M, n) oldest first with ``count[i]`` pairs in
    row i, ro (k, M), h_diag (k,). Elementwise steps as NumPy does them (no fused multiply-add)."""
    k, n = g.shape
    out = np.empty((k, n), dtype=g.dtype)
    alpha = np.empty(old_dirs.shape[1], dtype=np.float64)
    for r in range(k):
        q = out[r]
        for j in range(n):
            q[j] = -g[r, j]
        for i in range(count[r] - 1, -1, -1):
            a = dot(old_stps[r, i], q) * ro[r, i]
            alpha[i] = a
            for j in range(n):
                q[j] = q[j] - a * old_dirs[r, i, j]
        for j in range(n):
            q[j] = q[j] * h_diag[r]
        for i in range(count[r]):
            beta = dot(old_dirs[r, i], q) * ro[r, i]
            for j in range(n):
                q[j] = q[j] + (alpha[i] - beta) * old_stps[r, i, j]
    return out

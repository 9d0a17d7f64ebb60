"""L-BFGS's two-loop recursion compiled: one dot-product routine for every path, so a run stepped
alone (``rules.lbfgs.LBFGS``) and the same run stepped in a race's batch give the same bits.

Imported when an L-BFGS step runs (numba stays out of ``import optarena``). The recursion over
the history is the cost of an L-BFGS iteration: as NumPy calls it was two small operations per
pair and row (up to 400 calls an iteration at the default history of 100), here one call.
"""

from __future__ import annotations

import numba
import numpy as np


#: Vectors up to this length get compensated dot products; longer ones (a model's parameters
#: through the torch bridge) plain ones, where the memory stream, not rounding, is the concern.
COMPENSATED_MAX = 4096
_SPLIT = 134217729.0  # 2^27 + 1: Veltkamp's splitting constant for float64


@numba.njit(error_model="numpy", cache=True, nogil=True, inline="always")
def _two_product(a, b):  # pragma: no cover - compiled
    """(x, e) with x = fl(a b) and x + e = a b exactly (Dekker; numba emits no fused multiply-add)."""
    x = a * b
    c = _SPLIT * a
    ah = c - (c - a)
    al = a - ah
    c = _SPLIT * b
    bh = c - (c - b)
    bl = b - bh
    return x, al * bl - (((x - ah * bh) - al * bh) - ah * bl)


@numba.njit(error_model="numpy", cache=True, nogil=True)
def dot(a, b):  # pragma: no cover - compiled
    """a . b in float64. Up to ``COMPENSATED_MAX`` elements compensated (Ogita, Rump & Oishi's
    Dot2: as if summed in twice the precision, then rounded), so it sits within rounding of the
    exact value, where torch's BLAS dot also sits: the two L-BFGS agree to 1e-10 after many
    iterations, as a plain sum in another order did not. Longer vectors: four interleaved
    partial sums, (s0 + s1) + (s2 + s3). A fixed order either way: the same bits wherever called."""
    n = a.size
    if n <= COMPENSATED_MAX:
        p = 0.0
        s = 0.0
        plain = 0.0
        for j in range(n):
            x, e = _two_product(np.float64(a[j]), np.float64(b[j]))
            t = p + x  # TwoSum(p, x)
            z = t - p
            s += ((p - (t - z)) + (x - z)) + e
            p = t
            plain += x
        out = p + s
        # a product past ~1e300 overflows the split: that sum has gone non-finite anyway
        return out if np.isfinite(out) or not np.isfinite(plain) else plain
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

"""numba kernels: one pass over memory per step, in place, on flat contiguous arrays.

Each kernel performs exactly the float operations of its readable rule, in the same order,
with the per-step scalar coefficients computed (and rounded to the array dtype) by the
caller; tests/optim/test_fused.py checks that the two paths agree on params and state.
Only imported when a fused step is taken, so ``import optarena`` stays light.
"""

from __future__ import annotations

import math

try:
    import numba
except ImportError as exc:  # pragma: no cover - numba is a core dependency
    raise ImportError("optarena's fused kernels need numba: pip install numba") from exc

from numba import prange

_jit = numba.njit(parallel=True, cache=True, fastmath=False, nogil=True)


@_jit
def sgd(p, g, lr, wd, neg):
    for i in prange(p.size):
        gi = -g[i] if neg else g[i]
        if wd != 0:
            gi = gi + wd * p[i]
        p[i] = p[i] - lr * gi


@_jit
def sgd_momentum(p, g, b, lr, wd, mu, damp, neg, nesterov, first):
    for i in prange(p.size):
        gi = -g[i] if neg else g[i]
        if wd != 0:
            gi = gi + wd * p[i]
        bi = gi if first else mu * b[i] + damp * gi
        b[i] = bi
        d = gi + mu * bi if nesterov else bi
        p[i] = p[i] - lr * d


@_jit
def adam(p, g, m, v, vmax, amsgrad, neg, decoupled, decay, l2, one_m_b1, b2, one_m_b2,
         bc2_sqrt, eps, step_size):
    for i in prange(p.size):
        pi = p[i] * decay if decoupled else p[i]
        gi = -g[i] if neg else g[i]
        if l2 != 0:
            gi = gi + l2 * pi
        mi = m[i] + one_m_b1 * (gi - m[i])
        vi = b2 * v[i] + one_m_b2 * gi * gi
        m[i] = mi
        v[i] = vi
        if amsgrad:
            vi = max(vmax[i], vi)
            vmax[i] = vi
        denom = math.sqrt(vi) / bc2_sqrt + eps
        p[i] = pi - step_size * (mi / denom)


@_jit
def nadam(p, g, m, v, neg, decoupled, decay, l2, one_m_b1, b2, one_m_b2, bc2, eps, c_g, c_m):
    for i in prange(p.size):
        pi = p[i] * decay if decoupled else p[i]
        gi = -g[i] if neg else g[i]
        if l2 != 0:
            gi = gi + l2 * pi
        mi = m[i] + one_m_b1 * (gi - m[i])
        vi = b2 * v[i] + one_m_b2 * gi * gi
        m[i] = mi
        v[i] = vi
        denom = math.sqrt(vi / bc2) + eps
        pi = pi + c_g * (gi / denom)
        p[i] = pi + c_m * (mi / denom)


@_jit
def radam(p, g, m, v, neg, decoupled, rectified, decay, l2, one_m_b1, b2, one_m_b2, bc1, bc2_sqrt,
          eps, lr, r):
    for i in prange(p.size):
        pi = p[i] * decay if decoupled else p[i]
        gi = -g[i] if neg else g[i]
        if l2 != 0:
            gi = gi + l2 * pi
        mi = m[i] + one_m_b1 * (gi - m[i])
        vi = b2 * v[i] + one_m_b2 * gi * gi
        m[i] = mi
        v[i] = vi
        m_hat = mi / bc1
        if rectified:
            p[i] = pi - m_hat * lr * (bc2_sqrt / (math.sqrt(vi) + eps)) * r
        else:
            p[i] = pi - m_hat * lr


@_jit
def rmsprop(p, g, v, b, gbar, neg, centered, use_momentum, lr, wd, alpha, one_m_alpha, eps, mu):
    for i in prange(p.size):
        gi = -g[i] if neg else g[i]
        if wd != 0:
            gi = gi + wd * p[i]
        vi = alpha * v[i] + one_m_alpha * gi * gi
        v[i] = vi
        if centered:
            gb = gbar[i] + one_m_alpha * (gi - gbar[i])
            gbar[i] = gb
            avg = math.sqrt(vi - gb * gb) + eps
        else:
            avg = math.sqrt(vi) + eps
        if use_momentum:
            bi = mu * b[i] + gi / avg
            b[i] = bi
            p[i] = p[i] - lr * bi
        else:
            p[i] = p[i] - lr * (gi / avg)


@_jit
def adagrad(p, g, s, neg, clr, wd, eps):
    for i in prange(p.size):
        gi = -g[i] if neg else g[i]
        if wd != 0:
            gi = gi + wd * p[i]
        si = s[i] + gi * gi
        s[i] = si
        p[i] = p[i] - clr * (gi / (math.sqrt(si) + eps))


@_jit
def adadelta(p, g, v, u, neg, lr, wd, rho, one_m_rho, eps):
    for i in prange(p.size):
        gi = -g[i] if neg else g[i]
        if wd != 0:
            gi = gi + wd * p[i]
        vi = rho * v[i] + one_m_rho * gi * gi
        delta = math.sqrt(u[i] + eps) / math.sqrt(vi + eps) * gi
        v[i] = vi
        u[i] = rho * u[i] + one_m_rho * delta * delta
        p[i] = p[i] - lr * delta


@_jit
def adamax(p, g, m, u, neg, wd, one_m_b1, b2, eps, clr):
    for i in prange(p.size):
        gi = -g[i] if neg else g[i]
        if wd != 0:
            gi = gi + wd * p[i]
        mi = m[i] + one_m_b1 * (gi - m[i])
        ui = max(u[i] * b2, abs(gi) + eps)
        m[i] = mi
        u[i] = ui
        p[i] = p[i] - clr * (mi / ui)


@_jit
def lion(p, g, m, neg, decays, decay, lr, one_m_b1, b1, b2, one_m_b2):
    for i in prange(p.size):
        pi = p[i] * decay if decays else p[i]
        gi = -g[i] if neg else g[i]
        c = one_m_b1 * gi + b1 * m[i]
        # lr * sign(c) without leaving the array dtype; NaN passes through as in np.sign
        if c > 0:
            step = lr
        elif c < 0:
            step = -lr
        else:
            step = lr * c
        m[i] = b2 * m[i] + one_m_b2 * gi
        p[i] = pi - step

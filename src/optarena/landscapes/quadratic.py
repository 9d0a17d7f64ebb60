"""Teaching surfaces: the article's bowl, the rotatable ill-conditioned quadratic, Distill's banana.

Source for the last two: G. Goh, "Why Momentum Really Works", Distill 2017.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from ..errors import UsageError, UsageTypeError
from ._base import ARTICLE_RACERS, Landscape, Parametric, article_racers

GOH = 'Goh, "Why Momentum Really Works", Distill 2017'


def quadratic_f(x: Any, y: Any) -> Any:
    """x^2 + y^2."""
    return x * x + y * y


def quadratic_grad(x: Any, y: Any) -> tuple[Any, Any]:
    return 2.0 * x, 2.0 * y


def quadratic_hess(x: Any, y: Any) -> tuple[Any, Any, Any]:
    return 2.0, 0.0, 2.0


QUADRATIC = Landscape(
    name="quadratic", title="Quadratic bowl", f=quadratic_f, grad=quadratic_grad, hess=quadratic_hess,
    window=((-3.5, 3.5), (-3.5, 3.5)), minima=((0.0, 0.0),), min_value=0.0,
    starts=((2.4, 1.8),),  # 2.4^2 + 1.8^2 == 9.0 exactly in float64
    start_source="the article's demo: loss 9.0000 at step 0",
    formula=r"x^2 + y^2", source="the seed article's demo surface",
    default_racers=ARTICLE_RACERS,  # the article's demo, exactly
)


ILL_CONDITIONED_SCHEMA: dict[str, dict[str, float]] = {
    "kappa": {"default": 10.0, "min": 1.0, "max": 1000.0},
    "theta": {"default": 0.0, "min": 0.0, "max": 180.0},
}


def ill_conditioned_f(x: Any, y: Any, p: Any) -> Any:
    """0.5 (kappa u^2 + v^2), u = c x + s y, v = c y - s x, with p = (kappa, c, s) = (kappa, cos theta, sin theta)."""
    k, c, s = p[0], p[1], p[2]
    u = c * x + s * y
    v = c * y - s * x
    return 0.5 * (k * u * u + v * v)


def ill_conditioned_grad(x: Any, y: Any, p: Any) -> tuple[Any, Any]:
    k, c, s = p[0], p[1], p[2]
    ku = k * (c * x + s * y)
    v = c * y - s * x
    return c * ku - s * v, s * ku + c * v


def ill_conditioned(kappa: float = 10.0, theta: float = 0.0) -> Landscape:
    """f = 0.5 (kappa u^2 + v^2) with (u, v) the coordinates along axes turned by ``theta``.

    ``theta`` is in degrees, counter-clockwise: the steep axis (curvature ``kappa``) points along
    (cos theta, sin theta) and the flat valley (curvature 1) along (-sin theta, cos theta). The
    default start is rotated with the axes, so the starting loss does not depend on theta and only
    the alignment with the coordinate axes changes: rotation-equivariant methods (GD, momentum)
    trace the same, rotated, path for every theta, while diagonal preconditioners (Adam, RMSprop,
    Adagrad) lose their edge once the valley leaves the axes. Source: Goh, Distill 2017.
    """
    for name, value in (("kappa", kappa), ("theta", theta)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise UsageTypeError(f"ill_conditioned: {name} must be a number, got {value!r}", field=f"params.{name}")
    kappa, theta = float(kappa), float(theta)
    if not (math.isfinite(kappa) and kappa >= 1.0):
        raise UsageError(f"ill_conditioned: kappa must be finite and >= 1, got {kappa!r}", field="params.kappa")
    if not math.isfinite(theta):
        raise UsageError(f"ill_conditioned: theta (degrees) must be finite, got {theta!r}", field="params.theta")
    rad = math.radians(theta)
    c, s = math.cos(rad), math.sin(rad)
    k = kappa  # plain float locals: numba freezes closure variables as constants
    # kappa and theta as data: every value a slider sends runs one compiled race loop
    parametric = Parametric(ill_conditioned_f, ill_conditioned_grad, (k, c, s))
    f, grad = parametric.bound()

    # H = R^T diag(kappa, 1) R, R the rotation to (u, v): constant, follows kappa and theta.
    hxx, hxy, hyy = k * c * c + s * s, (k - 1.0) * c * s, k * s * s + c * c

    def hess(x: Any, y: Any) -> tuple[Any, Any, Any]:
        return hxx, hxy, hyy

    u0, v0 = 1.0, 3.0  # |start| = sqrt(10) < 3.5, so every rotation stays in the window
    start = (c * u0 - s * v0, s * u0 + c * v0)
    return Landscape(
        name="ill_conditioned", title=f"Ill-conditioned quadratic (κ={kappa:g}, θ={theta:g}°)",
        f=f, grad=grad, hess=hess, window=((-3.5, 3.5), (-3.5, 3.5)), minima=((0.0, 0.0),), min_value=0.0,
        starts=(start,),
        start_source="chosen: (u, v) = (1, 3) in the rotated frame, off both principal axes",
        formula=(r"\tfrac12(\kappa u^2 + v^2),\ u = x\cos\theta + y\sin\theta,\ "
                 r"v = -x\sin\theta + y\cos\theta"),
        source=f"{GOH}; theta in degrees", params={"kappa": kappa, "theta": theta}, parametric=parametric,
        # Gradient descent is stable below 2/kappa: a tenth of that for SGD, a hundredth for
        # momentum (whose steps add up to ~10x); Adam's steps do not scale with curvature.
        default_racers=article_racers(0.2 / kappa, 0.02 / kappa, 0.03),
    )



def banana_f(x: Any, y: Any) -> Any:
    """(1 - x)^2 + 20 (3y - x^2)^2."""
    return (1.0 - x) ** 2 + 20.0 * (3.0 * y - x * x) ** 2


def banana_grad(x: Any, y: Any) -> tuple[Any, Any]:
    t = 3.0 * y - x * x
    return -2.0 * (1.0 - x) - 80.0 * x * t, 120.0 * t


def banana_hess(x: Any, y: Any) -> tuple[Any, Any, Any]:
    return 2.0 - 240.0 * y + 240.0 * x * x, -240.0 * x, 360.0


BANANA = Landscape(
    name="banana", title="Distill's banana", f=banana_f, grad=banana_grad, hess=banana_hess,
    window=((-2.0, 2.0), (-0.5, 1.5)), minima=((1.0, 1.0 / 3.0),), min_value=0.0,
    starts=((-1.21, 0.853),), start_source=GOH, log_colour=True,
    formula=r"(1-x)^2 + 20\,(3y-x^2)^2", source=f"{GOH}; window chosen around the valley y = x^2/3",
    default_racers=article_racers(0.001, 0.001, 0.1),
)

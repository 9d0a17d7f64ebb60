"""Schedules give torch.optim.lr_scheduler's learning rates, and drive every optimizer."""

from __future__ import annotations

import numpy as np
import pytest

import optarena as oa
from optarena.optim import schedules

from cases import FIRST_ORDER

torch = pytest.importorskip("torch")

BASE = 0.1
STEPS = 60


def _torch_lrs(make_scheduler):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=BASE)
    sched = make_scheduler(opt)
    lrs = []
    for _ in range(STEPS):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(lrs)


LR = torch.optim.lr_scheduler
PAIRS = [
    (schedules.Constant(), lambda o: LR.LambdaLR(o, lambda k: 1.0)),
    (schedules.Step(step_size=7, gamma=0.5), lambda o: LR.StepLR(o, step_size=7, gamma=0.5)),
    (schedules.Exponential(gamma=0.95), lambda o: LR.ExponentialLR(o, gamma=0.95)),
    (schedules.Cosine(t_max=25, eta_min=0.001), lambda o: LR.CosineAnnealingLR(o, T_max=25, eta_min=0.001)),
    (schedules.Cosine(t_max=60), lambda o: LR.CosineAnnealingLR(o, T_max=60)),
    (
        schedules.WarmupCosine(warmup=10, total=STEPS, start_factor=0.2, eta_min=0.002),
        lambda o: LR.SequentialLR(
            o,
            [LR.LinearLR(o, start_factor=0.2, end_factor=1.0, total_iters=10),
             LR.CosineAnnealingLR(o, T_max=STEPS - 10, eta_min=0.002)],
            milestones=[10],
        ),
    ),
]


@pytest.mark.parametrize("ours,theirs", PAIRS, ids=lambda x: getattr(x, "name", ""))
def test_schedule_matches_torch(ours, theirs):
    expected = _torch_lrs(theirs)
    got = schedules.values(ours, STEPS, BASE)
    # torch's cosine is a recurrence, ours the closed form: equal up to its rounding drift
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name", FIRST_ORDER)
def test_every_optimizer_follows_its_schedule(name):
    sched = schedules.Step(step_size=2, gamma=0.5)
    opt = oa.optimizer_class(name)(schedule=sched)
    base = opt.learning_rate
    seen = []
    p = np.ones(3)
    for _ in range(5):
        seen.append(opt.current_learning_rate())
        opt.update(p, np.ones(3))
    assert seen == [base, base, base / 2, base / 2, base / 4]


def test_scheduled_sgd_equals_torch_with_scheduler():
    p0 = np.array([1.0, -2.0, 0.5])
    tp = torch.nn.Parameter(torch.tensor(p0))
    topt = torch.optim.SGD([tp], lr=0.1, momentum=0.9, foreach=False)
    tsched = torch.optim.lr_scheduler.ExponentialLR(topt, gamma=0.9)
    ours = oa.SGDMomentum(learning_rate=0.1, schedule={"name": "exponential", "gamma": 0.9})
    p = p0.copy()
    for _ in range(20):
        tp.grad = 2 * tp.detach().clone()
        topt.step()
        tsched.step()
        ours.update(p, 2 * p)
    np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("bad,msg", [
    ({"name": "nope"}, "unknown schedule"),
    ({"name": "step", "step_size": 0}, "step_size"),
    ({"name": "cosine", "t_max": 10, "bogus": 1}, "bogus"),
    ({"name": "exponential", "gamma": float("nan")}, "gamma"),
    ({"name": "warmup_cosine", "warmup": 50, "total": 20}, "warmup"),
])
def test_bad_schedules_are_rejected(bad, msg):
    with pytest.raises((ValueError, TypeError), match=msg):
        schedules.make(bad)

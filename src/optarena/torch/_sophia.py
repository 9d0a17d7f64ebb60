"""``optarena.torch.SophiaH``: the Hessian's diagonal from autograd, the step from optarena's rule.

On a step that refreshes the estimate (every ``update_period``-th, the first included) the
gradients must carry their graph (``loss.backward(create_graph=True)``): the estimate is
Hutchinson's, as pytorch_optimizer.SophiaH 4.1.0 makes it (``compute_hutchinson_hessian``),
draw for draw:

    for i in 1..num_samples:  z_p ~ randn_like(p) (or random signs) for every parameter p, in order
                              (Hz)_p = autograd.grad(grads, params, grad_outputs=z)
                              h_p += (Hz)_p * z_p / num_samples

from torch's global generator, so the same seed gives pytorch_optimizer's very draws. Each
parameter then steps with ``optim.rules.sophia.update_with_estimate`` (optarena's NumPy rule)
given that h_p. Other steps need no graph.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from ..optim.rules.sophia import refreshes, update_with_estimate
from ._optimizer import _grad_numpy, _host, _native


class HutchinsonStep:
    """``step()`` for a rule whose update takes a Hessian-diagonal estimate (Sophia's)."""

    serves_needs = True  # Optimizer.__init__ refuses a rule that needs the Hessian unless its class has this

    def _estimates(self: Any, params: list[torch.Tensor], num_samples: int, rademacher: bool) -> list[torch.Tensor]:
        where = type(self).__name__
        grads = [p.grad for p in params if p.grad is not None and p.grad.requires_grad]
        if len(grads) < len(params):
            raise RuntimeError(f"{where}: this step estimates the Hessian from the gradients' graph, which they do not "
                               "carry: call loss.backward(create_graph=True)")
        h = [torch.zeros_like(p) for p in params]
        for i in range(num_samples):
            if rademacher:
                zs = [torch.randint_like(p, 0, 2) * 2.0 - 1.0 for p in params]
            else:
                zs = [torch.randn_like(p) for p in params]
            h_zs = torch.autograd.grad(grads, params, grad_outputs=zs, retain_graph=i < num_samples - 1)
            for h_z, z, acc in zip(h_zs, zs, h):
                acc.addcmul_(h_z, z, value=1.0 / num_samples)
        return h

    def step(self: Any, closure: Callable[[], Any] | None = None) -> Any:
        """One step for every parameter with a gradient; returns ``closure()`` if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        where = type(self).__name__
        with torch.no_grad():
            todo = []
            for i, group in enumerate(self.param_groups):
                spec, hp = self._group_for_step(i, group)
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    if p.grad.is_sparse:
                        raise RuntimeError(f"{where}: optarena.torch optimizers do not support sparse gradients")
                    st = self.state[p]
                    st.pop("hessian", None)  # pytorch_optimizer's last estimate (a state_dict of its): not needed
                    if not st:
                        st.update(self._init_state(p, p.detach().numpy() if _native(p) else _host(p, p.dtype),
                                                   spec, hp, _native(p)))
                        st.pop("seed", None)  # the draws are torch's: no seed of ours
                    todo.append((p, spec, hp))
            if not todo:
                return loss
            due = [bool(refreshes(int(self.state[p]["step"].item()), hp)) for p, _, hp in todo]
            estimates: list[torch.Tensor | None] = [None] * len(todo)
            if any(due):  # every parameter draws, as the reference draws for all of them at once
                settings = {(int(hp["num_samples"]), bool(hp["rademacher"])) for _, _, hp in todo}
                if len(settings) > 1:
                    raise RuntimeError(f"{where}: every param group needs the same num_samples and hessian_distribution "
                                       "(one Hutchinson draw serves them all)")
                (num_samples, rademacher), = settings
                estimates = list(self._estimates([p for p, _, _ in todo], num_samples, rademacher))
            for (p, spec, hp), est in zip(todo, estimates):
                plan = self._prepare(p, p.grad, spec, hp)
                h_hat = None if est is None else _grad_numpy(p, est, plan.native)
                new_p, new = update_with_estimate(plan.p_np, plan.g_np, plan.core, hp, h_hat)
                self._write(plan, new_p, new)
                self._finish(plan)
        return loss


def hessian_class_base(name: str) -> type | None:
    """The step of a registered rule that needs the Hessian, where the torch bridge has one (Sophia)."""
    return HutchinsonStep if name == "sophia" else None


__all__ = ["HutchinsonStep", "hessian_class_base"]

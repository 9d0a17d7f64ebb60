"""The package's own torch implementation: the reference its parity tests compare with."""

import torch


class ClipSGD(torch.optim.Optimizer):
    def __init__(self, params, lr=0.01, clip_value=1.0, weight_decay=0.0, maximize=False):  # type: ignore[no-untyped-def]
        super().__init__(params, dict(lr=lr, clip_value=clip_value, weight_decay=weight_decay, maximize=maximize))

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[no-untyped-def]
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = -p.grad if group["maximize"] else p.grad
                if group["weight_decay"]:
                    g = g + group["weight_decay"] * p
                self.state[p]["step"] = self.state[p].get("step", 0) + 1
                p.add_(g.clamp(-group["clip_value"], group["clip_value"]), alpha=-group["lr"])

"""RMSprop, Adam and SGD written out, for the batched engine.

Why not torch.optim: creating any torch.optim optimizer imports torch._dynamo, which costs ~1.3 s on the
2-core reference machine, more than the whole lesson sweep trains.  These updates are elementwise, so one
step over stacked (R, ...) parameters is R independent steps; the formulas are torch.optim's (which for
RMSprop are also Keras 3's: epsilon added after the square root), and a test checks them against
torch.optim to 1e-5.
"""

from __future__ import annotations

import torch


class Optimizer:
    """One elementwise optimizer over a list of parameters."""

    def __init__(self, params: list[torch.Tensor], kind: str, lr: float) -> None:
        self.params, self.kind, self.lr = params, kind, lr
        self.t = 0
        self.state = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]

    def zero_grad(self) -> None:
        """Forget the gradients of the last step."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """Apply one update to every parameter from its .grad."""
        self.t += 1
        for p, (s1, s2) in zip(self.params, self.state):
            g = p.grad
            if g is None:
                continue
            if self.kind == "sgd":
                p.add_(g, alpha=-self.lr)
            elif self.kind == "rmsprop":  # rho 0.9, epsilon 1e-7 (Keras' defaults)
                s1.mul_(0.9).addcmul_(g, g, value=0.1)
                p.addcdiv_(g, s1.sqrt().add_(1e-7), value=-self.lr)
            else:  # adam: beta1 0.9, beta2 0.999, epsilon 1e-7
                s1.lerp_(g, 0.1)
                s2.mul_(0.999).addcmul_(g, g, value=0.001)
                bias1 = 1 - 0.9 ** self.t
                bias2 = 1 - 0.999 ** self.t
                denom = (s2.sqrt() / bias2 ** 0.5).add_(1e-7)
                p.addcdiv_(s1, denom, value=-self.lr / bias1)

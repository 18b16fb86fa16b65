"""RMSprop, Adam and SGD exactly as Keras 3 computes them, written out for both engines.

Why not torch.optim: Keras' formulas differ from torch's (RMSprop adds epsilon *inside* the square root,
sqrt(v + eps); Adam folds the bias corrections into the step size, so its epsilon is not rescaled), and
creating any torch.optim optimizer imports torch._dynamo, ~1.3 s on a 2-core machine — more than the
whole lesson sweep trains.  The updates are elementwise, so one step over stacked (R, ...) parameters is
exactly R independent steps.
"""

from __future__ import annotations

import math

import torch

EPSILON = 1e-7  # Keras' default for both RMSprop and Adam
RHO = 0.9
BETA_1, BETA_2 = 0.9, 0.999


class Optimizer:
    """One elementwise optimizer (rmsprop, adam or sgd) over a list of parameters.

    The gradients are the parameters' .grad (autograd's), or, with `grads`, the given tensors that the
    caller fills before each step (the batched engine writes its own into one flat buffer).
    """

    def __init__(self, params: list[torch.Tensor], kind: str, lr: float,
                 grads: list[torch.Tensor] | None = None) -> None:
        self.params, self.kind, self.lr = list(params), kind, lr
        self.grads = None if grads is None else list(grads)
        self.iterations = 0
        self.state = [(torch.zeros_like(p), torch.zeros_like(p)) for p in self.params]
        self.scratch = [torch.empty_like(p) for p in self.params]  # saves an allocation per op

    def zero_grad(self) -> None:
        """Forget the gradients of the last step."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Apply one update to every parameter from its gradient."""
        if self.grads is not None:  # plain tensors: no autograd to keep out of the update
            self._update(self.grads)
            return
        with torch.no_grad():
            self._update([p.grad for p in self.params])

    def _update(self, grads: list[torch.Tensor | None]) -> None:
        self.iterations += 1
        t = self.iterations
        live = [i for i, g in enumerate(grads) if g is not None]
        if not live:
            return
        # One foreach call per formula step over every parameter (torch._foreach_*): the very elementwise
        # kernels of a per-tensor loop, so the same numbers, with a handful of dispatches instead of 4 per
        # parameter (a ResNet has 36).
        p = [self.params[i] for i in live]
        g = [grads[i] for i in live]
        m = [self.state[i][0] for i in live]
        v = [self.state[i][1] for i in live]
        tmp = [self.scratch[i] for i in live]
        if self.kind == "sgd":
            torch._foreach_add_(p, g, alpha=-self.lr)
        elif self.kind == "rmsprop":  # keras/src/optimizers/rmsprop.py
            torch._foreach_mul_(v, RHO)
            torch._foreach_addcmul_(v, g, g, value=1 - RHO)
            torch._foreach_copy_(tmp, v)
            torch._foreach_add_(tmp, EPSILON)
            torch._foreach_sqrt_(tmp)
            torch._foreach_addcdiv_(p, g, tmp, value=-self.lr)
        else:  # adam: keras/src/optimizers/adam.py
            alpha = self.lr * math.sqrt(1 - BETA_2**t) / (1 - BETA_1**t)
            torch._foreach_copy_(tmp, g)
            torch._foreach_sub_(tmp, m)
            torch._foreach_add_(m, tmp, alpha=1 - BETA_1)
            torch._foreach_copy_(tmp, g)
            torch._foreach_mul_(tmp, g)
            torch._foreach_sub_(tmp, v)
            torch._foreach_add_(v, tmp, alpha=1 - BETA_2)
            torch._foreach_copy_(tmp, v)
            torch._foreach_sqrt_(tmp)
            torch._foreach_add_(tmp, EPSILON)
            torch._foreach_addcdiv_(p, m, tmp, value=-alpha)

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
                 grads: list[torch.Tensor] | None = None, copy_lrs: CopyRates | None = None) -> None:
        self.params, self.kind, self.lr = list(params), kind, lr
        self.copy_lrs = copy_lrs
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
        if self.copy_lrs is not None:
            self._update_per_copy(grads, t, self.copy_lrs)
            return
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

    def _update_per_copy(self, grads: list[torch.Tensor | None], t: int, rates: CopyRates) -> None:
        """The same updates with a learning rate per model copy, bit for bit what each copy's own optimizer
        computes: (value * g) / d, the float32 step size rounded as a scalar `value` would be."""
        if self.kind == "adam":  # the step size as _update computes it, per copy, in double, then float32
            steps = [-(lr * math.sqrt(1 - BETA_2**t) / (1 - BETA_1**t)) for lr in rates.lrs]
        else:
            steps = [-lr for lr in rates.lrs]
        for i, (p, g, (m, v), tmp) in enumerate(zip(self.params, grads, self.state, self.scratch)):
            if g is None:
                continue
            step = rates.spread(i, steps)
            if self.kind == "sgd":  # addcmul rounds as add(alpha=) does (one fused multiply-add)
                p.addcmul_(g, step)
            elif self.kind == "rmsprop":
                v.mul_(RHO).addcmul_(g, g, value=1 - RHO)
                p.addcdiv_(torch.mul(g, step, out=tmp), torch.add(v, EPSILON).sqrt_())
            else:
                m.add_(torch.sub(g, m, out=tmp), alpha=1 - BETA_1)
                v.add_(torch.mul(g, g, out=tmp).sub_(v), alpha=1 - BETA_2)
                p.addcdiv_(torch.mul(m, step, out=tmp), torch.sqrt(v).add_(EPSILON))


class CopyRates:
    """A learning rate per model copy, and how each parameter spreads per-copy values over its elements.

    `layouts[i]`: parameter i's copies along its first dimension (R, ...), or, for a flat buffer of many
    parameters, the copy index of every element (a LongTensor).
    """

    def __init__(self, lrs: list[float], layouts: list[torch.Tensor | tuple[int, ...]],
                 device: torch.device | None = None) -> None:
        self.lrs, self.layouts, self.device = list(lrs), layouts, device
        self._cache: dict[tuple[int, tuple[float, ...]], torch.Tensor] = {}

    def spread(self, i: int, values: list[float]) -> torch.Tensor:
        """Per-copy values as a float32 tensor that broadcasts against parameter i."""
        key = (i, tuple(values))
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        layout = self.layouts[i]
        per_copy = torch.tensor(values, dtype=torch.float32)
        if isinstance(layout, torch.Tensor):
            out = per_copy.to(layout.device)[layout]
        else:
            out = per_copy.to(self.device).view(len(values), *([1] * (len(layout) - 1)))
        if len(self._cache) < 4 * len(self.layouts):  # sgd/rmsprop: one step size for ever; adam: a new one a step
            self._cache[key] = out
        return out

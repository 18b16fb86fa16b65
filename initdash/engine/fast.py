"""The fast path for the built-in linear and mlp models: R models in one flat buffer, a hand-written backward.

At the lesson's size autograd's graph costs more than the arithmetic: this path trains 5-7x faster than
torch.func there (measured: lesson 5x20x5, hand-written 13-15k model-epochs/s, torch.func 1.8-2.4k), and
gives every model the numbers the plain per-model loop gives it (tests/test_batched.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from initdash.engine.loop import finite_lists
from initdash.engine.losses import Head
from initdash.engine.optim import CopyRates, Optimizer
from initdash.models.builtin import ACTIVATION_MODULES

_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946

# d(activation)/dz as autograd computes it (the same ATen kernels), from the pre-activation z and the
# activation's output h. These are private torch.ops.aten functions: tests/test_batched.py checks every one
# against autograd, so a torch upgrade that changes them fails there, not silently.
ACT_GRADS: dict[str, Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "relu": lambda g, z, h: torch.ops.aten.threshold_backward(g, h, 0),
    "tanh": lambda g, z, h: torch.ops.aten.tanh_backward(g, h),
    "sigmoid": lambda g, z, h: torch.ops.aten.sigmoid_backward(g, h),
    "gelu": lambda g, z, h: torch.ops.aten.gelu_backward(g, z),
    "elu": lambda g, z, h: torch.ops.aten.elu_backward(g, 1.0, 1.0, 1.0, False, z),
    "selu": lambda g, z, h: torch.ops.aten.elu_backward(g, _SELU_ALPHA, _SELU_SCALE, 1.0, False, z),
    "silu": lambda g, z, h: torch.ops.aten.silu_backward(g, z),
    "leaky_relu": lambda g, z, h: torch.ops.aten.leaky_relu_backward(g, z, 0.01, False),
    "linear": lambda g, z, h: g,
}
_EVAL_FLOATS = 1 << 18  # activations of one layer evaluated at once: 1 MB of float32


class FastStack:
    """R models with the same Linear layers, trained as one: every parameter (and its gradient) is a view into
    one flat buffer, so an optimizer step is a handful of elementwise ops whatever the depth.

    The one weight layout: layer l is W (R + 1, in, out) and b (R + 1, 1, out), so `baddbmm(b, x, W)` is every
    model's Linear at once; the per-layer statistics below read the same tensors.

    The extra model at the end, a copy of the last one that trains on its batches and is never reported, is
    the tail guard. torch's elementwise kernels run a flat tensor in vector chunks and its last few elements
    one at a time, and the vector exp/tanh/sigmoid round unlike the scalar ones; those last elements belong to
    the last model, so without the guard a model's numbers would change with its place in the unit and the
    unit's size (measured on the lesson, batch 40: 4e-9). ATen also hands a product over a batch of one to a
    plain (matrix-vector) kernel that rounds unlike the batched one; with the guard there is never one model
    alone. So a model's numbers are the same in a unit of any size (tests/test_batched.py), at the cost of one
    model more per unit.
    """

    def __init__(self, weights: list[list[torch.Tensor]], activation: str, head: Head, optimizer: str, lr: float,
                 device: torch.device, layer_names: tuple[str, ...] = (), lrs: list[float] | None = None) -> None:
        r = len(weights)
        weights = [*weights, weights[-1]]  # the tail guard
        lrs = None if lrs is None else [*lrs, lrs[-1]]
        n = r + 1
        shapes = [s for w in weights[0] for s in ((n, w.shape[1], w.shape[0]), (n, 1, w.shape[0]))]
        total = sum(math.prod(s) for s in shapes)
        self.flat = torch.zeros(total, device=device)
        self.grad = torch.zeros(total, device=device)
        params, grads = self._views(self.flat, shapes), self._views(self.grad, shapes)
        self.weights, self.biases = params[0::2], params[1::2]
        self.w_grads, self.b_grads = grads[0::2], grads[1::2]
        for i, w in enumerate(self.weights):  # torch's Linear weight is (out, in): transposed once, here
            w.copy_(torch.stack([m[i].t() for m in weights]))  # biases start at zero, as Keras does
        # The built-in models' own activation module (models.spec holds the one table), called as a function.
        self.act, self.act_grad = ACTIVATION_MODULES[activation](), ACT_GRADS[activation]
        self.head = head
        rates = None
        if lrs is not None:  # a learning rate per model: every element of the flat buffer knows its model
            owner = torch.empty(total, dtype=torch.long, device=device)
            for view in self._views(owner, shapes):
                view.copy_(torch.arange(n, device=device).view(n, 1, 1).expand_as(view))
            rates = CopyRates(lrs, [owner], device)
        self.opt = Optimizer([self.flat], optimizer, lr, grads=[self.grad], copy_lrs=rates)
        self.r, self.tail_guard = r, True
        self.widest = max(w.shape[2] for w in self.weights)
        self.eval_width = self.widest
        self.layer_names = layer_names

    @staticmethod
    def _views(buf: torch.Tensor, shapes: list[tuple[int, ...]]) -> list[torch.Tensor]:
        views, at = [], 0
        for s in shapes:
            n = math.prod(s)
            views.append(buf[at:at + n].view(s))
            at += n
        return views

    def _forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        """x (R + 1, B, in) -> every layer's input, every hidden pre-activation, and the logits (R + 1, B, out)."""
        inputs, pre = [], []
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            inputs.append(x)
            z = torch.baddbmm(b, x, w)
            if i < last:
                pre.append(z)
                x = self.act(z)
        return inputs, pre, z

    def _backward(self, inputs: list[torch.Tensor], pre: list[torch.Tensor], dz: torch.Tensor) -> None:
        """Write every parameter's gradient into self.grad, given d(loss)/d(logits) dz (R, B, out)."""
        for i in range(len(self.weights) - 1, -1, -1):
            torch.bmm(inputs[i].transpose(1, 2), dz, out=self.w_grads[i])
            torch.sum(dz, 1, keepdim=True, out=self.b_grads[i])
            if i:
                dz = self.act_grad(torch.bmm(dz, self.weights[i].transpose(1, 2)), pre[i - 1], inputs[i])

    def step(self, xb: torch.Tensor, yb: torch.Tensor) -> None:
        """One optimizer step of every model on its own batch, and of the tail guard on the last model's."""
        inputs, pre, z = self._forward(xb.flatten(2))
        self._backward(inputs, pre, self.head.dlogits(z, yb))
        self.opt.step()

    def logits(self, x: torch.Tensor, models: slice) -> torch.Tensor:
        """Logits of the models in `models` for shared rows x: (M, N), or (M, N, k) for k classes.

        Every layer is a batched product with one (N, in) @ (in, out) per model (one (N, in) @ (in, M * out)
        product for the first layer was faster, but its kernel, and so its rounding, changed with M), and each
        pass of models runs with the next model (or the tail guard) behind it, then drops it."""
        x = x.flatten(1)
        step = max(1, _EVAL_FLOATS // (len(x) * self.widest))  # a few models at a time: cache-sized layers
        ids = range(self.r)[models]
        out = torch.cat([self._logits(x, slice(i, min(i + step, ids.stop) + 1))[:-1]
                         for i in range(ids.start, ids.stop, step)])
        return out.squeeze(-1) if self.head.binary else out

    def _logits(self, x: torch.Tensor, models: slice) -> torch.Tensor:
        h = x.expand(models.stop - models.start, *x.shape)
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b[models], self.act(h) if i else h, w[models])
        return h

    def layer_stats(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, list[list[float | None]]]:
        """Per model, per layer: the std of its output after the activation (the last layer: its logits), and
        the norm of the gradient of the validation loss with respect to its weight. MLPs only."""
        if not self.layer_names:
            return {}
        ws = [w.detach().clone().requires_grad_() for w in self.weights]
        n = len(ws[0])  # the models and the tail guard, whose row is dropped below
        h = x.flatten(1).expand(n, *x.flatten(1).shape)
        stds = []
        for i, (w, b) in enumerate(zip(ws, self.biases)):
            h = torch.baddbmm(b, h, w)
            if i < len(ws) - 1:
                h = self.act(h)
            stds.append(h.detach().flatten(1).std(1))
        logits = h.squeeze(-1) if self.head.binary else h
        loss = self.head.loss(logits, y.expand(n, -1)).mean(1).sum()
        norms = [g.flatten(1).norm(dim=1) for g in torch.autograd.grad(loss, ws)]
        return {"activation_std": finite_lists(torch.stack(stds, 1)[:-1]),
                "grad_norm": finite_lists(torch.stack(norms, 1)[:-1])}

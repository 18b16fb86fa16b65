"""Training: the per-model reference loop and the batched engine that trains many models as one.

Pure functions: no threads, no UI.  Both engines give the same history for the same seed (tested):
weights come from `model.initial_weights`, each model shuffles with its own generator, and the
optimizers are elementwise, so stacking models changes nothing but speed.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence

import numpy as np
import torch

from initdash.config import ExperimentConfig
from initdash.data import Dataset
from initdash.diagnostics import layer_stats
from initdash.events import CANCELLED, DIVERGED, METRICS, OK, EpochReport, RunOutcome
from initdash.initializers import InitSpec
from initdash.model import MLP, activation_fn, initial_weights
from initdash.optim import EPSILON, Optimizer

EpochCallback = Callable[[EpochReport], None]


def resolve_device(name: str) -> torch.device:
    """cpu, cuda, or auto (cuda when present)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Keras' binary cross-entropy on sigmoid outputs, per example: probabilities clipped to [1e-7, 1-1e-7]."""
    p = torch.sigmoid(logits).clamp(EPSILON, 1 - EPSILON)
    # Written out (as keras/src/backend/torch/nn.py does) rather than F.binary_cross_entropy, which raises
    # on a nan probability: a diverged model's nan must become a nan loss, so that it alone stops.
    return -(target * torch.log(p) + (1 - target) * torch.log(1 - p))


def _tensors(data: Dataset, device: torch.device) -> tuple[torch.Tensor, ...]:
    return tuple(torch.as_tensor(a, device=device) for a in (data.x_train, data.y_train, data.x_val, data.y_val))


def train_reference(data: Dataset, config: ExperimentConfig, spec: InitSpec, seed: int,
                    cancel: threading.Event | None = None, on_epoch: EpochCallback | None = None) -> RunOutcome:
    """Train one model the plain way (an nn.Module, one step per batch); the yardstick for the batched engine."""
    device = resolve_device(config.device)
    x, y, xv, yv = _tensors(data, device)
    weights, gen = initial_weights(data.n_features, config.hidden, spec, seed, x, config.activation)
    model = MLP(weights, config.activation).to(device)
    opt = Optimizer(list(model.parameters()), config.optimizer, config.learning_rate)
    history: list[dict[str, float]] = []

    def evaluate(epoch: int) -> bool:
        with torch.no_grad():
            row = {"epoch": epoch}
            for name, xs, ys in (("", x, y), ("val_", xv, yv)):
                logits = model(xs).double()  # metrics in float64: zeros-init loss is ln 2 to the last digit
                row[name + "loss"] = bce(logits, ys.double()).mean().item()
                row[name + "accuracy"] = ((logits > 0).double() == ys).double().mean().item()
        if not all(math.isfinite(row[m]) for m in METRICS):
            return False
        layers = {}
        if config.hidden:
            stats = layer_stats([layer.weight.unsqueeze(0) for layer in model.layers],
                                [layer.bias.unsqueeze(0) for layer in model.layers], xv, yv, config.activation)
            row.update({k: v[0] for k, v in stats.items()})
            layers = {k: (tuple(v[0]),) for k, v in stats.items()}
        history.append(row)
        if on_epoch:
            on_epoch(EpochReport(epoch, {m: (row[m],) for m in METRICS}, (OK,), layers))
        return True

    if not evaluate(0):
        return RunOutcome(seed, DIVERGED, tuple(history))
    n = len(y)
    for epoch in range(1, config.epochs + 1):
        perm = torch.randperm(n, generator=gen).to(device)
        for start in range(0, n, config.batch_size):
            if cancel is not None and cancel.is_set():
                return RunOutcome(seed, CANCELLED, tuple(history))
            idx = perm[start:start + config.batch_size]
            loss = bce(model(x[idx]), y[idx]).mean()
            if not torch.isfinite(loss):
                return RunOutcome(seed, DIVERGED, tuple(history))
            opt.zero_grad()
            loss.backward()
            opt.step()
        if not evaluate(epoch):
            return RunOutcome(seed, DIVERGED, tuple(history))
    return RunOutcome(seed, OK, tuple(history))


# d(activation)/dz as autograd computes it (the same ATen kernels), from the pre-activation z and the
# activation's output h: the batched engine does its own backward pass.
_ACT_GRADS: dict[str, Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]] = {
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
_EVAL_FLOATS = 1 << 18  # activations evaluated at once: 1 MB of float32

_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


class _Stack:
    """R models with the same layer sizes, trained as one: every parameter (and its gradient) is a view
    into one flat buffer, so an optimizer step is a handful of elementwise ops whatever the depth.

    Layer l is W (R, in, out) and b (R, 1, out), so `baddbmm(b, x, W)` is every model's Linear at once.
    Gradients are written by hand (the model is Linear layers, an elementwise activation and a
    clipped binary cross-entropy): autograd's graph costs more than the arithmetic at these sizes.
    """

    def __init__(self, per_model: list[list[torch.Tensor]], activation: str, device: torch.device) -> None:
        r = len(per_model)
        shapes = [s for w in per_model[0] for s in ((r, w.shape[1], w.shape[0]), (r, 1, w.shape[0]))]
        total = sum(math.prod(s) for s in shapes)
        self.flat = torch.zeros(total, device=device)
        self.grad = torch.zeros(total, device=device)
        params, grads = self._views(self.flat, shapes), self._views(self.grad, shapes)
        self.weights, self.biases = params[0::2], params[1::2]
        self.w_grads, self.b_grads = grads[0::2], grads[1::2]
        for i, w in enumerate(self.weights):
            w.copy_(torch.stack([m[i].t() for m in per_model]))  # biases start at zero, as Keras does
        self.act, self.act_grad = activation_fn(activation), _ACT_GRADS[activation]

    @staticmethod
    def _views(buf: torch.Tensor, shapes: list[tuple[int, ...]]) -> list[torch.Tensor]:
        views, at = [], 0
        for s in shapes:
            n = math.prod(s)
            views.append(buf[at:at + n].view(s))
            at += n
        return views

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        """x (R, B, in) -> every layer's input, every hidden pre-activation, and the logits (R, B, 1)."""
        inputs, pre = [], []
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            inputs.append(x)
            z = torch.baddbmm(b, x, w)
            if i < last:
                pre.append(z)
                x = self.act(z)
        return inputs, pre, z

    def backward(self, inputs: list[torch.Tensor], pre: list[torch.Tensor], dz: torch.Tensor) -> None:
        """Write every parameter's gradient into self.grad, given d(loss)/d(logits) dz (R, B, 1)."""
        for i in range(len(self.weights) - 1, -1, -1):
            torch.bmm(inputs[i].transpose(1, 2), dz, out=self.w_grads[i])
            torch.sum(dz, 1, keepdim=True, out=self.b_grads[i])
            if i:
                dz = self.act_grad(torch.bmm(dz, self.weights[i].transpose(1, 2)), pre[i - 1], inputs[i])

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (R, N) of every model for a shared x (N, in)."""
        r = self.weights[0].shape[0]
        # A few models at a time, so that one layer's activations for all N rows stay cache-sized.
        widest = max(w.shape[2] for w in self.weights)
        step = max(1, _EVAL_FLOATS // (len(x) * widest))
        return torch.cat([self._logits(x, slice(i, i + step)) for i in range(0, r, step)])

    def _logits(self, x: torch.Tensor, models: slice) -> torch.Tensor:
        w = self.weights[0][models]
        r, fan_in, fan_out = w.shape
        # The first layer of these models is one (N, in) @ (in, R * out) product: x is shared.
        h = (x @ w.transpose(0, 1).reshape(fan_in, r * fan_out)).view(-1, r, fan_out).transpose(0, 1)
        h = h + self.biases[0][models]
        for w, b in zip(self.weights[1:], self.biases[1:]):
            h = torch.baddbmm(b[models], self.act(h), w[models])
        return h.squeeze(-1)


def train_batched(data: Dataset, config: ExperimentConfig, spec: InitSpec, seeds: Sequence[int],
                  cancel: threading.Event | None = None, on_epoch: EpochCallback | None = None) -> list[RunOutcome]:
    """Train one model per seed, all at once: stacked weights, one optimizer step for all of them."""
    return train_many(data, config, [(spec, s) for s in seeds], cancel, on_epoch)


def train_many(data: Dataset, config: ExperimentConfig, runs: Sequence[tuple[InitSpec, int]],
               cancel: threading.Event | None = None, on_epoch: EpochCallback | None = None) -> list[RunOutcome]:
    """Train one model per (initializer, seed) as one batched computation; outcomes in the order of `runs`.

    Each model keeps its own initial weights, its own shuffling generator and its own optimizer state, so
    its history is the one train_reference gives for the same seed.
    """
    device = resolve_device(config.device)
    x, y, xv, yv = _tensors(data, device)
    n, r, bs = len(y), len(runs), config.batch_size
    x_all, y_all = torch.cat([x, xv]), torch.cat([y, yv])  # train and validation metrics in one pass
    drawn = [initial_weights(data.n_features, config.hidden, spec, seed, x, config.activation) for spec, seed in runs]
    gens = [g for _, g in drawn]
    stack = _Stack([w for w, _ in drawn], config.activation, device)
    opt = Optimizer([stack.flat], config.optimizer, config.learning_rate, grads=[stack.grad])
    seeds = [seed for _, seed in runs]
    histories: list[list[dict[str, float]]] = [[] for _ in runs]
    status = [OK] * r
    positive = y_all == 1  # labels are 0 or 1
    sign = positive * 2.0 - 1  # +1 for class 1, -1 for class 0

    def evaluate(epoch: int) -> None:
        logits = stack.logits(x_all)
        # bce() for 0/1 labels is -log of the clipped probability of the true class, sigmoid(+-logit); in
        # float64, as the reference computes it.
        log_p = torch.sigmoid((logits * sign).double()).clamp_(EPSILON, 1 - EPSILON).log_()
        hits = (logits > 0) == positive
        table = torch.stack([-log_p[:, :n].mean(1), hits[:, :n].sum(1).double() / n,
                             -log_p[:, n:].mean(1), hits[:, n:].sum(1).double() / (len(y_all) - n)], 1).cpu().numpy()
        finite, rows = np.isfinite(table).all(1), table.tolist()
        stats = {}
        if config.hidden:  # the stack keeps W as (R, in, out) and b as (R, 1, out)
            stats = layer_stats([w.transpose(1, 2) for w in stack.weights], [b.squeeze(1) for b in stack.biases],
                                xv, yv, config.activation)
        for i in range(r):
            if status[i] != OK:
                continue
            if not finite[i]:
                status[i] = DIVERGED
                continue
            histories[i].append({"epoch": epoch, **dict(zip(METRICS, rows[i])),
                                 **{k: v[i] for k, v in stats.items()}})
        if on_epoch:
            values = {m: tuple(row[j] if st == OK else math.nan for row, st in zip(rows, status))
                      for j, m in enumerate(METRICS)}
            layers = {k: tuple(tuple(row) for row in v) for k, v in stats.items()}
            on_epoch(EpochReport(epoch, values, tuple(status), layers))

    evaluate(0)
    for epoch in range(1, config.epochs + 1):
        if all(s != OK for s in status):
            break
        perms = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(device)
        xs, ys = x[perms], y[perms].unsqueeze(-1)  # (R, n, in), (R, n, 1): each model's order
        for xb, yb in zip(xs.split(bs, 1), ys.split(bs, 1)):
            if cancel is not None and cancel.is_set():
                return [RunOutcome(s, CANCELLED if st == OK else st, tuple(h))
                        for s, st, h in zip(seeds, status, histories)]
            inputs, pre, z = stack.forward(xb)
            p = torch.sigmoid(z)
            # d(mean bce)/dz, each model's own mean (so models stay apart): (p - y) / B where the loss's clip
            # lets p through, 0 where it holds p (autograd's clamp passes [lo, hi], bounds included).  A nan p
            # stays nan (nan * 0) and spreads to all of its model's weights, so the epoch's evaluation sees
            # it: the reference stops a model at its first nan batch loss, and only a nan p makes one.
            dz = (p - yb).mul_(p.clamp(EPSILON, 1 - EPSILON) == p).mul_(1 / z.shape[1])
            stack.backward(inputs, pre, dz)
            opt.step()
        evaluate(epoch)
    return [RunOutcome(s, st, tuple(h)) for s, st, h in zip(seeds, status, histories)]


def limit_threads() -> None:
    """One intra-op thread: the tensors are tiny, and workers already run side by side."""
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)

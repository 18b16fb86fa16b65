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


class _Stack:
    """R models with the same layer sizes, as stacked weights: layer l is (R, out, in) plus bias (R, out)."""

    def __init__(self, per_model: list[list[torch.Tensor]], activation: str, device: torch.device) -> None:
        self.weights = [torch.stack([m[i] for m in per_model]).to(device).requires_grad_()
                        for i in range(len(per_model[0]))]
        self.biases = [torch.zeros(len(per_model), w.shape[1], device=device, requires_grad=True)
                       for w in self.weights]
        self.act = activation_fn(activation)

    def params(self) -> list[torch.Tensor]:
        return [p for pair in zip(self.weights, self.biases) for p in pair]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """x is (R, B, in) or a shared (B, in); returns (R, B)."""
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.matmul(x, w.transpose(1, 2)) + b.unsqueeze(1)
            if i < last:
                x = self.act(x)
        return x.squeeze(-1)


def train_batched(data: Dataset, config: ExperimentConfig, spec: InitSpec, seeds: Sequence[int],
                  cancel: threading.Event | None = None, on_epoch: EpochCallback | None = None) -> list[RunOutcome]:
    """Train one model per seed, all at once: stacked weights, one optimizer step for all of them."""
    device = resolve_device(config.device)
    x, y, xv, yv = _tensors(data, device)
    r = len(seeds)
    drawn = [initial_weights(data.n_features, config.hidden, spec, s, x, config.activation) for s in seeds]
    gens = [g for _, g in drawn]
    stack = _Stack([w for w, _ in drawn], config.activation, device)
    opt = Optimizer(stack.params(), config.optimizer, config.learning_rate)
    histories: list[list[dict[str, float]]] = [[] for _ in seeds]
    status = [OK] * r
    bad = torch.zeros(r, dtype=torch.bool, device=device)  # a non-finite batch loss, seen this epoch

    def evaluate(epoch: int) -> None:
        with torch.no_grad():
            cols = {}
            for name, xs, ys in (("", x, y), ("val_", xv, yv)):
                logits = stack.logits(xs).double()
                target = ys.double().expand_as(logits)
                cols[name + "loss"] = bce(logits, target).mean(1)
                cols[name + "accuracy"] = ((logits > 0).double() == target).double().mean(1)
            table = torch.stack([cols[m] for m in METRICS], 1).double().cpu().numpy()
        bad_now = bad.cpu().numpy()
        stats = layer_stats(stack.weights, stack.biases, xv, yv, config.activation) if config.hidden else {}
        for i in range(r):
            if status[i] != OK:
                continue
            if bad_now[i] or not np.isfinite(table[i]).all():
                status[i] = DIVERGED
                continue
            histories[i].append({"epoch": epoch, **{m: float(v) for m, v in zip(METRICS, table[i])},
                                 **{k: v[i] for k, v in stats.items()}})
        if on_epoch:
            values = {m: tuple(float(table[i, j]) if status[i] == OK else math.nan for i in range(r))
                      for j, m in enumerate(METRICS)}
            layers = {k: tuple(tuple(row) for row in v) for k, v in stats.items()}
            on_epoch(EpochReport(epoch, values, tuple(status), layers))

    evaluate(0)
    n = len(y)
    for epoch in range(1, config.epochs + 1):
        if all(s != OK for s in status):
            break
        perms = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(device)
        for start in range(0, n, config.batch_size):
            if cancel is not None and cancel.is_set():
                return [RunOutcome(s, CANCELLED if st == OK else st, tuple(h))
                        for s, st, h in zip(seeds, status, histories)]
            idx = perms[:, start:start + config.batch_size]
            logits = stack.logits(x[idx])
            losses = bce(logits, y[idx]).mean(1)
            bad |= ~torch.isfinite(losses)
            opt.zero_grad()
            # Each model's gradient is that of its own mean loss: the sum keeps them apart.
            losses.sum().backward()
            opt.step()
        evaluate(epoch)
    return [RunOutcome(s, st, tuple(h)) for s, st, h in zip(seeds, status, histories)]


def limit_threads() -> None:
    """One intra-op thread: the tensors are tiny, and workers already run side by side."""
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)

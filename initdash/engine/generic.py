"""The generic engine: any nn.Module, R copies trained as one computation with torch.func.

The copies' parameters are stacked (`stack_module_state`) and one `vmap(functional_call)` forward runs them
all; an ordinary `.backward()` then fills every copy's gradient (measured here: 1.1-1.4x faster than
`vmap(grad(...))` on small models, and it does not import torch._dynamo, which costs 1.0-1.7 s at the first
`grad`). Every copy keeps its own initial weights, batch order and optimizer state, so its numbers are the
ones a plain per-model loop (ModuleStack) gives it. Where vmap cannot take a module (BatchNorm's in-place
running statistics in training mode), the copies train one at a time instead (ListStack): same numbers.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager

import torch
from torch import nn

from initdash.engine.loop import finite_lists
from initdash.engine.losses import Head
from initdash.engine.optim import CopyRates, Optimizer


def _observe(modules: list[nn.Module], sink: dict[int, torch.Tensor]) -> list:
    """Forward hooks that put the output std of modules[i] (its first call) into sink[i]."""
    slots: dict[int, list[int]] = {}
    for i, m in enumerate(modules):
        slots.setdefault(id(m), []).append(i)

    def hook(module: nn.Module, inputs: object, output: torch.Tensor) -> None:
        for i in slots.get(id(module), []):
            if i not in sink:
                sink[i] = output.detach().std()

    return [m.register_forward_hook(hook) for m in {id(m): m for m in modules}.values()]


def _in_order(sink: dict[int, torch.Tensor], n: int) -> torch.Tensor:
    """sink's values in slot order (nan for a module the forward pass never called)."""
    return torch.stack([sink[i] if i in sink else torch.tensor(float("nan")) for i in range(n)])


class ModuleStack:
    """One plain nn.Module trained with autograd, one step per batch: the reference every engine is held to."""

    def __init__(self, model: nn.Module, head: Head, optimizer: str, lr: float, layer_names: tuple[str, ...] = (),
                 observed: list[nn.Module] | None = None, weights: list[nn.Parameter] | None = None,
                 widest: int = 1) -> None:
        self.model, self.head = model, head
        self.opt = Optimizer(list(model.parameters()), optimizer, lr)
        self.r, self.eval_width, self.tail_guard = 1, widest, False
        self.layer_names, self.observed, self.weights = layer_names, observed or [], weights or []

    def step(self, xb: torch.Tensor, yb: torch.Tensor) -> None:
        """One optimizer step on this model's batch (xb (1, B, ...))."""
        self.model.train()
        loss = self.head.loss(self.head.outputs(self.model(xb[0])), yb[0]).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()

    def logits(self, x: torch.Tensor, models: slice = slice(0, 1)) -> torch.Tensor:
        """Evaluation-mode logits, (1, N[, k])."""
        self.model.eval()
        return self.head.outputs(self.model(x)).unsqueeze(0)

    def layer_stats(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, list[list[float | None]]]:
        """Per layer: its observed output's std and its weight gradient's norm, on (x, y)."""
        if not self.layer_names:
            return {}
        self.model.eval()
        stds: dict[int, torch.Tensor] = {}
        handles = _observe(self.observed, stds)
        try:
            loss = self.head.loss(self.head.outputs(self.model(x)), y).mean()
        finally:
            for h in handles:
                h.remove()
        grads = torch.autograd.grad(loss, self.weights, allow_unused=True)
        norms = [torch.zeros(()) if g is None else g.norm() for g in grads]
        return {"activation_std": finite_lists(_in_order(stds, len(self.observed)).unsqueeze(0)),
                "grad_norm": finite_lists(torch.stack(norms).unsqueeze(0))}


class ListStack:
    """R ModuleStacks stepped one after another: for modules that vmap cannot batch."""

    def __init__(self, stacks: list[ModuleStack]) -> None:
        self.stacks = stacks
        self.r, self.eval_width, self.tail_guard = len(stacks), stacks[0].eval_width, False

    def step(self, xb: torch.Tensor, yb: torch.Tensor) -> None:
        """Each model steps on its own batch."""
        for i, s in enumerate(self.stacks):
            s.step(xb[i:i + 1], yb[i:i + 1])

    def logits(self, x: torch.Tensor, models: slice) -> torch.Tensor:
        """The logits of the models in `models`, stacked."""
        return torch.cat([s.logits(x) for s in self.stacks[models]])

    def layer_stats(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, list[list[float | None]]]:
        """Every model's per-layer statistics."""
        parts = [s.layer_stats(x, y) for s in self.stacks]
        return {k: [row for p in parts for row in p[k]] for k in (parts[0] if parts else {})}


class FuncStack:
    """R copies of one architecture as stacked parameters, run by vmap(functional_call)."""

    def __init__(self, models: list[nn.Module], head: Head, optimizer: str, lr: float,
                 layer_names: tuple[str, ...] = (), observed_names: list[str] | None = None,
                 weight_names: list[str] | None = None, widest: int = 1, lrs: list[float] | None = None) -> None:
        from torch.func import functional_call, stack_module_state, vmap

        self.params, self.buffers = stack_module_state(models)
        self.base = copy.deepcopy(models[0]).to("meta")
        self.head, self.r, self.eval_width, self.tail_guard = head, len(models), widest, False
        params = list(self.params.values())
        rates = None if lrs is None else CopyRates(lrs, [tuple(p.shape) for p in params], params[0].device)
        self.opt = Optimizer(params, optimizer, lr, copy_lrs=rates)
        self.layer_names = layer_names
        modules = dict(self.base.named_modules())
        self.observed = [modules[n] for n in (observed_names or [])]
        self.weight_keys = weight_names or []

        def forward(params: dict, buffers: dict, x: torch.Tensor) -> torch.Tensor:
            return functional_call(self.base, (params, buffers), (x,))

        self._train = vmap(forward, in_dims=(0, 0, 0), randomness="different")

    def step(self, xb: torch.Tensor, yb: torch.Tensor) -> None:
        """One optimizer step of every copy on its own batch."""
        self.base.train()
        loss = self.head.loss(self.head.outputs(self._train(self.params, self.buffers, xb)), yb).mean(1).sum()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()

    def _model(self, i: int) -> tuple[dict, dict]:
        return {k: v[i] for k, v in self.params.items()}, {k: v[i] for k, v in self.buffers.items()}

    def logits(self, x: torch.Tensor, models: slice) -> torch.Tensor:
        """Evaluation-mode logits of the copies in `models` for shared rows x: one copy at a time (measured: a
        vmap over shared rows was 2-5x slower than R plain calls for a small CNN on digits)."""
        from torch.func import functional_call

        self.base.eval()
        return torch.stack([self.head.outputs(functional_call(self.base, self._model(i), (x,)))
                            for i in range(self.r)[models]])

    def layer_stats(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, list[list[float | None]]]:
        """Per copy, per layer: observed output std and weight-gradient norm of the loss on (x, y), one copy at
        a time (as logits: cheaper than vmap here)."""
        from torch.func import functional_call

        if not self.layer_names:
            return {}
        self.base.eval()
        stds, norms = [], []
        for i in range(self.r):
            params, buffers = self._model(i)
            sink: dict[int, torch.Tensor] = {}
            handles = _observe(self.observed, sink)
            try:
                loss = self.head.loss(self.head.outputs(functional_call(self.base, (params, buffers), (x,))), y).mean()
            finally:
                for h in handles:
                    h.remove()
            weights = [params[k] for k in self.weight_keys]
            grads = torch.autograd.grad(loss, weights, allow_unused=True)
            stds.append(_in_order(sink, len(self.observed)))
            norms.append(torch.stack([torch.zeros(()) if g is None else g.norm() for g in grads]))
        return {"activation_std": finite_lists(torch.stack(stds)), "grad_norm": finite_lists(torch.stack(norms))}


def vmap_problem(model: nn.Module, example: torch.Tensor) -> str:
    """Why vmap cannot train copies of `model` (one line), or "" when it can.

    Checked, not assumed: BatchNorm's running statistics run under vmap without an error but come out wrong
    for all copies but the first (measured: a 0.08 loss difference after two epochs on iris), so buffers that
    a forward pass updates are compared with those of plain per-copy passes.
    """
    stateful = sorted({type(m).__name__ for m in model.modules()
                       if isinstance(m, nn.modules.batchnorm._NormBase) and m.track_running_stats})
    if stateful:
        return f"vmap cannot batch {', '.join(stateful)} in training mode (its running statistics)"
    copies = [copy.deepcopy(model) for _ in range(2)]
    with torch.no_grad():
        for p in copies[1].parameters():
            p.mul_(0.5).add_(0.01)  # two different copies
    plain = [copy.deepcopy(c).train() for c in copies]
    try:
        stack = FuncStack(copies, Head(1), "sgd", 0.0)
        stack.base.train()
        out = stack._train(stack.params, stack.buffers, example.unsqueeze(0).expand(2, *example.shape))
        out.float().sum().backward()
        with torch.no_grad():
            stack.logits(example, slice(0, 2))
            for c in plain:
                c(example)
    except Exception as exc:  # vmap's own errors are long: their first line, shortened
        first = str(exc).splitlines()[0] if str(exc) else ""
        first = first if len(first) <= 60 else first[:59] + "…"
        return f"vmap cannot batch it ({type(exc).__name__}: {first})"
    for i, c in enumerate(plain):
        for name, buffer in c.named_buffers():
            if buffer.is_floating_point() and not torch.allclose(stack.buffers[name][i], buffer, atol=1e-6):
                return f"vmap updates its buffer {name} differently from a plain forward pass"
    return ""


@contextmanager
def own_random_stream(state: list[torch.Tensor]):
    """Run with torch's global random state set to this unit's own (dropout draws from it), then keep it.

    Units of a sweep may share a process; with its own stream, a unit's dropout masks do not depend on the others.
    """
    with torch.random.fork_rng(devices=[]):
        torch.set_rng_state(state[0])
        try:
            yield
        finally:
            state[0] = torch.get_rng_state()

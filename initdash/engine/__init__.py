"""Training, as pure functions (no threads, no UI): many models of one architecture at once.

Every run is built from the config's model spec and initialized from its own seed (`initializers.initialize`:
every parameter by its role, drawn from one generator per run, which then shuffles that run's batches). Then one
engine trains them all (see loop.py for the rules every engine shares):

- fast.py: the hand-written batched path for the built-in linear and mlp models;
- generic.py: any nn.Module, copies stacked and run by torch.func's vmap (or one at a time where vmap
  cannot take the module);
- generic.ModuleStack with one model: the plain per-model loop (`train_reference`), the yardstick.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from functools import partial

import torch

from initdash.config import ExperimentConfig
from initdash.data import Dataset
from initdash.engine import loop
from initdash.engine.losses import Head
from initdash.events import EpochReport, RunOutcome
from initdash.initializers import InitSpec, initialize

EpochCallback = Callable[[EpochReport], None]
StartCallback = Callable[[tuple[str, ...]], None]


def resolve_device(name: str) -> torch.device:
    """cpu, cuda, or auto (cuda when present)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def limit_threads() -> None:
    """One intra-op thread: the tensors are small, and workers already run side by side."""
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def tensors(data: Dataset, device: torch.device) -> tuple[torch.Tensor, ...]:
    """x_train, y_train, x_val, y_val as tensors on `device`."""
    return tuple(torch.as_tensor(a, device=device) for a in (data.x_train, data.y_train, data.x_val, data.y_val))


def build_runs(data: Dataset, config: ExperimentConfig, runs: Sequence[tuple[InitSpec, int]],
               device: torch.device) -> tuple[list[torch.nn.Module], list[torch.Generator]]:
    """One initialized model per (initializer, seed), and the generator each run shuffles with."""
    from initdash.models import build

    x_cpu = torch.as_tensor(data.x_train)
    models, gens = [], []
    for spec, seed in runs:
        gen = torch.Generator().manual_seed(seed)
        model = build(config.model, data.in_shape, data.n_outputs, seed)
        initialize(model, spec, gen, x_cpu, config.apply_to)
        models.append(model.to(device))
        gens.append(gen)
    return models, gens


def _widest(model: torch.nn.Module, in_shape: tuple[int, ...]) -> int:
    """A generous width of one example's activations (for evaluation chunk sizes)."""
    from initdash.models import weight_layers

    spatial = math.prod(in_shape[1:]) if len(in_shape) > 1 else 1
    return max([math.prod(in_shape)] + [m.weight.shape[0] * spatial for _, m in weight_layers(model)])


def _stack(data: Dataset, config: ExperimentConfig, models: list[torch.nn.Module], head: Head,
           example: torch.Tensor, lrs: list[float] | None = None) -> tuple[loop.Stack, tuple[str, ...], bool]:
    """The engine for these models: (stack, per-layer statistics' layer names, uses the generic path).

    `lrs`: a learning rate per model (a grid's lr axis), else config's for all."""
    from initdash.models import forward_layers, observed_modules, weight_layers

    opt, lr = config.optimizer, config.learning_rate
    if config.model.fast:
        layers = weight_layers(models[0])  # registered in forward order
        names = tuple(n for n, _ in layers) if len(layers) > 1 else ()
        weights = [[m.weight.detach() for _, m in weight_layers(model)] for model in models]
        from initdash.engine.fast import FastStack

        return FastStack(weights, config.model.activation, head, opt, lr, example.device, names, lrs), names, False
    from initdash.engine.generic import FuncStack, ListStack, ModuleStack, vmap_problem

    order = forward_layers(models[0], example)
    names = tuple(n for n, _ in order) if len(order) > 1 else ()
    widest = _widest(models[0], data.in_shape)
    observed_names = []
    if names:
        modules = {id(m): n for n, m in models[0].named_modules()}
        observed_names = [modules[id(m)] for m in observed_modules(models[0], list(names))]
    if vmap_problem(models[0], example):
        stacks = []
        for i, model in enumerate(models):
            mods = dict(model.named_modules())
            stacks.append(ModuleStack(model, head, opt, lr if lrs is None else lrs[i], names,
                                      [mods[n] for n in observed_names],
                                      [mods[n].weight for n in names], widest))
        return ListStack(stacks), names, True
    return FuncStack(models, head, opt, lr, names, observed_names, [f"{n}.weight" for n in names], widest,
                     lrs), names, True


def train_many(data: Dataset, config: ExperimentConfig, runs: Sequence[tuple[InitSpec, int]],
               cancel: threading.Event | None = None, on_epoch: EpochCallback | None = None,
               on_start: StartCallback | None = None, lrs: Sequence[float] | None = None) -> list[RunOutcome]:
    """Train one model per (initializer, seed) as one batched computation; outcomes in the order of `runs`.

    `lrs`: a learning rate per run (a grid's lr axis, batched like repeats); None: the config's for all.

    Each model keeps its own initial weights, its own shuffling generator and its own optimizer state, so its
    history is the one train_reference gives for the same seed. `on_start` gets the names of the layers that
    per-layer statistics describe (none for a model with a single layer) before epoch 0 is evaluated.
    """
    device = resolve_device(config.device)
    data_t = tensors(data, device)
    models, gens = build_runs(data, config, runs, device)
    head = Head(data.n_outputs)
    stack, names, generic = _stack(data, config, models, head, data_t[0][:2], None if lrs is None else list(lrs))
    if on_start is not None:
        on_start(names)
    guard = None
    if generic:  # dropout draws from torch's global stream: give this unit its own
        from initdash.engine.generic import own_random_stream

        state = [torch.Generator().manual_seed(runs[0][1] ^ 0x5EED).get_state()]
        guard = partial(own_random_stream, state)
    return loop.run(stack, head, data_t, gens, [s for _, s in runs], config.epochs, config.batch_size, cancel,
                    on_epoch, guard)


def train_batched(data: Dataset, config: ExperimentConfig, spec: InitSpec, seeds: Sequence[int],
                  cancel: threading.Event | None = None, on_epoch: EpochCallback | None = None) -> list[RunOutcome]:
    """Train one model per seed of one initializer, all at once."""
    return train_many(data, config, [(spec, s) for s in seeds], cancel, on_epoch)


def train_reference(data: Dataset, config: ExperimentConfig, spec: InitSpec, seed: int,
                    cancel: threading.Event | None = None, on_epoch: EpochCallback | None = None) -> RunOutcome:
    """Train one model the plain way (an nn.Module, autograd, one step per batch): the yardstick."""
    from initdash.engine.generic import ModuleStack
    from initdash.models import forward_layers, observed_modules

    device = resolve_device(config.device)
    data_t = tensors(data, device)
    (model,), (gen,) = build_runs(data, config, [(spec, seed)], device)
    order = forward_layers(model, data_t[0][:2])
    names = tuple(n for n, _ in order) if len(order) > 1 else ()
    stack = ModuleStack(model, Head(data.n_outputs), config.optimizer, config.learning_rate, names,
                        observed_modules(model, list(names)), [m.weight for _, m in order] if names else [],
                        _widest(model, data.in_shape))
    guard = None
    if not config.model.fast:
        from initdash.engine.generic import own_random_stream

        guard = partial(own_random_stream, [torch.Generator().manual_seed(seed ^ 0x5EED).get_state()])
    (outcome,) = loop.run(stack, stack.head, data_t, [gen], [seed], config.epochs, config.batch_size, cancel,
                          on_epoch, guard)
    return outcome

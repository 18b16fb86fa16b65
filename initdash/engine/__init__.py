"""Training, as pure functions (no threads, no UI): many models of one architecture at once.

Every run is built from the config's model spec and initialized from its own seed (`initializers.initialize`:
every parameter by its role, drawn from one generator per run). Its batches are shuffled by a generator of its
data seed (paired design: shared by repeat k of every initializer), or, without data seeds (independent design),
by the same generator that drew its weights. Then one engine trains them all (see loop.py for the rules every
engine shares):

- fast.py: the hand-written batched path for the built-in linear and mlp models (with a tail guard, so a
  model's numbers are the same in a unit of any size);
- generic.py: any nn.Module, copies stacked and run by torch.func's vmap (or one at a time where vmap
  cannot take the module, or where every setting of the unit has one copy: see `_stack`);
- generic.ModuleStack with one model: the plain per-model loop (`train_reference`), the yardstick.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING

import torch

from initdash.config import ExperimentConfig
from initdash.data import Dataset
from initdash.engine import loop
from initdash.engine.losses import Head
from initdash.events import EpochReport, RunOutcome
from initdash.initializers import InitSpec, fill

if TYPE_CHECKING:
    from initdash.models.roles import Slot

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


def run_streams(model: torch.nn.Module, spec: InitSpec, seed: int, x_cpu: torch.Tensor,
                apply_to: Sequence[str], data_seed: int | None = None, plan: list[Slot] | None = None
                ) -> tuple[torch.Generator, torch.Tensor]:
    """Initialize one run's weights from its seed (`plan`: the model's slots, where the caller has them);
    return the two streams its data order draws from: the generator that shuffles its batches, and the state
    of the stream its dropout draws from (a unit uses its first run's, for all of its runs at once).

    The one place where a run's random streams are made. With a data seed (the paired design: shared by repeat
    k of every initializer) both come from it. Without one (the independent design) the data order continues
    the seed's one stream where the initializer left it, which is how every run drew before designs existed,
    so the numbers of a seed stay what they were.
    """
    weights = torch.Generator().manual_seed(seed)
    fill(model, spec, weights, x_cpu, apply_to, plan)
    if data_seed is None:
        order = torch.Generator()
        order.set_state(weights.get_state())
    else:
        order = torch.Generator().manual_seed(data_seed)
    first = seed if data_seed is None else data_seed
    return order, torch.Generator().manual_seed(first ^ 0x5EED).get_state()


def build_runs(data: Dataset, config: ExperimentConfig, runs: Sequence[tuple[InitSpec, int]],
               device: torch.device, data_seeds: Sequence[int] | None = None
               ) -> tuple[list[torch.nn.Module], list[torch.Generator], torch.Tensor]:
    """One initialized model per (initializer, seed), the generator each run shuffles with, and the state of
    the dropout stream of the unit (its first run's); `data_seeds`: one per run (the paired design).

    A built-in model's slots are read once and rebound onto each copy (models.roles.rebound); a user's model
    is read afresh each time, since its file may build another architecture for another seed."""
    from initdash.models import build
    from initdash.models.roles import rebound, slots

    x_cpu = torch.as_tensor(data.x_train)
    models, gens, dropout = [], [], None
    plan: list[Slot] | None = None
    for i, (spec, seed) in enumerate(runs):
        model = build(config.model, data.in_shape, data.n_outputs, seed)
        plan = rebound(plan, model) if plan is not None and config.model.builtin else slots(model)
        gen, state = run_streams(model, spec, seed, x_cpu, config.apply_to,
                                 None if data_seeds is None else data_seeds[i], plan)
        dropout = state if dropout is None else dropout
        models.append(model.to(device))
        gens.append(gen)
    return models, gens, dropout


def fast_runs(data: Dataset, config: ExperimentConfig, runs: Sequence[tuple[InitSpec, int]],
              data_seeds: Sequence[int] | None = None
              ) -> tuple[torch.nn.Module, list[list[torch.Tensor]], list[torch.Generator]]:
    """The built-in linear and mlp models: one module, initialized for each run from the run's seed and its
    weights copied out, and the generator each run shuffles with.

    The same weights as one module per run (the initializer sets every weight and zeroes every bias; nothing
    else in these models is drawn), without building one: that cost 0.2-0.4 ms a run, as much as the lesson
    trains a model for five epochs in a large batch.
    """
    from initdash.models import build, weight_layers
    from initdash.models.roles import slots

    x_cpu = torch.as_tensor(data.x_train)
    template = build(config.model, data.in_shape, data.n_outputs, runs[0][1])
    layers = [m for _, m in weight_layers(template)]
    plan = slots(template)  # one module for every run: read once
    weights, gens = [], []
    for i, (spec, seed) in enumerate(runs):
        gen, _ = run_streams(template, spec, seed, x_cpu, config.apply_to,
                             None if data_seeds is None else data_seeds[i], plan)
        weights.append([m.weight.detach().clone() for m in layers])
        gens.append(gen)
    return template, weights, gens


def _fast_stack(config: ExperimentConfig, template: torch.nn.Module, weights: list[list[torch.Tensor]], head: Head,
                device: torch.device, lrs: list[float] | None = None) -> tuple[loop.Stack, tuple[str, ...]]:
    """The hand-written engine for the built-in linear and mlp models, and its layers' names (`lrs`: a learning
    rate per model, a grid's lr axis)."""
    from initdash.engine.fast import FastStack
    from initdash.models import weight_layers

    layers = weight_layers(template)  # registered in forward order
    names = tuple(n for n, _ in layers) if len(layers) > 1 else ()
    return FastStack(weights, config.model.activation, head, config.optimizer, config.learning_rate, device,
                     names, lrs), names


def _stack(data: Dataset, config: ExperimentConfig, models: list[torch.nn.Module], head: Head,
           example: torch.Tensor, lrs: list[float] | None = None) -> tuple[loop.Stack, tuple[str, ...]]:
    """The generic engine for these models, and the names of the layers per-layer statistics describe (`lrs`: a
    learning rate per model, a grid's lr axis; else the config's for all).

    Copies of one setting (one learning rate) are batched by vmap from two up; one alone trains as a plain
    module. vmap folds the copies' convolutions into one grouped convolution, whose kernels round unlike a
    plain one's and unlike vmap's own for a single copy, so the numbers of a seed would depend on how many
    copies share its unit. With two or more they do not (tests/test_batched.py checks units of 2 and 6); a
    unit whose every setting has one copy (one seed, or a grid of one repeat) therefore trains each copy as
    a plain module, which is also faster for one model (measured on digits-cnn: 0.85 ms a step against 1.26 ms
    under vmap): a seed's numbers are then those of its single run wherever it trains.
    """
    from initdash.models import forward_layers, observed_modules, widest

    opt, lr = config.optimizer, config.learning_rate
    from initdash.engine.generic import FuncStack, ListStack, ModuleStack, vmap_problem

    order = forward_layers(models[0], example)
    names = tuple(n for n, _ in order) if len(order) > 1 else ()
    width = widest(models[0], example)
    observed_names = []
    if names:
        modules = {id(m): n for n, m in models[0].named_modules()}
        observed_names = [modules[id(m)] for m in observed_modules(models[0], list(names))]
    one_each = len(models) == len(set(lrs)) if lrs is not None else len(models) == 1
    if one_each or vmap_problem(models[0], example):
        stacks = []
        for i, model in enumerate(models):
            mods = dict(model.named_modules())
            stacks.append(ModuleStack(model, head, opt, lr if lrs is None else lrs[i], names,
                                      [mods[n] for n in observed_names], [mods[n].weight for n in names], width))
        return (stacks[0] if len(stacks) == 1 else ListStack(stacks)), names
    return FuncStack(models, head, opt, lr, names, observed_names, [f"{n}.weight" for n in names], width,
                     lrs), names


def train_many(data: Dataset, config: ExperimentConfig, runs: Sequence[tuple[InitSpec, int]],
               cancel: threading.Event | None = None, on_epoch: EpochCallback | None = None,
               on_start: StartCallback | None = None, lrs: Sequence[float] | None = None,
               data_seeds: Sequence[int] | None = None) -> list[RunOutcome]:
    """Train one model per (initializer, seed) as one batched computation; outcomes in the order of `runs`.

    `lrs`: a learning rate per run (a grid's lr axis, batched like repeats); None: the config's for all.

    Each model keeps its own initial weights, its own shuffling generator and its own optimizer state, so its
    history is the one train_reference gives for the same seed. With `config.layer_stats`, every epoch records
    per-layer statistics, and `on_start` gets the names of the layers they describe (none for a model with a
    single layer) before epoch 0 is evaluated; without, it gets none. `data_seeds` (one per run) seed the data
    order and dropout apart from the weights (the paired design).
    """
    device = resolve_device(config.device)
    data_t = tensors(data, device)
    head = Head(data.n_outputs)
    rates = None if lrs is None else list(lrs)
    if config.model.fast:
        template, weights, gens = fast_runs(data, config, runs, data_seeds)
        stack, names = _fast_stack(config, template, weights, head, device, rates)
    else:
        models, gens, dropout = build_runs(data, config, runs, device, data_seeds)
        stack, names = _stack(data, config, models, head, data_t[0][:2], rates)
    names = names if config.layer_stats else ()
    if on_start is not None:
        on_start(names)
    guard = None
    if not config.model.fast:  # dropout draws from torch's global stream: give this unit its own
        from initdash.engine.generic import own_random_stream

        guard = partial(own_random_stream, [dropout])
    return loop.run(stack, head, data_t, gens, [s for _, s in runs], config.epochs, config.batch_size, cancel,
                    on_epoch, guard, config.layer_stats)


def train_batched(data: Dataset, config: ExperimentConfig, spec: InitSpec, seeds: Sequence[int],
                  cancel: threading.Event | None = None, on_epoch: EpochCallback | None = None) -> list[RunOutcome]:
    """Train one model per seed of one initializer, all at once."""
    return train_many(data, config, [(spec, s) for s in seeds], cancel, on_epoch)


def train_reference(data: Dataset, config: ExperimentConfig, spec: InitSpec, seed: int,
                    cancel: threading.Event | None = None, on_epoch: EpochCallback | None = None,
                    data_seed: int | None = None) -> RunOutcome:
    """Train one model the plain way (an nn.Module, autograd, one step per batch): the yardstick."""
    from initdash.engine.generic import ModuleStack
    from initdash.models import forward_layers, observed_modules, widest

    device = resolve_device(config.device)
    data_t = tensors(data, device)
    (model,), (gen,), dropout = build_runs(data, config, [(spec, seed)], device,
                                           None if data_seed is None else [data_seed])
    order = forward_layers(model, data_t[0][:2])
    names = tuple(n for n, _ in order) if len(order) > 1 else ()
    stack = ModuleStack(model, Head(data.n_outputs), config.optimizer, config.learning_rate, names,
                        observed_modules(model, list(names)), [m.weight for _, m in order] if names else [],
                        widest(model, data_t[0][:2]))
    guard = None
    if not config.model.fast:
        from initdash.engine.generic import own_random_stream

        guard = partial(own_random_stream, [dropout])
    (outcome,) = loop.run(stack, stack.head, data_t, [gen], [seed], config.epochs, config.batch_size, cancel,
                          on_epoch, guard, config.layer_stats)
    return outcome

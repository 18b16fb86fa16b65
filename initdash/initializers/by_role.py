"""Initialization by role: the chosen initializer on the roles it applies to (kernels unless --apply-to says
more), Keras' defaults on the other roles, biases zero, normalization layers ones and zeros, every draw from
the run's own generator in the order the model registers its modules. A user's initializer instead gets the
freshly built model and the generator, and sets what it sets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from initdash.initializers.catalog import InitSpec, parse_spec
from initdash.initializers.formulas import draw, expected_std
from initdash.models.roles import BIAS, OWN, SCALE, Role, Slot

if TYPE_CHECKING:
    import torch

# Keras 3's defaults: Dense/Conv/RNN kernel_initializer, RNN recurrent_initializer, Embedding's.
KERAS_DEFAULTS: dict[Role, str] = {"kernel": "glorot_uniform", "recurrent": "orthogonal",
                                   "embedding": "uniform"}
DEFAULT_ROLES: tuple[Role, ...] = ("kernel",)
LEFT = "left to the module"


@dataclass(frozen=True)
class Assignment:
    """What set one parameter: the chosen initializer, a role's Keras default, a constant, or nothing."""

    slot: Slot
    by: str  # e.g. `he_normal`, `orthogonal (Keras default)`, `zeros`, `left to the module`
    chosen: bool  # set by the initializer the user chose
    expected: float | None  # the std the formula promises (None: data-dependent, or not ours to know)


def init_weight(spec: InitSpec, weight: torch.Tensor, generator: torch.Generator) -> None:
    """Fill one weight tensor in place as `spec` says, with the fans torch.nn.init reads from its shape."""
    import torch
    from torch.nn.init import _calculate_fan_in_and_fan_out

    fan_in, fan_out = _calculate_fan_in_and_fan_out(weight)
    with torch.no_grad():
        draw(spec.name, spec.resolved(), weight, generator, fan_in, fan_out)


def _constant(slot: Slot, report: bool) -> Assignment | None:
    """Biases zero (an LSTM's forget gate one), normalization scales one."""
    value = 1.0 if slot.kind == SCALE else 0.0
    slot.tensor.fill_(value)
    if slot.ones is not None:
        slot.tensor[slot.ones] = 1.0
    if not report:
        return None
    if slot.ones is None:
        return Assignment(slot, "ones" if value else "zeros", False, 0.0)
    share = slot.tensor[slot.ones].numel() / max(1, slot.tensor.numel())
    return Assignment(slot, "zeros, forget gate ones", False, (share * (1 - share)) ** 0.5)


def _draw(slot: Slot, spec: InitSpec, g: torch.Generator, chosen: bool, report: bool) -> Assignment | None:
    """Draw every part of a role's weight with its own fans."""
    params = spec.resolved()
    for part in slot.parts:
        draw(spec.name, params, slot.tensor[part.rows], g, part.fan_in, part.fan_out)
    if slot.zero_row is not None:
        slot.tensor[slot.zero_row] = 0.0
    if not report:
        return None
    first = slot.parts[0]
    shape = tuple(slot.tensor[first.rows].shape)
    by = spec.label if chosen else f"{spec.label} (Keras default)"
    return Assignment(slot, by, chosen, expected_std(spec.name, params, shape, first.fan_in, first.fan_out))


def _set(plan: Sequence[Slot], spec: InitSpec, generator: torch.Generator, roles: Sequence[Role],
         report: bool) -> list[Assignment]:
    """Set every slot of a catalog initializer's plan in order; what set each one if `report`, else nothing."""
    import torch

    done: list[Assignment | None] = []
    with torch.no_grad():
        for slot in plan:
            if slot.kind == OWN:
                done.append(Assignment(slot, LEFT, False, None) if report else None)
            elif slot.kind in (BIAS, SCALE):
                done.append(_constant(slot, report))
            elif slot.kind in roles:
                done.append(_draw(slot, spec, generator, True, report))
            else:
                done.append(_draw(slot, _keras_default(slot.kind), generator, False, report))
    return [a for a in done if a is not None]


@cache
def _keras_default(role: Role) -> InitSpec:
    return parse_spec(KERAS_DEFAULTS[role])


def initialize(model: torch.nn.Module, spec: InitSpec, generator: torch.Generator,
               x_train: torch.Tensor | None = None, roles: Sequence[Role] = DEFAULT_ROLES) -> list[Assignment]:
    """Initialize every parameter of `model` by its role (see the module's docstring); a data-dependent
    initializer (lsuv) then draws a batch of `x_train` from `generator`. Returns what set each parameter."""
    from initdash.models.roles import slots

    if spec.user:
        from initdash.initializers.user import run_user

        return [Assignment(s, spec.label, True, None) if changed else Assignment(s, LEFT, False, None)
                for s, changed in run_user(model, spec, generator)]
    done = _set(slots(model), spec, generator, roles, True)
    _lsuv_after(model, spec, generator, x_train)
    return done


def fill(model: torch.nn.Module, spec: InitSpec, generator: torch.Generator, x_train: torch.Tensor | None = None,
         roles: Sequence[Role] = DEFAULT_ROLES, plan: Sequence[Slot] | None = None) -> None:
    """The same draws as `initialize`, without its report: the engine's path, which discards it.

    `plan`: `slots(model)` computed once for a module that serves every run of a unit (engine.fast_runs), or
    rebound onto each freshly built copy (models.roles.rebound). Skipping the report (the expected std of every
    weight, and a copy of every parameter to see what a user's initializer changed) and reading the plan once
    took, on one thread, best of 5 (2-core box): engine.fast_runs for 1000 lesson seeds 161-169 ms -> 104-107
    ms; train_many of 250 lesson seeds, 5 epochs, 169-171 ms -> 149-151 ms; build_runs of 40 digits
    `cnn 16,32` 52-53 ms -> 46-47 ms.
    """
    if spec.user:
        from initdash.initializers.user import run_user

        run_user(model, spec, generator, report=False)
        return
    if plan is None:
        from initdash.models.roles import slots

        plan = slots(model)
    _set(plan, spec, generator, roles, False)
    _lsuv_after(model, spec, generator, x_train)


def _lsuv_after(model: torch.nn.Module, spec: InitSpec, generator: torch.Generator,
                x_train: torch.Tensor | None) -> None:
    if spec.name == "lsuv":
        if x_train is None:
            raise ValueError("lsuv needs the training data")
        lsuv(model, x_train, generator, spec.resolved())


def lsuv(model: torch.nn.Module, x_train: torch.Tensor, generator: torch.Generator, params: Mapping[str, Any]) -> None:
    """Mishkin & Matas 2015, Algorithm 1: layer by layer in forward order, divide W by the std of the layer's
    output on a training batch until that output's variance is 1 within `tol` (at most `max_iter` passes)."""
    import torch

    from initdash.models import evaluating, forward_layers

    n = x_train.shape[0]
    batch = x_train[torch.randperm(n, generator=generator)[:min(int(params["batch"]), n)]].cpu().float()
    seen: list[torch.Tensor] = []
    with torch.no_grad(), evaluating(model):  # measuring must not update running statistics
        for _, layer in forward_layers(model, batch):
            handle = layer.register_forward_hook(lambda mod, i, out: seen.append(out))
            try:
                for _ in range(int(params["max_iter"])):
                    seen.clear()
                    model(batch)
                    var = seen[0].var().item() if seen else 0.0
                    if not var > 0 or abs(var - 1.0) < float(params["tol"]):
                        break  # a dead layer (variance 0) cannot be rescaled to 1
                    layer.weight /= var ** 0.5
            finally:
                handle.remove()

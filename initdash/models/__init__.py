"""Models: the built-ins (linear, mlp, cnn, resnet) and a user's own; building, checking and describing them.

Importing this package does not import torch; building a model does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from initdash.models.spec import BUILTIN_MODELS, DESCRIPTIONS, ModelSpec
from initdash.models.user import attach_source, source_path

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["ModelSpec", "attach_source", "source_path", "build", "weight_layers", "forward_layers",
           "observed_modules", "model_lines", "widest"]

def build(spec: ModelSpec, in_shape: tuple[int, ...], n_outputs: int, seed: int = 0) -> nn.Module:
    """A fresh model. Anything it draws at construction (beyond the weights, which the initializer sets) comes
    from `seed`, without touching torch's global random state."""
    import torch

    from initdash.models import builtin, user

    with torch.random.fork_rng(devices=[]):
        # Not torch.manual_seed: it also seeds every accelerator, formatting a stack trace for each (79 us a
        # model, measured; 40-50% of the lesson's engine time at 1000 seeds). The CPU stream is the same.
        torch.default_generator.manual_seed(seed)
        if spec.builtin:
            return builtin.build(spec.name, tuple(in_shape), n_outputs, spec.hidden, spec.activation, spec.channels,
                                 spec.depth)
        model = user.call(spec, in_shape, n_outputs)
        if any(isinstance(m, torch.nn.modules.lazy.LazyModuleMixin) for m in model.modules()):
            with torch.no_grad(), evaluating(model):  # lazy layers (nn.LazyLinear) get their shapes now
                model(torch.zeros(2, *in_shape))
        return model


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The layers per-layer statistics describe: those whose kernel is their `.weight` and whose output is one
    tensor (Linear, Conv, ConvTranspose, Bilinear), by module path, in the order the model registers them."""
    from initdash.models.roles import kernel_layers

    return kernel_layers(model)


def widest(model: nn.Module, example: torch.Tensor) -> int:
    """The largest activation of one example: the input or any module's tensor output, measured by a forward
    pass on `example` (a batch of 2; for memory estimates and evaluation chunk sizes; built-ins are sized by
    arithmetic, sizes.py). Measured, not read off the weights: a ConvTranspose's or an upsampling layer's output
    is larger than its weight's first dimension times the input's spatial size."""
    import torch

    sizes = [example[0].numel()]

    def hook(module: nn.Module, inputs: object, output: object) -> None:
        if isinstance(output, torch.Tensor) and output.dim() > 0 and output.shape[0] == len(example):
            sizes.append(output[0].numel())

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        with torch.no_grad(), evaluating(model):
            model(example)
    finally:
        for h in handles:
            h.remove()
    return max(sizes)


def forward_layers(model: nn.Module, example: torch.Tensor) -> list[tuple[str, nn.Module]]:
    """The weight layers in the order a forward pass on `example` uses them (first use; unused ones last)."""
    import torch

    layers = weight_layers(model)
    seen: list[str] = []
    handles = [m.register_forward_hook(lambda mod, i, o, name=name: seen.append(name) if name not in seen else None)
               for name, m in layers]
    try:
        with torch.no_grad(), evaluating(model):
            model(example)
    finally:
        for h in handles:
            h.remove()
    by_name = dict(layers)
    return [(n, by_name[n]) for n in seen] + [(n, m) for n, m in layers if n not in seen]


@contextmanager
def evaluating(model: nn.Module) -> Iterator[None]:
    """Evaluation mode for a look inside the model: no running statistics updated, no dropout drawn."""
    was = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was)


def observed_modules(model: nn.Module, names: list[str]) -> list[nn.Module]:
    """Per weight layer, the module whose output per-layer statistics read: for a built-in, the activation
    that follows the layer; for a user's model, the layer itself."""
    modules = dict(model.named_modules())
    observed = model.observed() if hasattr(model, "observed") and callable(model.observed) else {}
    return [modules[observed.get(n, n)] for n in names]


def model_lines() -> list[str]:
    """The built-in models, for --list-models."""
    width = max(map(len, BUILTIN_MODELS))
    lines = [f"{name:<{width}}  {DESCRIPTIONS[name]}" for name in BUILTIN_MODELS]
    return lines + ["", "Your own: --model FILE.py:NAME or package.module:NAME, NAME a callable returning a "
                    "torch.nn.Module; it gets in_shape and n_outputs if it accepts them. The file runs as Python code."]

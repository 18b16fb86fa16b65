"""The lesson's model (one sigmoid unit) and deeper MLPs, initialized from a seed.

Weights are drawn layer by layer, first to last, from one torch.Generator per model, so the per-model and
the batched engine start every model from exactly the same numbers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from initdash.initializers import InitSpec, init_weight

_ACTIVATIONS = {
    "relu": F.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "gelu": F.gelu, "elu": F.elu,
    "selu": F.selu, "silu": F.silu, "leaky_relu": F.leaky_relu, "linear": lambda t: t,
}


def activation_fn(name: str):
    """The elementwise function for an activation name."""
    return _ACTIVATIONS[name]


def layer_sizes(n_features: int, hidden: tuple[int, ...]) -> list[tuple[int, int]]:
    """(fan_in, fan_out) of every Linear layer, the 1-unit output layer last."""
    dims = [n_features, *hidden, 1]
    return list(zip(dims[:-1], dims[1:]))


def initial_weights(n_features: int, hidden: tuple[int, ...], spec: InitSpec, seed: int,
                    x_train: torch.Tensor | None = None,
                    activation: str = "relu") -> tuple[list[torch.Tensor], torch.Generator]:
    """Every layer's (out, in) weight as `spec` draws it from `seed`; also the generator, for shuffling.

    A data-dependent initializer (lsuv) needs the training inputs `x_train` and the hidden activation.
    """
    gen = torch.Generator().manual_seed(seed)
    weights = []
    for fan_in, fan_out in layer_sizes(n_features, hidden):
        w = torch.empty(fan_out, fan_in)
        init_weight(spec, w, gen)
        weights.append(w)
    if spec.name == "lsuv":
        if x_train is None:
            raise ValueError("lsuv needs the training data")
        lsuv_rescale(weights, x_train, activation, gen, spec.resolved())
    return weights, gen


@torch.no_grad()
def lsuv_rescale(weights: list[torch.Tensor], x_train: torch.Tensor, activation: str, gen: torch.Generator,
                 params: dict) -> None:
    """Mishkin & Matas 2015, Algorithm 1: layer by layer, divide W by the std of its output on a batch
    until the output variance is 1 within `tol` (at most `max_iter` passes per layer). In place."""
    n = x_train.shape[0]
    size = min(int(params["batch"]), n)
    batch = x_train[torch.randperm(n, generator=gen)[:size]].cpu().float()
    act = activation_fn(activation)
    h = batch
    for i, w in enumerate(weights):
        for _ in range(int(params["max_iter"])):
            var = (h @ w.T).var().item()
            if not var > 0 or abs(var - 1.0) < float(params["tol"]):
                break  # a dead layer (variance 0) cannot be rescaled to 1
            w /= var ** 0.5
        h = h @ w.T
        if i < len(weights) - 1:
            h = act(h)


class MLP(nn.Module):
    """Linear layers with an activation between them; outputs one logit (sigmoid is in the loss)."""

    def __init__(self, weights: list[torch.Tensor], activation: str = "relu") -> None:
        super().__init__()
        self.layers = nn.ModuleList()
        for w in weights:
            layer = nn.Linear(w.shape[1], w.shape[0])
            with torch.no_grad():
                layer.weight.copy_(w)
                layer.bias.zero_()  # Keras starts biases at zero
            self.layers.append(layer)
        self.act = activation_fn(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, shape (batch,)."""
        for layer in self.layers[:-1]:
            x = self.act(layer(x))
        return self.layers[-1](x).squeeze(-1)

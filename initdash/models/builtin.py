"""The built-in models as torch modules: linear (the lesson's Dense layer), mlp, cnn and resnet.

Each takes `in_shape` (one example's shape) and `n_outputs`, returns logits (sigmoid / softmax live in the
loss), and says which module's output per-layer statistics observe for each Linear/Conv layer: the
activation that follows it (the last layer: its own output, the logits).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from initdash.models.spec import ACTIVATION_CLASSES

ACTIVATION_MODULES: dict[str, type[nn.Module]] = {name: getattr(nn, cls) for name, cls in ACTIVATION_CLASSES.items()}


def activation(name: str) -> nn.Module:
    """A fresh activation module by name."""
    return ACTIVATION_MODULES[name]()


def _out(logits: torch.Tensor, n_outputs: int) -> torch.Tensor:
    """(batch,) for one output (binary), (batch, k) for k classes."""
    return logits.squeeze(-1) if n_outputs == 1 else logits


class Dense(nn.Module):
    """The lesson's model: one Linear layer on the flattened input (Dense(1, sigmoid) for two classes)."""

    def __init__(self, in_shape: tuple[int, ...], n_outputs: int) -> None:
        super().__init__()
        self.n_outputs = n_outputs
        self.layers = nn.ModuleList([nn.Linear(math.prod(in_shape), n_outputs)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits."""
        return _out(self.layers[0](x.flatten(1)), self.n_outputs)

    def observed(self) -> dict[str, str]:
        """Layer name -> the module whose output per-layer statistics read."""
        return {"layers.0": "layers.0"}


class MLP(nn.Module):
    """Linear layers with an activation between them, on the flattened input."""

    def __init__(self, in_shape: tuple[int, ...], n_outputs: int, hidden: tuple[int, ...],
                 activation_name: str = "relu") -> None:
        super().__init__()
        self.n_outputs = n_outputs
        dims = [math.prod(in_shape), *hidden, n_outputs]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.acts = nn.ModuleList(activation(activation_name) for _ in hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits."""
        x = x.flatten(1)
        for layer, act in zip(self.layers, self.acts):
            x = act(layer(x))
        return _out(self.layers[-1](x), self.n_outputs)

    def observed(self) -> dict[str, str]:
        """Layer name -> the module whose output per-layer statistics read."""
        last = len(self.layers) - 1
        return {f"layers.{i}": (f"acts.{i}" if i < last else f"layers.{i}") for i in range(len(self.layers))}


def _conv(dims: int) -> type[nn.Module]:
    return {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[dims]


def spatial(in_shape: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
    """Channels and spatial size of an input for convolutions: a table row (F,) is one channel of length F."""
    if len(in_shape) == 1:
        return 1, in_shape
    if not 2 <= len(in_shape) <= 4:
        raise ValueError(f"convolutions need inputs of 1 to 3 spatial dimensions, got shape {in_shape}")
    return in_shape[0], in_shape[1:]


class CNN(nn.Module):
    """3x3 convolutions (padding 1), each followed by the activation, with stride 2 while the size allows
    (downsampling by strided convolutions, as ResNets do, instead of max pooling: measured 1.6x faster to train
    as vmapped copies on digits, 2.6 vs 4.1 ms a step); then a Linear layer on the flattened features."""

    def __init__(self, in_shape: tuple[int, ...], n_outputs: int, channels: tuple[int, ...],
                 activation_name: str = "relu") -> None:
        super().__init__()
        self.n_outputs = n_outputs
        c_in, size = spatial(in_shape)
        conv = _conv(len(size))
        self.convs, self.acts = nn.ModuleList(), nn.ModuleList()
        for c in channels:
            shrink = all(s >= 2 for s in size)
            self.convs.append(conv(c_in, c, 3, padding=1, stride=2 if shrink else 1))
            self.acts.append(activation(activation_name))
            size = tuple((s + 1) // 2 for s in size) if shrink else size
            c_in = c
        self.head = nn.Linear(c_in * math.prod(size), n_outputs)
        self.in_shape = tuple(in_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits."""
        if len(self.in_shape) == 1:
            x = x.unsqueeze(1)
        for conv, act in zip(self.convs, self.acts):
            x = act(conv(x))
        return _out(self.head(x.flatten(1)), self.n_outputs)

    def observed(self) -> dict[str, str]:
        """Layer name -> the module whose output per-layer statistics read."""
        return {**{f"convs.{i}": f"acts.{i}" for i in range(len(self.convs))}, "head": "head"}


class Block(nn.Module):
    """A residual block without normalization: act(x + conv2(act(conv1(x))))."""

    def __init__(self, conv: type[nn.Module], width: int, activation_name: str) -> None:
        super().__init__()
        self.conv1 = conv(width, width, 3, padding=1)
        self.act1 = activation(activation_name)
        self.conv2 = conv(width, width, 3, padding=1)
        self.act2 = activation(activation_name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block's output."""
        return self.act2(x + self.conv2(self.act1(self.conv1(x))))


class ResNet(nn.Module):
    """A 3x3 stem convolution to `width` channels, `depth` residual blocks, global average pooling, Linear."""

    def __init__(self, in_shape: tuple[int, ...], n_outputs: int, width: int = 16, depth: int = 3,
                 activation_name: str = "relu") -> None:
        super().__init__()
        self.n_outputs = n_outputs
        c_in, size = spatial(in_shape)
        conv = _conv(len(size))
        self.stem = conv(c_in, width, 3, padding=1)
        self.stem_act = activation(activation_name)
        self.blocks = nn.ModuleList(Block(conv, width, activation_name) for _ in range(depth))
        self.head = nn.Linear(width, n_outputs)
        self.in_shape = tuple(in_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits."""
        if len(self.in_shape) == 1:
            x = x.unsqueeze(1)
        x = self.stem_act(self.stem(x))
        for block in self.blocks:
            x = block(x)
        return _out(self.head(x.flatten(2).mean(-1)), self.n_outputs)

    def observed(self) -> dict[str, str]:
        """Layer name -> the module whose output per-layer statistics read."""
        out = {"stem": "stem_act"}
        for i in range(len(self.blocks)):
            out[f"blocks.{i}.conv1"] = f"blocks.{i}.act1"
            out[f"blocks.{i}.conv2"] = f"blocks.{i}.act2"
        out["head"] = "head"
        return out


def build(name: str, in_shape: tuple[int, ...], n_outputs: int, hidden: tuple[int, ...], activation_name: str,
          channels: tuple[int, ...], depth: int) -> nn.Module:
    """A fresh built-in model."""
    if name == "linear":
        return Dense(in_shape, n_outputs)
    if name == "mlp":
        return MLP(in_shape, n_outputs, hidden, activation_name)
    if name == "cnn":
        return CNN(in_shape, n_outputs, channels, activation_name)
    return ResNet(in_shape, n_outputs, channels[0], depth, activation_name)

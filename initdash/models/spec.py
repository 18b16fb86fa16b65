"""A model as a spec any process can rebuild: a built-in name with its sizes, or a user's file or module.

No torch here: the command line, the config and the store read specs before torch is imported.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

from initdash.errors import UserError

BUILTIN_MODELS = ("linear", "mlp", "cnn", "resnet")
# The activations, once: each name and the torch.nn module that computes it (named, so this file imports no
# torch); the built-in models build these modules and the hand-written engine calls them.
ACTIVATION_CLASSES = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "gelu": "GELU", "elu": "ELU",
                      "selu": "SELU", "silu": "SiLU", "leaky_relu": "LeakyReLU", "linear": "Identity"}
ACTIVATIONS = tuple(ACTIVATION_CLASSES)
DEFAULT_HIDDEN = (32, 32)  # `--model mlp` without --hidden
DEFAULT_CHANNELS = (16, 32)
DEFAULT_DEPTH = 3
MAX_WIDTH = 1 << 20  # units or channels of one layer
MAX_DEPTH = 1000

DESCRIPTIONS = {
    "linear": "one Dense layer on the flattened input: the lesson's model (sigmoid, or softmax for k classes)",
    "mlp": "Dense layers with --hidden sizes and --activation between them (flattened input)",
    "cnn": "3x3 convolutions with --channels (stride 2 while the size allows), each followed by --activation, "
           "then Dense",
    "resnet": "a 3x3 stem convolution, --depth residual blocks (conv-act-conv plus the identity), global "
              "average pooling, Dense; width = the first of --channels",
}


def digest(text: str) -> str:
    """The content hash a session records for a model or data file."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ModelSpec:
    """Which model every run trains: a built-in with its sizes, or `FILE.py:NAME` / `package.module:NAME`.

    A file's text travels with the spec (`source`, shipped to other processes) and its hash (`digest`) is
    recorded, so a session can tell when its model file changed.
    """

    name: str = "linear"
    hidden: tuple[int, ...] = ()
    activation: str = "relu"
    channels: tuple[int, ...] = DEFAULT_CHANNELS
    depth: int = DEFAULT_DEPTH
    width: int | None = None  # a user's builder is called with width= (a grid's width axis); built-ins: sizes
    source: str | None = field(default=None, compare=False, repr=False)
    digest: str = ""

    def __post_init__(self) -> None:
        name = self.name.strip()
        if name == "linear" and self.hidden:
            name = "mlp"  # --hidden without --model keeps meaning an MLP
        object.__setattr__(self, "name", name)
        if name == "mlp" and not self.hidden:
            object.__setattr__(self, "hidden", DEFAULT_HIDDEN)
        if not self.builtin and ":" not in name:
            raise UserError(f"unknown model {name!r}: choose from {', '.join(BUILTIN_MODELS)}, or give "
                            "FILE.py:NAME or package.module:NAME (see --list-models)")
        if self.activation not in ACTIVATIONS:
            raise UserError(f"unknown activation {self.activation!r} (choose from {', '.join(ACTIVATIONS)})")
        for flag, sizes in (("--hidden", self.hidden), ("--channels", self.channels)):
            if not all(1 <= s <= MAX_WIDTH for s in sizes):
                raise UserError(f"{flag} sizes must be between 1 and {MAX_WIDTH}, got {','.join(map(str, sizes))}")
        if not self.channels:
            raise UserError("--channels needs at least one size")
        if self.width is not None and (self.builtin or not 1 <= self.width <= MAX_WIDTH):
            raise UserError(f"a model's width must be between 1 and {MAX_WIDTH}, for a user's model only")
        if not 1 <= self.depth <= MAX_DEPTH:
            raise UserError(f"--depth must be between 1 and {MAX_DEPTH}, got {self.depth}")

    @property
    def builtin(self) -> bool:
        """True for linear, mlp, cnn and resnet."""
        return self.name in BUILTIN_MODELS

    @property
    def fast(self) -> bool:
        """True where the hand-written batched engine applies (Linear layers and an elementwise activation)."""
        return self.name in ("linear", "mlp")

    @property
    def label(self) -> str:
        """How headers and the history name it: `linear`, `mlp 64-64 tanh`, `cnn 16,32`, `mynet.py:build`."""
        act = "" if self.activation == "relu" else f" {self.activation}"
        if self.name == "mlp":
            same = len(self.hidden) > 3 and len(set(self.hidden)) == 1
            sizes = f"{len(self.hidden)}x{self.hidden[0]}" if same else "-".join(map(str, self.hidden))
            return f"mlp {sizes}{act}"
        if self.name == "cnn":
            return f"cnn {','.join(map(str, self.channels))}{act}"
        if self.name == "resnet":
            return f"resnet depth {self.depth} width {self.channels[0]}{act}"
        if self.builtin:
            return self.name
        path, _, attr = self.name.rpartition(":")
        width = "" if self.width is None else f" width {self.width}"
        return f"{path.replace(chr(92), '/').rsplit('/', 1)[-1]}:{attr}{width}"

    def settings(self) -> dict[str, Any]:
        """The settings that define this model (JSON-ready; what the history stores)."""
        d: dict[str, Any] = {"name": self.name}
        if self.name == "mlp":
            d.update(hidden=list(self.hidden), activation=self.activation)
        elif self.name in ("cnn", "resnet"):
            d.update(channels=list(self.channels), activation=self.activation)
            if self.name == "resnet":
                d["depth"] = self.depth
        if self.width is not None:
            d["width"] = self.width
        if self.digest:
            d["digest"] = self.digest
        return d

    @classmethod
    def from_settings(cls, d: dict[str, Any]) -> ModelSpec:
        """The spec that settings() described (the source of a file model is read again when needed)."""
        return cls(name=d.get("name", "linear"), hidden=tuple(d.get("hidden", ())),
                   activation=d.get("activation", "relu"), channels=tuple(d.get("channels", DEFAULT_CHANNELS)),
                   depth=int(d.get("depth", DEFAULT_DEPTH)), width=d.get("width"), digest=d.get("digest", ""))

    def at_width(self, width: int) -> ModelSpec:
        """This model at `width`: an mlp's every hidden layer; a cnn's channels scaled in --channels' proportions
        to a first convolution of `width`; a resnet's channels; a user's builder gets width= (linear has none)."""
        if not 1 <= width <= MAX_WIDTH:
            raise UserError(f"--width sizes must be between 1 and {MAX_WIDTH}, got {width}")
        if self.name == "linear":
            raise UserError("--width: the linear model has no hidden layer to widen (use --model mlp, cnn, resnet "
                            "or your own)")
        if self.name == "mlp":
            return replace(self, hidden=(width,) * len(self.hidden))
        if self.name == "cnn":
            first = self.channels[0]
            return replace(self, channels=tuple(max(1, round(c * width / first)) for c in self.channels))
        if self.name == "resnet":
            return replace(self, channels=(width,))
        return replace(self, width=width)

    def with_source(self, source: str) -> ModelSpec:
        """This spec carrying a model file's text (and its hash)."""
        return replace(self, source=source, digest=digest(source))

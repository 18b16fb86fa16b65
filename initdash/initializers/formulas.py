"""The catalog's formulas: drawing one weight in place with given fans, and the std each formula promises.

Fans come from the weight's role (models/roles.py: Keras' fans for the matching Keras layer), not from the
tensor's shape, so an Embedding, a Bilinear or each of attention's q, k, v gets Keras' numbers. For a Dense or
Conv weight the two agree, and the draws are the ones torch.nn.init makes (same calls, same arguments).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from initdash.initializers.catalog import TRUNCATION_STD_CORRECTION

if TYPE_CHECKING:
    import torch

# torch.nn.init's gains for its kaiming_* defaults (leaky_relu, a=0) and for nn.Linear's own (a=sqrt(5)).
_KAIMING_GAIN = math.sqrt(2.0 / (1 + 0 ** 2))
_TORCH_DEFAULT_GAIN = math.sqrt(2.0 / (1 + math.sqrt(5) ** 2))


def _fan(mode: str, fan_in: int, fan_out: int) -> float:
    return {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[mode]


def _variance_scaling(w: torch.Tensor, g: torch.Generator, scale: float, mode: str, distribution: str,
                      fan_in: int, fan_out: int) -> None:
    import torch.nn.init as tinit

    scale = scale / max(1.0, _fan(mode, fan_in, fan_out))
    if distribution == "truncated_normal":
        std = math.sqrt(scale) / TRUNCATION_STD_CORRECTION
        tinit.trunc_normal_(w, 0.0, std, -2.0 * std, 2.0 * std, generator=g)
    elif distribution == "untruncated_normal":
        tinit.normal_(w, 0.0, math.sqrt(scale), generator=g)
    else:
        limit = math.sqrt(3.0 * scale)
        tinit.uniform_(w, -limit, limit, generator=g)


def draw(name: str, p: Mapping[str, Any], w: torch.Tensor, g: torch.Generator, fan_in: int, fan_out: int) -> None:
    """Fill `w` in place with catalog entry `name` (parameters `p` resolved), drawing from `g`."""
    import torch.nn.init as tinit

    if name == "zeros":
        tinit.zeros_(w)
    elif name == "ones":
        tinit.ones_(w)
    elif name == "constant":
        tinit.constant_(w, float(p["value"]))
    elif name == "random_uniform":
        tinit.uniform_(w, float(p["low"]), float(p["high"]), generator=g)
    elif name == "random_normal":
        tinit.normal_(w, float(p["mean"]), float(p["std"]), generator=g)
    elif name == "truncated_normal":
        mean, std = float(p["mean"]), float(p["std"])
        tinit.trunc_normal_(w, mean, std, mean - 2 * std, mean + 2 * std, generator=g)
    elif name == "orthogonal":
        tinit.orthogonal_(w, float(p["gain"]), generator=g)
    elif name == "lsuv":  # the data-dependent rescaling follows (by_role.lsuv)
        tinit.orthogonal_(w, 1.0, generator=g)
    elif name in ("kaiming_normal", "kaiming_uniform", "torch_default"):  # torch.nn.init's arithmetic, Keras' fan
        std = (_TORCH_DEFAULT_GAIN if name == "torch_default" else _KAIMING_GAIN) / math.sqrt(fan_in)
        if name == "kaiming_normal":
            w.normal_(0, std, generator=g)
        else:
            bound = math.sqrt(3.0) * std
            w.uniform_(-bound, bound, generator=g)
    elif "scale" in p:  # variance_scaling and its named family
        _variance_scaling(w, g, float(p["scale"]), str(p["mode"]), str(p["distribution"]), fan_in, fan_out)
    else:  # pragma: no cover - every catalog entry is handled above
        raise ValueError(f"no rule for initializer {name}")


def expected_std(name: str, p: Mapping[str, Any], shape: tuple[int, ...], fan_in: int, fan_out: int) -> float | None:
    """The std of the weights the formula draws (about its mean); None where it depends on the data (lsuv)."""
    if name in ("zeros", "ones", "constant"):
        return 0.0
    if name == "random_uniform":
        return (float(p["high"]) - float(p["low"])) / math.sqrt(12.0)
    if name == "random_normal":
        return float(p["std"])
    if name == "truncated_normal":  # a normal cut at 2 std keeps this share of its std
        return float(p["std"]) * TRUNCATION_STD_CORRECTION
    if name == "orthogonal":  # min(rows, cols) orthonormal vectors of length max(rows, cols)
        rows = shape[0]
        cols = math.prod(shape) // rows
        return float(p["gain"]) / math.sqrt(max(rows, cols))
    if name in ("kaiming_normal", "kaiming_uniform"):
        return _KAIMING_GAIN / math.sqrt(fan_in)
    if name == "torch_default":
        return _TORCH_DEFAULT_GAIN / math.sqrt(fan_in)
    if "scale" in p:  # Keras' truncation correction makes every distribution's std this
        return math.sqrt(float(p["scale"]) / max(1.0, _fan(str(p["mode"]), fan_in, fan_out)))
    return None

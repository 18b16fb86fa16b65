"""Named experiments for demos, and TOML config files: both are layers of settings under the flags.

Precedence, lowest first: built-in defaults < --preset < --config FILE.toml < flags on the command line.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from initdash.errors import UserError, first_line
from initdash.limits import MAX_CONFIG_BYTES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DEEP_TANH = ",".join(["64"] * 8)
DEEP_RELU = ",".join(["64"] * 20)


@dataclass(frozen=True)
class Preset:
    """A named set of settings (keys are the flags' names without the dashes)."""

    name: str
    description: str
    settings: dict[str, Any] = field(default_factory=dict)


PRESETS = {p.name: p for p in (
    Preset("lesson", "the course lesson: Dense(1, sigmoid) on banknote-like data, rmsprop, batch 16, 5 epochs "
           "(the default)"),
    Preset("digits", "the lesson's recipe on scikit-learn's 8x8 digits: one Dense layer, 10-way softmax",
           {"data": "digits"}),
    Preset("digits-cnn", "a small CNN (16,32 channels) on digits, the lesson's recipe: zeros never learns",
           {"data": "digits", "model": "cnn", "channels": "16,32"}),
    Preset("deep-relu", "20x64 ReLU MLP on digits, sgd lr 0.01: he_normal and lsuv train, glorot_uniform and "
           "normal stall (He et al. 2015)",
           {"data": "digits", "hidden": DEEP_RELU, "activation": "relu", "optimizer": "sgd", "lr": 0.01,
            "batch_size": 32, "epochs": 20, "init": "he_normal,glorot_uniform,normal,lsuv"}),
    Preset("resnet", "a residual net of 8 blocks without normalization on digits: normal (std 0.05) barely "
           "learns, the variance-scaling ones do, with a wide spread across seeds",
           {"data": "digits", "model": "resnet", "depth": 8, "channels": "16",
            "init": "he_normal,glorot_uniform,orthogonal,normal"}),
    Preset("deep-tanh", "8x64 tanh MLP on moons, sgd: normal (std 0.05) vanishes with depth; glorot and lsuv "
           "keep the signal",
           {"data": "moons", "hidden": DEEP_TANH, "activation": "tanh", "optimizer": "sgd", "lr": 0.05,
            "epochs": 20, "init": "normal,glorot_uniform,lsuv,orthogonal", "layer_stats": True}),
    Preset("deep-sigmoid", "4x64 sigmoid MLP on moons, sgd lr 1: normal never learns, glorot crawls, he_normal "
           "trains, lsuv saturates (sigmoid outputs are not zero-mean)",
           {"data": "moons", "hidden": ",".join(["64"] * 4), "activation": "sigmoid", "optimizer": "sgd",
            "lr": 1.0, "epochs": 20, "init": "normal,glorot_uniform,he_normal,lsuv"}),
    Preset("lr-grid", "a grid: 8x64 ReLU MLP on digits, sgd at 6 learning rates from 0.004 to 0.4, 12 seeds: "
           "he_normal trains at small rates and peaks lower; the others need larger ones (key h)",
           {"data": "digits", "hidden": ",".join(["64"] * 8), "activation": "relu", "optimizer": "sgd",
            "lr": "0.004,0.01,0.025,0.063,0.16,0.4", "batch_size": 32, "epochs": 10, "repeats": 12,
            "init": "he_normal,lecun_uniform,glorot_uniform,orthogonal", "seed": 0}),
    Preset("width-check", "mup's coordinate check: a 4-layer ReLU MLP on digits at widths 32 to 1024; normal "
           "(a fixed std) grows with width, he_normal and lecun_normal stay flat (key g, then w)",
           {"data": "digits", "hidden": ",".join(["64"] * 4), "activation": "relu", "optimizer": "sgd",
            "lr": 0.01, "width": "32,64,128,256,512,1024", "batch_size": 32, "epochs": 3, "repeats": 2,
            "init": "normal,he_normal,lecun_normal", "layer_stats": True, "seed": 0}),
)}

def preset(name: str) -> Preset:
    """The preset called `name`, or a clear error."""
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r} (choose from {', '.join(PRESETS)}; see --list-presets)")
    return PRESETS[name]


def preset_lines() -> list[str]:
    """One line per preset, for --list-presets."""
    width = max(map(len, PRESETS))
    return [f"{p.name:<{width}}  {p.description}" for p in PRESETS.values()]


def read_config(path: Path) -> dict[str, Any]:
    """The settings of a TOML config file (flag names, dashes or underscores, each once), typed by the settings
    model; at most MAX_CONFIG_BYTES."""
    from initdash.inputs import read_limited
    from initdash.settings import file_settings

    label = f"--config {path}"
    data = read_limited(path, MAX_CONFIG_BYTES, label)
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"{label}: not a text file (cannot decode it as UTF-8)") from None
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise UserError(f"{label}: not valid TOML ({first_line(exc)})") from None
    for key, value in raw.items():
        if isinstance(value, dict):
            raise UserError(f"{label}: {key} must be a value, not a table")
    return file_settings(raw, label)

"""How big a built-in model is, by arithmetic: no torch (the command line checks memory before it loads), and
a model too large to build is still refused in words. tests/test_models.py checks it against the modules."""

from __future__ import annotations

import math


def parameter_count(name: str, in_shape: tuple[int, ...], n_outputs: int, hidden: tuple[int, ...],
                    channels: tuple[int, ...], depth: int) -> tuple[int, int]:
    """(parameters, widest activation per example) of a built-in, computed without building it (a model too
    large to build must still be refused in words)."""
    n_in = math.prod(in_shape)
    if name in ("linear", "mlp"):
        dims = [n_in, *(hidden if name == "mlp" else ()), n_outputs]
        return sum(a * b + b for a, b in zip(dims[:-1], dims[1:])), max(dims)
    c_in, size = (1, in_shape) if len(in_shape) == 1 else (in_shape[0], in_shape[1:])
    kernel = 3 ** len(size)
    if name == "cnn":
        params, widest = 0, n_in
        for c in channels:
            size = tuple((s + 1) // 2 for s in size) if all(s >= 2 for s in size) else size
            params += c_in * c * kernel + c
            widest = max(widest, c * math.prod(size))
            c_in = c
        return params + c_in * math.prod(size) * n_outputs + n_outputs, widest
    width = channels[0]
    block = 2 * (width * width * kernel + width)
    params = c_in * width * kernel + width + depth * block + width * n_outputs + n_outputs
    return params, width * math.prod(size)

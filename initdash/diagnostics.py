"""Per-layer signal statistics of MLPs: why one initializer trains and another stalls.

For every hidden layer: the standard deviation of its activations on the validation set (Glorot & Bengio
2010, figure 3) and the norm of the gradient of the validation loss with respect to its weights. Vanishing
shows as both collapsing with depth, exploding as both growing.
"""

from __future__ import annotations

import torch

from initdash.model import activation_fn


def layer_stats(weights: list[torch.Tensor], biases: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                activation: str) -> dict[str, list[list[float]]]:
    """Per model (the leading dimension R of every weight), per hidden layer: activation std and grad norm.

    weights[l] is (R, out, in), biases[l] is (R, out); x is (N, in) shared by all models; y is (N,).
    Returns {"activation_std": [[per layer] per model], "grad_norm": [...]}.
    """
    from initdash.engine import bce  # the same loss the models train on

    act = activation_fn(activation)
    ws = [w.detach().clone().requires_grad_() for w in weights]
    bs = [b.detach() for b in biases]
    h = x.expand(ws[0].shape[0], *x.shape)
    stds = []
    for i, (w, b) in enumerate(zip(ws, bs)):
        h = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
        if i < len(ws) - 1:
            h = act(h)
            stds.append(h.detach().flatten(1).std(1))
    loss = bce(h.squeeze(-1), y.expand(h.shape[0], -1)).mean(1).sum()
    grads = torch.autograd.grad(loss, ws[:-1]) if len(ws) > 1 else ()
    norms = [g.flatten(1).norm(dim=1) for g in grads]
    if not stds:
        return {"activation_std": [[] for _ in weights[0]], "grad_norm": [[] for _ in weights[0]]}
    return {"activation_std": _finite(torch.stack(stds, 1)), "grad_norm": _finite(torch.stack(norms, 1))}


def _finite(t: torch.Tensor) -> list[list[float | None]]:
    """As nested lists of floats, with None where a value overflowed (JSON has no inf or nan)."""
    return [[v if v == v and abs(v) != float("inf") else None for v in row] for row in t.double().cpu().tolist()]

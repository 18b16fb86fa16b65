"""Keras' losses and accuracy, per example: binary cross-entropy on a sigmoid for two classes, sparse
categorical cross-entropy on a softmax for k classes, probabilities clipped to [1e-7, 1 - 1e-7] as Keras'
torch backend clips them (keras/src/backend/torch/nn.py).

Written out rather than F.binary_cross_entropy / F.cross_entropy: those raise on a nan probability or do not
clip, and a diverged model's nan must become a nan loss, so that it alone stops.
"""

from __future__ import annotations

import torch

from initdash.engine.optim import EPSILON


def bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of sigmoid(logits) against 0/1 targets, per example."""
    p = torch.sigmoid(logits).clamp(EPSILON, 1 - EPSILON)
    return -(target * torch.log(p) + (1 - target) * torch.log(1 - p))


def sparse_cce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sparse categorical cross-entropy of softmax(logits) (classes on the last axis) against class indices."""
    p = torch.softmax(logits, -1).clamp(EPSILON, 1 - EPSILON)
    return -torch.log(p.gather(-1, target.long().unsqueeze(-1)).squeeze(-1))


class Head:
    """The loss and accuracy of a model with `n_outputs` outputs: 1 (binary, logits (..., N)) or k (k classes,
    logits (..., N, k)). Targets are class indices (float 0/1 for binary)."""

    def __init__(self, n_outputs: int) -> None:
        self.n_outputs = n_outputs
        self.binary = n_outputs == 1

    def outputs(self, out: torch.Tensor) -> torch.Tensor:
        """A model's output as logits of this head: a binary model may answer (batch, 1) or (batch,)."""
        return out.squeeze(-1) if self.binary and out.shape[-1:] == (1,) else out

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-example loss, as the models train on it."""
        return bce(logits, target) if self.binary else sparse_cce(logits, target)

    def correct(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per example: does the prediction (logit > 0, or the arg max) hit the class?"""
        if self.binary:
            return (logits > 0) == (target == 1)
        return logits.argmax(-1) == target.long()

    def sums(self, logits: torch.Tensor, target: torch.Tensor, cut: int) -> tuple[torch.Tensor, ...]:
        """Per model (leading axis), for the examples before `cut` and for those after it: the summed loss
        (float64, so zeros-init loss is ln 2 to the last digit) and the number of hits; logits (R, N[, k]).
        A model's sums do not depend on the other rows (checked for 1 to 9 models, 1 to 1372 rows: float64's
        vector and scalar sigmoid, softmax and log agree, unlike float32's, engine/fast.py)."""
        if self.binary:
            # bce() for 0/1 targets is -log of the clipped probability of the true class, sigmoid(+-logit).
            sign = target * 2.0 - 1
            log_p = torch.sigmoid((logits * sign).double()).clamp_(EPSILON, 1 - EPSILON).log_()
        else:
            p = torch.softmax(logits.double(), -1).clamp_(EPSILON, 1 - EPSILON)
            log_p = p.gather(-1, target.long().expand(*logits.shape[:-1]).unsqueeze(-1)).squeeze(-1).log_()
        hits = self.correct(logits, target)
        return -log_p[:, :cut].sum(-1), hits[:, :cut].sum(-1), -log_p[:, cut:].sum(-1), hits[:, cut:].sum(-1)

    def dlogits(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """d(mean loss over the batch)/d(logits) for the hand-written engine: logits (R, B, n_outputs), target (R, B).

        (p - onehot) / B where the clip lets the true class's probability through, 0 where it holds it
        (autograd's clamp passes [lo, hi], bounds included). A nan p stays nan (nan * 0) and spreads to all of
        its model's weights, so the epoch's evaluation sees it.
        """
        batch = logits.shape[1]
        if self.binary:
            p = torch.sigmoid(logits)
            return (p - target.unsqueeze(-1)).mul_(p.clamp(EPSILON, 1 - EPSILON) == p).mul_(1 / batch)
        p = torch.softmax(logits, -1)
        index = target.long().unsqueeze(-1)
        p_true = p.gather(-1, index)
        grad = p.scatter_add(-1, index, torch.full_like(p_true, -1.0))
        return grad.mul_(p_true.clamp(EPSILON, 1 - EPSILON) == p_true).mul_(1 / batch)

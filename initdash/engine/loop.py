"""The training loop every engine shares: epochs, per-model shuffling, evaluation, divergence, cancellation.

An engine is a Stack: R models trained as one (the hand-written fast path, torch.func's vmap, or plain
modules one at a time). The loop owns everything else, so all engines follow the same rules: each model
shuffles with its own generator; metrics are evaluated on the whole training and validation sets after
every epoch (epoch 0: before training); a model whose metrics are not finite stops as diverged.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import numpy as np
import torch

from initdash.engine.losses import Head
from initdash.events import CANCELLED, DIVERGED, METRICS, OK, EpochReport, RunOutcome

EpochCallback = Callable[[EpochReport], None]
EVAL_FLOATS = 1 << 22  # activations evaluated at once, summed over models (16 MB of float32)
GATHER_FLOATS = 1 << 24  # an epoch's shuffled inputs are gathered at once below this size, else per batch
SIGNAL_ROWS = 4096  # per-layer statistics read at most this many validation rows


class Stack(Protocol):
    """R models trained as one."""

    r: int
    eval_width: int  # floats of activation per example and model while evaluating
    tail_guard: bool  # step() takes R + 1 batches, the last model's again (engine/fast.py says why)

    def step(self, xb: torch.Tensor, yb: torch.Tensor) -> None:
        """One optimizer step of every model on its own batch: xb (R, B, ...), yb (R, B) (R + 1 with tail_guard)."""

    def logits(self, x: torch.Tensor, models: slice) -> torch.Tensor:
        """Evaluation-mode logits of the models in `models` (a slice of range(R)) for shared rows x (N, ...):
        (M, N) or (M, N, k). A model's logits do not depend on which others are in the slice, or how many."""

    def layer_stats(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, list[list[float | None]]]:
        """Per model, per layer: activation std and weight-gradient norm on (x, y); {} when not recorded."""


def finite_lists(t: torch.Tensor) -> list[list[float | None]]:
    """Rows of floats, None where a value is not finite (JSON has no inf or nan)."""
    return [[v if math.isfinite(v) else None for v in row] for row in t.double().cpu().tolist()]


def _batches(x: torch.Tensor, y: torch.Tensor, perms: torch.Tensor, size: int) -> Iterator[tuple[torch.Tensor, ...]]:
    """Each model's mini-batches in its own order: (R, B, ...) inputs and (R, B) targets."""
    if perms.numel() * max(1, x[0].numel()) <= GATHER_FLOATS:
        xs, ys = x[perms], y[perms]  # one gather per epoch: cheapest for small data
        yield from zip(xs.split(size, 1), ys.split(size, 1))
        return
    for start in range(0, perms.shape[1], size):  # large data: memory stays a batch per model
        idx = perms[:, start:start + size]
        yield x[idx], y[idx]


def run(stack: Stack, head: Head, tensors: tuple[torch.Tensor, ...], gens: Sequence[torch.Generator],
        seeds: Sequence[int], epochs: int, batch_size: int, cancel: threading.Event | None = None,
        on_epoch: EpochCallback | None = None, epoch_guard: Callable[[], object] | None = None,
        layer_stats: bool = True) -> list[RunOutcome]:
    """Train the stack's R models for `epochs` epochs; one outcome per model, in order.

    `epoch_guard`, if given, is a context manager factory entered around every epoch (the generic engine
    keeps each unit's own random stream for dropout in it). Per-layer statistics are recorded only with
    `layer_stats`: they cost a forward and a backward pass of every model on SIGNAL_ROWS rows every epoch.
    """
    x, y, xv, yv = tensors
    n, r = len(y), stack.r
    device = x.device
    histories: list[list[dict]] = [[] for _ in range(r)]
    status = [OK] * r
    x_all, y_all = torch.cat([x, xv]), torch.cat([y, yv])  # train and validation metrics in one pass
    signal_x, signal_y = xv[:SIGNAL_ROWS], yv[:SIGNAL_ROWS]
    # Rows per pass: a fixed number (whatever R is), so a model's sums are grouped alike in a unit of any size;
    # models per pass: as many as the memory bound lets through with them.
    span = max(1, EVAL_FLOATS // max(1, stack.eval_width))
    group = max(1, EVAL_FLOATS // (min(span, len(x_all)) * max(stack.eval_width, head.n_outputs)))

    def evaluate(epoch: int) -> None:
        parts = []
        for first in range(0, r, group):
            models, sums = slice(first, min(first + group, r)), []
            for start in range(0, len(x_all), span):
                with torch.no_grad():
                    logits = stack.logits(x_all[start:start + span], models)
                part = y_all[start:start + span]
                cut = min(max(n - start, 0), len(part))  # rows of this pass that are training rows
                sums.append(head.sums(logits, part, cut))
            parts.append([_total([s[k] for s in sums]) for k in range(4)])
        train_loss, train_hits, val_loss, val_hits = (torch.cat([p[k] for p in parts]) for k in range(4))
        nv = len(y_all) - n
        table = torch.stack([train_loss / n, train_hits.double() / n, val_loss / nv, val_hits.double() / nv],
                            1).cpu().numpy()
        finite, rows = np.isfinite(table).all(1), table.tolist()
        stats = stack.layer_stats(signal_x, signal_y) if layer_stats else {}
        for i in range(r):
            if status[i] != OK:
                continue
            if not finite[i]:
                status[i] = DIVERGED
                continue
            histories[i].append({"epoch": epoch, **dict(zip(METRICS, rows[i])),
                                 **{k: v[i] for k, v in stats.items()}})
        if on_epoch:
            values = {m: tuple(row[j] if st == OK else math.nan for row, st in zip(rows, status))
                      for j, m in enumerate(METRICS)}
            layers = {k: tuple(tuple(row) for row in v) for k, v in stats.items()}
            on_epoch(EpochReport(epoch, values, tuple(status), layers))

    def outcomes(cancelled: bool = False) -> list[RunOutcome]:
        return [RunOutcome(s, CANCELLED if cancelled and st == OK else st, tuple(h))
                for s, st, h in zip(seeds, status, histories)]

    evaluate(0)
    for epoch in range(1, epochs + 1):
        if all(s != OK for s in status):
            break
        perms = _orders(gens, n)
        perms = (torch.cat([perms, perms[-1:]]) if stack.tail_guard else perms).to(device)
        guard = epoch_guard() if epoch_guard is not None else None
        if guard is not None:
            guard.__enter__()
        try:
            for xb, yb in _batches(x, y, perms, batch_size):
                if cancel is not None and cancel.is_set():
                    return outcomes(cancelled=True)
                stack.step(xb, yb)
        finally:
            if guard is not None:
                guard.__exit__(None, None, None)
        del perms  # before evaluate(): its callback may wait for other workers' turns holding what we hold
        evaluate(epoch)
    return outcomes()


def _orders(gens: Sequence[torch.Generator], n: int) -> torch.Tensor:
    """Each model's order of the epoch, one row per generator (randperm's own draws, written in place), stored
    as int32 where rows allow: half of int64, so 1M rows x 20 models is 80 MB, not 160."""
    perms = torch.empty(len(gens), n, dtype=torch.int32 if n < 2**31 else torch.int64)
    for row, g in zip(perms, gens):
        torch.randperm(n, generator=g, out=row)
    return perms


def _total(parts: list[torch.Tensor]) -> torch.Tensor:
    """Sum per-chunk sums (one chunk: the sum itself, bit for bit)."""
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return total

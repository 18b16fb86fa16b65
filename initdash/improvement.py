"""The probability of improvement (rliable's effect size) and its stratified bootstrap interval.

numpy is imported inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

from initdash.events import METRICS

CONFIDENCE = 0.95
MIN_N = 3  # fewer runs than this on either side: no interval
LOWER_IS_BETTER = frozenset({"loss", "val_loss"})
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0  # fixed: the same runs give the same interval on every redraw and every machine


def check_metric(metric: str) -> None:
    """ValueError for a metric that is not one of METRICS."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r} (choose from {', '.join(METRICS)})")


def probability_of_improvement(a: Sequence[float], b: Sequence[float], metric: str,
                               confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """P(a random run of A ends better than a random run of B), ties counting half, with its bootstrap CI.

    That is the Mann-Whitney U of A against B over n_a * n_b (rliable's "probability of improvement",
    Agarwal et al. 2021). Returns (p, low, high): all nan when either side has no runs; low and high nan when
    either side has fewer than MIN_N runs.
    """
    check_metric(metric)
    return _improvement(tuple(a), tuple(b), metric in LOWER_IS_BETTER, confidence)


@lru_cache(maxsize=1024)  # the dashboard recomputes on every redraw; finished sweeps' values do not change
def _improvement(a: tuple[float, ...], b: tuple[float, ...], lower: bool,
                 confidence: float) -> tuple[float, float, float]:
    if not a or not b:
        return math.nan, math.nan, math.nan
    import numpy as np

    sign = -1.0 if lower else 1.0
    x, y = sign * np.asarray(a, dtype=float), np.sort(sign * np.asarray(b, dtype=float))
    # For each run of A: how many runs of B it beats (strictly below it) plus half of those it ties.
    below, up_to = np.searchsorted(y, x, "left"), np.searchsorted(y, x, "right")
    p = float((below + up_to).sum() / (2.0 * x.size * y.size))
    if x.size < MIN_N or y.size < MIN_N:
        return p, math.nan, math.nan
    # Percentile bootstrap, stratified: A's runs and B's runs are resampled independently, as rliable does.
    # Not scipy.stats.bootstrap: it hands the statistic resampled data, and U on 2000 resamples of 50 x 50
    # runs costs ~15 ms a pair there (~150 ms for 5 initializers), over our 50 ms budget. Here a resample is
    # a count per run, B's counts are summed in sorted order, and U is a weighted sum: O(resamples (n_a + n_b)).
    # Percentile, not BCa: rliable's choice, and P(B beats A) = 1 - P(A beats B) with the interval mirrored
    # exactly; BCa's bias correction is not symmetric when resamples tie with the estimate (U is discrete).
    # Resamples go in blocks of at most 2**19 counts a side, so memory stays bounded however many runs there are.
    block = max(1, min(BOOTSTRAP_RESAMPLES, 2**19 // max(x.size, y.size)))
    ps = np.empty(BOOTSTRAP_RESAMPLES)
    for start in range(0, BOOTSTRAP_RESAMPLES, block):
        rows = min(block, BOOTSTRAP_RESAMPLES - start)
        w_a, w_b = _resample_counts(0, x.size, start, rows), _resample_counts(1, y.size, start, rows)
        beaten = np.zeros((rows, y.size + 1))
        np.cumsum(w_b, axis=1, out=beaten[:, 1:])  # beaten[:, k]: resampled runs of B among its k lowest
        score = beaten.take(below, axis=1) + beaten.take(up_to, axis=1)  # per run of A: 2 x runs of B it beats
        ps[start:start + rows] = np.einsum("ri,ri->r", w_a, score)
    ps /= 2.0 * x.size * y.size
    tail = 50.0 * (1.0 - confidence)
    low, high = np.percentile(ps, [tail, 100.0 - tail])
    return p, float(low), float(high)


@lru_cache(maxsize=8)  # every pair with the same n reuses them: half the cost of a pair (at most 4 MB each)
def _resample_counts(side: int, n: int, start: int, rows: int):
    """Resamples start..start+rows of n runs: how often each run is drawn when drawing n with replacement.

    Side 0 (A) and side 1 (B) draw from their own seeded streams, so A and B are resampled independently.
    """
    import numpy as np

    rng = np.random.default_rng([BOOTSTRAP_SEED, side, n, start])
    draws = rng.integers(0, n, (rows, n)) + n * np.arange(rows)[:, None]
    counts = np.bincount(draws.ravel(), minlength=rows * n).reshape(rows, n).astype(float)
    counts.flags.writeable = False  # shared by every caller
    return counts


def iqm(values: Sequence[float]) -> float:
    """rliable's interquartile mean: the mean of the middle 50% of the values (scipy's trim_mean); nan for none."""
    if not values:
        return math.nan
    from scipy import stats as sps

    return float(sps.trim_mean(values, 0.25))

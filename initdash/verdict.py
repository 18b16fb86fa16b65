"""The tests behind "clear": exact rank tests at the 5% level, Holm across every pair, and how many runs it takes.

- Paired runs (the paired design: repeat k of two initializers shared its data order): the Wilcoxon
  signed-rank test on the per-repeat differences. Independent runs: the Mann-Whitney U test.
- Exact: scipy's exact distributions where the values have no ties; with ties (accuracies are counts, so
  ties are common) the exact distribution of the statistic given the tied ranks, counted below, because
  scipy's exact methods assume no ties and its permutation route takes seconds a pair. The normal
  approximation (scipy's, with its tie correction) only where counting would be too slow.
- Holm over every pair of initializers: the best one is picked from the same data, so a comparison with it
  is one of all the pairs the data could have singled out (Holm over only the comparisons with the best
  calls noise clear ~8% of the time for five initializers, measured).

numpy and scipy are imported inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from initdash.session import SweepRecord

if TYPE_CHECKING:
    import numpy as np

ALPHA = 0.05  # "clear": the test rejects "no difference" at this level, after Holm
POWER = 0.8  # the estimate of runs that would make a difference clear: this often
TestName = Literal["Wilcoxon signed-rank", "Mann-Whitney U"]
WILCOXON: TestName = "Wilcoxon signed-rank"
MANN_WHITNEY: TestName = "Mann-Whitney U"
SCIPY_EXACT_MAX = 50  # scipy's exact signed-rank distribution up to this many differences (its own "auto")
# Counting the exact distribution above this many steps (~0.1 s; ~43 runs a side for Mann-Whitney with ties,
# ~270 pairs for the signed-rank test): the normal approximation, already close there.
COUNT_MAX = 2 * 10**7


def pair_count(k: int) -> int:
    """The pairs among k initializers: the family Holm corrects over."""
    return k * (k - 1) // 2


def holm(p: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values over the last axis (nan entries are not comparisons and stay nan)."""
    import numpy as np

    p = np.asarray(p, dtype=float)
    m = (~np.isnan(p)).sum(-1, keepdims=True)
    filled = np.where(np.isnan(p), np.inf, p)
    order = np.argsort(filled, -1, kind="stable")
    ranked = np.take_along_axis(filled, order, -1)
    factors = np.maximum(m - np.arange(p.shape[-1]), 1)  # the nan entries sort last: their factor is moot
    adjusted = np.maximum.accumulate(ranked * factors, -1).clip(max=1.0)
    out = np.empty_like(adjusted)
    np.put_along_axis(out, order, adjusted, -1)
    return np.where(np.isnan(p), np.nan, out)


def p_values(a: np.ndarray, b: np.ndarray, paired: bool) -> np.ndarray:
    """Two-sided p-values of "no difference" between rows of a and rows of b: (R, n_a) and (R, n_b) -> (R,).

    Paired rows are matched (a[r, i] and b[r, i] share repeat i): Wilcoxon signed-rank on a - b, zero
    differences dropped (Wilcoxon's convention). Otherwise Mann-Whitney U. Tie-free rows go to scipy at once.
    """
    import numpy as np

    a, b = np.atleast_2d(np.asarray(a, dtype=float)), np.atleast_2d(np.asarray(b, dtype=float))
    out = np.full(a.shape[0], np.nan)
    if a.shape[1] == 0 or b.shape[1] == 0:
        return out
    if paired:
        d = a - b
        plain = np.array([_distinct(row) and (row != 0).all() for row in np.abs(d)])
        if d.shape[1] > SCIPY_EXACT_MAX:
            plain[:] = False
        if plain.any():
            from scipy import stats as sps

            out[plain] = sps.wilcoxon(d[plain], axis=-1, method="exact").pvalue
        for r in np.flatnonzero(~plain):
            out[r] = _signed_rank_p(d[r])
        return out
    both = np.concatenate([a, b], axis=1)
    plain = np.array([_distinct(row) for row in both])
    if plain.any():
        from scipy import stats as sps

        out[plain] = sps.mannwhitneyu(a[plain], b[plain], axis=-1, method="exact").pvalue
    for r in np.flatnonzero(~plain):
        out[r] = _rank_sum_p(a[r], b[r])
    return out


def _distinct(row: np.ndarray) -> bool:
    import numpy as np

    return np.unique(row).size == row.size


def _two_sided(counts: np.ndarray, at: int) -> float:
    """2 x the smaller tail at `at` of a distribution given as counts, at most 1."""
    total = counts.sum()
    return float(min(1.0, 2.0 * min(counts[:at + 1].sum(), counts[at:].sum()) / total))


def _signed_rank_p(d: np.ndarray) -> float:
    """Exact signed-rank p-value given the tied ranks (each |d|'s sign is a fair coin under no difference)."""
    import numpy as np
    from scipy import stats as sps

    d = d[d != 0]
    if d.size == 0:
        return 1.0  # every pair ended the same: nothing speaks for either
    twice = np.rint(2 * sps.rankdata(np.abs(d))).astype(int)  # midranks are halves: doubled, whole
    if d.size * twice.sum() > COUNT_MAX:
        return float(sps.wilcoxon(d, method="asymptotic").pvalue)
    dist = np.zeros(twice.sum() + 1)
    dist[0] = 1.0
    top = 0
    for r in twice:  # each rank adds itself or nothing, half and half
        dist[r:top + r + 1] += dist[:top + 1].copy()
        dist[:top + r + 1] *= 0.5
        top += r
    return _two_sided(dist, int(twice[d > 0].sum()))


def _rank_sum_p(a: np.ndarray, b: np.ndarray) -> float:
    """Exact rank-sum (Mann-Whitney) p-value given the tied ranks: every split of the pooled runs equally likely."""
    import numpy as np
    from scipy import stats as sps

    twice = np.rint(2 * sps.rankdata(np.concatenate([a, b]))).astype(int)
    k = a.size
    top = int(np.sort(twice)[-k:].sum())
    if twice.size * k * top > COUNT_MAX:
        return float(sps.mannwhitneyu(a, b, method="asymptotic").pvalue)
    ways = np.zeros((k + 1, top + 1))  # ways[j, s]: subsets of j runs whose doubled ranks sum to s
    ways[0, 0] = 1.0
    for r in twice:
        ways[1:, r:] = ways[1:, r:] + ways[:-1, :top + 1 - r]
    return _two_sided(ways[k], int(twice[:k].sum()))


def smallest_p(n_a: int, n_b: int, paired: bool) -> float:
    """The smallest two-sided p-value these counts allow (no ties): what the runs could show at best."""
    if min(n_a, n_b) == 0:
        return 1.0
    if paired:
        return min(1.0, 2.0 / 2.0 ** min(n_a, n_b))
    return min(1.0, 2.0 / math.comb(n_a + n_b, n_a))


def runs_needed(family: int, paired: bool) -> int:
    """The fewest runs each for which a result can be clear at all (Holm over `family` pairs)."""
    n = 1
    while smallest_p(n, n, paired) * max(family, 1) >= ALPHA:
        n += 1
    return n


def runs_estimate(effect: float, family: int, paired: bool) -> int | None:
    """Runs each that would make a difference of this size clear 80% of the time (Noether's formula); None when
    there is no difference to make clear.

    `effect`: independent, P(a run of A beats a run of B); paired, P(the mean of two differences > 0).
    """
    from scipy import stats as sps

    gap = abs(effect - 0.5)
    if not gap > 1e-9:
        return None
    z = float(sps.norm.ppf(1 - ALPHA / (2 * max(family, 1))) + sps.norm.ppf(POWER))
    n = z * z / ((3.0 if paired else 6.0) * gap * gap)  # Noether 1987: paired n; independent n per side
    return max(math.ceil(n), runs_needed(family, paired))


def walsh_effect(d: np.ndarray) -> float:
    """P((d_i + d_j) / 2 > 0) over the Walsh averages (i <= j), ties counting half: the signed-rank test's effect."""
    import numpy as np

    d = np.asarray(d, dtype=float)
    if d.size == 0:
        return math.nan
    i, j = np.triu_indices(d.size)
    s = d[i] + d[j]
    return float(((s > 0).sum() + 0.5 * (s == 0).sum()) / s.size)


def repeat_finals(sweep: SweepRecord, label: str, metric: str) -> list[float | None]:
    """Per repeat of one initializer in one sweep: its final value, or None (diverged, failed, not trained)."""
    run = sweep.initializers.get(label)
    return [] if run is None else run.final_by_repeat(metric)


def matched(sweeps: Sequence[SweepRecord], a: str, b: str, metric: str) -> tuple[list[float], list[float]]:
    """Final values of a and b paired by sweep and repeat, where both have one (the paired design's pairs)."""
    xs, ys = [], []
    for sweep in sweeps:
        for x, y in zip(repeat_finals(sweep, a, metric), repeat_finals(sweep, b, metric)):
            if x is not None and y is not None:
                xs.append(x)
                ys.append(y)
    return xs, ys

"""How often the verdict says "clear", by simulation: the tests' figures and benchmarks/verdict_error_rates.py's.

Each case: k initializers with n runs each, values drawn from normal distributions (the first one `shift`
standard deviations higher); the best is the one with the highest mean, as stats.compute picks it; every pair
is tested (initdash.verdict.p_values) and Holm-adjusted over all pairs (verdict.holm), as stats.compute does.
"clear" is said when any comparison with the best is clear: the summary's pair or a table cell.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from initdash import verdict


def clear_rate(n: int, k: int, paired: bool, shift: float = 0.0, reps: int = 400, seed: int = 0,
               step: float | None = None) -> float:
    """The fraction of `reps` simulated sessions in which "clear" is said.

    Paired sessions share a large per-repeat effect (the data order) that the pairs cancel. `step` rounds the
    values to multiples of it (accuracies are counts: ties), which sends rows through the counted exact path.
    """
    rng = np.random.default_rng([seed, n, k, int(paired), int(shift * 1000)])
    x = rng.standard_normal((reps, k, n))
    if paired:
        x = x + 3.0 * rng.standard_normal((reps, 1, n))
    x[:, 0] += shift
    if step is not None:
        x = np.round(x / step) * step
    best = x.mean(-1).argmax(-1)
    pairs = list(combinations(range(k), 2))
    p = np.stack([verdict.p_values(x[:, i], x[:, j], paired) for i, j in pairs], -1)
    clear = verdict.holm(p) < verdict.ALPHA
    with_best = np.stack([(best == i) | (best == j) for i, j in pairs], -1)
    return float((clear & with_best).any(-1).mean())

"""Statistics across sweeps: spread, confidence intervals, ranks, wins, the probability of improvement and a
plain-words verdict.

Everything is about the *final* value of a metric: its value at the last epoch of every run that trained to
the end, over every completed sweep of the Session. Runs that diverged or whose worker failed have no final
value and are left out of n; a cancelled sweep never counts (Session.completed()).

scipy is slow to import (~0.5 s) and numpy does the bootstrap: both are imported inside the functions that
need them, so importing this module stays cheap; call compute() off the UI thread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from initdash.events import METRICS
from initdash.session import DONE, Session, SweepRecord
from initdash.tables import fmt, mean_pm_std, mean_std, plural, text_table

CONFIDENCE = 0.95
MIN_N = 3  # fewer runs than this on either side: no interval, "n too small"
TOO_FEW = "n too small"
LOWER_IS_BETTER = frozenset({"loss", "val_loss"})
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0  # fixed: the same runs give the same interval on every redraw and every machine
# Two means this close (relative) are a tie: float noise must not decide a rank.
_TIE_REL = 1e-12


# --- Intervals -------------------------------------------------------------------------------------------

def metric_range(metric: str) -> tuple[float, float]:
    """The values `metric` can take: [0, inf) for losses, [0, 1] for accuracies."""
    _check_metric(metric)
    return (0.0, math.inf) if metric in LOWER_IS_BETTER else (0.0, 1.0)


def confidence_interval(values: Sequence[float], bounds: tuple[float, float] = (-math.inf, math.inf),
                        confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Two-sided Student-t confidence interval of the mean, clipped to `bounds`; (nan, nan) below MIN_N values."""
    n = len(values)
    if n < MIN_N:
        return math.nan, math.nan
    from scipy import stats as sps

    mean, std = mean_std(values)
    half = float(sps.t.ppf(0.5 + confidence / 2.0, n - 1)) * std / math.sqrt(n)
    return max(mean - half, bounds[0]), min(mean + half, bounds[1])


def probability_of_improvement(a: Sequence[float], b: Sequence[float], metric: str,
                               confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """P(a random run of A ends better than a random run of B), ties counting half, with its bootstrap CI.

    That is the Mann-Whitney U of A against B over n_a * n_b (rliable's "probability of improvement",
    Agarwal et al. 2021). Returns (p, low, high): all nan when either side has no runs; low and high nan when
    either side has fewer than MIN_N runs.
    """
    _check_metric(metric)
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


# --- Results ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class InitStats:
    """One initializer's final metric over every run so far, and its standing in the latest sweep."""

    label: str
    n: int  # runs with a final value (diverged and failed runs have none)
    mean: float  # nan when n == 0
    std: float  # sample std; 0 when n == 1, nan when n == 0
    ci_low: float  # 95% CI of the mean, clipped to the metric's range; nan when n < MIN_N
    ci_high: float
    rank: int | None  # in the latest completed sweep (1 = best; ties share the best rank); None: no value
    change: str  # since the previous completed sweep: "↑2", "↓1", "=", "new", or "" (no previous sweep)
    wins: int  # completed sweeps in which it ranked first (a shared first place counts for each)
    values: tuple[float, ...]  # every final value, sweep by sweep

    @property
    def has_ci(self) -> bool:
        """True when there are enough runs (n >= MIN_N) for a confidence interval."""
        return self.n >= MIN_N


@dataclass(frozen=True)
class PairStats:
    """Two initializers head to head (a listed before b): sweeps won, and the probability of improvement."""

    a: str
    b: str
    a_wins: int  # completed sweeps (in which both had a value) where a's mean was better
    b_wins: int
    sweeps: int  # sweeps compared (ties are the rest)
    p: float  # P(a run of a ends better than a run of b), ties half; nan when either has no runs
    low: float  # 95% bootstrap CI of p; nan when n_a or n_b < MIN_N
    high: float
    n_a: int  # runs of a with a final value
    n_b: int

    @property
    def has_ci(self) -> bool:
        """True when both sides have enough runs (MIN_N) for an interval."""
        return self.n_a >= MIN_N and self.n_b >= MIN_N

    @property
    def clear(self) -> bool:
        """A clear difference: the 95% interval of p leaves out 50%."""
        return self.has_ci and (self.low > 0.5 or self.high < 0.5)

    def swapped(self) -> PairStats:
        """The same pair seen from b: P(b beats a) = 1 - P(a beats b), the interval mirrored."""
        return PairStats(self.b, self.a, self.b_wins, self.a_wins, self.sweeps, 1.0 - self.p, 1.0 - self.high,
                         1.0 - self.low, self.n_b, self.n_a)


@dataclass(frozen=True)
class SessionStats:
    """Everything the leaderboard and the headless table show, for one metric."""

    metric: str
    sweeps: int  # completed sweeps
    latest_sweep: int | None  # id of the latest completed sweep with results (the one ranks are about)
    inits: tuple[InitStats, ...]  # in config order
    pairs: tuple[PairStats, ...]  # every pair, config order
    summary: str

    def get(self, label: str) -> InitStats:
        """The stats of one initializer."""
        return next(s for s in self.inits if s.label == label)

    def pair(self, a: str, b: str) -> PairStats:
        """Head to head of a and b (in either order: the answer's a is the one asked first)."""
        for p in self.pairs:
            if (p.a, p.b) == (a, b):
                return p
            if (p.a, p.b) == (b, a):
                return p.swapped()
        raise KeyError((a, b))

    @property
    def best(self) -> InitStats | None:
        """The initializer with the best mean final metric (None while nobody has one)."""
        ordered = _ordered(self)
        return ordered[0] if ordered else None


# --- Computation -----------------------------------------------------------------------------------------

def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r} (choose from {', '.join(METRICS)})")


def better(metric: str, x: float, y: float) -> bool:
    """True when x is better than y for `metric` (and not a tie)."""
    if math.isclose(x, y, rel_tol=_TIE_REL, abs_tol=1e-15):
        return False
    return x < y if metric in LOWER_IS_BETTER else x > y


def sweep_finals(sweep: SweepRecord, label: str, metric: str) -> list[float]:
    """Final values of `metric` of one initializer's runs in one sweep (none if its worker failed)."""
    run = sweep.initializers.get(label)
    if run is None or run.state != DONE:
        return []
    return run.final(metric)


def sweep_means(sweep: SweepRecord, metric: str) -> dict[str, float]:
    """Mean final metric per initializer in one sweep, for those that have one."""
    out = {}
    for label in sweep.initializers:
        finals = sweep_finals(sweep, label, metric)
        if finals:
            out[label] = mean_std(finals)[0]
    return out


def ranks(means: dict[str, float], metric: str) -> dict[str, int]:
    """Competition ranks (1, 2, 2, 4): 1 + how many are strictly better; ties share the best rank."""
    return {k: 1 + sum(better(metric, o, v) for o in means.values()) for k, v in means.items()}


def rank_change(now: int | None, before: int | None, has_previous: bool) -> str:
    """"↑2", "↓1", "=", "new" (no rank before), or "" (nothing to compare with)."""
    if now is None or not has_previous:
        return ""
    if before is None:
        return "new"
    if now < before:
        return f"↑{before - now}"
    if now > before:
        return f"↓{now - before}"
    return "="


def compute(session: Session, metric: str = "val_accuracy") -> SessionStats:
    """Statistics of the final `metric` over every completed sweep of the session."""
    _check_metric(metric)
    sweeps = session.completed()
    labels = list(session.labels())
    for sweep in sweeps:  # initializers of earlier sweeps that the config no longer lists still count
        labels += [k for k in sweep.initializers if k not in labels]
    # Sweeps in which nothing trained to the end (every worker failed) rank nobody: leave them out.
    ranked = [(s.sweep_id, m) for s in sweeps if (m := sweep_means(s, metric))]
    per_sweep = [m for _, m in ranked]
    per_sweep_ranks = [ranks(m, metric) for m in per_sweep]
    latest = per_sweep_ranks[-1] if per_sweep_ranks else {}
    previous = per_sweep_ranks[-2] if len(per_sweep_ranks) >= 2 else {}
    bounds = metric_range(metric)
    inits = []
    for label in labels:
        values = [v for s in sweeps for v in sweep_finals(s, label, metric)]
        mean, std = mean_std(values)
        low, high = confidence_interval(values, bounds)
        rank = latest.get(label)
        inits.append(InitStats(
            label=label, n=len(values), mean=mean, std=std, ci_low=low, ci_high=high, rank=rank,
            change=rank_change(rank, previous.get(label), len(per_sweep_ranks) >= 2),
            wins=sum(r.get(label) == 1 for r in per_sweep_ranks), values=tuple(values)))
    pairs = []
    for i, a in enumerate(inits):
        for b in inits[i + 1:]:
            both = [m for m in per_sweep if a.label in m and b.label in m]
            p, low, high = probability_of_improvement(a.values, b.values, metric)
            pairs.append(PairStats(a.label, b.label, sum(better(metric, m[a.label], m[b.label]) for m in both),
                                   sum(better(metric, m[b.label], m[a.label]) for m in both), len(both),
                                   p, low, high, a.n, b.n))
    stats = SessionStats(metric, len(sweeps), ranked[-1][0] if ranked else None, tuple(inits),
                         tuple(pairs), "")
    return replace(stats, summary=summarize(stats))


# --- Words -----------------------------------------------------------------------------------------------

def _ordered(stats: SessionStats) -> list[InitStats]:
    """Initializers with data, best mean first (config order among equals)."""
    have = [s for s in stats.inits if s.n > 0]
    sign = 1.0 if stats.metric in LOWER_IS_BETTER else -1.0
    return sorted(have, key=lambda s: sign * s.mean)


def percent_interval(low: float, high: float) -> str:
    """`[12%, 37%]`, rounded outwards so that the printed interval holds the computed one."""
    return f"[{math.floor(low * 100 + 1e-9):.0f}%, {math.ceil(high * 100 - 1e-9):.0f}%]"


def improvement_text(pair: PairStats) -> str:
    """P(a beats b) for a table cell: `23% [12%, 37%]`, `100% (n too small)`, or `-` when a side has no runs."""
    if math.isnan(pair.p):
        return "-"
    return f"{pair.p:.0%} {percent_interval(pair.low, pair.high) if pair.has_ci else f'({TOO_FEW})'}"


def ci_text(s: InitStats, digits: int = 4) -> str:
    """The CI of the mean for a table cell: `[0.9009, 0.9325]`, `n too small`, or `-` with no runs."""
    if s.n == 0:
        return "-"
    return f"[{fmt(s.ci_low, digits)}, {fmt(s.ci_high, digits)}]" if s.has_ci else TOO_FEW


def against_best_text(stats: SessionStats, s: InitStats) -> str:
    """The `P(beats best)` cell of one initializer: `best` for the best one itself."""
    best = stats.best
    if best is None or s.n == 0:
        return "-"
    return "best" if s.label == best.label else improvement_text(stats.pair(s.label, best.label))


def summarize(stats: SessionStats) -> str:
    """One plain-words line: the best mean against its closest challenger, by probability of improvement."""
    if stats.sweeps == 0:
        return "no completed sweep yet"
    ordered = _ordered(stats)
    if not ordered:
        return "no run trained to the end (every run failed or diverged)"
    if stats.sweeps == 1 and all(s.n < 2 for s in ordered):
        return "only 1 sweep so far: rerun to compare"
    if len(ordered) == 1:
        s = ordered[0]
        return f"only {s.label} has results ({stats.metric} {s.mean:.4f}, n={s.n})"
    best = ordered[0]
    # The closest challenger: the one most likely to beat the best in a run pair (best mean first among equals).
    pair = max((stats.pair(s.label, best.label) for s in ordered[1:]), key=lambda p: p.p)
    if pair.p < 0.5:
        pair = pair.swapped()  # say it the way round that reads naturally: the winner of most run pairs first
    head = f"{pair.a} beats {pair.b} in {pair.p:.0%} of run pairs"
    if not pair.has_ci:
        n, label = min((pair.n_a, pair.a), (pair.n_b, pair.b))
        return f"{head}; {TOO_FEW} (n={n} {'each' if pair.n_a == pair.n_b else 'for ' + label})"
    return f"{head}, 95% CI {percent_interval(pair.low, pair.high)}: {'clear' if pair.clear else 'not clear'}"


# --- Text table ------------------------------------------------------------------------------------------

def stats_table(session: Session, metric: str = "val_accuracy", digits: int = 4) -> str:
    """The leaderboard across sweeps as text: initializer, n, mean ± std, 95% CI, P(beats best), rank, change,
    wins; then the summary line."""
    stats = compute(session, metric)
    where = f"rank and change in sweep {stats.latest_sweep}" if stats.latest_sweep is not None else "no ranks yet"
    title = (f"{metric} at the end of training over {plural(stats.sweeps, 'completed sweep')} "
             f"({'lower' if metric in LOWER_IS_BETTER else 'higher'} is better; {where})")
    header = ["initializer", "n", "mean ± std", "95% CI", "P(beats best)", "rank", "change", "wins"]
    rows = [[s.label, str(s.n), mean_pm_std(s.values, digits), ci_text(s, digits), against_best_text(stats, s),
             "-" if s.rank is None else str(s.rank), s.change or "-", str(s.wins)] for s in stats.inits]
    return "\n".join([title, text_table(header, rows, left=(0, 6)), "", stats.summary])

"""Statistics across sweeps: spread, IQM, confidence intervals, ranks, wins, the probability of improvement, and
a plain-words verdict that says "clear" only when a rank test at the 5% level does (initdash.verdict).

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

from initdash.config import PAIRED
from initdash.improvement import (
    CONFIDENCE,
    LOWER_IS_BETTER,
    MIN_N,
    check_metric,
    iqm,
    probability_of_improvement,
)
from initdash.session import DONE, Session, SweepRecord
from initdash.tables import fmt, mean_pm_std, mean_std, plural, text_table
from initdash.verdict import ALPHA, MANN_WHITNEY, WILCOXON, matched

__all__ = ["CONFIDENCE", "LOWER_IS_BETTER", "MIN_N", "probability_of_improvement", "compute", "stats_table"]

TOO_FEW = "n too small"
# Two means this close (relative) are a tie: float noise must not decide a rank.
_TIE_REL = 1e-12


# --- Intervals -------------------------------------------------------------------------------------------

def metric_range(metric: str) -> tuple[float, float]:
    """The values `metric` can take: [0, inf) for losses, [0, 1] for accuracies."""
    check_metric(metric)
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


# --- Results ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class InitStats:
    """One initializer's final metric over every run so far, and its standing in the latest sweep."""

    label: str
    n: int  # runs with a final value (diverged and failed runs have none)
    mean: float  # nan when n == 0
    std: float  # sample std; 0 when n == 1, nan when n == 0
    iqm: float  # interquartile mean (rliable's): the mean of the middle half of the runs; nan when n == 0
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
    test: str = MANN_WHITNEY  # Wilcoxon signed-rank on per-repeat differences in the paired design
    n_pairs: int = 0  # paired design: runs of a and b of the same sweep and repeat, both with a final value
    p_value: float = math.nan  # the test's two-sided p-value (nan: no runs to test)
    p_holm: float = math.nan  # the same, Holm-adjusted over every pair of initializers
    family: int = 0  # the pairs Holm corrects over
    reachable: bool = False  # these counts can reach the 5% level after Holm at all
    needed: int = 0  # the fewest runs each at which they can
    estimate: int | None = None  # runs each that would make the observed difference clear (None: no difference)
    effect: float = math.nan  # the test's effect size (what `estimate` is computed from)

    @property
    def has_ci(self) -> bool:
        """True when both sides have enough runs (MIN_N) for an interval."""
        return self.n_a >= MIN_N and self.n_b >= MIN_N

    @property
    def clear(self) -> bool:
        """A clear difference: the rank test rejects "no difference" at the 5% level after Holm."""
        return self.p_holm < ALPHA

    def swapped(self) -> PairStats:
        """The same pair seen from b: P(b beats a) = 1 - P(a beats b), the interval mirrored; the test is symmetric."""
        return replace(self, a=self.b, b=self.a, a_wins=self.b_wins, b_wins=self.a_wins, p=1.0 - self.p,
                       low=1.0 - self.high, high=1.0 - self.low, n_a=self.n_b, n_b=self.n_a)


@dataclass(frozen=True)
class SessionStats:
    """Everything the leaderboard and the headless table show, for one metric."""

    metric: str
    sweeps: int  # completed sweeps
    latest_sweep: int | None  # id of the latest completed sweep with results (the one ranks are about)
    inits: tuple[InitStats, ...]  # in config order
    pairs: tuple[PairStats, ...]  # every pair, config order
    summary: str
    paired: bool = False  # the session's design: runs compared repeat by repeat

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

def better(metric: str, x: float, y: float) -> bool:
    """True when x is better than y for `metric` (and not a tie)."""
    if math.isclose(x, y, rel_tol=_TIE_REL, abs_tol=1e-15):
        return False
    return x < y if metric in LOWER_IS_BETTER else x > y


def sweep_finals(sweep: SweepRecord, label: str, metric: str) -> list[float]:
    """Final values of `metric` of one initializer's runs in one sweep (none if its unit failed)."""
    unit = sweep.initializers.get(label)
    if unit is None or unit.state != DONE:
        return []
    return unit.final(metric)


def sweep_means(sweep: SweepRecord, metric: str) -> dict[str, float]:
    """Mean final metric per initializer in one sweep, for those that have one."""
    out = {}
    for label in sweep.initializers:
        finals = sweep_finals(sweep, label, metric)
        if finals:
            out[label] = mean_std(finals)[0]
    return out


@lru_cache(maxsize=1024)  # the dashboard recomputes on every redraw; finished sweeps' values do not change
def _test(a: tuple[float, ...], b: tuple[float, ...], paired: bool, improvement: float) -> tuple[float, float]:
    """(two-sided p-value, effect size) of a against b, nan without runs; `improvement`: the pair's p (PairStats)."""
    from initdash import verdict

    if not a or not b:
        return math.nan, math.nan
    p_value = float(verdict.p_values([a], [b], paired)[0])
    if paired:
        return p_value, verdict.walsh_effect([x - y for x, y in zip(a, b)])
    return p_value, improvement  # the side does not matter: the estimate uses |p - 1/2|


def tested(pairs: list[PairStats], sweeps: Sequence[SweepRecord], values: dict[str, tuple[float, ...]],
            metric: str, paired: bool) -> list[PairStats]:
    """The pairs with their rank test, Holm-adjusted over all of them, and what more runs would show."""
    raw = []
    for pair in pairs:
        a, b = matched(sweeps, pair.a, pair.b, metric) if paired else (values[pair.a], values[pair.b])
        p_value, effect = _test(tuple(a), tuple(b), paired, pair.p)
        raw.append(replace(pair, test=WILCOXON if paired else MANN_WHITNEY, n_pairs=len(a) if paired else 0,
                           p_value=p_value, effect=effect))
    return holm_over(raw)


def holm_over(pairs: Sequence[PairStats]) -> list[PairStats]:
    """The tested pairs Holm-adjusted as one family (every comparison made), with what more runs would show."""
    from initdash import verdict

    adjusted = verdict.holm([p.p_value for p in pairs]) if pairs else []
    family = sum(not math.isnan(p.p_value) for p in pairs)
    out = []
    for pair, p_holm in zip(pairs, adjusted):
        paired = pair.test == WILCOXON
        n_a, n_b = (pair.n_pairs, pair.n_pairs) if paired else (pair.n_a, pair.n_b)
        out.append(replace(pair, p_holm=float(p_holm), family=family, needed=verdict.runs_needed(family, paired),
                           reachable=verdict.smallest_p(n_a, n_b, paired) * max(family, 1) < ALPHA,
                           estimate=None if math.isnan(pair.effect) else
                           verdict.runs_estimate(pair.effect, family, paired)))
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
    check_metric(metric)
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
            label=label, n=len(values), mean=mean, std=std, iqm=iqm(values), ci_low=low, ci_high=high, rank=rank,
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
    paired = session.config.design == PAIRED
    pairs = tested(pairs, sweeps, {s.label: s.values for s in inits}, metric, paired)
    stats = SessionStats(metric, len(sweeps), ranked[-1][0] if ranked else None, tuple(inits),
                         tuple(pairs), "", paired)
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
    if pair.has_ci:
        head += f" (95% interval {percent_interval(pair.low, pair.high)})"
    return head + verdict_words(pair)


def _holm(pair: PairStats) -> str:
    return f", Holm over {plural(pair.family, 'pair')}" if pair.family > 1 else ""


def verdict_words(pair: PairStats) -> str:
    """What the test says of a pair, to follow its head: `; Mann-Whitney U p = 0.008: clear`, or why not."""
    if not pair.reachable:
        if pair.test == WILCOXON:
            runs = plural(pair.n_pairs, "pair")
        else:
            runs = f"{plural(pair.n_a, 'run')} each" if pair.n_a == pair.n_b else f"{pair.n_a} and {pair.n_b} runs"
        return (f": not clear: {runs} can never reach the 5% level ({pair.test}{_holm(pair)}); it takes at least "
                f"{pair.needed} runs each")
    said = f"; {pair.test} p = {pair.p_holm:.2g}{f' ({_holm(pair)[2:]})' if pair.family > 1 else ''}"
    if pair.clear:
        return f"{said}: clear"
    if pair.estimate is None:
        return f"{said}: not clear (no difference between them)"
    return f"{said}: not clear; about {pair.estimate} runs each would make a difference this size clear"


def test_text(stats: SessionStats, s: InitStats) -> str:
    """The `p vs best` cell: the Holm-adjusted p-value against the best, `clear` when it is, `too few`, `best`."""
    best = stats.best
    if best is None or s.n == 0:
        return "-"
    if s.label == best.label:
        return "best"
    pair = stats.pair(s.label, best.label)
    if not pair.reachable:
        return "too few"
    return "-" if math.isnan(pair.p_holm) else f"{pair.p_holm:.2g}{' clear' if pair.clear else ''}"


def method_line(stats: SessionStats) -> str:
    """How the table's verdicts are reached, and what its columns mean: two lines."""
    family = max((p.family for p in stats.pairs), default=0)
    test = "Wilcoxon signed-rank on per-repeat differences (paired design)" if stats.paired else \
        "Mann-Whitney U (independent runs)"
    holm = f", Holm over {plural(family, 'pair')}" if family > 1 else ""
    return (f"clear: {test} at the 5% level{holm}\n"
            "P(beats best): probability of improvement with its 95% bootstrap interval; IQM: interquartile mean")


# --- Text table ------------------------------------------------------------------------------------------

def stats_table(session: Session, metric: str = "val_accuracy", digits: int = 4) -> str:
    """The leaderboard across sweeps as text: initializer, n, mean ± std, IQM, 95% CI, P(beats best), the test's
    p vs best, rank, change, wins; then how the verdicts are reached and the summary line."""
    stats = compute(session, metric)
    where = f"rank and change in sweep {stats.latest_sweep}" if stats.latest_sweep is not None else "no ranks yet"
    title = (f"{metric} at the end of training over {plural(stats.sweeps, 'completed sweep')} "
             f"({'lower' if metric in LOWER_IS_BETTER else 'higher'} is better; {where})")
    header = ["initializer", "n", "mean ± std", "IQM", "95% CI", "P(beats best)", "p vs best", "rank", "change",
              "wins"]
    rows = [[s.label, str(s.n), mean_pm_std(s.values, digits), fmt(s.iqm, digits), ci_text(s, digits),
             against_best_text(stats, s), test_text(stats, s), "-" if s.rank is None else str(s.rank),
             s.change or "-", str(s.wins)] for s in stats.inits]
    return "\n".join([title, text_table(header, rows, left=(0, 8)), "", method_line(stats), stats.summary])

"""Statistics across reruns: spread, confidence intervals, ranks, wins and a plain-words verdict.

Pure Python (no numpy, no scipy) so the dashboard can compute it before torch has loaded. Everything is
about the *final* value of a metric: its value at the last epoch of every run that trained to the end, over
every completed sweep of the Session. Runs that diverged or whose worker failed have no final value and are
left out of n; a cancelled sweep never counts (Session.completed()).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

from initdash.events import METRICS
from initdash.session import DONE, Session, SweepRecord
from initdash.tables import mean_std

CONFIDENCE = 0.95
LOWER_IS_BETTER = frozenset({"loss", "val_loss"})
# Two means this close (relative) are a tie: float noise must not decide a rank.
_TIE_REL = 1e-12


# --- Student's t -----------------------------------------------------------------------------------------

def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz; Numerical Recipes 6.4)."""
    tiny, eps = 1e-300, 1e-16
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def _betai(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with `df` degrees of freedom."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be > 0, got {df}")
    tail = 0.5 * _betai(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


@lru_cache(maxsize=256)
def t_quantile(p: float, df: float) -> float:
    """The t such that P(T <= t) = p, for Student's t with `df` degrees of freedom (|error| < 1e-10)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be between 0 and 1, got {p}")
    if df <= 0:
        raise ValueError(f"degrees of freedom must be > 0, got {df}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    if p == 0.5:
        return 0.0
    if df == 1:  # Cauchy: exact
        return math.tan(math.pi * (p - 0.5))
    if df == 2:  # exact
        q = 4.0 * p * (1.0 - p)
        return (2.0 * p - 1.0) * math.sqrt(2.0 / q)
    # Bisection on the CDF: slow-ish (~50 CDF calls) but robust everywhere; results are cached.
    lo, hi = 0.0, 2.0
    while t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2.0
    while hi - lo > 1e-12 * max(1.0, hi):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def confidence_interval(values: list[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Two-sided Student-t confidence interval of the mean; (nan, nan) with fewer than two values."""
    n = len(values)
    if n < 2:
        return math.nan, math.nan
    mean, std = mean_std(values)
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * std / math.sqrt(n)
    return mean - half, mean + half


# --- Results ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class InitStats:
    """One initializer's final metric over every run so far, and its standing in the latest sweep."""

    label: str
    n: int  # runs with a final value (diverged and failed runs have none)
    mean: float  # nan when n == 0
    std: float  # sample std; 0 when n == 1, nan when n == 0
    ci_low: float  # 95% CI of the mean; nan when n < 2
    ci_high: float
    rank: int | None  # in the latest completed sweep (1 = best; ties share the best rank); None: no value
    change: str  # since the previous completed sweep: "↑2", "↓1", "=", "new", or "" (no previous sweep)
    wins: int  # completed sweeps in which it ranked first (a shared first place counts for each)
    values: tuple[float, ...]  # every final value, sweep by sweep

    @property
    def has_ci(self) -> bool:
        """True when there are enough runs (n >= 2) for a confidence interval."""
        return self.n >= 2


@dataclass(frozen=True)
class PairStats:
    """Head to head over the completed sweeps in which both had a value (a listed before b)."""

    a: str
    b: str
    a_wins: int
    b_wins: int
    sweeps: int  # sweeps compared (ties are the rest)
    clear: bool  # n >= 2 for both and the 95% CIs do not overlap


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
                return PairStats(a, b, p.b_wins, p.a_wins, p.sweeps, p.clear)
        raise KeyError((a, b))


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


def _overlap(a: InitStats, b: InitStats) -> bool:
    return a.ci_low <= b.ci_high and b.ci_low <= a.ci_high


def clear_difference(a: InitStats, b: InitStats) -> bool:
    """Only with n >= 2 on both sides and 95% CIs of the means that do not overlap."""
    return a.has_ci and b.has_ci and not _overlap(a, b)


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
    inits = []
    for label in labels:
        values = [v for s in sweeps for v in sweep_finals(s, label, metric)]
        mean, std = mean_std(values)
        low, high = confidence_interval(values)
        rank = latest.get(label)
        inits.append(InitStats(
            label=label, n=len(values), mean=mean, std=std, ci_low=low, ci_high=high, rank=rank,
            change=rank_change(rank, previous.get(label), len(per_sweep_ranks) >= 2),
            wins=sum(r.get(label) == 1 for r in per_sweep_ranks), values=tuple(values)))
    by_label = {s.label: s for s in inits}
    pairs = []
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            both = [m for m in per_sweep if a in m and b in m]
            pairs.append(PairStats(a, b, sum(better(metric, m[a], m[b]) for m in both),
                                   sum(better(metric, m[b], m[a]) for m in both), len(both),
                                   clear_difference(by_label[a], by_label[b])))
    stats = SessionStats(metric, len(sweeps), ranked[-1][0] if ranked else None, tuple(inits),
                         tuple(pairs), "")
    return replace(stats, summary=summarize(stats))


# --- Words -----------------------------------------------------------------------------------------------

def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _ordered(stats: SessionStats) -> list[InitStats]:
    """Initializers with data, best mean first (config order among equals)."""
    have = [s for s in stats.inits if s.n > 0]
    sign = 1.0 if stats.metric in LOWER_IS_BETTER else -1.0
    return sorted(have, key=lambda s: sign * s.mean)


def _verdict(a: InitStats, b: InitStats) -> str:
    if not (a.has_ci and b.has_ci):
        few = a if a.n < 2 else b
        return f"too few runs to tell (n={few.n} for {few.label})"
    if clear_difference(a, b):
        return "clear difference (95% CIs do not overlap)"
    return "no clear difference (95% CIs overlap)"


def summarize(stats: SessionStats) -> str:
    """One plain-words line: best vs worst head to head, and the closest call among neighbours."""
    if stats.sweeps == 0:
        return "no completed sweep yet"
    ordered = _ordered(stats)
    if stats.sweeps == 1 and all(s.n < 2 for s in ordered):
        return "only 1 sweep so far: rerun to compare"
    if not ordered:
        return f"no run of {stats.metric} trained to the end"
    if len(ordered) == 1:
        s = ordered[0]
        return f"only {s.label} has results ({stats.metric} {s.mean:.4f}, n={s.n})"
    best, worst = ordered[0], ordered[-1]
    head = stats.pair(best.label, worst.label)
    parts = [f"{best.label} beats {worst.label} in {head.a_wins} of {_plural(head.sweeps, 'sweep')}"]
    if clear_difference(best, worst):
        parts[0] += " (95% CIs do not overlap)"
    elif best.has_ci and worst.has_ci:
        parts[0] += ", but their 95% CIs overlap: no clear difference"
    else:
        parts[0] += f"; {_verdict(best, worst)}"
    neighbours = [(a, b) for a, b in zip(ordered, ordered[1:]) if (a, b) != (best, worst)]
    if neighbours:
        unclear = [(a, b) for a, b in neighbours if not clear_difference(a, b)]
        if unclear:
            a, b = min(unclear, key=lambda p: abs(p[0].mean - p[1].mean))
            parts.append(f"{a.label} vs {b.label}: {_verdict(a, b)}")
        else:
            parts.append("every neighbour in the ranking differs clearly (95% CIs do not overlap)")
    return "; ".join(parts)


# --- Text table ------------------------------------------------------------------------------------------

def _num(x: float, digits: int) -> str:
    return "-" if math.isnan(x) else f"{x:.{digits}f}"


def stats_table(session: Session, metric: str = "val_accuracy", digits: int = 4) -> str:
    """The leaderboard across reruns as text: initializer, n, mean ± std, 95% CI, rank, change, wins."""
    stats = compute(session, metric)
    where = f"rank and change in sweep {stats.latest_sweep}" if stats.latest_sweep is not None else "no ranks yet"
    title = (f"{metric} at the end of training over {_plural(stats.sweeps, 'completed sweep')} "
             f"({'lower' if metric in LOWER_IS_BETTER else 'higher'} is better; {where})")
    header = ["initializer", "n", "mean ± std", "95% CI", "rank", "change", "wins"]
    rows = []
    for s in stats.inits:
        mean = "-" if s.n == 0 else f"{_num(s.mean, digits)} ± {_num(s.std, digits)}"
        ci = f"[{_num(s.ci_low, digits)}, {_num(s.ci_high, digits)}]" if s.has_ci else "-"
        rows.append([s.label, str(s.n), mean, ci, "-" if s.rank is None else str(s.rank), s.change or "-",
                     str(s.wins)])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i in (0, 5) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             .rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join([title, *lines, "", stats.summary])

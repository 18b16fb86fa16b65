"""Statistics across reruns: spread, confidence intervals, ranks, wins and a plain-words verdict.

Everything is about the *final* value of a metric: its value at the last epoch of every run that trained to
the end, over every completed sweep of the Session. Runs that diverged or whose worker failed have no final
value and are left out of n; a cancelled sweep never counts (Session.completed()).

scipy is slow to import (~0.5 s): it is imported inside the functions that need it, so importing this module
stays cheap; call compute() off the UI thread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from initdash.events import METRICS
from initdash.session import DONE, Session, SweepRecord
from initdash.tables import mean_std

CONFIDENCE = 0.95
MIN_N = 3  # fewer runs than this: no interval, "n too small"
TOO_FEW = "n too small"
LOWER_IS_BETTER = frozenset({"loss", "val_loss"})
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
    """Head to head over the completed sweeps in which both had a value (a listed before b)."""

    a: str
    b: str
    a_wins: int
    b_wins: int
    sweeps: int  # sweeps compared (ties are the rest)
    clear: bool  # n >= MIN_N for both and the 95% CIs do not overlap


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
    """Only with n >= MIN_N on both sides and 95% CIs of the means that do not overlap."""
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
        few = min((a, b), key=lambda s: s.n)
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
        ci = "-" if s.n == 0 else f"[{_num(s.ci_low, digits)}, {_num(s.ci_high, digits)}]" if s.has_ci else TOO_FEW
        rows.append([s.label, str(s.n), mean, ci, "-" if s.rank is None else str(s.rank), s.change or "-",
                     str(s.wins)])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i in (0, 5) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             .rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join([title, *lines, "", stats.summary])

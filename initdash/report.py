"""Headless output: the results table (per initializer, mean ± std of the final metrics over runs)."""

from __future__ import annotations

from initdash.events import DIVERGED, FAILED, METRICS
from initdash.session import Session
from initdash.tables import mean_pm_std, text_table


def results_table(session: Session) -> str:
    """Per initializer: final loss, accuracy, val loss, val accuracy (mean ± std over runs), runs, diverged."""
    sweeps = session.completed()
    rows = []
    for label in session.labels():
        units = [s.initializers[label] for s in sweeps if label in s.initializers]
        finals = {m: [v for u in units for v in u.final(m)] for m in METRICS}
        n_runs = sum(len(u.seeds) for u in units)
        diverged = sum(u.statuses.count(DIVERGED) for u in units if u.state != FAILED)
        failed = sum(len(u.seeds) for u in units if u.state == FAILED)
        rows.append([label, *(mean_pm_std(finals[m]) for m in METRICS), n_runs, diverged, failed])
    return text_table(["initializer", *METRICS, "runs", "diverged", "failed"], rows)


def results_text(session: Session, metric: str = "val_accuracy") -> str:
    """What headless (and `initdash report`) prints at the end: the results table, then a grid's cells compared
    at each point (and, with a width axis, the coordinate check), or (with more than one run of an initializer)
    the statistics across runs with the verdict sentence."""
    from initdash import stats
    from initdash.grid import is_grid

    text = results_table(session)
    if is_grid(session.config):  # cells compared at each point of the grid, not all cells with each other
        from initdash.grid_table import coordinate_table, grid_table

        text += "\n\n" + grid_table(session, metric)
        if session.config.widths:
            text += "".join(f"\n\n{t}" for t in (coordinate_table(session, 0),
                                                  coordinate_table(session, session.config.epochs)) if t)
    elif most_runs(session) > 1:
        text += "\n\n" + stats.stats_table(session, metric)
    return text


def most_runs(session: Session) -> int:
    """The largest number of runs (over complete sweeps) that any initializer has."""
    counts: dict[str, int] = {}
    for sweep in session.completed():
        for label, unit in sweep.initializers.items():
            counts[label] = counts.get(label, 0) + len(unit.seeds)
    return max(counts.values(), default=0)

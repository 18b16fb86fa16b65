"""A grid's results as numbers and text: every cell's final metric over every completed sweep, the best cell of
each initializer, and the initializers compared at each point of the grid (headless, `initdash report`, the
dashboard's grid view read the same functions).

The rules are those of initdash.stats: a final value is a run's metric at its last epoch, for runs that trained
to the end; comparisons at one point use stats.compute on that point's cells, so the intervals, the probability
of improvement and the verdict follow the same rules as the leaderboard, except that Holm's correction covers
every comparison made at every point as one family (point_stats): a grid of P points makes P times the pairs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from initdash import grid
from initdash.session import Session, SweepRecord
from initdash.tables import fmt, mean_pm_std, mean_std, plural, text_table

if TYPE_CHECKING:
    from initdash.stats import SessionStats

DEFAULT_METRIC = "val_accuracy"


@dataclass(frozen=True)
class CellResult:
    """One cell's final values over every completed sweep."""

    cell: grid.Cell
    values: tuple[float, ...]
    runs: int  # runs recorded, whether they trained to the end or not

    @property
    def mean(self) -> float:
        """Mean final value (nan without any)."""
        return mean_std(self.values)[0]


def axis_names(session: Session) -> list[str]:
    """The axes the session's config has: "lr", "width" (in that order)."""
    config = session.config
    return [name for name, axis in (("lr", config.lrs), ("width", config.widths)) if axis]


def results(session: Session, metric: str = DEFAULT_METRIC) -> list[CellResult]:
    """Every cell of the grid, in grid order, with its final values over the completed sweeps."""
    sweeps = session.completed()
    out = []
    for cell in grid.cells(session.config):
        records = [s.initializers[cell.key] for s in sweeps if cell.key in s.initializers]
        out.append(CellResult(cell, tuple(v for r in records for v in r.final(metric)),
                              sum(len(r.seeds) for r in records)))
    return out


def best_cells(cells: list[CellResult], metric: str) -> dict[str, CellResult]:
    """Per initializer, its cell with the best mean (lower is better for losses); initializers without values
    have none."""
    from initdash.stats import better

    best: dict[str, CellResult] = {}
    for r in cells:
        if not r.values:
            continue
        now = best.get(r.cell.initializer)
        if now is None or better(metric, r.mean, now.mean):
            best[r.cell.initializer] = r
    return best


def point_session(session: Session, lr: float, width: int | None) -> Session:
    """The session seen at one point of the grid: each initializer's cell there, under the initializer's label,
    so that initdash.stats compares the initializers at that point."""
    config = session.config.with_changes(lrs=(), widths=(), lr=lr)
    view = Session(config, session.data_label)
    here = [c for c in grid.cells(session.config) if c.lr == lr and c.width == width]  # once, not per sweep
    for sweep in session.sweeps:
        cells = {c.initializer: sweep.initializers[c.key] for c in here if c.key in sweep.initializers}
        view.sweeps.append(SweepRecord(sweep.sweep_id, cells, sweep.state))
    return view


def point_stats(session: Session, metric: str = DEFAULT_METRIC) -> dict[tuple[float, int | None], SessionStats]:
    """Each point's statistics (stats.compute on point_session), with Holm over every pair at every point as one
    family: the points are compared from the same data, so noise must not be called clear P times as often."""
    from initdash.stats import compute, holm_over, summarize

    points = [(lr, w) for w in grid.width_axis(session.config) for lr in grid.lr_axis(session.config)]
    each = {point: compute(point_session(session, *point), metric) for point in points}
    adjusted = iter(holm_over([pair for st in each.values() for pair in st.pairs]))
    out = {}
    for point, st in each.items():
        st = replace(st, pairs=tuple(next(adjusted) for _ in st.pairs))
        out[point] = replace(st, summary=summarize(st))
    return out


def cell_text(r: CellResult, digits: int = 4) -> str:
    """`mean ± std` of a cell, `-` without values."""
    return mean_pm_std(list(r.values), digits)


def point_name(lr: float, width: int | None, axes: list[str]) -> str:
    """`lr=0.01 w=64`, naming only the axes the grid has."""
    parts = ([f"lr={lr:g}"] if "lr" in axes else []) + ([f"w={width}"] if "width" in axes and width else [])
    return " ".join(parts)


def grid_table(session: Session, metric: str = DEFAULT_METRIC, digits: int = 4) -> str:
    """The grid as text: initializers x axis values (mean ± std of the final metric), each initializer's best
    cell, then the initializers compared at every point (initdash.stats' verdict)."""
    from initdash.stats import LOWER_IS_BETTER

    config = session.config
    axes = axis_names(session)
    cells = results(session, metric)
    sweeps = len(session.completed())
    lrs, widths = grid.lr_axis(config), grid.width_axis(config)
    order = "lower" if metric in LOWER_IS_BETTER else "higher"
    out = [f"grid: final {metric} (mean ± std over runs of {plural(sweeps, 'completed sweep')}; {order} is better)"]
    by_key = {r.cell.key: r for r in cells}
    labels = [s.label for s in config.initializers]
    # Columns: the learning rates when there is an lr axis (one table per width), else the widths.
    if "lr" in axes:
        for w in widths:
            if w is not None:
                out += ["", f"width {w}"]
            header = ["initializer", *(f"lr={lr:g}" for lr in lrs)]
            rows = [[label, *(cell_text(by_key[grid.cell_key(config, label, lr, w)], digits) for lr in lrs)]
                    for label in labels]
            out.append(text_table(header, rows))
    else:
        header = ["initializer", *(f"w={w}" for w in widths)]
        rows = [[label, *(cell_text(by_key[grid.cell_key(config, label, lrs[0], w)], digits) for w in widths)]
                for label in labels]
        out.append(text_table(header, rows))
    best = best_cells(cells, metric)
    out += ["", "best cell per initializer"]
    rows = [[label, point_name(best[label].cell.lr, best[label].cell.width, axes) if label in best else "-",
             cell_text(best[label], digits) if label in best else "-", str(len(best[label].values)) if label in best
             else "0"] for label in labels]
    out.append(text_table(["initializer", "cell", f"{metric}", "n"], rows))
    if len(labels) > 1 and sweeps:
        each = point_stats(session, metric)
        family = max((p.family for st in each.values() for p in st.pairs), default=0)
        out += ["", "initializers compared at each point (probability of improvement, as the leaderboard; Holm over "
                f"every pair at every point: {plural(family, 'comparison')})"]
        out += [f"{point_name(lr, w, axes)}: {st.summary}" for (lr, w), st in each.items()]
    return "\n".join(out)


def activation_std_by_width(sweep: SweepRecord, initializer: str, epoch: int,
                            lr: float | None = None) -> dict[int, dict[int, list[float]]]:
    """The coordinate check's numbers: per layer (from 1) and width, the finite activation stds at `epoch` of
    the runs of `initializer`'s cells in `sweep` that have a width (with `lr`, that learning rate's cells only)."""
    per_layer: dict[int, dict[int, list[float]]] = {}
    for rec in sweep.initializers.values():
        if rec.initializer != initializer or rec.width is None or (lr is not None and rec.lr != lr):
            continue
        for history in rec.histories:
            row = history[epoch] if epoch < len(history) else {}
            for layer, v in enumerate(row.get("activation_std", []), start=1):
                if v is not None and math.isfinite(v):
                    per_layer.setdefault(layer, {}).setdefault(rec.width, []).append(v)
    return per_layer


def coordinate_table(session: Session, epoch: int = 0, digits: int = 3) -> str:
    """microsoft/mup's coordinate check as text: each layer's activation std at `epoch` (mean over the runs of
    the latest completed sweep) against width, per initializer; and how much it grows from the narrowest to the
    widest (a fixed std grows like sqrt(width); variance scaling stays flat). "" without a width axis."""
    config = session.config
    done = session.completed()
    if not config.widths or not done:
        return ""
    sweep = done[-1]
    rows = []
    lr = None if epoch == 0 or not config.lrs else config.lrs[0]  # trained: one learning rate's cells, not a mix
    for spec in config.initializers:
        for layer, by_width in sorted(activation_std_by_width(sweep, spec.label, epoch, lr).items()):
            means = {w: mean_std(v)[0] for w, v in by_width.items()}
            ws = [w for w in config.widths if w in means]
            growth = means[ws[-1]] / means[ws[0]] if len(ws) > 1 and means[ws[0]] > 0 else math.nan
            rows.append([spec.label, str(layer), *(fmt(means[w], digits) if w in means else "-"
                                                    for w in config.widths), f"x{growth:.2f}"])
    if not rows:  # per-layer statistics were not recorded (headless records them when asked)
        return "coordinate check: no per-layer statistics recorded (ask for them with --layer-stats)"
    header = ["initializer", "layer", *(f"w={w}" for w in config.widths),
              f"w={config.widths[-1]} / w={config.widths[0]}"]
    at = f" at lr={lr:g}" if lr is not None else ""
    title = (f"coordinate check (microsoft/mup): activation std of each layer at epoch {epoch}{at}, mean over the "
             f"runs of sweep {sweep.sweep_id}")
    return title + "\n" + text_table(header, rows, left=(0,))

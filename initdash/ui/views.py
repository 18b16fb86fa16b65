"""What the widgets draw, computed from the Session: plain data, no Textual, easy to test."""

from __future__ import annotations

import math
from dataclasses import dataclass

from initdash import stats
from initdash.data import Described
from initdash.events import FAILED
from initdash.labels import short_labels
from initdash.session import Session, SweepRecord, UnitRecord
from initdash.tables import fmt, mean, mean_pm_std, plural, text_table


@dataclass(frozen=True)
class Series:
    """One line of a chart."""

    label: str
    index: int  # the initializer's position: picks its colour and marker
    x: tuple[float, ...]
    y: tuple[float, ...]
    faint: bool = False  # the spread of earlier sweeps, drawn behind the current one


def downsample(x: list[float], y: list[float], limit: int) -> tuple[list[float], list[float]]:
    """At most `limit` evenly spaced points, always keeping the first and the last."""
    n = len(x)
    if n <= limit or limit < 2:
        return x, y
    picks = sorted({round(i * (n - 1) / (limit - 1)) for i in range(limit)})
    return [x[i] for i in picks], [y[i] for i in picks]


class CurveCache:
    """Running per-epoch sums of every run's repeats, so a redraw only reads the epochs that are new.

    Histories only grow while a sweep trains (100 repeats x 1000 epochs is 100,000 rows per initializer:
    re-reading them all at 10 Hz would stall the UI).
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[int, str], tuple[UnitRecord, list[int], dict[int, list[float]]]] = {}

    def mean_curve(self, run: UnitRecord, metric: str) -> tuple[list[float], list[float]]:
        """Per epoch, the mean of `metric` over the repeats that reached it, reading only rows added since."""
        key = (id(run), metric)
        entry = self._entries.get(key)
        histories = run.histories
        if entry is None or entry[0] is not run or len(entry[1]) != len(histories) or any(
                len(h) < seen for h, seen in zip(histories, entry[1])):
            entry = (run, [0] * len(histories), {})
            self._entries[key] = entry
        _, seen, sums = entry
        for i, history in enumerate(histories):
            for row in history[seen[i]:]:
                cell = sums.setdefault(int(row["epoch"]), [0.0, 0])
                cell[0] += row[metric]
                cell[1] += 1
            seen[i] = len(history)
        epochs = sorted(sums)
        return [float(e) for e in epochs], [sums[e][0] / sums[e][1] for e in epochs]


def chart_series(session: Session, metric: str, muted: frozenset[str] = frozenset(),
                 band: bool = False, limit: int = 200, cache: CurveCache | None = None) -> list[Series]:
    """The current sweep's mean curve per visible initializer (and, with `band`, earlier sweeps' spread)."""
    cache = cache or CurveCache()
    current = session.current
    if current is None:
        return []
    out: list[Series] = []
    labels = session.labels()
    earlier = [s for s in session.completed() if s is not current]
    for index, label in enumerate(labels):
        if label in muted or label not in current.initializers:
            continue
        if band and earlier:
            units = [s.initializers[label] for s in earlier if label in s.initializers]
            out.extend(_band(label, index, units, metric, limit, cache))
        x, y = cache.mean_curve(current.initializers[label], metric)
        if x:
            x, y = downsample(x, y, limit)
            out.append(Series(label, index, tuple(x), tuple(y)))
    return out


def _band(label: str, index: int, units: list[UnitRecord], metric: str, limit: int,
          cache: CurveCache) -> list[Series]:
    """Mean, min and max over earlier sweeps of each sweep's mean curve: three faint lines."""
    per_epoch: dict[int, list[float]] = {}
    for unit in units:
        for e, v in zip(*cache.mean_curve(unit, metric)):
            per_epoch.setdefault(int(e), []).append(v)
    if not per_epoch:
        return []
    epochs = sorted(per_epoch)
    x = [float(e) for e in epochs]
    lines = []
    for agg in (min, max, lambda vs: math.fsum(vs) / len(vs)):
        xs, ys = downsample(x, [agg(per_epoch[e]) for e in epochs], limit)
        lines.append(Series(label, index, tuple(xs), tuple(ys), faint=True))
    return lines


def signal_series(session: Session, metric: str, muted: frozenset[str] = frozenset(),
                  epoch: int | None = None) -> tuple[int, list[Series]]:
    """Per visible initializer, `metric` (activation_std or grad_norm) against layer depth, averaged over
    repeats, at `epoch` (None: the latest epoch every initializer of the current sweep has reached, and never
    past it); returns the epoch shown too. Missing or non-positive values (a log axis cannot show them) are
    left out: `signal_data` names who has them too."""
    epoch, series, _ = signal_data(session, metric, muted, epoch)
    return epoch, series


def signal_data(session: Session, metric: str, muted: frozenset[str] = frozenset(),
                epoch: int | None = None) -> tuple[int, list[Series], list[str]]:
    """`signal_series`' epoch and series, and the visible initializers whose `metric` is 0 at some layer (zeros'
    activations: a log axis cannot draw them, so the view says so), from one pass over the histories."""
    epoch, layers = _signal_layers(session, metric, muted, epoch)
    out = []
    for index, label in enumerate(session.labels()):
        per_layer = {k: [v for v in vs if v > 0] for k, vs in layers.get(label, {}).items()}
        shown = sorted(k for k, vs in per_layer.items() if vs)
        if shown:
            out.append(Series(label, index, tuple(float(x) for x in shown), tuple(mean(per_layer[x]) for x in shown)))
    zeros = [label for label, per_layer in layers.items() if any(v <= 0 for vs in per_layer.values() for v in vs)]
    return epoch, out, zeros


def _signal_layers(session: Session, metric: str, muted: frozenset[str],
                   epoch: int | None) -> tuple[int, dict[str, dict[int, list[float]]]]:
    """The epoch shown, and per visible initializer per layer (1-based) every repeat's value there."""
    current = session.current
    if current is None:
        return -1, {}
    # rows are epochs 0, 1, 2, ... in order: the last row is the latest (no scan of every row, 10 times a second)
    latest = [int(h[-1]["epoch"]) for unit in current.initializers.values() if unit.label not in muted
              for h in unit.histories if h and metric in h[-1]]
    if not latest:
        return -1, {}
    epoch = min(latest) if epoch is None else max(0, min(epoch, min(latest)))
    out: dict[str, dict[int, list[float]]] = {}
    for label in session.labels():
        if label in muted or label not in current.initializers:
            continue
        per_layer: dict[int, list[float]] = {}
        for history in current.initializers[label].histories:
            row = history[epoch] if epoch < len(history) else None  # rows are epochs 0, 1, 2, ...
            for layer, v in enumerate(row.get(metric, []) if row else [], start=1):
                if v is not None:
                    per_layer.setdefault(layer, []).append(v)
        if per_layer:
            out[label] = per_layer
    return epoch, out


def layer_ticks(names: tuple[str, ...], width: int) -> list[str]:
    """Tick labels for layers 1..n along `width` columns: their module paths, shortened (the part every name
    shares dropped, then all but the last part cut to its first letter: `features.3` -> `f.3`), or none when
    even those do not fit: then the axis has plain numbers and `layer_note` lists the names."""
    if not names:
        return []
    parts = [n.split(".") for n in names]
    while len(parts) > 1 and all(len(p) > 2 for p in parts) and len({p[0] for p in parts}) == 1:  # keep `layers.0`
        parts = [p[1:] for p in parts]
    full = [".".join(p) for p in parts]
    short = [".".join([*(x[:1] for x in p[:-1]), p[-1]]) for p in parts]
    room = (width - 8) // len(names) - 1  # the y axis takes ~8 columns; one space between labels
    for labels in (full, short):
        if max(map(len, labels)) <= room and len(set(labels)) == len(labels):
            return labels
    return []


def layer_note(names: tuple[str, ...], ticks: list[str], width: int = 200) -> str:
    """`layers: 1 conv1 · 2 conv2 · ...` in one line of at most `width` (the middle left out: `· … ·`) when the
    ticks are plain numbers; nothing when they are names."""
    if not names or ticks:
        return ""
    items = [f"{i} {n}" for i, n in enumerate(names, start=1)]
    for keep in range(len(items), 1, -1):  # the first and last ones, as many as fit
        shown = items if keep == len(items) else [*items[:keep - keep // 2 - 1], "…", *items[-(keep // 2):]]
        text = "layers: " + " · ".join(shown)
        if len(text) <= width:
            return text
    return ("layers: " + " · ".join(items))[:width - 1] + "…"


@dataclass(frozen=True)
class Row:
    """One leaderboard row."""

    key: int  # 1-based position: the digit key that toggles it
    label: str
    status: str
    loss: str
    accuracy: str
    val_accuracy: str
    rank: str  # in the current sweep by the selected metric, with its change since the last sweep
    spread: str  # mean ± std of the selected final metric over every run of every completed sweep
    wins: str
    muted: bool


def _fmt(values: list[float]) -> str:
    """The mean over repeats (their spread is in the μ±σ column and the spread view)."""
    return fmt(mean(values)) if values else "-"


def live_ranks(sweep: SweepRecord, metric: str) -> tuple[dict[str, int], int | None]:
    """Ranks within one sweep, and the epoch they compare at: a finished sweep by its final values; one still
    training at the latest epoch every initializer has reached (none while one has not started), so a unit
    that runs ahead is never ranked against others an epoch behind."""
    if sweep.finished:
        return stats.ranks(stats.sweep_means(sweep, metric), metric), None
    units = [u for u in sweep.initializers.values() if u.state != FAILED]  # a failed one's numbers rank nothing
    if not units or min(u.epoch for u in units) < 0:
        return {}, None
    epoch = min(u.epoch for u in units)
    at = {u.label: [h[epoch][metric] for h in u.histories if epoch < len(h)] for u in units}
    return stats.ranks({k: mean(v) for k, v in at.items() if v}, metric), epoch


def leaderboard_rows(session: Session, st: stats.SessionStats | None, muted: frozenset[str] = frozenset(),
                     metric: str = "val_accuracy") -> list[Row]:
    """Per initializer: live status and metrics of the current sweep, rank (and its change), spread, wins.

    `st` is stats.compute(session, metric) for the metric the ranks and the spread are about (None while it is
    computed: those columns wait; with no complete sweep yet they say `-`).
    """
    short = short_labels(session.config.initializers)
    current = session.current
    if current is None:  # nothing trained yet: the initializers, waiting
        return [Row(k, short.get(label, label), "queued", "-", "-", "-", "-", "-", "-", label in muted)
                for k, label in enumerate(session.labels(), start=1)]
    now, _ = live_ranks(current, metric)
    completed = [s for s in session.completed() if s is not current]
    before = stats.ranks(stats.sweep_means(completed[-1], metric), metric) if completed else {}
    rows = []
    for key, label in enumerate(session.labels(), start=1):
        unit = current.initializers[label]
        rank = ""
        if label in now:
            change = stats.rank_change(now[label], before.get(label), bool(completed))
            rank = f"{now[label]} {change}".strip()
        s = next((x for x in st.inits if x.label == label), None) if st is not None else None
        if st is not None and st.sweeps == 0:
            spread = wins = "-"
        else:
            spread = "…" if s is None else mean_pm_std(list(s.values), 3, sep="±")
            wins = "…" if s is None else str(s.wins)
        rows.append(Row(key, short.get(label, label), unit.status_text(session.config.epochs, short=True),
                        _fmt(unit.last("loss")), _fmt(unit.last("accuracy")), _fmt(unit.last("val_accuracy")),
                        rank or "-", spread, wins, label in muted))
    return rows


@dataclass(frozen=True)
class Spread:
    """One initializer's final values of a metric over every run so far."""

    label: str  # its short label
    index: int
    values: tuple[float, ...]
    mean: float
    ci_low: float
    ci_high: float


def spread_data(session: Session, st: stats.SessionStats, muted: frozenset[str] = frozenset()) -> list[Spread]:
    """Per visible initializer: its final values, their mean and the 95% CI of the mean."""
    labels = session.labels()
    short = short_labels(session.config.initializers)
    out = []
    for s in st.inits:
        if s.label in muted or s.label not in labels:
            continue
        out.append(Spread(short.get(s.label, s.label), labels.index(s.label), s.values, s.mean, s.ci_low, s.ci_high))
    return out


SPREAD_HEADER = ("#", "initializer", "n", "mean ± std", "IQM", "95% CI of mean", "P(beats best)", "rank", "wins")
SPREAD_DROP_ORDER = ("wins", "rank", "95% CI of mean", "IQM", "P(beats best)")  # left out first to last, to fit


def spread_lines(st: stats.SessionStats, width: int = 200, labels: dict[str, str] | None = None) -> list[str]:
    """The spread view's table: #, n, mean ± std, IQM, 95% CI of the mean, P(beats best), rank, wins per
    initializer, then a line that says what `best` and `rank` are about. Columns that do not fit `width` are left
    out in SPREAD_DROP_ORDER, and the last line names them."""
    labels = labels or {}
    rows = [[str(k) if k <= 9 else "", labels.get(s.label, s.label), str(s.n), mean_pm_std(s.values, 4, sep="±"),
             fmt(s.iqm, 4), stats.ci_text(s, 3), stats.against_best_text(st, s),
             "-" if s.rank is None else f"{s.rank} {s.change}".strip(), str(s.wins)]
            for k, s in enumerate(st.inits, start=1)]
    keep = list(range(len(SPREAD_HEADER)))
    dropped: list[str] = []
    lines = text_table(SPREAD_HEADER, rows, left=(1,)).splitlines()
    for name in SPREAD_DROP_ORDER:
        if max(map(len, lines)) <= width:
            break
        keep.remove(SPREAD_HEADER.index(name))
        dropped.append(name)
        lines = text_table([SPREAD_HEADER[k] for k in keep], [[r[k] for k in keep] for r in rows],
                           left=(1,)).splitlines()
    where = f"sweep {st.latest_sweep}" if st.latest_sweep is not None else "the latest sweep"
    notes = [f"best: by mean over {plural(st.sweeps, 'sweep')}" if "P(beats best)" not in dropped else "",
             f"rank: in {where} only" if "rank" not in dropped else "",
             f"hidden to fit: {', '.join(dropped)}" if dropped else ""]
    return [*lines, " · ".join(n for n in notes if n)]


def header_text(session: Session, data: Described, notes: tuple[str, ...] = (), width: int = 200,
                progress: str = "", showing: str = "") -> str:
    """The summary above the charts: model, data, training settings, seed, sweep (and while it trains, its
    elapsed time and ETA; in a grid, the cell shown); broken into lines of at most `width` between its parts,
    never inside one."""
    c = session.config
    parts = [c.model.label, data.name + (" (synthetic)" if data.synthetic else "")]
    if data.n_classes > 2:
        parts.append(f"{data.n_classes} classes")
    lr = ",".join(f"{v:g}" for v in c.lrs) if c.lrs else f"{c.learning_rate:g}"  # a grid: its lr axis
    parts += [f"{c.optimizer} lr {lr}", f"batch {c.batch_size}", plural(c.epochs, "epoch")]
    if c.widths:
        parts.append(f"width {','.join(map(str, c.widths))}")
    if c.repeats > 1:
        parts.append(f"×{c.repeats} seeds")
    parts.append(f"seed {c.seed}")
    if c.executor != "local":
        parts.append(c.executor)
    if any("one model at a time" in n for n in notes):
        parts.append("one model at a time")
    if c.left_to_module:  # the names are in the headless note and `initdash audit`
        parts.append("some parameters left to the module")
    if session.current is not None:  # none yet while the data loads
        parts.append(f"sweep {session.current.sweep_id}")
    if progress:
        parts.append(progress)
    if showing:
        parts.append(showing)
    lines = [parts[0]]
    for part in parts[1:]:
        if len(lines[-1]) + 3 + len(part) <= width:
            lines[-1] += " · " + part
        else:
            lines.append(part)
    return "\n".join(lines)


def wrap_path(path: str, width: int) -> str:
    """A path in lines of at most `width`, broken after a `/` (never inside a name unless one is longer)."""
    lines = [""]
    for piece in path.replace("/", "/\0").split("\0"):
        if lines[-1] and len(lines[-1]) + len(piece) > width:
            lines.append("")
        lines[-1] += piece
    return "\n".join(lines)

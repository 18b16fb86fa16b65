"""`initdash report DIR`: initdash's statistics over the runs of a TensorBoard log directory, any tool's.

The event files are read with tensorboard's own reader (plugin_event_accumulator, which reads TF1-style
simple values and TF2 scalar tensors alike). A run is a directory with event files; it is grouped by one of
its HParams, or, where it has none by that name, by a `NAME=VALUE` part of its directory path (as Ray Tune and
many scripts name runs). PyTorch's `SummaryWriter.add_hparams` puts the hparams in a timestamped subdirectory
of the run (pytorch/pytorch#32651): such a subdirectory's hparams belong to the run directory above it.

Each run counts with the last logged value of the metric, as initdash's statistics use each run's final
value. Runs that initdash or the HParams plugin marked as not ended well (diverged, failed, stopped) are left
out, as initdash leaves them out of its own statistics.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from initdash import exit_codes
from initdash.errors import UserError
from initdash.events import METRICS, OK
from initdash.tables import mean_pm_std, plural, text_table

DEFAULT_METRIC = "val_accuracy"
DEFAULT_GROUP = "initializer"
SHOWN_MAX = 60  # characters of an outside name shown in a table cell
# Events kept per tag while reading: the reservoir always keeps the last one (the value a run counts with), so a
# run's memory stays bounded however many steps its files hold (all of them: 2.9 GB for a 100 MB file).
KEPT_PER_TAG = 1000


@dataclass
class Run:
    """One run directory: its HParams, its final value of the metric, and how it ended (when it says)."""

    name: str  # the directory, relative to the log directory
    hparams: dict[str, object] = field(default_factory=dict)
    value: float | None = None
    ended_ok: bool = True  # False: initdash's status or the HParams end status says it did not end well
    tags: tuple[str, ...] = ()


def shown(text: object) -> str:
    """Outside text for a terminal: control characters escaped (text.safe), cut to SHOWN_MAX cells."""
    from initdash.text import one_line, safe

    return one_line(safe(text), SHOWN_MAX)


def read_runs(root: Path, metric: str) -> list[Run]:
    """Every run under `root` with its HParams and last value of `metric` (None where it has none)."""
    from tensorboard.backend.event_processing import io_wrapper
    from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import api_pb2, metadata
    from tensorboard.util import tensor_util

    runs: dict[str, Run] = {}
    for folder in sorted(io_wrapper.GetLogdirSubdirectories(str(root))):
        _regular_files_only(folder, io_wrapper.IsTensorFlowEventsFile)
        acc = EventAccumulator(folder, size_guidance={"tensors": KEPT_PER_TAG})
        try:
            acc.Reload()
        except Exception as exc:  # a truncated or foreign file: that run is skipped, said by name
            raise UserError(f"{shown(folder)}: cannot read its event files ({shown(exc)})") from None
        name = Path(folder).relative_to(root).as_posix()
        run = Run(name, tags=tuple(acc.Tags().get("tensors", ())))
        content = acc.PluginTagToContent(metadata.PLUGIN_NAME) if metadata.PLUGIN_NAME in acc.ActivePlugins() else {}
        if metadata.SESSION_START_INFO_TAG in content:
            info = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
            run.hparams = {k: _value(v) for k, v in info.hparams.items()}
        if metadata.SESSION_END_INFO_TAG in content:
            end = metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG])
            run.ended_ok = end.status in (api_pb2.STATUS_SUCCESS,)
        from initdash.export.tensorboard import STATUS_TAG

        if STATUS_TAG in run.tags and acc.SummaryMetadata(STATUS_TAG).plugin_data.plugin_name == "text":
            word = tensor_util.make_ndarray(acc.Tensors(STATUS_TAG)[-1].tensor_proto).item()
            run.ended_ok = run.ended_ok and (word.decode() if isinstance(word, bytes) else str(word)) == OK
        if metric in run.tags:
            events = acc.Tensors(metric)
            last = max(range(len(events)), key=lambda i: (events[i].step, i))  # the last step; the last written
            run.value = float(tensor_util.make_ndarray(events[last].tensor_proto).item())
        runs[name] = run
    _adopt_hparams_subdirectories(runs)
    return list(runs.values())


def _regular_files_only(folder: str, is_events) -> None:
    """Refuse an event file that is not a regular file: reading a FIFO never ends, a device never runs out."""
    import os
    import stat

    for entry in os.scandir(folder):
        if is_events(entry.path):
            try:
                regular = stat.S_ISREG(os.stat(entry.path).st_mode)
            except OSError as exc:  # a dangling link, no permission
                raise UserError(f"{shown(entry.path)}: cannot read it ({shown(exc.strerror)})") from None
            if not regular:
                raise UserError(f"{shown(entry.path)}: not a regular file (an event file must be one)")


def _value(v) -> object:
    kind = v.WhichOneof("kind")
    return getattr(v, kind) if kind in ("number_value", "string_value", "bool_value") else None


def _adopt_hparams_subdirectories(runs: dict[str, Run]) -> None:
    """add_hparams' layout: hparams (and no metric) in the run's only hparams subdirectory go to the run."""
    children: dict[str, list[Run]] = {}
    for run in runs.values():
        parent = run.name.rpartition("/")[0] if "/" in run.name else "."
        if run.hparams and run.value is None:
            children.setdefault(parent, []).append(run)
    for parent, kids in children.items():
        if parent in runs and not runs[parent].hparams and len(kids) == 1:
            runs[parent].hparams = kids[0].hparams
            runs[parent].ended_ok = runs[parent].ended_ok and kids[0].ended_ok
            del runs[kids[0].name]


def group_key(run: Run, group_by: str) -> str | None:
    """The run's group: its hparam `group_by`, else `group_by=VALUE` in its directory path; None without."""
    if group_by in run.hparams and run.hparams[group_by] is not None:
        value = run.hparams[group_by]
        return f"{value:g}" if isinstance(value, float) else str(value)
    for part in re.split(r"[/,]", run.name):
        key, sep, value = part.partition("=")
        if sep and key.strip() == group_by:
            return value.strip()
    return None


def lower_is_better(metric: str, better: str | None) -> bool:
    """--better when given; else losses and errors are lower-is-better, anything else higher."""
    if better is not None:
        return better == "lower"
    return bool(re.search(r"loss|err|perplexity|mse|mae", metric, re.IGNORECASE))


def _natural(key: str) -> tuple:
    """Groups in a readable order: numbers by value (lr 0.001 before 0.01), then names."""
    try:
        return (0, float(key), "")
    except ValueError:
        return (1, 0.0, key)


def summary(groups: dict[str, list[float]], metric: str, lower: bool) -> tuple[str, str]:
    """The table (group, n, mean ± std, 95% CI, P(beats best)) and the verdict line, with initdash's statistics."""
    from initdash import stats
    from initdash.tables import mean_std

    # stats knows a metric's direction by its name: a tag of another tool's is asked about as a loss or an
    # accuracy, whichever way round it is better.
    as_metric = metric if metric in METRICS else ("loss" if lower else "accuracy")
    bounds = stats.metric_range(metric) if metric in METRICS else (-math.inf, math.inf)
    means = {k: mean_std(v)[0] for k, v in groups.items() if v}
    best = min(means, key=lambda k: means[k] if lower else -means[k]) if means else None

    # Every pair tested as independent runs (Mann-Whitney U), Holm over all of them, as initdash's own sessions.
    keys = [k for k in groups if groups[k]]
    tested = stats.tested([stats.PairStats(a, b, 0, 0, 0, *stats.probability_of_improvement(groups[a], groups[b],
                                                                                         as_metric),
                                           len(groups[a]), len(groups[b]))
                           for i, a in enumerate(keys) for b in keys[i + 1:]],
                          [], {k: tuple(groups[k]) for k in keys}, as_metric, paired=False)
    by_pair = {(t.a, t.b): t for t in tested}

    def pair(a: str, b: str) -> stats.PairStats:
        return by_pair[(a, b)] if (a, b) in by_pair else by_pair[(b, a)].swapped()

    rows = []
    for key, values in groups.items():
        low, high = stats.confidence_interval(values, bounds)
        ci = "-" if not values else (f"[{low:.4f}, {high:.4f}]" if len(values) >= stats.MIN_N else stats.TOO_FEW)
        against = "-" if best is None or not values else "best" if key == best else \
            stats.improvement_text(pair(key, best))
        rows.append([shown(key), str(len(values)), mean_pm_std(values), ci, against])
    table = text_table(["group", "n", "mean ± std", "95% CI", "P(beats best)"], rows)
    # Challengers best mean first, so that among equally likely ones the better mean is named (as stats does).
    others = sorted((k for k in means if k != best), key=lambda k: means[k] if lower else -means[k])
    return table, _verdict(best, others, pair)


def _verdict(best: str | None, others: list[str], pair) -> str:
    """The best group against its closest challenger, by probability of improvement, and what the rank test
    says (initdash's words: stats.verdict_words)."""
    from initdash import stats

    if best is None:
        return "no run has a value"
    if not others:
        return f"only {shown(best)} has runs"
    closest = max((pair(k, best) for k in others), key=lambda p: p.p)
    if closest.p < 0.5:
        closest = closest.swapped()
    head = f"{shown(closest.a)} beats {shown(closest.b)} in {closest.p:.0%} of run pairs"
    if closest.has_ci:
        head += f" (95% interval {stats.percent_interval(closest.low, closest.high)})"
    return head + stats.verdict_words(closest)


def report_directory(path: Path, group_by: str = DEFAULT_GROUP, metric: str = DEFAULT_METRIC,
                     better: str | None = None) -> int:
    """Print initdash's statistics of `metric` per `group_by` over the TensorBoard runs under `path`."""
    from initdash.export.tensorboard import require

    require()
    if not path.is_dir():
        raise UserError(f"{path}: not a directory of TensorBoard event files")
    runs = read_runs(path, metric)
    if not runs:
        raise UserError(f"{path}: no TensorBoard event files under it")
    with_metric = [r for r in runs if r.value is not None]
    if not with_metric:
        tags = sorted({t for r in runs for t in r.tags if not t.startswith("_hparams_/")})
        listed = ", ".join(shown(t) for t in tags[:12]) + (", ..." if len(tags) > 12 else "")
        raise UserError(f"no run under {path} has the scalar {shown(metric)!r} (--metric; tags: {listed or 'none'})")
    keyed = [(group_key(r, group_by), r) for r in with_metric]
    if all(k is None for k, _ in keyed):
        names = sorted({h for r in runs for h in r.hparams})
        listed = ", ".join(shown(n) for n in names[:12]) + (", ..." if len(names) > 12 else "")
        raise UserError(f"no run under {path} has the hparam {shown(group_by)!r} or {shown(group_by)}=VALUE in its "
                        f"directory name (--group-by; hparams: {listed or 'none'})")
    groups: dict[str, list[float]] = {}
    stopped = 0
    for key, run in sorted(((k, r) for k, r in keyed if k is not None), key=lambda kr: _natural(kr[0])):
        if not run.ended_ok or not math.isfinite(run.value):  # type: ignore[arg-type]
            stopped += 1
            groups.setdefault(key, [])
            continue
        groups.setdefault(key, []).append(run.value)  # type: ignore[arg-type]
    lower = lower_is_better(metric, better)
    table, verdict = summary(groups, metric, lower)
    counted = sum(map(len, groups.values()))
    print(f"{shown(metric)} at each run's last step, by {shown(group_by)}: {plural(counted, 'run')} in "
          f"{plural(len(groups), 'group')} ({'lower' if lower else 'higher'} is better)")
    print(table)
    print()
    print(verdict)
    missing = sum(k is None for k, _ in keyed)
    left = [f"{plural(len(runs) - len(with_metric), 'run')} without {shown(metric)}" if len(runs) > len(with_metric)
            else "", f"{plural(missing, 'run')} without {shown(group_by)}" if missing else "",
            f"{plural(stopped, 'run')} that did not end well (diverged, failed or stopped)" if stopped else ""]
    if any(left):
        print("left out: " + "; ".join(x for x in left if x))
    return exit_codes.OK

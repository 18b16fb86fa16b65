"""TensorBoard event files out: one run directory per (sweep, initializer, repeat[, grid cell]), a scalar per
metric and epoch, and HParams per run, written live (a sink of the Recorder) or from a stored session (export).

Live and export are one code path: an export replays the session's events (session.events_of) through the
same writer the Recorder feeds while training, so both write the same runs, tags, steps and values. In a grid
the workers' events name units and the replayed ones name cells: the writer resolves either through
initdash.grid, so a run is always one cell's repeat.

Only tensorboard's own protos and record framing are used (no torch, no TensorFlow): `import tensorboard`
costs ~0.7 s here against 3-6 s for tensorboardX or torch.utils.tensorboard (both import torch).
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import queue
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from initdash.errors import UserError, first_line
from initdash.events import (
    CANCELLED,
    DIVERGED,
    FAILED,
    INTERRUPTED,
    LAYER_METRICS,
    METRICS,
    OK,
    EpochDone,
    Event,
    UnitFailed,
    UnitFinished,
    UnitStarted,
)
from initdash.export.paths import new_mode

if TYPE_CHECKING:
    from initdash.config import ExperimentConfig
    from initdash.session import Session

INSTALL = "pip install 'initdash[tensorboard]'"
LAYER_PREFIX = "layers"  # per-layer scalars: layers/activation_std/<layer>, layers/grad_norm/<layer>
STATUS_TAG = "status"  # a text summary: `running`, then how the run ended (ok, diverged, interrupted, ...)
RUNNING = "running"
Cell = Mapping[str, float | int]  # a grid cell's axes beyond the initializer (lr, width), when a grid has them
_file_ids = itertools.count(1)


def require() -> None:
    """UserError (exit 2) naming the install command when the tensorboard package is missing."""
    if importlib.util.find_spec("tensorboard") is None:
        raise UserError(f"TensorBoard files need the tensorboard package: {INSTALL}")


def dir_name(text: str) -> str:
    """One path component for any label: `/`, `:` and other odd characters %-escaped (injective; never `..`)."""
    name = quote(text, safe="._-=,+")
    return name.replace(".", "%2E") if name in (".", "..") else name


def run_name(sweep_id: int, label: str, repeat: int, cell: Cell | None = None) -> str:
    """The run's directory under the log directory: sweep1/he_normal/repeat0 (a cell adds lr=0.01/width=64)."""
    axes = [dir_name(f"{k}={v:g}") for k, v in (cell or {}).items()]
    return "/".join([f"sweep{sweep_id}", dir_name(label), *axes, f"repeat{repeat}"])


def hparams(config: ExperimentConfig, data_label: str, sweep_id: int, label: str, repeat: int, seed: int,
            cell: Cell | None = None) -> dict[str, float | int | str]:
    """A run's HParams: initializer (label, name, each parameter), sweep, repeat, seed, the settings, grid axes."""
    from initdash.initializers import CATALOG

    spec = next((s for s in config.initializers if s.label == label), None)
    out: dict[str, float | int | str] = {"initializer": label}
    if spec is not None:
        out["initializer_name"] = spec.name
        params = spec.resolved() if spec.name in CATALOG else dict(spec.params)
        out.update({f"initializer.{k}": v for k, v in params.items()})
    # A seed has up to 63 bits and HParams numbers are doubles (53): as text it stays exact.
    out.update(sweep=sweep_id, repeat=repeat, seed=str(seed), model=config.model.label, data=data_label,
               optimizer=config.optimizer, lr=config.learning_rate, batch_size=config.batch_size,
               epochs=config.epochs)
    out.update(dict(cell or {}))
    return out


def group_name(label: str, cell: Cell | None = None) -> str:
    """The HParams session group: every seed of one initializer (in one grid cell) is one group."""
    return " ".join([label, *(f"{k}={v:g}" for k, v in (cell or {}).items())])


@dataclass
class _Run:
    path: Path  # the event file
    cell: str  # the key of its cell, as the Session names it (an initializer's label without a grid)
    repeat: int  # its place among its cell's runs (the Session's order)
    index: int  # its place among the runs of the events that feed it (a grid unit's events carry every cell)
    epoch: int = 0  # the last epoch written: the status that ends the run is written at it


@dataclass
class _Unit:
    runs: list[_Run]
    layer_names: tuple[str, ...] = ()


def cells_of(config: ExperimentConfig, key: str) -> list[Any]:
    """The grid cells (initdash.grid.Cell) an event key covers: a unit's cells (live: workers send units), one
    cell (an export replays the Session's cells), or, for a label the config does not list, a cell of its own."""
    from initdash import grid

    by_key = {c.key: c for c in grid.cells(config)}
    units = grid.unit_cells(config)
    if key in units:
        return [by_key[k] for k in units[key]]
    return [by_key.get(key, grid.Cell(key, key, grid.lr_axis(config)[0], None))]


def cell_axes(config: ExperimentConfig, cell: Any) -> dict[str, float | int]:
    """The axes a cell's run directory and HParams name: its lr (with an lr axis) and its width (with a width
    axis); {} without a grid."""
    return {**({"lr": cell.lr} if config.lrs else {}), **({"width": cell.width} if cell.width is not None else {})}


class EventWriter:
    """Turns accepted events into event files under `root`, synchronously (TensorBoardSink runs it on a thread).

    Runs are the Session's: one per cell and repeat, whether the events name a grid's unit (live) or its cells
    (an export), so both write the same tree. A file is opened, appended to and closed per epoch, so a sweep of
    hundreds of runs holds no file open.
    """

    def __init__(self, root: Path) -> None:
        from tensorboard.compat.proto import event_pb2, summary_pb2

        self.root, self._event_pb2, self._summary_pb2 = root, event_pb2, summary_pb2
        self.units: dict[tuple[int, str], _Unit] = {}
        self._host = dir_name(socket.gethostname())

    def apply(self, event: Event, config: ExperimentConfig, data_label: str) -> None:
        """Write what one event (already accepted by the Session) adds."""
        key = (event.sweep_id, event.initializer)
        if isinstance(event, UnitStarted):
            self._start(key, event.seeds, event.layer_names, config, data_label, event.lrs)
        elif isinstance(event, EpochDone) and key in self.units:
            self._epoch(self.units[key], event)
        elif isinstance(event, UnitFinished) and key in self.units:
            unit = self.units.pop(key)
            self._end(unit, [event.outcomes[r.index].status if r.index < len(event.outcomes) else FAILED
                             for r in unit.runs])
        elif isinstance(event, UnitFailed):
            if key not in self.units and event.seeds:  # failed before it started: its runs still show
                self._start(key, event.seeds, (), config, data_label, event.lrs)
            unit = self.units.pop(key, None)
            if unit is not None:
                self._end(unit, [FAILED] * len(unit.runs))

    def end_sweep(self, sweep_id: int, statuses: Mapping[str, list[str]]) -> None:
        """A sweep stopped early (cancelled, interrupted): its open runs end with the statuses the Session gave
        (by cell key and repeat, as the Session keeps them; a grid unit's runs are found in its cells)."""
        for sid, key in list(self.units):
            if sid != sweep_id:
                continue
            runs = self.units[(sid, key)].runs
            if all(r.cell in statuses and r.repeat < len(statuses[r.cell]) for r in runs):
                self._end(self.units.pop((sid, key)), [statuses[r.cell][r.repeat] for r in runs])

    # --- writing -------------------------------------------------------------------------------------------
    def _start(self, key: tuple[int, str], seeds: tuple[int, ...], layer_names: tuple[str, ...],
               config: ExperimentConfig, data_label: str, lrs: tuple[float, ...] = ()) -> None:
        from tensorboard.plugins.hparams import summary_v2
        from tensorboard.plugins.text.summary_v2 import text_pb

        from initdash import grid

        sweep_id, name = key
        is_unit = name in grid.unit_cells(config)
        runs = []
        for cell in cells_of(config, name):
            # As Session.apply splits a unit's events: each cell takes the runs at its learning rate (all of them
            # when the event names no rates, as a worker process that died does)
            picked = grid.indices_of(lrs, cell.lr) if is_unit else None
            axes = cell_axes(config, cell) or None
            for repeat, index in enumerate(range(len(seeds)) if picked is None else picked):
                folder = self.root / run_name(sweep_id, cell.initializer, repeat, axes)
                folder.mkdir(parents=True, exist_ok=True)
                file = f"events.out.tfevents.{int(time.time()):010d}.{self._host}.{os.getpid()}.{next(_file_ids)}"
                run = _Run(folder / file, cell.key, repeat, index)
                version = self._event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2")
                start = summary_v2.hparams_pb(
                    hparams(config, data_label, sweep_id, cell.initializer, repeat, seeds[index], axes),
                    trial_id=group_name(cell.initializer, axes))
                self._write(run, [version, self._event(0, start), self._event(0, text_pb(STATUS_TAG, RUNNING))])
                runs.append(run)
        self.units[key] = _Unit(runs, layer_names)

    def _epoch(self, unit: _Unit, event: EpochDone) -> None:
        rep = event.report
        Value = self._summary_pb2.Summary.Value
        for run in unit.runs:
            i = run.index
            if i >= len(rep.statuses) or rep.statuses[i] != OK:  # as the Session: a run that diverged has no row
                continue
            values = [Value(tag=m, simple_value=float(rep.values[m][i])) for m in METRICS]
            for metric in LAYER_METRICS:
                rows = rep.layers.get(metric, ())
                for layer, v in enumerate(rows[i] if i < len(rows) else (), start=1):
                    if v is not None:
                        name = unit.layer_names[layer - 1] if layer <= len(unit.layer_names) else f"layer{layer}"
                        values.append(Value(tag=f"{LAYER_PREFIX}/{metric}/{name}", simple_value=float(v)))
            self._write(run, [self._event(rep.epoch, self._summary_pb2.Summary(value=values))])
            run.epoch = rep.epoch

    def _end(self, unit: _Unit, statuses: list[str]) -> None:
        from tensorboard.compat.proto import summary_pb2
        from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
        from tensorboard.plugins.text.summary_v2 import text_pb

        # HParams knows success, failure, running and unknown (no "aborted"): a run that a rerun or a signal
        # stopped is unknown there, and its own word is in the status text.
        codes = {OK: api_pb2.STATUS_SUCCESS, DIVERGED: api_pb2.STATUS_FAILURE, FAILED: api_pb2.STATUS_FAILURE,
                 CANCELLED: api_pb2.STATUS_UNKNOWN, INTERRUPTED: api_pb2.STATUS_UNKNOWN}
        for run, status in zip(unit.runs, statuses):  # a unit ends once: end_sweep and apply pop it
            info = plugin_data_pb2.SessionEndInfo(status=codes.get(status, api_pb2.STATUS_UNKNOWN),
                                                  end_time_secs=time.time())
            end = summary_pb2.Summary(value=[summary_pb2.Summary.Value(
                tag=metadata.SESSION_END_INFO_TAG, tensor=metadata.NULL_TENSOR,
                metadata=metadata.create_summary_metadata(plugin_data_pb2.HParamsPluginData(session_end_info=info)))])
            self._write(run, [self._event(run.epoch, end), self._event(run.epoch, text_pb(STATUS_TAG, status))])

    def _event(self, step: int, summary: Any) -> Any:
        return self._event_pb2.Event(wall_time=time.time(), step=step, summary=summary)

    @staticmethod
    def _write(run: _Run, events: list[Any]) -> None:
        from tensorboard.summary.writer.record_writer import RecordWriter

        with open(run.path, "ab") as fh:
            writer = RecordWriter(fh)
            for event in events:
                writer.write(event.SerializeToString())


class TensorBoardSink:
    """The Recorder's TensorBoard output while training: events queue up and a thread writes them (never the UI
    thread). A failure (a full disk) is reported once through `on_error`; writing stops, training goes on."""

    def __init__(self, root: Path, on_error: Callable[[str], None] | None = None) -> None:
        self.root, self.on_error = root, on_error
        self.error: str | None = None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="tensorboard", daemon=True)
        self._thread.start()

    def accept(self, event: Event, config: ExperimentConfig, data_label: str) -> None:
        """An event the Session accepted (called by the Recorder; returns at once)."""
        self._queue.put(("apply", event, config, data_label))

    def end_sweep(self, sweep_id: int, statuses: Mapping[str, list[str]]) -> None:
        """The sweep stopped early: its open runs end with these statuses (per initializer, per repeat)."""
        self._queue.put(("end_sweep", sweep_id, {k: list(v) for k, v in statuses.items()}))

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued and stop the thread (bounded)."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _work(self) -> None:
        writer: EventWriter | None = None
        while (item := self._queue.get()) is not None:
            if self.error is not None:
                continue
            try:
                writer = writer or EventWriter(self.root)
                getattr(writer, item[0])(*item[1:])
            except Exception as exc:  # a full disk, a removed directory: said once, training goes on
                self.error = f"{self.root}: {first_line(exc)}"
                if self.on_error is not None:
                    self.on_error(self.error)


def replay(session: Session, writer: EventWriter) -> None:
    """Every sweep of a session through `writer`, as the Recorder fed it live (sweeps that stopped early end so)."""
    from initdash.session import SWEEP_CANCELLED, SWEEP_INTERRUPTED, events_of

    for sweep in session.sweeps:
        for event in events_of(sweep):  # by cell: the writer files them under the same runs as live's units
            writer.apply(event, session.config, session.data_label)
        if sweep.state in (SWEEP_CANCELLED, SWEEP_INTERRUPTED):
            writer.end_sweep(sweep.sweep_id, {label: list(u.statuses) for label, u in sweep.initializers.items()})


def write(session: Session, out: Path) -> Path:
    """Export a session as event files into `out` (new or empty), whole or not at all: written beside it, then
    renamed into place."""
    require()
    parent = out.parent if str(out.parent) else Path(".")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent))
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    try:
        replay(session, EventWriter(tmp))
        os.chmod(tmp, new_mode(0o777))  # mkdtemp makes it 0700; an export gets the mode any new directory gets
        os.replace(tmp, out)  # onto an empty directory too (POSIX rename)
    except OSError as exc:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out

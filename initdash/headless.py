"""Run sweeps without the TUI: progress on stderr, the results table on stdout."""

from __future__ import annotations

import math
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from initdash import __version__, exit_codes
from initdash.config import ExperimentConfig
from initdash.data import Dataset
from initdash.events import CANCELLED, EpochDone, UnitFailed, UnitFinished
from initdash.grid import cells, lr_axis
from initdash.progress import Eta, epochs_done
from initdash.recorder import Recorder
from initdash.session import Session
from initdash.sweep import Executor, Sweep
from initdash.tables import fmt, mean, plural
from initdash.text import safe

if TYPE_CHECKING:
    from initdash.export.tensorboard import TensorBoardSink
    from initdash.store import HistoryWriter

POLL_S = 0.05  # how often the main thread looks at a noted signal while no event comes
LIVE_EVERY_S = 0.25  # a terminal's live progress line is redrawn at most this often
LINE_EVERY_S = 5.0  # elsewhere (a log file, a pipe) a progress line is written at most this often


class Progress:
    """Progress lines on a stream that may close under us (`| head`): then progress stops, training does not.

    `live` is the progress of training: on a terminal one line redrawn in place (\\r), elsewhere a line every
    LINE_EVERY_S seconds; other lines are written whole, above it.
    """

    def __init__(self, stream: TextIO | None, clock_s: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.lost = False  # a line could not be written
        self._now = clock_s
        self._tty = _isatty(stream)
        self._shown = ""  # the live line on screen now (terminal)
        self._last = -math.inf  # when the live line was last written

    def line(self, text: str) -> None:
        """Write one line, or nothing once the stream is gone (on a terminal, above the live line)."""
        live, self._shown = self._shown, ""
        self._write(("\r\x1b[K" if live else "") + safe(text) + "\n" + (live if live else ""))
        self._shown = live

    def live(self, text: str) -> None:
        """Training's progress: redrawn in place on a terminal, a line every few seconds elsewhere."""
        now = self._now()
        if now - self._last < (LIVE_EVERY_S if self._tty else LINE_EVERY_S):
            return
        self._last = now
        text = safe(text)
        if self._tty:
            self._shown = text
            self._write("\r" + text + "\x1b[K")
        else:
            self._write(text + "\n")

    def end_live(self) -> None:
        """Clear a terminal's live line (training ended)."""
        if self._shown:
            self._shown = ""
            self._write("\r\x1b[K")

    def _write(self, text: str) -> None:
        if self.stream is None or self.lost:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed pipe, a full disk, a closed file
            self.lost = True


def _isatty(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (OSError, ValueError):
        return False


class Stop:
    """A signal that asked to stop, noted by its handler and acted on between two events (never inside one)."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def note(self, signum: int, frame: object = None) -> None:
        """The signal handler: remember the first signal."""
        if self.signum is None:
            self.signum = signum

    def check(self) -> None:
        """Raise KeyboardInterrupt (SIGINT) or Interrupted (SIGTERM, SIGHUP) if a signal came."""
        from initdash.errors import Interrupted

        if self.signum == signal.SIGINT:
            raise KeyboardInterrupt
        if self.signum is not None:
            raise Interrupted(self.signum)


def run_sweeps(config: ExperimentConfig, dataset: Dataset, sweeps: int, recorder: Recorder,
               progress: Progress | None = None, executor: Executor | None = None, stop: Stop | None = None) -> None:
    """Run `sweeps` sweeps one after another (as that many presses of the rerun key would), recording each.

    An interruption (Ctrl-C, a signal noted in `stop`) cancels the sweep in training, records it as interrupted
    and propagates: what finished stays in the recorder's Session (and store). A noted signal is acted on
    between events, so an event is always recorded whole, in the Session and the store alike.
    """
    progress = progress or Progress(None)
    stop = stop or Stop()
    per_sweep = len(cells(config)) * config.epochs  # a grid: every cell's epochs
    eta = Eta(sweeps * per_sweep)
    for k in range(sweeps):
        stop.check()
        events: queue.Queue = queue.Queue()
        sweep_id = recorder.begin_sweep(config)
        # The executor's workers take the units in order, each to its end: every unit's result arrives as it ends.
        sweep = Sweep(config, dataset, sweep_id, events.put, executor)
        sweep.start()
        pending = {unit.label for unit in sweep.units}
        head = f"sweep {k + 1} of {sweeps} · " if sweeps > 1 else ""
        try:
            while pending:
                stop.check()
                try:
                    event = events.get(timeout=POLL_S)
                except queue.Empty:
                    progress.live(head + eta.text())  # the clock goes on between epochs
                    continue
                recorder.apply(event)
                current = recorder.session.current
                if event.sweep_id != sweep_id:
                    continue
                if current is not None:
                    eta.update(k * per_sweep + epochs_done(current, config.epochs))
                if isinstance(event, EpochDone):
                    progress.live(head + eta.text())
                elif isinstance(event, (UnitFinished, UnitFailed)):
                    pending.discard(event.initializer)
                    progress.line(_progress_line(recorder, sweep_id, event))
            # A worker may still be unwinding after its last event; exiting under it can abort the process
            # (torch's threads: "terminate called without an active exception", exit code 134).
            sweep.join()
        except BaseException:
            progress.end_live()
            sweep.cancel()
            sweep.join(timeout=2)
            while not events.empty():  # what the workers sent before they stopped is kept
                event = events.get_nowait()
                if isinstance(event, UnitFinished) and any(o.status == CANCELLED for o in event.outcomes):
                    continue  # stopped by the cancel above: end_sweep records its runs as interrupted
                recorder.apply(event)
            recorder.end_sweep("interrupted")
            raise
    progress.end_live()
    stop.check()


def _progress_line(recorder: Recorder, sweep_id: int, event: UnitFinished | UnitFailed) -> str:
    head = f"sweep {sweep_id}  {event.initializer}:"
    if isinstance(event, UnitFailed):
        where = recorder.failure_logs.get((sweep_id, event.initializer))
        return f"{head} failed ({event.message})" + (f"; traceback in {where}" if where else "")
    current = recorder.session.current
    parts = []
    for key in current.units.get(event.initializer, [event.initializer]):  # a grid's unit: each of its cells
        unit = current.initializers[key]
        finals = unit.final("val_accuracy")
        tail = f", val_accuracy {fmt(mean(finals))}" if finals else ""
        name = f"lr={unit.lr:g} " if current.units and recorder.session.config.lrs else ""
        parts.append(f"{name}{unit.status_text(recorder.session.config.epochs)}{tail}")
    return f"{head} " + "; ".join(parts)


def main(config: ExperimentConfig, dataset: Dataset, sweeps: int, out: Path | None, store: HistoryWriter | None,
         session: Session | None, executor: Executor | None, opened: int | None = None,
         notes: list[str] | tuple[str, ...] = (), sink: TensorBoardSink | None = None,
         results: TextIO | None = None) -> int:
    """The headless run as the command line starts it; returns the exit code.

    Results go to every destination (stdout's table, --out, the history) even when another one fails; the
    exit code is 0 only if all of them got them. Ctrl-C and SIGTERM stop training and still deliver what
    finished (exit 130 / 143).
    """
    from initdash.errors import Interrupted

    err = Progress(sys.stderr)
    lr = ",".join(f"{v:g}" for v in lr_axis(config))
    widths = f", width {','.join(map(str, config.widths))}" if config.widths else ""
    err.line(f"initdash {__version__}: {dataset.describe()}, {config.model.label}{widths}, {config.optimizer} "
             f"lr {lr}, batch {config.batch_size}, {plural(config.epochs, 'epoch')}, "
             f"seed {config.seed}, {config.design} design"
             + ("" if config.executor == "local" else f", executor {config.executor}"))
    for note in dataset.notes(config.data):
        err.line(note)
    for note in notes:
        err.line(f"note: {note}")
    if session is not None:
        done = len(session.completed())
        err.line(f"continuing session {opened}: {plural(done, 'complete sweep')} so far")
    session = session or Session(config, dataset.describe())
    recorder = Recorder(session, store,
                        on_store_error=lambda msg: err.line(f"initdash: history: {msg}; sweeps are no longer saved"),
                        sink=sink)
    if sink is not None:
        sink.on_error = lambda msg: err.line(f"initdash: tensorboard: {msg}; no more event files are written")
    stopped: Interrupted | KeyboardInterrupt | None = None
    # A signal is acted on between events only; once training stopped, a second one is noted and ignored:
    # what finished is being delivered.
    with _signals_noted() as stop:
        try:
            run_sweeps(config, dataset, sweeps, recorder, err, executor, stop)
        except (KeyboardInterrupt, Interrupted) as exc:
            stopped = exc
        if sink is not None:
            sink.close()  # every event file written before the results are said to be delivered
            if sink.error is None and stopped is None:
                err.line(f"wrote TensorBoard runs in {sink.root} (tensorboard --logdir {sink.root.parent})")
        return _deliver(session, recorder, store, out, stopped, err, results or sys.stdout, sink)


def _deliver(session: Session, recorder: Recorder, store: HistoryWriter | None, out: Path | None,
             stopped: BaseException | None, err: Progress, results: TextIO,
             sink: TensorBoardSink | None = None) -> int:
    """Results to every destination (--out, then the table on stdout; the history has them already); the exit
    code: 0 only if every destination got them, 130 / 143 after a signal."""
    from initdash import report
    from initdash.errors import UserError
    from initdash.export import json_csv

    delivered = recorder.store_error is None and (sink is None or sink.error is None)
    written: list[Path] = []
    if out is not None:  # files first: a reader of stdout that leaves early must not cost the --out file
        try:
            written = json_csv.write(session, out)
            if stopped is None:  # interrupted: the one line below says it
                err.line(f"wrote {' and '.join(map(str, written))}")
        except UserError as exc:
            err.line(f"initdash: error: {exc}")
            delivered = False
    if stopped is not None:
        name = "SIGINT" if isinstance(stopped, KeyboardInterrupt) else stopped.name
        err.line(f"initdash: interrupted by {name}: {_saved_words(session, recorder, store, written)}")
        return exit_codes.INTERRUPTED if isinstance(stopped, KeyboardInterrupt) else stopped.exit_code
    try:
        print(report.results_text(session), file=results, flush=True)
    except (OSError, ValueError):  # stdout closed (`| head`) or full: the table did not arrive
        delivered = False
    if store is not None and recorder.store_error is None:
        err.line(f"saved as session {store.session_id} in {store.path} "
                 f"(initdash export {store.session_id} --out FILE.json)")
    trained = [v for s in session.completed() for g in s.initializers.values() for v in g.final("loss")]
    if not trained:
        err.line("initdash: no run trained to the end: every run failed or diverged")
        return exit_codes.FAILED
    return exit_codes.OK if delivered else exit_codes.FAILED


def _saved_words(session: Session, recorder: Recorder, store: HistoryWriter | None, written: list[Path]) -> str:
    """What an interrupted run kept, in one phrase."""
    complete = len(session.completed())
    cur = session.current
    part = ""
    if cur is not None and cur.state == "interrupted":
        epochs = max((g.epoch for g in cur.initializers.values()), default=-1)
        part = f" and sweep {cur.sweep_id} as interrupted (up to epoch {max(epochs, 0)})"
    what = f"{plural(complete, 'complete sweep')}{part}"
    if store is None:
        where = "not saved to the history (--no-save)"
    elif recorder.store_error is not None:
        where = f"the history stopped saving ({recorder.store_error})"
    else:
        where = f"saved as session {store.session_id} in {store.path}"
    files = f"; wrote {' and '.join(map(str, written))}" if written else ""
    return f"{what} {where}{files}"


def _catchable() -> list[signal.Signals]:
    """The stopping signals this process may handle: not one its parent set to be ignored (nohup's SIGHUP, a
    background job's SIGINT)."""
    sigs = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    return [s for s in sigs if signal.getsignal(s) is not signal.SIG_IGN]


@contextmanager
def _signals_noted() -> Iterator[Stop]:
    """Ctrl-C, SIGTERM and SIGHUP are noted in a Stop that run_sweeps acts on between events (main thread)."""
    stop = Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    old = {s: signal.signal(s, stop.note) for s in _catchable()}
    try:
        yield stop
    finally:
        for s, h in old.items():
            signal.signal(s, h)

"""On the driver: the executor the program uses. One Ray generator task per unit, and one thread per sweep that
follows their streams and hands each event to `sweep.emit` as it arrives.

Faults: a unit whose worker process dies is retried by Ray (TASK_RETRIES times): the retried attempt trains
from the start, and its stream goes on where the driver stopped reading, so the driver sees every event once
and the numbers equal the local executor's. When the retries run out, the unit fails with `worker died`; the
other units go on. Cancelling: `ray.cancel` on every unit's task (a running one raises its cooperative flag,
cluster.py); a task that has not stopped CANCEL_GRACE seconds later loses its worker. Once cancelled, a sweep's
units end without a last event (nobody waits for them: the sweep is over).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

from initdash.errors import UserError
from initdash.events import Event, UnitFailed, UnitFinished
from initdash.executors.ray.cluster import stream_unit
from initdash.executors.ray.connecting import CLOSE_TIMEOUT, Connection, connect
from initdash.executors.ray.diagnosis import failure_text
from initdash.sweep import Sweep, Unit

TASK_RETRIES = 3  # Ray's own default for tasks: a unit survives that many deaths of its worker
POLL = 0.25  # seconds the follower waits for events before it looks at cancellation again
CALL_TIMEOUT = 60.0  # seconds the value of a ready event may take to arrive
CANCEL_GRACE = 5.0  # seconds a cancelled task may take to see its flag before its worker is killed


@dataclasses.dataclass
class _SweepOnCluster:
    """The driver's view of one sweep on the cluster: each unit's stream of events, until it has ended."""

    sweep: Sweep
    thread: threading.Thread | None = None
    streams: dict[Any, Unit] = dataclasses.field(default_factory=dict)  # ObjectRefGenerator -> its unit
    ended: set[str] = dataclasses.field(default_factory=set)  # units whose last event went out
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)  # submitting vs cancelling
    cancelled_at: float | None = None
    killed: bool = False


class RayExecutor:
    """One Ray generator task per unit, on the cluster `connect` joined (or on a local Ray instance it started)."""

    name = "ray"

    def __init__(self, connection: Connection, retries: int = TASK_RETRIES) -> None:
        self._connection, self._ray = connection, connection.ray
        self.started_local, self.address = connection.started_local, connection.address
        self.retries = retries  # how often Ray runs a unit again after its worker died
        self._task = self._ray.remote(stream_unit)
        self._sweeps: dict[int, _SweepOnCluster] = {}  # by id(sweep)
        self._lock = threading.Lock()

    @classmethod
    def connect(cls, address: str | None = None, retries: int = TASK_RETRIES, gpu: bool = False) -> RayExecutor:
        """Join a Ray cluster by Ray's own address rule, or start a local instance (connecting.connect); with `gpu`
        (--device cuda), a cluster without one is refused here, in one line, before any sweep starts."""
        executor = cls(connect(address), retries)
        if gpu and executor._ray.cluster_resources().get("GPU", 0) < 1:
            executor.close()
            raise UserError("--device cuda: the Ray cluster has no GPU (use --device cpu, or a cluster with GPUs)")
        return executor

    # --- the Executor protocol -------------------------------------------------------------------------------
    def start(self, sweep: Sweep) -> None:
        """Hand the sweep to a thread that submits one task per unit and follows their events; returns at once (the
        dataset's upload and the submissions happen on that thread, not the caller's)."""
        run = _SweepOnCluster(sweep)
        run.thread = threading.Thread(target=self._follow, args=(run,), daemon=True,
                                      name=f"ray-sweep-{sweep.sweep_id}")
        with self._lock:
            self._sweeps = {k: r for k, r in self._sweeps.items() if r.thread is not None and r.thread.is_alive()}
            self._sweeps[id(sweep)] = run
        run.thread.start()

    def cancel(self, sweep: Sweep) -> None:
        """Cancel the sweep's tasks at once: one waiting for a worker never starts, one that trains stops at its
        next batch (the follower kills its worker if it has not stopped CANCEL_GRACE seconds later)."""
        run = self._sweeps.get(id(sweep))
        if run is not None:
            self._cancel(run, force=False)

    def join(self, sweep: Sweep, timeout: float | None = None) -> None:
        """Wait for the sweep's follower (it ends once every task has ended and its events went out)."""
        run = self._sweeps.get(id(sweep))
        if run is None or run.thread is None:
            return
        run.thread.join(timeout)
        if not run.thread.is_alive():
            with self._lock:
                self._sweeps.pop(id(sweep), None)

    def close(self) -> None:
        """Stop what still trains and let go of Ray within CLOSE_TIMEOUT seconds: a local instance initdash started
        is shut down, a cluster is only disconnected from (its tasks of this session end with the connection)."""
        for run in list(self._sweeps.values()):
            self._cancel(run, force=False)
        if self._connection.owner is not None:  # someone else's connection stays as it was
            self._connection.close(CLOSE_TIMEOUT)

    def wait_closed(self, timeout: float | None = None) -> bool:
        """After close(): wait for Ray's shutdown to finish; True once it has."""
        return self._connection.close(timeout)

    # --- following a sweep: one thread per sweep -----------------------------------------------------------
    def _follow(self, run: _SweepOnCluster) -> None:
        sweep, ray = run.sweep, self._ray
        try:
            self._submit(run)
            while run.streams:
                ready, _ = ray.wait(list(run.streams), num_returns=1, timeout=POLL)
                if ready and len(run.streams) > 1:  # every stream that has an event now, not only the first
                    ready, _ = ray.wait(list(run.streams), num_returns=len(run.streams), timeout=0)
                for stream in ready:
                    self._take(run, stream)
                if sweep.cancel_event.is_set():
                    self._enforce_cancel(run)
        except Exception as exc:
            if not sweep.cancel_event.is_set():  # a cancelled sweep is over: nobody waits for its units
                self._fail(run, [u for u in sweep.units if u.label not in run.ended], exc)
            self._cancel(run, force=True)

    def _submit(self, run: _SweepOnCluster) -> None:
        """One generator task per unit; the dataset goes into the object store once for all of them."""
        sweep, ray = run.sweep, self._ray
        data = ray.put(sweep.dataset)
        resources = {"num_gpus": 1, "num_cpus": 1} if sweep.config.device == "cuda" else {"num_cpus": 1}
        for unit in sweep.units:
            with run.lock:  # a cancel in between sees every stream submitted so far
                if sweep.cancel_event.is_set():
                    return
                # The name is also the worker's process title while it trains: `ray::initdash he_normal`.
                task = self._task.options(name=f"initdash {unit.label}", max_retries=self.retries,
                                          retry_exceptions=False, **resources)
                stream = task.remote(sweep.config, data, unit)
                run.streams[stream] = unit

    def _take(self, run: _SweepOnCluster, stream: Any) -> None:
        """The stream's next item: an event to relay, the task's error (its last item), or the end of the stream."""
        ray, sweep, unit = self._ray, run.sweep, run.streams[stream]
        try:
            ref = next(stream)
        except StopIteration:
            del run.streams[stream]
            if unit.label not in run.ended and not sweep.cancel_event.is_set():
                self._fail(run, [unit], RuntimeError("the task ended without its last event"))
            return
        try:
            event = ray.get(ref, timeout=CALL_TIMEOUT)
        except ray.exceptions.GetTimeoutError:
            raise
        except Exception as error:  # the task failed: the stream ends here
            del run.streams[stream]
            stopped = isinstance(error, (ray.exceptions.TaskCancelledError, ray.exceptions.WorkerCrashedError))
            if unit.label not in run.ended and not (sweep.cancel_event.is_set() and stopped):
                self._fail(run, [unit], error)
            return
        self._relay(run, event)

    def _relay(self, run: _SweepOnCluster, event: Event) -> None:
        if event.initializer in run.ended:  # nothing after a unit's last word: the Session must not see it
            return
        if isinstance(event, (UnitFinished, UnitFailed)):
            run.ended.add(event.initializer)
        run.sweep.emit(event)

    def _fail(self, run: _SweepOnCluster, units: list[Unit], error: BaseException) -> None:
        message, trace = failure_text(self._ray, error)
        for unit in units:
            run.ended.add(unit.label)
            run.sweep.emit(unit.failed(message, trace))

    # --- cancelling ------------------------------------------------------------------------------------------
    def _cancel(self, run: _SweepOnCluster, force: bool) -> None:
        with run.lock:
            if run.cancelled_at is None:
                run.cancelled_at = time.monotonic()
            for stream in list(run.streams):
                try:
                    # Cancelled tasks are not retried (Ray's rule), so a killed worker ends its unit for good.
                    self._ray.cancel(stream, force=force, recursive=False)
                except Exception:  # finished meanwhile, or Ray is shutting down: the follower ends anyway
                    pass

    def _enforce_cancel(self, run: _SweepOnCluster) -> None:
        """Cancel what still runs (a sweep may be cancelled by its flag alone); after CANCEL_GRACE seconds, kill it
        (an interrupt in the middle of `import torch` would leave a broken worker behind: the flag comes first)."""
        if run.cancelled_at is None:
            self._cancel(run, force=False)
        elif not run.killed and time.monotonic() - run.cancelled_at > CANCEL_GRACE:
            run.killed = True
            self._cancel(run, force=True)

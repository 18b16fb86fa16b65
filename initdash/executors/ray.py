"""The Ray executor: each unit of a sweep (one initializer's runs) is one Ray task on a cluster.

A task runs `train_unit`, the very code the local executor runs, so the numbers are the same. Its events go
to one small actor per executor (the channel); a pump thread per sweep on the driver takes them from there
and hands them to `sweep.emit`. The channel also carries each sweep's cancel flag: a thread in every task
waits on it and sets the flag `train_unit` checks at every batch.

Ray is imported here only, and only by `RayExecutor.connect` (the dashboard paints before it loads). A Ray
instance that initdash starts itself stays on 127.0.0.1, keeps Ray's token authentication on, starts no
dashboard or metrics server, and prints nothing on the terminal: Ray's messages go to initdash's log file.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import secrets
import socket
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from initdash.errors import UserError
from initdash.events import Event, UnitFailed, UnitFinished
from initdash.sweep import Sweep, Unit, train_unit

INSTALL_HINT = 'pip install "initdash[ray]"'
CONNECT_TIMEOUT = 12.0  # seconds a cluster has to answer: with initdash's own start-up, the command says so in 15 s
START_TIMEOUT = 60.0  # seconds a local instance may take to start (on a busy machine)
CLOSE_TIMEOUT = 0.8  # seconds close() waits for Ray's shutdown; the rest finishes in the background
POLL = 0.25  # seconds the pump waits for events before it looks at its tasks again
CALL_TIMEOUT = 60.0  # seconds a call to the channel may take before the pump gives up on it
CANCEL_GRACE = 5.0  # seconds a cancelled task may take to see its flag before its worker is killed
WORKER_NICENESS_ENV = "RAY_worker_niceness"
LOCAL_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": Ray advertises 127.0.0.1, not the outward address
LOOPBACK = ("127.0.0.1", "localhost", "::1")
DEFAULT_TOKEN_PATH = Path.home() / ".ray" / "auth_token"  # where Ray itself looks for a token
_NOT_INSTALLED = "the Ray cluster's workers cannot import initdash: install the same version on every node"


@dataclasses.dataclass(frozen=True)
class _Worker:
    """A task began: which process trains the unit (for the driver's view, and for tests that kill it)."""

    initializer: str
    pid: int


# --- on the cluster ---------------------------------------------------------------------------------------
class _Channel:
    """One actor per executor: each sweep's events, from its tasks to the driver, and its cancel flag."""

    def __init__(self) -> None:
        self._events: dict[str, list[Any]] = {}
        self._ready: dict[str, Any] = {}  # key -> asyncio.Event: events are waiting
        self._cancelled: dict[str, Any] = {}  # key -> asyncio.Event: the sweep was cancelled

    async def version(self) -> str:
        """initdash's version where the channel runs (the cluster's, which must be the driver's)."""
        from initdash import __version__

        return __version__

    async def open(self, key: str) -> None:
        """A sweep begins (before its tasks: a key the channel does not know means the sweep is over)."""
        import asyncio

        self._events[key], self._ready[key], self._cancelled[key] = [], asyncio.Event(), asyncio.Event()

    async def put(self, key: str, label: str, seq: int, item: Any) -> None:
        """From a task: its seq-th message, an event or a _Worker note. (An async actor may run one caller's calls
        out of order, so the driver puts each unit's messages back in order by `seq`.)"""
        if key in self._events:
            self._events[key].append((label, seq, item))
            self._ready[key].set()

    async def take(self, key: str, timeout: float) -> list[Any]:
        """To the driver: everything that arrived, waiting up to `timeout` seconds for the first item."""
        import asyncio

        if key not in self._events:
            return []
        if not self._events[key] and timeout > 0:
            try:
                await asyncio.wait_for(self._ready[key].wait(), timeout)
            except asyncio.TimeoutError:
                pass
        if key not in self._events:  # forgotten while it waited
            return []
        items, self._events[key] = self._events[key], []
        self._ready[key].clear()
        return items

    async def cancel(self, key: str) -> None:
        """From the driver: the sweep stops."""
        if key in self._cancelled:
            self._cancelled[key].set()

    async def wait_cancel(self, key: str, timeout: float) -> bool:
        """From a task: True once the sweep is cancelled (or forgotten), else False after `timeout` seconds."""
        import asyncio

        flag = self._cancelled.get(key)
        if flag is None:
            return True
        try:
            await asyncio.wait_for(flag.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def forget(self, key: str) -> None:
        """From the driver: the sweep is over; late calls about it are ignored."""
        for table in (self._events, self._ready, self._cancelled):
            flag = table.pop(key, None)
            if table is self._cancelled and flag is not None:
                flag.set()


def _train_task(channel: Any, key: str, config: Any, dataset: Any, unit: Unit) -> None:
    """The body of one Ray task: train one unit, its events to the channel, its cancel flag from it."""
    import ray

    seq, unsettled = itertools.count(), []

    def send(item: Any, settle: bool = False) -> None:
        unsettled.append(channel.put.remote(key, unit.label, next(seq), item))
        if settle:  # every message of the unit is in the channel before the task ends
            ray.get(unsettled)
        if settle or len(unsettled) > 256:
            unsettled[:] = ray.wait(unsettled, num_returns=len(unsettled), timeout=0)[1]

    send(_Worker(unit.label, os.getpid()))
    if ray.get(channel.wait_cancel.remote(key, 0)):
        return  # cancelled while it waited for a worker
    cancel, done = threading.Event(), threading.Event()

    def watch() -> None:
        while not done.is_set():
            try:
                if ray.get(channel.wait_cancel.remote(key, 1.0)):
                    cancel.set()
                    return
            except Exception:  # the channel is gone: nobody listens any more
                cancel.set()
                return

    threading.Thread(target=watch, name=f"cancel-{unit.label}", daemon=True).start()

    def emit(event: Event) -> None:
        send(event, settle=isinstance(event, (UnitFinished, UnitFailed)))

    try:
        train_unit(config, _writable(dataset), unit, emit, cancel)
    finally:
        done.set()


def _writable(dataset: Any) -> Any:
    """The dataset with its own arrays: ray.get gives read-only views of the object store."""
    arrays = {f: np.array(getattr(dataset, f)) for f in ("x_train", "y_train", "x_val", "y_val")}
    return dataclasses.replace(dataset, **arrays)


# --- on the driver ----------------------------------------------------------------------------------------
@dataclasses.dataclass
class _Run:
    """The driver's view of one sweep on the cluster."""

    key: str
    channel: Any = None  # the channel actor the sweep's tasks talk to
    thread: threading.Thread | None = None
    pending: dict[Any, Unit] = dataclasses.field(default_factory=dict)  # task ref -> its unit, until it ends
    workers: dict[str, int] = dataclasses.field(default_factory=dict)  # initializer -> worker pid
    next_seq: dict[str, int] = dataclasses.field(default_factory=dict)  # initializer -> its next message
    held: dict[str, dict[int, Any]] = dataclasses.field(default_factory=dict)  # messages that came early
    ended: set[str] = dataclasses.field(default_factory=set)  # initializers whose last event went out
    cancelled_at: float | None = None
    killed: bool = False


class RayExecutor:
    """One Ray task per unit, on the cluster `connect` joined (or on a local Ray instance it started)."""

    name = "ray"

    def __init__(self, ray: Any, owner: _RayThread | None, started_local: bool, address: str) -> None:
        self._ray, self._owner, self.started_local, self.address = ray, owner, started_local, address
        self._task = ray.remote(_train_task)
        self._channel_class = ray.remote(_Channel)
        self._channel: Any = None
        self._runs: dict[int, _Run] = {}  # per sweep (by id(sweep))
        self._keys = itertools.count(1)
        self._prefix = secrets.token_hex(4)
        self._lock = threading.Lock()
        self._open_channel()

    # --- connecting ---------------------------------------------------------------------------------------
    @classmethod
    def connect(cls, address: str | None = None) -> RayExecutor:
        """Join the Ray cluster at `address`, or follow Ray's own rule: $RAY_ADDRESS, else the cluster `ray start`
        began on this machine, else a new local instance (on 127.0.0.1, stopped at close()). One-line
        UserErrors: Ray missing, an address that does not answer (within CONNECT_TIMEOUT seconds), a refused token,
        a cluster whose workers lack initdash (or run another version of it).
        """
        target = address or os.environ.get("RAY_ADDRESS") or None
        here = target in (None, "auto", "local") or _host_port(target)[0] in LOOPBACK
        imported = "ray" in sys.modules
        # Ray reads these when it is imported: they must be set before.
        if here:
            os.environ[LOCAL_ONLY_ENV] = "0"
            # Ray starts its workers at nice 15: on a machine doing anything else they starve (measured on a
            # busy 2-core machine: torch's import took 45-50 s in a worker instead of 2.7 s). The sweep is the
            # user's foreground work. (Read by a local instance we start; a `ray start` cluster keeps its own.)
            os.environ.setdefault(WORKER_NICENESS_ENV, "0")
            _token_for_this_machine()
        elif os.environ.get("RAY_AUTH_MODE") is None and _token_available():
            os.environ["RAY_AUTH_MODE"] = "token"  # Ray sends no token to an explicit address unless told to
        ray = _import_ray()
        if imported:
            _reread_environment(ray, here)
        if ray.is_initialized():  # this process is connected already (tests, or a program that embeds initdash)
            return cls(ray, None, started_local=False, address=_current_address(ray))
        deadline = time.monotonic() + CONNECT_TIMEOUT
        if target in (None, "auto"):
            found = _running_local_cluster(ray)
            if found is not None and _answers(found, deadline):
                target = found
            elif target == "auto":
                raise UserError("--ray-address auto: no running Ray cluster on this machine (start one with "
                                "`ray start --head`, or leave --ray-address out for a local instance)")
            else:
                target = "local"
        options: dict[str, Any] = {"log_to_driver": False, "configure_logging": True,
                                   "logging_level": logging.CRITICAL}
        if target == "local":
            deadline = time.monotonic() + START_TIMEOUT
            options.update(address="local", include_dashboard=False, _node_ip_address="127.0.0.1",
                           _system_config={"enable_metrics_collection": False})
        else:
            _probe(target, deadline)
            options["address"] = target
        owner = _RayThread(ray, options)
        owner.start(target, deadline)
        _quiet(ray)
        executor = cls(ray, owner, started_local=target == "local",
                       address=_current_address(ray) if target == "local" else target)
        if target != "local":  # a local instance's workers run in this very environment; a cluster's may not
            try:
                executor._check_cluster(deadline)
            except BaseException:
                owner.close(CLOSE_TIMEOUT)
                raise
        return executor

    def _open_channel(self) -> None:
        # num_cpus=0: the channel never takes a CPU that a unit could train on.
        self._channel = self._channel_class.options(num_cpus=0, max_restarts=0, name=None).remote()

    def _check_cluster(self, deadline: float) -> None:
        """The cluster's workers run initdash, and the same version (its events must mean the same there)."""
        from initdash import __version__

        ray = self._ray
        try:
            theirs = ray.get(self._channel.version.remote(), timeout=max(5.0, deadline - time.monotonic()))
        except ray.exceptions.GetTimeoutError:
            raise UserError(f"the Ray cluster at {self.address} started no worker in time") from None
        except Exception as exc:
            raise UserError(_failure_text(ray, exc)[0]) from None
        if theirs != __version__:
            raise UserError(f"the Ray cluster runs initdash {theirs}, this is {__version__}: install the same version "
                            "on every node")

    # --- the Executor protocol -------------------------------------------------------------------------------
    def start(self, sweep: Sweep) -> None:
        """Hand the sweep to a pump thread, which submits one task per unit and relays their events; returns at
        once (the dataset's upload and the submissions happen on that thread, not the caller's)."""
        with self._lock:
            self._runs = {k: r for k, r in self._runs.items() if r.thread is not None and r.thread.is_alive()}
            run = _Run(key=f"{self._prefix}-{next(self._keys)}", channel=self._channel)
            run.thread = threading.Thread(target=self._pump, args=(sweep, run), daemon=True,
                                          name=f"ray-sweep-{sweep.sweep_id}")
            self._runs[id(sweep)] = run
        run.thread.start()

    def cancel(self, sweep: Sweep) -> None:
        """Raise the sweep's flag on the cluster at once (its tasks stop at their next batch); the pump thread
        also cancels the tasks that have not begun, and kills a worker that ignores the flag for too long."""
        run = self._runs.get(id(sweep))
        if run is not None:
            try:
                run.channel.cancel.remote(run.key)
            except Exception:  # Ray is shutting down: the pump ends the sweep anyway
                pass

    def join(self, sweep: Sweep, timeout: float | None = None) -> None:
        """Wait for the sweep's pump thread (it ends once every task has ended and its events went out)."""
        run = self._runs.get(id(sweep))
        if run is None or run.thread is None:
            return
        run.thread.join(timeout)
        if not run.thread.is_alive():
            self._runs.pop(id(sweep), None)

    def close(self) -> None:
        """Stop what still trains and let go of Ray within CLOSE_TIMEOUT seconds: a local instance initdash started
        is shut down, a cluster is only disconnected from (its tasks of this session end with the connection)."""
        for run in list(self._runs.values()):
            self._safely(lambda r=run: r.channel.cancel.remote(r.key))
        if self._owner is None:  # someone else's connection: leave it as it was, less our channel
            self._safely(lambda: self._ray.kill(self._channel))
            return
        self._owner.close(CLOSE_TIMEOUT)

    def wait_closed(self, timeout: float | None = None) -> bool:
        """After close(): wait for Ray's shutdown to finish; True once it has."""
        return self._owner is None or self._owner.close(timeout)

    def workers(self, sweep: Sweep) -> dict[str, int]:
        """Which worker process trains each unit of the sweep that has begun (initializer -> pid)."""
        run = self._runs.get(id(sweep))
        return dict(run.workers) if run is not None else {}

    @staticmethod
    def _safely(call: Any) -> None:
        try:
            call()
        except Exception:
            pass

    # --- the pump: one thread per sweep ----------------------------------------------------------------------
    def _pump(self, sweep: Sweep, run: _Run) -> None:
        ray = self._ray
        try:
            try:
                ray.get(run.channel.open.remote(run.key), timeout=CALL_TIMEOUT)
            except ray.exceptions.RayActorError:  # the channel died with an earlier sweep: a new one
                with self._lock:
                    if self._channel is run.channel:
                        self._open_channel()
                    run.channel = self._channel
                ray.get(run.channel.open.remote(run.key), timeout=CALL_TIMEOUT)
            if sweep.cancel_event.is_set():
                return
            self._check_resources(sweep)
            data = ray.put(sweep.dataset)
            resources = {"num_gpus": 1, "num_cpus": 1} if sweep.config.device == "cuda" else {"num_cpus": 1}
            for unit in sweep.units:
                ref = self._task.options(max_retries=0, retry_exceptions=False, name=f"initdash {unit.label}",
                                         **resources).remote(run.channel, run.key, sweep.config, data, unit)
                run.pending[ref] = unit
            self._follow(sweep, run)
        except Exception as exc:
            if not sweep.cancel_event.is_set():  # a cancelled sweep is over: nobody waits for its units
                self._fail(sweep, run, [u for u in sweep.units if u.label not in run.ended], exc)
            for ref in run.pending:
                self._safely(lambda r=ref: ray.cancel(r, force=True, recursive=False))
        finally:
            self._safely(lambda: run.channel.forget.remote(run.key))

    def _follow(self, sweep: Sweep, run: _Run) -> None:
        """Relay the sweep's events until every task has ended; a task that died without its last event gets a
        UnitFailed."""
        ray = self._ray
        while run.pending:
            self._deliver(sweep, run, ray.get(run.channel.take.remote(run.key, POLL), timeout=CALL_TIMEOUT))
            done, _ = ray.wait(list(run.pending), num_returns=len(run.pending), timeout=0)
            if done:  # what those tasks sent before they ended is in the channel now
                self._deliver(sweep, run, ray.get(run.channel.take.remote(run.key, 0), timeout=CALL_TIMEOUT))
            for ref in done:
                unit = run.pending.pop(ref)
                error = _task_error(ray, ref)
                if unit.label in run.ended or (error is None and sweep.cancel_event.is_set()):
                    continue
                if sweep.cancel_event.is_set() and isinstance(error, (ray.exceptions.TaskCancelledError,
                                                                      ray.exceptions.WorkerCrashedError)):
                    continue  # we stopped it: the sweep is over and nobody waits for its result
                self._fail(sweep, run, [unit], error or RuntimeError("the task ended without a result"))
            if sweep.cancel_event.is_set():
                self._cancel_tasks(run)

    def _cancel_tasks(self, run: _Run) -> None:
        """Pending tasks are cancelled at once; one that trains gets CANCEL_GRACE seconds to see its flag, then its
        worker is killed (an interrupt in the middle of `import torch` would leave a broken worker behind)."""
        ray, now = self._ray, time.monotonic()
        if run.cancelled_at is None:
            run.cancelled_at = now
            run.channel.cancel.remote(run.key)
            for ref, unit in run.pending.items():
                if unit.label not in run.workers:
                    self._safely(lambda r=ref: ray.cancel(r, recursive=False))
        elif not run.killed and now - run.cancelled_at > CANCEL_GRACE:
            run.killed = True
            for ref in run.pending:
                self._safely(lambda r=ref: ray.cancel(r, force=True, recursive=False))

    def _deliver(self, sweep: Sweep, run: _Run, messages: list[tuple[str, int, Any]]) -> None:
        """Each unit's messages in the order it sent them (held back while an earlier one is still on its way)."""
        for label, seq, item in messages:
            held = run.held.setdefault(label, {})
            held[seq] = item
            following = run.next_seq.get(label, 0)
            while following in held:
                self._relay(sweep, run, held.pop(following))
                following += 1
            run.next_seq[label] = following

    def _relay(self, sweep: Sweep, run: _Run, item: Any) -> None:
        if isinstance(item, _Worker):
            run.workers[item.initializer] = item.pid
        elif item.initializer not in run.ended:  # nothing after a unit's last word: the Session must not see it
            if isinstance(item, (UnitFinished, UnitFailed)):
                run.ended.add(item.initializer)
            sweep.emit(item)

    def _fail(self, sweep: Sweep, run: _Run, units: list[Unit], error: BaseException) -> None:
        message, trace = _failure_text(self._ray, error)
        for unit in units:
            run.ended.add(unit.label)
            run.held.pop(unit.label, None)
            sweep.emit(UnitFailed(sweep.sweep_id, unit.label, message, trace, unit.seeds))

    def _check_resources(self, sweep: Sweep) -> None:
        if sweep.config.device == "cuda" and self._ray.cluster_resources().get("GPU", 0) < 1:
            raise UserError("--device cuda: the Ray cluster has no GPU")


def _task_error(ray: Any, ref: Any) -> BaseException | None:
    """The error a finished task raised (None when it returned)."""
    try:
        ray.get(ref, timeout=CALL_TIMEOUT)
    except Exception as exc:
        return exc
    return None


def _failure_text(ray: Any, error: BaseException) -> tuple[str, str]:
    """A failed unit's one-line message (as the leaderboard shows it) and its details for the log."""
    ex = ray.exceptions
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    if isinstance(error, UserError):
        return str(error), trace
    if "No module named 'initdash" in str(error):
        return _NOT_INSTALLED, trace
    if isinstance(error, ex.OutOfMemoryError):
        return "worker died (out of memory)", trace
    if isinstance(error, (ex.WorkerCrashedError, ex.NodeDiedError, ex.LocalRayletDiedError)):
        return "worker died", trace
    if isinstance(error, ex.RayActorError):
        return "lost the Ray channel that carries the events", trace
    if isinstance(error, ex.TaskCancelledError):
        return "cancelled by Ray", trace
    cause = getattr(error, "cause", None) or error
    text = f"{type(cause).__name__}: {cause}"
    if isinstance(error, ex.RayError) and cause is error:
        text = f"Ray: {text}"
    return text.splitlines()[0], trace


# --- connecting: helpers ----------------------------------------------------------------------------------
def _import_ray() -> Any:
    try:
        import ray
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name == "ray" or exc.name.startswith("ray."):
            raise UserError(f"--executor ray needs Ray, which is not installed: {INSTALL_HINT}") from None
        raise UserError(f"Ray fails to import ({exc}): reinstall it with {INSTALL_HINT}") from None
    except ImportError as exc:
        raise UserError(f"Ray fails to import ({str(exc).splitlines()[0]}): reinstall it with {INSTALL_HINT}") \
            from None
    return ray


def _reread_environment(ray: Any, here: bool) -> None:
    """Ray was imported before connect() set its environment: make it read the settings again."""
    try:
        if here:
            ray._private.ray_constants.ENABLE_RAY_CLUSTER = False
        ray._raylet.Config.initialize("")
        ray._raylet.AuthenticationTokenLoader.instance().reset_cache()
    except AttributeError:  # another Ray version: the environment alone has to do
        pass


def _host_port(address: str) -> tuple[str, int | None]:
    """`ray://10.0.0.5:10001` -> ('10.0.0.5', 10001); `[::1]:6379` -> ('::1', 6379); no port -> (host, None)."""
    rest = address.split("://", 1)[-1].strip()
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit() or (host.count(":") and not host.startswith("[")):
        return rest.strip("[]"), None
    return host.strip("[]"), int(port)


def _running_local_cluster(ray: Any) -> str | None:
    """The address of the cluster `ray start` last began on this machine, as Ray itself would find it."""
    try:
        return ray._private.services.canonicalize_bootstrap_address(None)
    except Exception:  # none, or another Ray version: start a local instance
        return None


def _answers(address: str, deadline: float) -> bool:
    host, port = _host_port(address)
    if port is None:
        return False
    try:
        with socket.create_connection((host, port), timeout=max(0.1, min(5.0, deadline - time.monotonic()))):
            return True
    except OSError:
        return False


def _probe(address: str, deadline: float) -> None:
    """A quick TCP look at the address, so that nothing listening is one line at once, not Ray's long retries."""
    host, port = _host_port(address)
    if port is None:
        raise UserError(f"--ray-address {address!r}: expected HOST:PORT (a Ray head's GCS port, 6379 by default) "
                        "or ray://HOST:PORT")
    try:
        with socket.create_connection((host, port), timeout=max(0.1, deadline - time.monotonic())):
            pass
    except TimeoutError:
        raise UserError(f"the Ray cluster at {address} does not answer (no reply within "
                        f"{CONNECT_TIMEOUT:.0f} s)") from None
    except OSError as exc:
        raise UserError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}") from None


def _token_available() -> bool:
    """Whether Ray would find an authentication token: $RAY_AUTH_TOKEN, $RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return True
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    return Path(path).expanduser().is_file() if path else DEFAULT_TOKEN_PATH.is_file()


def _token_for_this_machine() -> None:
    """Token authentication on for a Ray instance on this machine (the one we start, or the one `ray start`
    began); without a token of the user's, one for this process only (in its environment, which the processes
    of an instance we start inherit), so nothing is written to ~/.ray."""
    os.environ["RAY_AUTH_MODE"] = "token"
    if not _token_available():
        os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)


_TOKEN_HELP = ("its authentication token is missing or wrong (set RAY_AUTH_TOKEN, or RAY_AUTH_TOKEN_PATH, to the "
               "cluster's token: `ray get-auth-token` on its head prints it)")


class _RayThread:
    """ray.init and, at close, ray.shutdown on one long-lived thread. A local instance's processes die with the
    thread that started them (Linux's parent-death signal is per thread), so that thread must live as long as the
    instance; an address that does not answer makes Ray retry for minutes, so nobody else waits on that thread
    longer than the deadline. On that thread, too, Ray leaves the process's signal handlers alone."""

    def __init__(self, ray: Any, options: dict[str, Any]) -> None:
        self.ray, self.options = ray, options
        self.error: BaseException | None = None
        self.ready, self.stop, self.stopped = threading.Event(), threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._run, name="ray", daemon=True)

    def _run(self) -> None:
        # ray.init enables faulthandler on sys.stderr, which the dashboard has swapped for Textual's capture (no
        # file descriptor): for the call, the real stderr (whose descriptor _stderr_captured sends to a file).
        swapped = not _has_fileno(sys.stderr) and sys.__stderr__ is not None
        saved = sys.stderr
        if swapped:
            sys.stderr = sys.__stderr__
        try:
            self.ray.init(**self.options)
        except BaseException as exc:  # SystemExit too: Ray's own handlers turn some failures into it
            self.error = exc
            return
        finally:
            if swapped and sys.stderr is sys.__stderr__:
                sys.stderr = saved
            self.ready.set()
        self.stop.wait()
        try:
            self.ray.shutdown()
        except Exception:
            pass
        finally:
            self.stopped.set()

    def start(self, target: str, deadline: float) -> None:
        """Connect (or start the local instance) by the deadline, or raise a one-line UserError."""
        with _stderr_captured() as said:  # Ray's C++ side prints its retries straight to file descriptor 2
            self.thread.start()
            self.ready.wait(max(0.0, deadline - time.monotonic()))
        where = "a local Ray instance" if target == "local" else f"the Ray cluster at {target}"
        if not self.ready.is_set() and ("InvalidAuthToken" in said[0] or "Unauthenticated" in said[0]):
            raise UserError(f"{where} refused the connection: {_TOKEN_HELP}")
        if not self.ready.is_set() and target == "local":
            raise UserError(f"a local Ray instance did not start within {START_TIMEOUT:.0f} s")
        if not self.ready.is_set():
            raise UserError(f"{where} does not answer (no reply within {CONNECT_TIMEOUT:.0f} s; is it a Ray "
                            "head's GCS port, 6379 by default?)")
        error = self.error
        if error is None:
            return
        _log(f"ray.init({self.options}) failed:\n" + "".join(traceback.format_exception(type(error), error,
                                                                                        error.__traceback__)))
        if isinstance(error, self.ray.exceptions.AuthenticationError):
            raise UserError(f"{where} refused the connection: {_TOKEN_HELP}") from None
        first = f"{type(error).__name__}: {error}".splitlines()[0]
        if target == "local":
            raise UserError(f"could not start a local Ray instance: {first}") from None
        raise UserError(f"cannot connect to {where}: {first}") from None

    def close(self, timeout: float | None) -> bool:
        """Disconnect (and shut a local instance down); True if that finished within `timeout` seconds."""
        self.stop.set()
        return self.stopped.wait(timeout)


def _current_address(ray: Any) -> str:
    try:
        return str(ray.get_runtime_context().gcs_address)
    except Exception:
        return "?"


def _has_fileno(stream: Any) -> bool:
    """True when `stream` is backed by a file descriptor (Textual's print capture is not)."""
    try:
        return stream.fileno() >= 0  # Textual's answers -1
    except (AttributeError, OSError, ValueError):
        return False


@contextmanager
def _stderr_captured() -> Iterator[list[str]]:
    """File descriptor 2 goes to a temporary file for the duration (the dashboard owns the terminal); afterwards
    the list holds what was written there, which is also appended to initdash's log file."""
    written: list[str] = []
    with tempfile.TemporaryFile() as tmp:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            yield written
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode("utf-8", "replace")
            if text.strip():
                _log(f"Ray, while connecting:\n{text}")
            written.append(text)


def _log(text: str) -> None:
    from initdash.failures import log_text

    log_text(text)


class _ToLog(logging.Handler):
    """Ray's Python log records go to initdash's log file, not the terminal."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _log(f"ray: {self.format(record)}")
        except Exception:
            pass


def _ray_said(data: dict[str, Any], ignore_prefix: bool = False) -> None:
    """Instead of Ray's print_to_stdstream: what the cluster tells the driver goes to the log file."""
    lines = "\n".join(str(line) for line in data.get("lines") or ())
    _log(f"ray ({data.get('pid', '?')}): {lines}")


def _quiet(ray: Any) -> None:
    """Ray's messages to the driver go to initdash's log file: its Python log records, and the cluster's errors
    (such as 'A worker died or was killed'), which a thread of Ray's prints on stdout or stderr as they come."""
    try:
        ray._private.worker.print_to_stdstream = _ray_said
    except AttributeError:  # another Ray version, or Ray Client: nothing printed there that we know of
        pass
    logger = logging.getLogger("ray")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.addHandler(_ToLog(logging.WARNING))
    logger.setLevel(logging.WARNING)
    logger.propagate = False

"""Connecting to Ray: which cluster (the address rule), its authentication token, a local instance started on
127.0.0.1, and a check that the cluster's workers run this initdash.

Ray is imported here only, when `connect` runs (the dashboard paints before it loads). A Ray instance that
initdash starts itself stays on 127.0.0.1, keeps Ray's token authentication on, starts no dashboard or
metrics server, and prints nothing on the terminal: Ray's messages go to initdash's log file (quiet.py).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import socket
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from initdash.errors import UserError, first_line
from initdash.executors.ray.cluster import version
from initdash.executors.ray.diagnosis import failure_text
from initdash.executors.ray.quiet import has_fileno, log, quiet, stderr_captured

INSTALL_HINT = 'pip install "initdash[ray]"'
CONNECT_TIMEOUT = 12.0  # seconds a cluster has to answer: with initdash's own start-up, the command says so in 15 s
START_TIMEOUT = 60.0  # seconds a local instance may take to start (on a busy machine)
CLOSE_TIMEOUT = 0.8  # seconds close() waits for Ray's shutdown; the rest finishes in the background
WORKER_NICENESS_ENV = "RAY_worker_niceness"
LOCAL_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": Ray advertises 127.0.0.1, not the outward address
LOOPBACK = ("127.0.0.1", "localhost", "::1")
DEFAULT_TOKEN_PATH = Path.home() / ".ray" / "auth_token"  # where Ray itself looks for a token


@dataclasses.dataclass(frozen=True)
class Connection:
    """This process's connection to Ray: the module, who owns the connection, and where it leads."""

    ray: Any
    owner: RayThread | None  # None: the process was connected already (someone else's connection)
    started_local: bool  # initdash started a local instance, which close() stops
    address: str

    def close(self, timeout: float | None) -> bool:
        """Disconnect (and stop a local instance we started); True once that finished within `timeout`."""
        return self.owner is None or self.owner.close(timeout)


def connect(address: str | None = None) -> Connection:
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
        return Connection(ray, None, started_local=False, address=_current_address(ray))
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
    owner = RayThread(ray, options)
    owner.start(target, deadline)
    quiet(ray)
    connection = Connection(ray, owner, started_local=target == "local",
                            address=_current_address(ray) if target == "local" else target)
    if target != "local":  # a local instance's workers run in this very environment; a cluster's may not
        try:
            check_cluster(connection, deadline)
        except BaseException:
            owner.close(CLOSE_TIMEOUT)
            raise
    return connection


def check_cluster(connection: Connection, deadline: float) -> None:
    """The cluster's workers run initdash, and the same version (its events must mean the same there)."""
    from initdash import __version__

    ray = connection.ray
    task = ray.remote(version).options(num_cpus=0, max_retries=0, name="initdash version")
    try:
        theirs = ray.get(task.remote(), timeout=max(5.0, deadline - time.monotonic()))
    except ray.exceptions.GetTimeoutError:
        raise UserError(f"the Ray cluster at {connection.address} started no worker in time") from None
    except Exception as exc:
        raise UserError(failure_text(ray, exc)[0]) from None
    if theirs != __version__:
        raise UserError(f"the Ray cluster runs initdash {theirs}, this is {__version__}: install the same version "
                        "on every node")


def _import_ray() -> Any:
    try:
        import ray
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name == "ray" or exc.name.startswith("ray."):
            raise UserError(f"--executor ray needs Ray, which is not installed: {INSTALL_HINT}") from None
        raise UserError(f"Ray fails to import ({exc}): reinstall it with {INSTALL_HINT}") from None
    except ImportError as exc:
        raise UserError(f"Ray fails to import ({first_line(exc)}): reinstall it with {INSTALL_HINT}") from None
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


class RayThread:
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
        swapped = not has_fileno(sys.stderr) and sys.__stderr__ is not None
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
        with stderr_captured() as said:  # Ray's C++ side prints its retries straight to file descriptor 2
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
        log(f"ray.init({self.options}) failed:\n" + "".join(traceback.format_exception(type(error), error,
                                                                                        error.__traceback__)))
        if isinstance(error, self.ray.exceptions.AuthenticationError):
            raise UserError(f"{where} refused the connection: {_TOKEN_HELP}") from None
        first = first_line(error)
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

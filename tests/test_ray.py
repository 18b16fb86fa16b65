"""The Ray executor on a local Ray instance (127.0.0.1 only, started once for the module, stopped at its end):
the same numbers as the local executor, live events, cancellation, killed workers (retried; failed once the
retries run out), one-line errors, and the dashboard end to end. The slow ones: `pytest -m "not slow"` skips
them."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import queue
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from initdash.cli import main
from initdash.config import ExperimentConfig
from initdash.data import load
from initdash.events import METRICS, OK, EpochDone, EpochReport, UnitFailed, UnitFinished, UnitStarted
from initdash.executors.local import LocalExecutor
from initdash.executors.ray import driver
from initdash.initializers import parse_list
from initdash.initializers.user import attach_sources
from initdash.models.spec import ModelSpec
from initdash.models.user import attach_source
from initdash.recorder import Recorder
from initdash.session import Session
from initdash.store import HistoryWriter, open_reader
from initdash.sweep import Sweep

RAY_ENV = ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def executor():
    """One local Ray instance for every test here; at the end, every process it started is gone."""
    pytest.importorskip("ray")
    from initdash.executors.ray import RayExecutor

    saved = {k: os.environ.get(k) for k in RAY_ENV}
    ex = RayExecutor.connect("local")  # whatever RAY_ADDRESS or a `ray start` cluster here say
    try:
        assert ex.started_local
        yield ex
    finally:
        started = _descendants(os.getpid())
        t0 = time.monotonic()
        ex.close()
        took = time.monotonic() - t0
        assert ex.wait_closed(30)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        deadline = time.monotonic() + 15
        while (left := {p for p in started if _alive(p)}) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left, f"Ray processes left behind: {[_name(p) for p in left]}"
        assert took < 1.0, f"close() took {took:.2f} s"


def config(inits: str = "zeros,he_normal,lecun_uniform", epochs: int = 2, **kw) -> ExperimentConfig:
    return ExperimentConfig(initializers=parse_list(inits), epochs=epochs, seed=kw.pop("seed", 3),
                            executor="ray", **kw)


def run_sweep(executor, cfg: ExperimentConfig, sweep_id: int = 1):
    """Start a sweep on the executor; its events (with arrival times) come through the returned queue."""
    events: queue.Queue = queue.Queue()
    sweep = Sweep(cfg, load(cfg.data), sweep_id, lambda e: events.put((time.monotonic(), e)), executor)
    sweep.start()
    return sweep, events


def collect(events: queue.Queue, labels: set[str], timeout: float = 60) -> list:
    """Every (time, event) until each initializer's last event."""
    out, pending = [], set(labels)
    deadline = time.monotonic() + timeout
    while pending:
        t, event = events.get(timeout=max(0.1, deadline - time.monotonic()))
        out.append((t, event))
        if isinstance(event, (UnitFinished, UnitFailed)):
            pending.discard(event.initializer)
    return out


def until(condition, seconds: float, what: str) -> None:
    """Poll `condition` until it holds; fail with `what` after `seconds` (generous: a busy machine is slow)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _recorded(cfg: ExperimentConfig, path: Path) -> tuple[Recorder, HistoryWriter]:
    """A recorder that keeps a Session and writes a history at `path`."""
    store = HistoryWriter.open(path)
    store.start_session(cfg, "test")
    return Recorder(Session(cfg, "test"), store, on_failure=lambda event: None), store


def test_local_instance_is_on_loopback_with_token_auth(executor):
    import ray

    # Token authentication on: the user's token (a file or the environment), else one for this process only.
    assert os.environ["RAY_AUTH_MODE"] == "token"
    assert os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH") or \
        (pathlib.Path.home() / ".ray" / "auth_token").is_file()
    assert executor.address.startswith("127.0.0.1:")
    assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
    if sys.platform.startswith("linux"):
        listening = _listening(_descendants(os.getpid()) | {os.getpid()})
        assert listening, "found none of Ray's sockets"
        assert {host for host, _ in listening} <= {"127.0.0.1", "::1"}, listening


def test_same_numbers_as_the_local_executor(executor, tmp_path, capfd):
    common = ["--headless", "--no-save", "--seed", "5", "--epochs", "2", "--sweeps", "2", "--init",
              "zeros,he_normal,lecun_uniform,normal"]
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main([*common, "--executor", "ray", "--out", str(a)]) == 0
    ray_err = capfd.readouterr().err
    assert main([*common, "--executor", "local", "--out", str(b)]) == 0
    runs = json.loads(a.read_text())["runs"]
    assert runs == json.loads(b.read_text())["runs"]
    assert len(runs) == 8 and all(r["status"] == "ok" for r in runs)
    # Nothing of Ray's on the terminal: only initdash's own progress lines.
    lines = ray_err.splitlines()
    assert lines and all(line.startswith(("initdash ", "note: ", "sweep ", "wrote ")) for line in lines), ray_err


def test_device_cuda_on_a_cluster_without_a_gpu_is_one_line_before_anything_is_written(executor, tmp_path, capfd):
    db = tmp_path / "h.db"
    assert main(["--headless", "--executor", "ray", "--device", "cuda", "--epochs", "1", "--db", str(db)]) == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "--device cuda: the Ray cluster has no GPU" in err, err
    assert not db.exists()


def test_a_grid_on_ray_has_the_local_numbers(executor, tmp_path):
    """Units of (initializer, width) with their learning rates batched inside travel to Ray like any unit."""
    common = ["--headless", "--no-save", "--seed", "5", "--epochs", "1", "--init", "he_normal,normal", "--hidden",
              "4,4", "--lr", "0.01,0.1", "--width", "4,8"]
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main([*common, "--executor", "ray", "--out", str(a)]) == 0
    assert main([*common, "--executor", "local", "--out", str(b)]) == 0
    runs = json.loads(a.read_text())["runs"]
    assert runs == json.loads(b.read_text())["runs"]
    assert {(r["initializer"], r["lr"], r["width"]) for r in runs} == \
        {(i, lr, w) for i in ("he_normal", "normal") for lr in (0.01, 0.1) for w in (4, 8)}


def test_a_model_file_travels_as_source(executor, tmp_path):
    path = tmp_path / "tinynet.py"
    path.write_text(textwrap.dedent("""
        import math
        from torch import nn

        def build(in_shape, n_outputs):
            return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(in_shape), 3), nn.Tanh(), nn.Linear(3, n_outputs))
    """))
    spec = attach_source(ModelSpec(name=f"{path}:build"))
    path.unlink()  # the worker has the text only
    sweep, events = run_sweep(executor, config("he_normal", epochs=1, model=spec, data="iris"))
    (*_, (_, last)) = collect(events, {"he_normal"})
    sweep.join(10)
    assert isinstance(last, UnitFinished), last
    assert [o.status for o in last.outcomes] == ["ok"]


def test_an_initializer_file_travels_as_source(executor, tmp_path):
    path = tmp_path / "myinit.py"
    path.write_text("import torch\n\ndef small(model, generator, std=0.01):\n    for p in model.parameters():\n"
                    "        torch.nn.init.normal_(p, 0.0, std, generator=generator)\n")
    specs = attach_sources(parse_list(f"{path}:small:std=0.02"))
    path.unlink()  # the worker has the text only
    sweep, events = run_sweep(executor, config("zeros", epochs=1, data="iris").with_changes(initializers=specs))
    (*_, (_, last)) = collect(events, {"myinit.py:small:std=0.02"})
    sweep.join(10)
    assert isinstance(last, UnitFinished), last
    assert [o.status for o in last.outcomes] == ["ok"]


def test_events_arrive_while_the_sweep_trains(executor):
    cfg = config("zeros,he_normal,lecun_uniform,normal", epochs=30)
    events: queue.Queue = queue.Queue()
    training_at_first_epoch: dict[str, bool] = {}

    def emit(event) -> None:  # on the follower thread, as the event arrives
        if isinstance(event, EpochDone) and event.initializer not in training_at_first_epoch:
            training_at_first_epoch[event.initializer] = bool(_unit_processes(event.initializer))
        events.put((time.monotonic(), event))

    sweep = Sweep(cfg, load(), 1, emit, executor)
    sweep.start()
    got = collect(events, {"zeros", "he_normal", "lecun_uniform", "normal"})
    sweep.join(30)
    # Each unit's first epoch reached the driver while its task still trained (its worker's title names it).
    assert training_at_first_epoch == dict.fromkeys(["zeros", "he_normal", "lecun_uniform", "normal"], True)
    epochs = [t for t, e in got if isinstance(e, EpochDone)]
    assert len(epochs) == 4 * 31
    assert all(isinstance(e, UnitFinished) for _, e in got if isinstance(e, (UnitFinished, UnitFailed)))


def test_cancel_stops_every_task_at_its_flag(executor, monkeypatch):
    import ray

    monkeypatch.setattr(driver, "CANCEL_GRACE", 120.0)  # however busy the machine, no worker is killed

    inits = "zeros,uniform,normal,he_normal,lecun_uniform"  # more units than CPUs: some wait for a worker
    sweep, events = run_sweep(executor, config(inits, epochs=5000), sweep_id=7)
    while not isinstance(events.get(timeout=120)[1], EpochDone):
        pass
    training = {label: _unit_processes(label) for label in inits.split(",")}
    workers = set().union(*training.values())
    assert workers
    t0 = time.monotonic()
    sweep.cancel()
    sweep.join(60)
    # Every CPU is free again: no task of the sweep still runs (polled: a busy machine may take a while).
    cpus = ray.cluster_resources()["CPU"]
    until(lambda: ray.available_resources().get("CPU", 0) == cpus, 60, "the cancelled tasks still hold CPUs")
    print(f"cancel: every CPU free after {time.monotonic() - t0:.2f} s")
    until(lambda: not any(_unit_processes(label) for label in training), 30, "a worker still trains a unit")
    # Within the grace time, so the tasks stopped at their flag, not by a kill; and nothing trains on in their
    # workers (a training thread left behind would keep using a CPU).
    used = {pid: _cpu_seconds(pid) for pid in workers}
    time.sleep(1.5)
    grew = {pid: _cpu_seconds(pid) - before for pid, before in used.items() if before and _cpu_seconds(pid)}
    assert all(seconds < 0.5 for seconds in grew.values()), grew
    rest = []
    while not events.empty():
        rest.append(events.get()[1])
    assert not any(isinstance(e, UnitFailed) for e in rest)


@pytest.mark.slow
def test_killed_workers_are_retried_with_the_local_numbers_live_and_stored(executor, tmp_path, capfd):
    inits = "zeros,he_normal,lecun_uniform"
    cfg = config(inits, epochs=60)
    recorder, ray_store = _recorded(cfg, tmp_path / "ray.db")
    sweep_id = recorder.begin_sweep(cfg)
    sweep, events = run_sweep(executor, cfg, sweep_id)
    killed: dict[str, int] = {}
    pending = set(inits.split(","))
    deadline = time.monotonic() + 240
    while pending:  # every unit loses its worker once, after its second epoch reached the driver
        _, event = events.get(timeout=max(0.1, deadline - time.monotonic()))
        recorder.apply(event)
        if isinstance(event, EpochDone) and event.report.epoch >= 2 and event.initializer not in killed:
            for pid in _unit_processes(event.initializer):
                os.kill(pid, signal.SIGKILL)
                killed[event.initializer] = pid
        if isinstance(event, (UnitFinished, UnitFailed)):
            pending.discard(event.initializer)
    sweep.join(30)
    ray_store.close()
    assert set(killed) == set(inits.split(","))
    local, local_store = _recorded(cfg, tmp_path / "local.db")
    local_events: queue.Queue = queue.Queue()  # applied here, in order: the local threads emit concurrently
    local_sweep = Sweep(cfg, load(cfg.data), local.begin_sweep(cfg), local_events.put, LocalExecutor())
    local_sweep.start()
    local_sweep.join(300)
    while not local_events.empty():
        local.apply(local_events.get())
    local_store.close()
    live = recorder.session.current.initializers
    assert all(u.status_text(cfg.epochs) == "done" for u in live.values()), \
        {k: u.status_text(cfg.epochs) for k, u in live.items()}
    expected = local.session.current.initializers
    for label, unit in live.items():  # the dead attempts' epochs replaced, never doubled, in the live view
        assert [len(h) for h in unit.histories] == [cfg.epochs + 1] * cfg.repeats
        assert unit.histories == expected[label].histories and unit.statuses == expected[label].statuses
    with open_reader(tmp_path / "ray.db") as reader:  # and in the history
        stored = reader.load_session(reader.sessions()[0].id).current.initializers
    assert {k: u.histories for k, u in stored.items()} == {k: u.histories for k, u in expected.items()}
    out, err = capfd.readouterr()
    assert out == "" and err == "", err  # Ray said nothing on the terminal about it


@pytest.mark.slow
def test_a_unit_whose_retries_run_out_fails_alone(executor, capfd, monkeypatch):
    inits = "zeros,he_normal,lecun_uniform"
    cfg = config(inits, epochs=40)
    session = Session(cfg, "test")
    recorder = Recorder(session, on_failure=lambda event: None)
    monkeypatch.setattr(executor, "retries", 1)  # read when the sweep's tasks are submitted
    sweep, events = run_sweep(executor, cfg, recorder.begin_sweep(cfg))
    victim, dead = "he_normal", set()

    def kill_the_victim() -> bool:  # its first worker, then the one its retry runs on
        fresh = _unit_processes(victim) - dead
        for pid in fresh:
            os.kill(pid, signal.SIGKILL)
        dead.update(fresh)
        return len(dead) >= 2

    pending = set(inits.split(","))
    deadline = time.monotonic() + 240
    while pending:
        try:
            event = events.get(timeout=0.2)[1]
        except queue.Empty:
            assert time.monotonic() < deadline, "timed out"
            event = None
        if len(dead) < 2:
            kill_the_victim()
        if event is not None:
            recorder.apply(event)
            if isinstance(event, (UnitFinished, UnitFailed)):
                pending.discard(event.initializer)
    sweep.join(30)
    units = session.current.initializers
    assert len(dead) == 2
    assert units[victim].status_text(cfg.epochs) == "failed: worker died"
    assert all(u.status_text(cfg.epochs) == "done" for label, u in units.items() if label != victim)
    assert session.current.state == "complete"
    out, err = capfd.readouterr()
    assert out == "" and err == "", err


def test_a_fresh_unit_started_replaces_the_units_partial_epochs(tmp_path):
    """A unit that starts again (a retried attempt) records its epochs once, live and in the history."""
    cfg = config("zeros", epochs=2)
    recorder, store = _recorded(cfg, tmp_path / "h.db")
    sid = recorder.begin_sweep(cfg)
    seeds = (11, 12)

    def epoch(k: int, loss: float) -> EpochDone:
        values = {m: (loss, loss) for m in METRICS}
        return EpochDone(sid, "zeros", EpochReport(k, values, (OK, OK)))

    for event in [UnitStarted(sid, "zeros", seeds), epoch(0, 9.0), epoch(1, 8.0),  # the attempt that died
                  UnitStarted(sid, "zeros", seeds), epoch(0, 1.0)]:
        recorder.apply(event)
    live = recorder.session.current.initializers["zeros"]
    assert [[row["loss"] for row in h] for h in live.histories] == [[1.0], [1.0]]
    assert live.status_text(cfg.epochs) == "epoch 0/2"
    store.close()
    with open_reader(tmp_path / "h.db") as reader:
        stored = reader.load_session(reader.sessions()[0].id).current.initializers["zeros"]
    assert stored.histories == live.histories


def test_unreachable_addresses_fail_in_one_line(executor, tmp_path):
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    closed_port = free.getsockname()[1]
    free.close()
    silent = socket.socket()  # accepts connections (the kernel does) and never says a word
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    silent_port = silent.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "INITDASH_DB": str(tmp_path / "h.db")}
    env.pop("RAY_AUTH_TOKEN", None)
    short = ("import os, sys, initdash.executors.ray.connecting as c\n"
             "c.CONNECT_TIMEOUT = 3.0\n"
             "try:\n    c.connect(sys.argv[1])\n"
             "except c.UserError as exc:\n    print(exc, flush=True)\n"
             "os._exit(0)\n")
    t0 = time.monotonic()
    procs = [
        subprocess.Popen([sys.executable, "-m", "initdash", "--headless", "--no-save", "--executor", "ray",
                          "--ray-address", f"127.0.0.1:{closed_port}"], env=env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE),
        subprocess.Popen([sys.executable, "-c", short, f"127.0.0.1:{silent_port}"], env=env,
                         text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE),
        # our own instance, with a token that is not its own
        subprocess.Popen([sys.executable, "-c", short, executor.address], env={**env, "RAY_AUTH_TOKEN": "0" * 64},
                         text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE),
    ]
    (refused_out, refused_err), (silent_out, silent_err), (token_out, token_err) = (p.communicate(timeout=40)
                                                                                    for p in procs)
    took = time.monotonic() - t0
    silent.close()
    assert procs[0].returncode == 2 and refused_out == ""
    assert refused_err.splitlines() == [f"initdash: error: cannot reach the Ray cluster at 127.0.0.1:{closed_port}: "
                                        "Connection refused"]
    assert silent_err == "" and silent_out.splitlines() == [
        f"the Ray cluster at 127.0.0.1:{silent_port} does not answer (no reply within 3 s; is it a Ray head's GCS "
        "port, 6379 by default?)"]
    assert token_err == "" and len(token_out.splitlines()) == 1 and "token is missing or wrong" in token_out
    assert took < 15


def test_without_ray_the_error_says_how_to_install_it(monkeypatch, capsys):
    for key in RAY_ENV:
        monkeypatch.setenv(key, os.environ.get(key, ""))  # connect() sets them: give them back afterwards
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if it were not installed
    assert main(["--headless", "--no-save", "--executor", "ray", "--epochs", "1"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == ['initdash: error: --executor ray needs Ray, which is not installed: '
                                'pip install "initdash[ray]"']


async def test_the_dashboard_shows_a_sweep_trained_on_ray(executor, tmp_path):
    from initdash.ui.app import InitdashApp

    cfg = config("zeros,he_normal,lecun_uniform", epochs=3)
    app = InitdashApp(cfg, load(), export_dir=tmp_path, executor=executor)
    async with app.run_test(size=(100, 30)):
        table = app.query_one("#leaderboard")

        def statuses() -> set[str]:
            return {str(table.get_cell(r.key, "status")) for r in table.ordered_rows}

        deadline = time.monotonic() + 120
        while not (app.session.current is not None and app.session.current.finished and statuses() == {"done"}):
            assert time.monotonic() < deadline, f"timed out waiting for the dashboard: {statuses()}"
            await asyncio.sleep(0.05)
        assert [table.get_cell(r.key, "label") for r in table.ordered_rows] == ["zeros", "he_normal",
                                                                                "lecun_uniform"]
        assert all(len(h) == 4 for g in app.session.current.initializers.values() for h in g.histories)


# --- processes and sockets (Linux /proc) --------------------------------------------------------------------
def _unit_processes(label: str) -> set[int]:
    """The worker processes of this test's Ray instance that train `label` now: Ray titles a worker after its task
    (`ray::initdash he_normal`) while it runs it."""
    title = f"ray::initdash {label}".encode()
    found = set()
    for pid in _descendants(os.getpid()):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if argv.split(b"\0")[0].rstrip() == title:
            found.add(pid)
    return found


def _descendants(root: int) -> set[int]:
    """Every living process below `root`."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return {p for p in found if _alive(p)}


def _cpu_seconds(pid: int) -> float:
    """CPU time the process has used so far (0.0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")[:80]
    except OSError:
        return str(pid)


def _listening(pids: set[int]) -> set[tuple[str, int]]:
    """(host, port) of every TCP socket in LISTEN state that one of `pids` holds."""
    inodes: set[str] = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    found = set()
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[3] != "0A" or cols[9] not in inodes:
                continue
            hex_host, hex_port = cols[1].split(":")
            found.add((_host(hex_host, v6), int(hex_port, 16)))
    return found


def _host(hex_host: str, v6: bool) -> str:
    words = [bytes.fromhex(hex_host[i:i + 8])[::-1] for i in range(0, len(hex_host), 8)]
    raw = b"".join(words)
    if not v6:
        return socket.inet_ntop(socket.AF_INET, raw)
    if raw[:12] == b"\0" * 10 + b"\xff\xff":
        return socket.inet_ntop(socket.AF_INET, raw[12:])
    return socket.inet_ntop(socket.AF_INET6, raw)

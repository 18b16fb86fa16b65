"""Dashboard responsiveness: first frame, rerun-to-final-chart latency, event-loop stalls, peak RSS.

    python benchmarks/bench_ui.py            # full run (~1 min on 2 cores)
    python benchmarks/bench_ui.py --quick    # one run of each

Figures (median of several runs):
- first frame: from spawning `initdash` in a pseudo-terminal to the first screen that shows the
  leaderboard (the UI must not wait for torch, which the workers import afterwards), and, alternating with
  it in the same run, the first frame of a bare Textual app with the same widgets (target: within 0.25 s);
- rerun latency: pressing `r` (torch already loaded) to the last chart update of that sweep, for the lesson
  sweep with --repeats 1 and --repeats 20;
- longest stall: a 10 ms timer on the UI's event loop measures its own lateness while a sweep trains;
- peak RSS of the dashboard process.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import platform
import pty
import resource
import select
import statistics
import struct
import subprocess
import sys
import termios
import time

from initdash.config import ExperimentConfig
from initdash.data import load
from initdash.ui.app import InitdashApp
from initdash.ui.chart import MetricChart

BARE_APP = """
from textual.app import App
from textual.containers import Horizontal, Vertical
from textual.widgets import ContentSwitcher, DataTable, Footer, Static
from textual_plotext import PlotextPlot


class Bare(App):
    BINDINGS = [("q", "quit", "Quit")]
    CSS = ("#main {height: 1fr;} #views, #curves {height: 1fr;} #curves PlotextPlot {width: 1fr; height: 1fr;} "
           "DataTable {height: auto; max-height: 12;}")

    def compose(self):
        yield Static("header")
        with Vertical(id="main"):
            with ContentSwitcher(initial="curves", id="views"):
                with Horizontal(id="curves"):
                    yield PlotextPlot()
                    yield PlotextPlot()
            yield DataTable()
            yield Static("summary")
            yield Static("status")
        yield Footer()

    def on_mount(self):
        table = self.query_one(DataTable)
        table.add_columns("#", "initializer", "status")
        for name in ("zeros", "uniform", "normal", "he_normal", "lecun_uniform"):
            table.add_row("1", name, "queued")


Bare().run()
"""


def first_frame(cols: int = 100, rows: int = 30, bare: bool = False) -> tuple[float, float]:
    """Seconds from spawn to the first frame with the leaderboard, and the child's peak RSS in MB.

    bare: a bare Textual app with the same widgets instead of initdash (its DataTable shows the same word).
    """
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(cols), "LINES": str(rows)}
    start = time.monotonic()
    argv = ["-c", BARE_APP] if bare else ["-m", "initdash", "--seed", "1", "--epochs", "3", "--no-save"]
    proc = subprocess.Popen([sys.executable, *argv],
                            stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    seen, took, quit_at = b"", None, None
    deadline = start + 60
    while proc.poll() is None and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.01)
        if ready:  # keep draining: a full pty buffer would block the dashboard
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if took is None:
                seen += chunk
                if b"initializer" in seen:
                    took = time.monotonic() - start
                    # initdash: let it train, so the RSS includes torch and a sweep
                    quit_at = time.monotonic() + (0.2 if bare else 4)
        if quit_at is not None and time.monotonic() >= quit_at:
            if bare:
                proc.kill()  # it has shown its frame: that is all it is here for
            else:
                os.write(master, b"q")
            quit_at = None
    proc.wait(timeout=30)
    os.close(master)
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if took is None:
        raise SystemExit("no frame seen within 30 s")
    return took, rss


async def rerun_and_stall(repeats: int, reruns: int) -> tuple[list[float], float, float]:
    """Per rerun: seconds from `r` to the last chart update of that sweep; the longest loop stall while
    training with torch loaded (the reruns), and while the first sweep imports torch."""
    app = InitdashApp(ExperimentConfig(seed=1, repeats=repeats), load())
    updates: list[float] = []
    original = MetricChart.show

    def show(chart, *args, **kw):
        changed = original(chart, *args, **kw)
        if changed:
            updates.append(time.monotonic())
        return changed

    MetricChart.show = show
    worst = {"first": 0.0, "reruns": 0.0}
    phase = ["first"]
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            last_tick = [time.monotonic()]

            def tick() -> None:
                now = time.monotonic()
                if app.sweep is not None and not app.session.current.finished:
                    worst[phase[0]] = max(worst[phase[0]], now - last_tick[0] - 0.01)
                last_tick[0] = now

            app.set_interval(0.01, tick)
            while not (app.session.current and app.session.current.finished):
                await pilot.pause(0.05)
            latencies = []
            phase[0] = "reruns"
            for _ in range(reruns):
                await pilot.pause(0.3)
                updates.clear()
                start = time.monotonic()
                await pilot.press("r")
                while not app.session.current.finished:
                    await pilot.pause(0.005)
                await pilot.pause(0.3)  # the last redraw comes at the next 10 Hz tick
                latencies.append(max(updates) - start)
    finally:
        MetricChart.show = original
    return latencies, worst["reruns"], worst["first"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run of each measurement")
    args = parser.parse_args()
    n = 1 if args.quick else 5
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    frames, bares, rss = [], [], []
    for _ in range(n):  # alternating, so drift on a shared machine hits both alike
        took, mb = first_frame()
        frames.append(took)
        rss.append(mb)
        bares.append(first_frame(bare=True)[0])
    frame, bare = statistics.median(frames), statistics.median(bares)
    print(f"first frame after process start: initdash {frame:.3f} s, a bare Textual app with the same widgets "
          f"{bare:.3f} s: {frame - bare:+.3f} s (median of {n}; target within 0.25 s of the bare app)")
    print(f"peak RSS of the dashboard process (lesson sweep): {max(rss):.0f} MB (target <= 450 MB)")
    for repeats, target in ((1, 0.5), (20, 1.0)):
        latencies, stall, first = asyncio.run(rerun_and_stall(repeats, n))
        print(f"r -> last chart update, --repeats {repeats}: {statistics.median(latencies):.3f} s "
              f"(median of {len(latencies)}; target <= {target} s)")
        print(f"longest event-loop stall while training, --repeats {repeats}: {stall * 1000:.0f} ms "
              f"(target <= 50 ms); during the first sweep, torch's import included: {first * 1000:.0f} ms")
    load()  # keep the data import warm in this process for the RSS figure below
    print(f"peak RSS of this benchmark process (in-process dashboard): "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()

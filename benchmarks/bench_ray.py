"""Print, side by side, a sweep on the local executor and on a local Ray instance.

    python benchmarks/bench_ray.py            # the lesson and digits/cnn x 10 repeats (~2 min on 2 cores)
    python benchmarks/bench_ray.py --quick    # the lesson only, 2 reruns (~30 s)

Figures per executor and workload:
  start-up   what the executor costs before the first sweep: connecting to Ray (here: starting a local
             instance on 127.0.0.1); nothing for the local executor.
  first      the first sweep, from its start to its last event (the local executor imports torch in this
             process; Ray's workers each import it).
  rerun      a new sweep's start (the rerun key) to the sweep's last event, median of the reruns.
  epochs/s   model-epochs per second in a rerun: runs x epochs / rerun time (a model-epoch is one model
             trained for one epoch, evaluation included).

Both executors run the same units (train_unit) with one intra-op torch thread each. The local executor's
threads take turns an epoch each in one process; Ray runs one task per initializer, as many at once as the
instance has CPUs.
"""

from __future__ import annotations

import argparse
import os
import platform
import queue
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing it

from initdash.config import ExperimentConfig  # noqa: E402
from initdash.data import load  # noqa: E402
from initdash.events import UnitFailed, UnitFinished  # noqa: E402
from initdash.models.spec import ModelSpec  # noqa: E402
from initdash.sweep import Sweep  # noqa: E402


@dataclass(frozen=True)
class Workload:
    """A sweep to time, and how many reruns after the first."""

    name: str
    config: ExperimentConfig
    reruns: int

    @property
    def model_epochs(self) -> int:
        """Models x epochs of one sweep."""
        return len(self.config.initializers) * self.config.repeats * self.config.epochs


def sweep_seconds(config: ExperimentConfig, dataset, sweep_id: int, executor) -> float:
    """One sweep on the executor: seconds from its start to its last event (every unit ok, or this raises)."""
    events: queue.Queue = queue.Queue()
    sweep = Sweep(config, dataset, sweep_id, events.put, executor)
    t0 = time.perf_counter()
    sweep.start()
    pending = {u.label for u in sweep.units}
    while pending:
        event = events.get(timeout=600)
        if isinstance(event, UnitFailed):
            raise RuntimeError(f"{event.initializer} failed: {event.message}")
        if isinstance(event, UnitFinished):
            pending.discard(event.initializer)
    took = time.perf_counter() - t0
    sweep.join()
    return took


def measure(work: Workload, executor) -> dict[str, float]:
    """The first sweep and the median rerun of a workload on one executor."""
    dataset = load(work.config.data)
    first = sweep_seconds(work.config, dataset, 1, executor)
    reruns = [sweep_seconds(work.config, dataset, 2 + i, executor) for i in range(work.reruns)]
    rerun = statistics.median(reruns)
    return {"first": first, "rerun": rerun, "rate": work.model_epochs / rerun}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the lesson only, 2 reruns")
    parser.add_argument("--reruns", type=int, default=3, help="timed reruns per workload (default 3)")
    args = parser.parse_args()
    reruns = 2 if args.quick else args.reruns
    workloads = [Workload("lesson (default: banknote-like, linear, 5 inits x 1 seed x 5 epochs)",
                          ExperimentConfig(seed=1), reruns)]
    if not args.quick:
        workloads.append(Workload("--data digits --model cnn --repeats 10 (5 inits x 10 seeds x 5 epochs)",
                                  ExperimentConfig(data="digits", model=ModelSpec(name="cnn"), repeats=10, seed=1),
                                  reruns))
    cpus = os.cpu_count() or 1
    print(f"initdash bench_ray: {platform.python_version()}, {cpus} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} at start", flush=True)

    from initdash.executors.local import LocalExecutor
    from initdash.executors.ray import RayExecutor

    local = LocalExecutor()
    t0 = time.perf_counter()
    ray_ex = RayExecutor.connect(None)
    ray_start = time.perf_counter() - t0
    try:
        import ray

        ray_cpus = int(ray.cluster_resources().get("CPU", 0))
        results = []
        for work in workloads:
            results.append((work, measure(work, local), measure(work, ray_ex)))
    finally:
        t0 = time.perf_counter()
        ray_ex.close()
        closed = time.perf_counter() - t0
        ray_ex.wait_closed(30)

    print(f"Ray: a local instance on 127.0.0.1 with {ray_cpus} CPUs; start-up {ray_start:.2f} s, close() "
          f"{closed:.2f} s\n")
    head = f"{'workload / executor':<44} {'start-up':>9} {'first':>8} {'rerun':>8} {'epochs/s':>9}"
    print(head)
    print("-" * len(head))
    for work, loc, ray_r in results:
        print(work.name)
        for label, r, start in (("  local (threads, in turns)", loc, 0.0), ("  ray (one task per init)", ray_r,
                                                                              ray_start)):
            print(f"{label:<44} {start:>8.2f}s {r['first']:>7.2f}s {r['rerun']:>7.2f}s {r['rate']:>9.0f}")
    print(f"\nrerun: median of {reruns} reruns, from the sweep's start to its last event; epochs/s: model-epochs "
          "per second in a rerun.")
    print(f"load average {os.getloadavg()[0]:.2f} at the end", flush=True)
    os._exit(0)  # torch and Ray are torn down by the exit itself (as the command line does)


if __name__ == "__main__":
    main()

"""Print model-epochs per second of the per-model and the batched engine, and the headless sweep's wall times.

    python benchmarks/bench_engine.py            # the figures for the README (~2-3 min on 2 cores)
    python benchmarks/bench_engine.py --quick    # a smoke run (~20 s)
    python benchmarks/bench_engine.py --device cuda

A model-epoch is one model trained for one epoch (mini-batches and the per-epoch evaluation of train and
validation metrics included).  Each figure is the median of several runs; the number of runs is printed.
The per-model engine trains one model after another, so its rate does not depend on how many models it
trains: where it is slow (the MLP) it is timed on the first few repeats of every initializer, and the
table says how many.  Everything runs with one intra-op torch thread, as the sweep's workers do.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing it

import torch  # noqa: E402

from initdash import engine  # noqa: E402
from initdash.config import ExperimentConfig  # noqa: E402
from initdash.data import load  # noqa: E402
from initdash.sweep import run_seeds  # noqa: E402


@dataclass(frozen=True)
class Case:
    """One workload: a model and how much of it each engine trains per timed run."""

    name: str
    hidden: tuple[int, ...]
    epochs: int
    repeats: int  # per initializer, batched
    per_model_repeats: int  # per initializer, the per-model engine (timed on the first ones)
    per_model_runs: int
    batched_runs: int


def cpu_model() -> str:
    """The CPU's marketing name, as /proc/cpuinfo or platform tells it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def median_time(fn, runs: int) -> float:
    """Median wall time of `runs` calls of fn()."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_case(case: Case, device: str) -> dict[str, float]:
    """Model-epochs/s of the per-model engine, the batched engine (per initializer) and all models at once."""
    data = load()
    config = ExperimentConfig(hidden=case.hidden, epochs=case.epochs, repeats=case.repeats, seed=1, device=device)
    seeds = {s.label: run_seeds(config.seed, 1, s.label, case.repeats) for s in config.initializers}
    n_init = len(config.initializers)

    def per_model() -> None:
        for spec in config.initializers:
            for seed in seeds[spec.label][:case.per_model_repeats]:
                engine.train_reference(data, config, spec, seed)

    def batched() -> None:
        for spec in config.initializers:
            engine.train_batched(data, config, spec, seeds[spec.label])

    def all_at_once() -> None:
        engine.train_many(data, config, [(s, seed) for s in config.initializers for seed in seeds[s.label]])

    spec0 = config.initializers[0]
    engine.train_reference(data, config, spec0, 0)  # warm up: torch.optim imports torch._dynamo once
    engine.train_batched(data, config, spec0, seeds[spec0.label][:2])
    out = {
        "per_model": n_init * case.per_model_repeats * case.epochs / median_time(per_model, case.per_model_runs),
        "batched": n_init * case.repeats * case.epochs / median_time(batched, case.batched_runs),
    }
    if hasattr(engine, "train_many"):
        out["all_at_once"] = n_init * case.repeats * case.epochs / median_time(all_at_once, case.batched_runs)
    return out


def headless_wall(repeats: int, runs: int, device: str) -> float:
    """Median wall time of `initdash --headless --repeats N --seed 1` as a fresh process."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    cmd = [sys.executable, "-m", "initdash", "--headless", "--repeats", str(repeats), "--seed", "1",
           "--device", device]

    def once() -> None:
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    return median_time(once, runs)


def main() -> int:
    """Run the benchmark and print its table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a fast smoke run: fewer runs, smaller workloads")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    args = ap.parse_args()
    device = str(engine.resolve_device(args.device))
    engine.limit_threads()

    if args.quick:
        cases = [Case("lesson 5x4x5", (), 5, 4, 1, 1, 1), Case("MLP 64,64,64 relu 5x4x2", (64, 64, 64), 2, 4, 1, 1, 1)]
        sub_runs = 1
    else:
        cases = [Case("lesson 5x20x5", (), 5, 20, 4, 3, 7),
                 Case("MLP 64,64,64 relu 5x20x20", (64, 64, 64), 20, 20, 1, 2, 3)]
        sub_runs = 3

    gpu = f", {torch.cuda.get_device_name()}" if device.startswith("cuda") else ""
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores{gpu}; python {platform.python_version()}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} intra-op thread, device {device}")
    if hasattr(os, "getloadavg"):  # other work on the machine shows up in every figure below
        print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print("model-epochs/s (median of runs; 'per-model' = engine.train_reference one model at a time, "
          "'batched' = train_batched per initializer, 'all' = train_many with every model of the sweep)")
    header = (f"{'case':<28}{'per-model':>12}{'batched':>12}{'ratio':>8}{'all':>12}{'ratio':>8}"
              "   runs (per-model/batched)")
    print(header)
    print("-" * len(header))
    for case in cases:
        r = bench_case(case, device)
        all_cols = (f"{r['all_at_once']:>12.0f}{r['all_at_once'] / r['per_model']:>7.1f}x"
                    if "all_at_once" in r else f"{'-':>12}{'-':>8}")
        print(f"{case.name:<28}{r['per_model']:>12.1f}{r['batched']:>12.0f}{r['batched'] / r['per_model']:>7.1f}x"
              f"{all_cols}   {case.per_model_runs}/{case.batched_runs} "
              f"(per-model timed on 5x{case.per_model_repeats} models)", flush=True)

    one = headless_wall(1, sub_runs, args.device)
    forty = headless_wall(40, sub_runs, args.device)
    extra = 5 * 39 * 5
    print(f"\n`initdash --headless --seed 1` wall (repeats 1): {one:.2f} s   (target < 3 s; median of {sub_runs})")
    print(f"`--repeats 40` wall: {forty:.2f} s; marginal throughput {extra} model-epochs / {forty - one:.3f} s = "
          f"{extra / max(forty - one, 1e-9):.0f} model-epochs/s   (target >= 2000)")
    if hasattr(os, "getloadavg"):
        print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

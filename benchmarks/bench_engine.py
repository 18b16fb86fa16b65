"""Print model-epochs per second of the per-model and the batched engines, and the headless sweep's wall times.

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
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing it

import torch  # noqa: E402

from initdash import engine  # noqa: E402
from initdash.config import ExperimentConfig  # noqa: E402
from initdash.data import load  # noqa: E402
from initdash.headless import run_sweeps  # noqa: E402
from initdash.models.spec import ModelSpec  # noqa: E402
from initdash.recorder import Recorder  # noqa: E402
from initdash.session import Session  # noqa: E402
from initdash.sweep import run_seeds  # noqa: E402


@dataclass(frozen=True)
class Case:
    """One workload, and how many timed runs each engine gets (the median is printed)."""

    name: str
    model: ModelSpec
    epochs: int
    repeats: int  # per initializer
    per_model_repeats: int  # the per-model engine trains the first ones of every initializer
    per_model_runs: int
    batched_runs: int
    all_runs: int
    data: str = "banknote-like"


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
    data = load(case.data)
    config = ExperimentConfig(model=case.model, epochs=case.epochs, repeats=case.repeats, seed=1, device=device)
    seeds = {s.label: run_seeds(config.seed, 1, s.label, case.repeats) for s in config.initializers}
    n_init = len(config.initializers)

    def per_model() -> None:
        for spec in config.initializers:
            for seed in seeds[spec.label][:case.per_model_repeats]:
                engine.train_reference(data, config, spec, seed)

    def batched() -> None:  # what each of the sweep's workers does
        for spec in config.initializers:
            engine.train_batched(data, config, spec, seeds[spec.label])

    def all_at_once() -> None:
        engine.train_many(data, config, [(s, seed) for s in config.initializers for seed in seeds[s.label]])

    spec0 = config.initializers[0]
    engine.train_reference(data, config, spec0, 0)  # warm up (first-call costs of torch's kernels)
    engine.train_batched(data, config, spec0, seeds[spec0.label][:2])
    epochs = case.epochs
    return {
        "per_model": n_init * case.per_model_repeats * epochs / median_time(per_model, case.per_model_runs),
        "batched": n_init * case.repeats * epochs / median_time(batched, case.batched_runs),
        "all": n_init * case.repeats * epochs / median_time(all_at_once, case.all_runs),
    }


def headless_walls(runs: int, device: str, sweeps: int = 1) -> tuple[float, float]:
    """Median wall times of `initdash --headless --seed 1 --sweeps K` with --repeats 1 and 40, fresh processes.

    The runs alternate, so drift on a shared machine hits both alike; the history goes to a temporary
    database (INITDASH_DB), so the sessions are saved as usual but never into the user's history.
    """
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, INITDASH_DB=str(Path(tmp) / "bench-history.db"),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        times: dict[int, list[float]] = {1: [], 40: []}
        for _ in range(runs):
            for repeats in times:
                cmd = [sys.executable, "-m", "initdash", "--headless", "--repeats", str(repeats), "--seed", "1",
                       "--sweeps", str(sweeps), "--device", device]
                start = time.perf_counter()
                subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                times[repeats].append(time.perf_counter() - start)
    return statistics.median(times[1]), statistics.median(times[40])


def sweep_walls(runs: int, device: str) -> tuple[float, float]:
    """Median in-process times of one headless lesson sweep (run_sweeps, no store) with repeats 1 and 40."""
    from initdash.executors.local import LocalExecutor

    data = load()
    times: dict[int, list[float]] = {1: [], 40: []}
    executor = LocalExecutor()
    try:
        for i in range(runs + 1):
            for repeats in times:
                config = ExperimentConfig(repeats=repeats, seed=1, device=device)
                start = time.perf_counter()
                run_sweeps(config, data, 1, Recorder(Session(config, data.describe())), executor=executor)
                if i:  # the first round warms up (and starts the executor's workers)
                    times[repeats].append(time.perf_counter() - start)
    finally:
        executor.close()
    return statistics.median(times[1]), statistics.median(times[40])


def throughput(model_epochs: int, seconds: float) -> str:
    """model-epochs/s, or why there is no figure."""
    if seconds <= 0:
        return "n/a (the difference is below the noise)"
    return f"{model_epochs / seconds:.0f} model-epochs/s"


def main() -> int:
    """Run the benchmark and print its table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a fast smoke run: fewer runs, smaller workloads")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench_engine: --device cuda, but torch sees no CUDA device", file=sys.stderr)
        return 2
    device = str(engine.resolve_device(args.device))
    engine.limit_threads()

    lesson, mlp, cnn = ModelSpec("linear"), ModelSpec("mlp", hidden=(64, 64, 64)), ModelSpec("cnn", channels=(16, 32))
    if args.quick:
        cases = [Case("lesson 5x4x5", lesson, 5, 4, 1, 1, 1, 1), Case("MLP 64,64,64 5x4x2", mlp, 2, 4, 1, 1, 1, 1),
                 Case("digits cnn 16,32 5x4x1", cnn, 1, 4, 2, 1, 1, 1, "digits")]
        sub_runs, sweep_runs = 1, 1
    else:
        cases = [Case("lesson 5x20x5", lesson, 5, 20, 20, 3, 7, 7),
                 Case("MLP 64,64,64 relu 5x20x20", mlp, 20, 20, 2, 2, 3, 2),
                 Case("digits cnn 16,32 5x10x5", cnn, 5, 10, 10, 1, 3, 1, "digits")]
        sub_runs, sweep_runs = 3, 7

    gpu = f", {torch.cuda.get_device_name()}" if device.startswith("cuda") else ""
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores{gpu}; python {platform.python_version()}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} intra-op thread, device {device}")
    if hasattr(os, "getloadavg"):  # other work on the machine shows up in every figure below
        print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print("\nmodel-epochs/s, median of runs. per-model: engine.train_reference, one model after another;")
    print("batched: train_batched, one initializer's repeats at once (what a sweep worker does): the hand-written")
    print("engine for the lesson and the MLP, torch.func's vmap for the CNN; all: every model of the sweep at once.")
    header = (f"{'case':<28}{'per-model':>10}{'batched':>10}{'ratio':>8}{'all':>10}{'ratio':>8}"
              "   runs per-model/batched/all")
    print(header)
    print("-" * len(header))
    for case in cases:
        r = bench_case(case, device)
        subset = "" if case.per_model_repeats == case.repeats else f" (per-model on 5x{case.per_model_repeats})"
        print(f"{case.name:<28}{r['per_model']:>10.1f}{r['batched']:>10.0f}{r['batched'] / r['per_model']:>7.1f}x"
              f"{r['all']:>10.0f}{r['all'] / r['per_model']:>7.1f}x   "
              f"{case.per_model_runs}/{case.batched_runs}/{case.all_runs}{subset}", flush=True)

    extra = 5 * 39 * 5  # 5 initializers x 39 more repeats x 5 epochs
    one, forty = headless_walls(sub_runs, args.device)
    print(f"\n`initdash --headless --seed 1` (repeats 1): {one:.2f} s wall, process start to exit   "
          f"(target < 3 s; median of {sub_runs})")
    print(f"`--repeats 40`: {forty:.2f} s; marginal throughput {extra} model-epochs / {forty - one:.3f} s = "
          f"{throughput(extra, forty - one)}   (target >= 2000)")
    # The process's start (~1.5 s, mostly importing torch) varies by more than the training it is compared
    # with; ten sweeps per process make the difference ten times larger than that noise.
    sweeps = 2 if args.quick else 10
    one, forty = headless_walls(sub_runs, args.device, sweeps)
    print(f"the same with --sweeps {sweeps}: {one:.2f} s and {forty:.2f} s; marginal {sweeps * extra} model-epochs / "
          f"{forty - one:.3f} s = {throughput(sweeps * extra, forty - one)}")
    one, forty = sweep_walls(sweep_runs, device)
    print(f"the same sweeps in-process (headless.run_sweeps, no process start, no store): {one * 1000:.0f} ms and "
          f"{forty * 1000:.0f} ms; marginal {throughput(extra, forty - one)}   (median of {sweep_runs})")
    if hasattr(os, "getloadavg"):
        print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

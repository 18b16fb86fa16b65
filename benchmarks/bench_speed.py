"""initdash against a plain PyTorch loop, side by side in one run: model-epochs/s, their ratio, cores used.

    python benchmarks/bench_speed.py            # the figures for the README (~3-5 min on 2 quiet cores)
    python benchmarks/bench_speed.py --quick    # a smoke run (~1 min)

The plain loop is what one would write by hand: one nn.Module at a time, torch.optim.RMSprop, batch 16, a
shuffled order per epoch, the training and validation sets evaluated after every epoch, one intra-op thread.
initdash runs whole sweeps (every initializer, all repeats) through its local executor, warm (its workers
started and torch loaded once, as for every sweep after the first): where a case is marginal, the figure is
(models of the big sweep - models of the small one) x epochs / (its time - the small one's), so what every
sweep pays once (building the units, the first evaluation) does not count. "cores" is the CPU time of this
process and its workers over the wall time. The goals are ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing it

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from bench_ray import sweep_seconds  # noqa: E402  (this folder is on sys.path when run as a script)

from initdash.config import ExperimentConfig  # noqa: E402
from initdash.data import Dataset, load  # noqa: E402
from initdash.executors.local import LocalExecutor, cores  # noqa: E402
from initdash.initializers import initialize  # noqa: E402
from initdash.models import build  # noqa: E402


@dataclass(frozen=True)
class Case:
    """One workload: a config for initdash (big and small sweeps), and how many models the plain loop trains."""

    name: str
    config: ExperimentConfig
    repeats: int  # per initializer in the big sweep
    small: int | None  # per initializer in the small sweep (None: the figure is the big sweep's own rate)
    plain_models: int
    goal: float


class CpuClock:
    """CPU seconds of this process and its live children (the executor's workers), from /proc."""

    @staticmethod
    def now() -> float:
        """Total CPU seconds so far."""
        import multiprocessing

        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in [os.getpid()] + [p.pid for p in multiprocessing.active_children()]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
            except (OSError, IndexError, ValueError):
                pass
        return total


def plain_loop(data: Dataset, config: ExperimentConfig, models: int) -> tuple[float, float]:
    """model-epochs/s and cores of the hand-written loop: `models` models one after another."""
    x, y = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
    xv, yv = torch.as_tensor(data.x_val), torch.as_tensor(data.y_val)
    binary = data.n_outputs == 1
    spec = config.initializers[0]

    def loss_of(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if binary:
            return F.binary_cross_entropy_with_logits(out.reshape(-1), target)
        return F.cross_entropy(out, target.long())

    start, cpu = time.perf_counter(), CpuClock.now()
    for seed in range(models):
        gen = torch.Generator().manual_seed(seed)
        model = build(config.model, data.in_shape, data.n_outputs, seed)
        initialize(model, spec, gen)
        opt = torch.optim.RMSprop(model.parameters(), lr=config.learning_rate, alpha=0.9, eps=1e-7)
        for _ in range(config.epochs):
            model.train()
            for idx in torch.randperm(len(y), generator=gen).split(config.batch_size):
                opt.zero_grad()
                loss_of(model(x[idx]), y[idx]).backward()
                opt.step()
            model.eval()
            with torch.no_grad():
                for xs, ys in ((x, y), (xv, yv)):
                    out = model(xs)
                    float(loss_of(out, ys)), float(((out.reshape(-1) > 0) == (ys == 1)).float().mean()
                                                   if binary else (out.argmax(1) == ys.long()).float().mean())
    wall = time.perf_counter() - start
    return models * config.epochs / wall, (CpuClock.now() - cpu) / wall


def sweep_time(executor: LocalExecutor, data: Dataset, config: ExperimentConfig, sweep_id: int) -> tuple[float, float]:
    """Wall seconds and cores of one whole sweep through the executor, to its last event."""
    start, cpu = time.perf_counter(), CpuClock.now()
    sweep_seconds(config, data, sweep_id, executor)
    wall = time.perf_counter() - start
    return wall, (CpuClock.now() - cpu) / wall


def preset_config(*argv: str) -> ExperimentConfig:
    """The config `initdash ARGV` trains (a preset, with flags over it), as the command line builds it."""
    from initdash.arguments import apply_layers, build_parser, config_from_args

    args = build_parser().parse_args(list(argv))
    apply_layers(args, list(argv))
    return config_from_args(args)


def run_case(case: Case, executor: LocalExecutor, data: Dataset, sweep_id: int, rounds: int) -> dict[str, float]:
    """Both sides of one case, measured in alternation `rounds` times (so the machine's other work weighs on
    both alike; medians): initdash's rate (marginal or whole), the plain loop's, the cores each used, and each
    side's model-epochs per CPU-second."""
    import statistics

    n_init = len(case.config.initializers)
    big = case.config.with_changes(repeats=case.repeats)
    sweep_time(executor, data, big.with_changes(repeats=1, epochs=1), sweep_id)  # warm: kernels, workers
    plain_loop(data, big.with_changes(epochs=1), 1)  # warm: torch.optim's first import, first-call kernels
    ours, ours_cpu, plain, plain_cpu, ours_used, plain_used = [], [], [], [], [], []
    for i in range(rounds):
        wall, used = sweep_time(executor, data, big, sweep_id + 1 + 2 * i)
        work, cpu = n_init * case.repeats * big.epochs, wall * used
        ours_used.append(used)
        if case.small is not None:
            small_wall, small_used = sweep_time(executor, data, big.with_changes(repeats=case.small),
                                                sweep_id + 2 + 2 * i)
            work = n_init * (case.repeats - case.small) * big.epochs
            wall, cpu = wall - small_wall, cpu - small_wall * small_used
        ours.append(work / max(wall, 1e-9))
        ours_cpu.append(work / max(cpu, 1e-9))
        rate, used = plain_loop(data, big, case.plain_models)
        plain.append(rate)
        plain_cpu.append(rate / max(used, 1e-9))
        plain_used.append(used)
    med = statistics.median
    return {"initdash": med(ours), "cores": med(ours_used), "plain": med(plain), "plain_cores": med(plain_used),
            "cpu_ratio": med(ours_cpu) / med(plain_cpu)}


def main() -> int:
    """Run every case and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a fast smoke run: smaller workloads")
    args = ap.parse_args()
    torch.set_num_threads(1)  # the plain loop, as initdash's workers
    q = args.quick
    lesson = ExperimentConfig(seed=1)
    cnn = preset_config("--preset", "digits-cnn", "--epochs", "2", "--seed", "1")
    resnet = preset_config("--preset", "resnet", "--epochs", "1", "--seed", "1")
    lesson_n, cnn_n, resnet_n = (50, 4, 3) if q else (250, 8, 4)
    # The small sweeps of the torch.func cases hold 2 seeds an initializer: a unit of one copy trains as a
    # plain module, another engine, so its time is not what the big sweep pays besides its models.
    cases = [
        Case(f"lesson (linear), 5 x {lesson_n} seeds", lesson, lesson_n, 1, 4 if q else 10, 150),
        Case(f"digits cnn 16,32, 5 x {cnn_n} seeds", cnn, cnn_n, 2, 2 if q else 4, 6),
        Case(f"--preset resnet, 4 x {resnet_n} seeds", resnet, resnet_n, 2, 1 if q else 2, 2),
        Case("digits-cnn, 1 seed per initializer", cnn, 1, None, 2 if q else 4, 1),
    ]
    print(f"machine: {platform.processor() or platform.machine()}, {cores()} cores; python "
          f"{platform.python_version()}, torch {torch.__version__}")
    if hasattr(os, "getloadavg"):  # the machine's other work shows in every figure
        print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    executor = LocalExecutor()
    print(f"executor: local, {executor.workers} {'worker processes' if executor.processes else 'worker thread'}\n")
    header = (f"{'case':<38}{'initdash':>10}{'cores':>7}{'plain':>9}{'cores':>7}{'ratio':>8}{'goal':>8}"
              f"{'':<8}{'per CPU-s':>9}")
    print(header + "\n" + "-" * len(header))
    datasets = {name: load(name) for name in ("banknote-like", "digits")}
    try:
        for i, case in enumerate(cases):
            r = run_case(case, executor, datasets[case.config.data], 100 * i + 1, 1 if q else 3)
            ratio = r["initdash"] / r["plain"]
            print(f"{case.name:<38}{r['initdash']:>10.1f}{r['cores']:>7.2f}{r['plain']:>9.1f}{r['plain_cores']:>7.2f}"
                  f"{ratio:>7.2f}x{case.goal:>6.0f}x {'ok' if ratio >= case.goal else 'MISSED':<7}"
                  f"{r['cpu_ratio']:>7.2f}x", flush=True)
    finally:
        executor.close()
    print("\nmodel-epochs/s, medians of alternating rounds; initdash marginal (big sweep minus small) except for")
    print("the one-seed case. ratio: of wall-clock rates (the goals); per CPU-s: of model-epochs per CPU-second,")
    print("what is left of the ratio when the machine has no idle core to give (its other work is not ours).")
    if hasattr(os, "getloadavg"):
        print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Print what a grid's learning-rate axis costs: 5 learning rates x 4 repeats batched in one unit (a learning rate
per model copy) against 20 repeats of one learning rate, and against 5 separate units of 4 repeats.

    python benchmarks/bench_grid.py            # the figures for the README (~1 min on 2 cores)
    python benchmarks/bench_grid.py --quick    # a smoke run

Each figure is the median wall time of several trainings of one unit (engine.train_many, one intra-op thread, as
a sweep's workers run), for the fast engine (an MLP) and the torch.func engine (a CNN).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing it

from bench_engine import median_time as timed  # noqa: E402  (this folder is on sys.path when run as a script)

from initdash import engine  # noqa: E402
from initdash.config import ExperimentConfig  # noqa: E402
from initdash.data import load  # noqa: E402
from initdash.initializers import parse_spec  # noqa: E402
from initdash.models.spec import ModelSpec  # noqa: E402

LRS = (0.003, 0.01, 0.03, 0.1, 0.3)
REPEATS = 4


def main() -> None:
    """Time the three ways for each engine and print them side by side."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="one epoch, one timing each")
    args = p.parse_args()
    engine.limit_threads()
    data = load("digits")
    epochs, runs = (1, 1) if args.quick else (3, 3)
    spec = parse_spec("he_normal")
    seeds = list(range(REPEATS))
    print(f"digits, {epochs} epochs, sgd; median of {runs}; {len(LRS)} learning rates x {REPEATS} repeats")
    print(f"{'engine':<24}{'20 repeats, 1 lr':>18}{'5 lrs x 4 (batched)':>22}{'5 units of 4':>15}")
    for name, model in (("fast (mlp 3x64)", ModelSpec(name="mlp", hidden=(64, 64, 64))),
                        ("torch.func (cnn 8,16)", ModelSpec(name="cnn", channels=(8, 16)))):
        config = ExperimentConfig(data="digits", model=model, optimizer="sgd", lr=0.01, epochs=epochs, batch_size=32)
        twenty = timed(lambda c=config: engine.train_many(data, c, [(spec, s) for s in range(20)]), runs)
        batched = timed(lambda c=config: engine.train_many(data, c, [(spec, s) for _ in LRS for s in seeds],
                                                           lrs=[lr for lr in LRS for _ in seeds]), runs)
        separate = timed(lambda c=config: [engine.train_many(data, c.with_changes(lr=lr), [(spec, s) for s in seeds])
                                           for lr in LRS], runs)
        print(f"{name:<24}{twenty:>17.2f}s{batched:>21.2f}s{separate:>14.2f}s")


if __name__ == "__main__":
    main()

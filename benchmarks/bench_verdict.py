"""Print how often the verdict says "clear": for identical initializers (the error rate, at most 5% by design)
and for two 2 standard deviations apart (the power), by design and number of initializers.

    python benchmarks/bench_verdict.py             # 2,000 simulated sessions per cell (~1-2 min on 2 cores)
    python benchmarks/bench_verdict.py --reps 300  # quicker

The simulation is tests/simulate.py's, which the tests run with fewer sessions.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # run from a checkout without installing it

from simulate import clear_rate  # noqa: E402


def main() -> None:
    """Print the error-rate table, then the power table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2000, help="simulated sessions per cell (default 2000)")
    args = parser.parse_args()
    ns = (3, 4, 5, 6, 8, 10, 15, 20)
    cells = [(k, paired) for k in (2, 5) for paired in (False, True)]
    names = [f"{k} inits, {'paired' if paired else 'independent'}" for k, paired in cells]
    print(f'"clear" said of identical initializers ({args.reps} sessions a cell)')
    print(f"{'runs each':>9}  " + "  ".join(f"{n:>24}" for n in names))
    for n in ns:
        print(f"{n:>9}  " + "  ".join(f"{clear_rate(n, k, p, reps=args.reps):>24.1%}" for k, p in cells))
    print(f'\n"clear" said when one initializer is 2 standard deviations better ({args.reps} sessions a cell)')
    print(f"{'runs each':>9}  " + "  ".join(f"{n:>24}" for n in names))
    for n in ns:
        print(f"{n:>9}  " + "  ".join(f"{clear_rate(n, k, p, shift=2.0, reps=args.reps):>24.1%}" for k, p in cells))


if __name__ == "__main__":
    main()

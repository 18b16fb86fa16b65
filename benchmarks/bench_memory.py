"""Peak memory of a headless run on a 1M-row, 4-feature CSV with --repeats 20 (target <= 1.5 GB).

    python benchmarks/bench_memory.py            # 1M rows (about a minute on 2 cores)
    python benchmarks/bench_memory.py --rows 200000

Each figure is the peak resident set size of a fresh `initdash` process (getrusage of the child), so the
interpreter, torch and the data all count: what a user's machine would see.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_csv(path: Path, rows: int) -> None:
    """rows x 4 standard normal features, label = a linear rule (so the models can learn something)."""
    rng = np.random.default_rng(0)
    with path.open("w") as fh:
        fh.write("a,b,c,d,label\n")
        for start in range(0, rows, 100_000):
            x = rng.normal(size=(min(100_000, rows - start), 4))
            np.savetxt(fh, np.c_[x, (x[:, 0] + 0.5 * x[:, 1] > 0)], fmt=["%.6f"] * 4 + ["%d"], delimiter=",")


def peak(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Peak RSS (MB) and wall time (s) of one child process."""
    start = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    done = subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"failed: {done.stderr.strip().splitlines()[-1]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(after, before) / 1024, time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "big.csv"
        make_csv(data, args.rows)
        print(f"data: {args.rows:,} rows x 4 features, {data.stat().st_size / 1e6:.0f} MB of CSV")
        load = ["-c", f"from initdash.data import load; load({str(data)!r})"]
        mb, secs = peak(load, env)
        print(f"loading it (parse, standardize, split):      peak {mb:7.0f} MB  ({secs:.1f} s)")
        run = ["-m", "initdash", "--headless", "--no-save", "--data", str(data), "--repeats", str(args.repeats),
               "--epochs", "1"]
        mb, secs = peak(run, env)
        print(f"training 5 initializers x {args.repeats} repeats, 1 epoch: peak {mb:7.0f} MB  ({secs:.1f} s; "
              "target <= 1536 MB)")


if __name__ == "__main__":
    main()

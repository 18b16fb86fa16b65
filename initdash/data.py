"""Data sets: the built-in generated ones and CSV files; standardize, then split as the lesson did."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from initdash.errors import UserError, opening

DEFAULT_DATA = "banknote-like"
BUILTIN_DATA = ("banknote-like", "moons", "circles", "xor", "spiral")

# Per-class statistics of the UCI banknote-authentication data (features: variance, skewness, curtosis,
# entropy of the wavelet-transformed image).
_BANKNOTE_COUNTS = (762, 610)
_BANKNOTE_MEANS = ((2.277, 4.257, 0.797, -1.148), (-1.868, -0.994, 2.148, -1.247))
_BANKNOTE_STDS = ((2.018, 5.135, 3.238, 2.124), (1.880, 5.400, 5.257, 2.069))
_BANKNOTE_FEATURES = ("variance", "skewness", "curtosis", "entropy")
_GENERATOR_SEED = 20240117  # fixed: the built-in data never changes between runs or machines
_N_2D = 1000


@dataclass(frozen=True)
class Dataset:
    """A binary-classification table, standardized and split into training and validation sets."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    feature_names: tuple[str, ...]
    label_names: tuple[str, str]  # label_names[k] is the original label mapped to class k
    synthetic: bool

    @property
    def n_features(self) -> int:
        """Number of input features."""
        return self.x_train.shape[1]

    def describe(self) -> str:
        """One line for headers: name, size and whether it is generated."""
        kind = "synthetic, " if self.synthetic else ""
        return f"{self.name} ({kind}{len(self.y_train)}/{len(self.y_val)} train/val, {self.n_features} features)"


def banknote_like() -> tuple[np.ndarray, np.ndarray]:
    """The default data: Gaussians with the real banknote data's per-class means and stds."""
    rng = np.random.default_rng(_GENERATOR_SEED)
    xs, ys = [], []
    for cls, count in enumerate(_BANKNOTE_COUNTS):
        xs.append(rng.normal(_BANKNOTE_MEANS[cls], _BANKNOTE_STDS[cls], size=(count, 4)))
        ys.append(np.full(count, cls))
    return np.concatenate(xs), np.concatenate(ys)


def moons(n: int = _N_2D, noise: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles."""
    rng = np.random.default_rng(_GENERATOR_SEED + 1)
    n0 = n // 2
    t0 = np.linspace(0, math.pi, n0)
    t1 = np.linspace(0, math.pi, n - n0)
    x = np.concatenate([np.c_[np.cos(t0), np.sin(t0)], np.c_[1 - np.cos(t1), 0.5 - np.sin(t1)]])
    return x + rng.normal(0, noise, x.shape), np.r_[np.zeros(n0), np.ones(n - n0)]


def circles(n: int = _N_2D, noise: float = 0.08, factor: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """A small circle inside a large one."""
    rng = np.random.default_rng(_GENERATOR_SEED + 2)
    n0 = n // 2
    t0 = np.linspace(0, 2 * math.pi, n0, endpoint=False)
    t1 = np.linspace(0, 2 * math.pi, n - n0, endpoint=False)
    x = np.concatenate([np.c_[np.cos(t0), np.sin(t0)], factor * np.c_[np.cos(t1), np.sin(t1)]])
    return x + rng.normal(0, noise, x.shape), np.r_[np.zeros(n0), np.ones(n - n0)]


def xor(n: int = _N_2D) -> tuple[np.ndarray, np.ndarray]:
    """Points in a square, labelled by whether x and y have the same sign."""
    rng = np.random.default_rng(_GENERATOR_SEED + 3)
    x = rng.uniform(-1, 1, size=(n, 2))
    return x, (np.sign(x[:, 0]) != np.sign(x[:, 1])).astype(float)


def spiral(n: int = _N_2D, noise: float = 0.2, turns: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spiral arms."""
    rng = np.random.default_rng(_GENERATOR_SEED + 4)
    n0 = n // 2
    xs = []
    for arm, count in enumerate((n0, n - n0)):
        t = np.linspace(0.25, 1.0, count) * turns * 2 * math.pi
        r = t / (turns * 2 * math.pi) * 3
        phase = arm * math.pi
        xs.append(np.c_[r * np.cos(t + phase), r * np.sin(t + phase)])
    x = np.concatenate(xs)
    return x + rng.normal(0, noise * 0.5, x.shape), np.r_[np.zeros(n0), np.ones(n - n0)]


_GENERATORS = {"banknote-like": banknote_like, "moons": moons, "circles": circles, "xor": xor, "spiral": spiral}


def read_csv(path: Path, target: str | None = None) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], tuple[str, str]]:
    """Read a CSV with a header row: numeric features, a two-valued label (last column or `target`)."""
    try:
        with opening(str(path)), path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            # Keep each record's line number in the file, so messages still name the right row when blank
            # lines (skipped below) come before it.
            rows = [(reader.line_num, row) for row in reader]
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text CSV file (cannot decode as UTF-8)") from None
    except csv.Error as exc:
        raise UserError(f"{path}: not a valid CSV file ({exc})") from None
    rows = [(n, r) for n, r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise UserError(f"{path}: file is empty")
    header = [h.strip() for h in rows[0][1]]
    if len(header) < 2:
        raise UserError(f"{path}: need a header row with at least one feature column and a label column")
    if len(set(header)) != len(header):
        raise UserError(f"{path}: duplicate column names in the header")
    if "" in header:
        raise UserError(f"{path}: column {header.index('') + 1} of the header has no name")
    body = rows[1:]
    if not body:
        raise UserError(f"{path}: has a header but no data rows")
    if target is None:
        label_col = len(header) - 1
    elif target in header:
        label_col = header.index(target)
    else:
        raise UserError(f"{path}: no column named {target!r} (columns: {', '.join(header)})")
    features = tuple(h for i, h in enumerate(header) if i != label_col)
    x = np.empty((len(body), len(features)))
    labels: list[str] = []
    for i, (r, row) in enumerate(body):  # r: the row's line number in the file (the header's is 1)
        if len(row) != len(header):
            raise UserError(f"{path}: row {r} has {len(row)} columns, the header has {len(header)}")
        j = 0
        for c, cell in enumerate(row):
            if c == label_col:
                if not cell.strip():
                    raise UserError(f"{path}: row {r}, column {header[c]!r}: the label is empty")
                labels.append(_canonical_label(cell.strip()))
                continue
            try:
                value = float(cell)
            except ValueError:
                raise UserError(f"{path}: row {r}, column {header[c]!r}: {cell.strip()!r} is not a number") from None
            if not math.isfinite(value):
                raise UserError(f"{path}: row {r}, column {header[c]!r}: {cell.strip()!r} is not a finite number")
            x[i, j] = value
            j += 1
    distinct = sorted(set(labels), key=_label_key)
    if len(distinct) != 2:
        shown = ", ".join(distinct[:5]) + (", ..." if len(distinct) > 5 else "")
        raise UserError(f"{path}: label column {header[label_col]!r} must have exactly 2 distinct values, "
                        f"found {len(distinct)} ({shown})")
    y = np.array([distinct.index(v) for v in labels], dtype=float)
    return x, y, features, (distinct[0], distinct[1])


def _canonical_label(value: str) -> str:
    """`1`, `1.0` and ` 1 ` are one class: numeric labels are compared as numbers."""
    try:
        number = float(value)
    except ValueError:
        return value
    return str(int(number)) if number.is_integer() else str(number)


def _label_key(value: str) -> tuple[int, float | str]:
    """Sort numeric labels numerically (so 0 -> class 0, 1 -> class 1), others as text."""
    try:
        return (0, float(value))
    except ValueError:
        return (1, value)


def standardize(x: np.ndarray) -> np.ndarray:
    """Zero mean, unit population std per column (a constant column becomes all zeros)."""
    std = x.std(axis=0)
    std[std == 0] = 1.0
    return (x - x.mean(axis=0)) / std


def split_indices(n: int, test_size: float = 0.3, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices exactly as scikit-learn's train_test_split(test_size, random_state=seed)."""
    n_test = math.ceil(test_size * n)
    n_train = n - n_test
    perm = np.random.RandomState(seed).permutation(n)
    return perm[n_test:n_test + n_train], perm[:n_test]


def load(source: str = DEFAULT_DATA, target: str | None = None, split_seed: int = 42) -> Dataset:
    """Load a built-in data set by name or a CSV file by path; standardize; split 70/30."""
    if source in _GENERATORS:
        if target is not None:
            raise UserError(f"--target only applies to CSV files, not to the built-in {source!r} data")
        x, y = _GENERATORS[source]()
        names = _BANKNOTE_FEATURES if source == "banknote-like" else ("x", "y")
        labels, synthetic, name = ("0", "1"), True, source
    else:
        path = Path(source)
        if path.suffix.lower() != ".csv" and not path.exists():
            raise UserError(f"unknown data {source!r}: give a CSV file or one of {', '.join(BUILTIN_DATA)}")
        x, y, names, labels = read_csv(path, target)
        synthetic, name = False, path.name
    if len(y) < 4:
        raise UserError(f"{name}: need at least 4 rows to split into training and validation sets, got {len(y)}")
    x = standardize(x)
    train, val = split_indices(len(y), 0.3, split_seed)
    f32 = np.float32
    return Dataset(name, x[train].astype(f32), y[train].astype(f32), x[val].astype(f32), y[val].astype(f32),
                   tuple(names), labels, synthetic)

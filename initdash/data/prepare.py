"""Preparing any data set the lesson's way: standardized per feature over all rows (scikit-learn's `scale`),
then split 70/30 (scikit-learn's train_test_split); every class must land in both parts.

Both are written out here with the very numpy calls scikit-learn makes, so their results are the same to the
last bit (tests/test_data.py compares them with scikit-learn's own): importing sklearn.preprocessing and
sklearn.model_selection costs ~1 s at start-up, longer than the lesson's whole sweep trains.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from initdash.errors import UserError


def standardize(x: np.ndarray) -> np.ndarray:
    """Zero mean, unit population std per feature over all rows (scikit-learn's `scale`; a constant feature
    becomes all zeros), whatever the shape of one example. Never overflows on finite input."""
    flat = x.reshape(len(x), -1).astype(np.float64)
    # Scaling a column by a power of two is exact, so this changes no bit of the result where the plain
    # formula works, and keeps sums of huge finite values (1e307) finite where it would overflow.
    peak = np.abs(flat).max(axis=0)
    shift = np.where(peak > 0, np.exp2(-np.floor(np.log2(np.where(peak > 0, peak, 1.0)))), 1.0)
    with np.errstate(all="ignore"):
        flat = scale(flat * shift)
    return flat.reshape(x.shape)


def scale(x: np.ndarray) -> np.ndarray:
    """sklearn.preprocessing.scale(x) of a 2-d float64 array, in place (scikit-learn 1.x's steps, in order)."""
    mean, std = np.nanmean(x, 0), np.nanstd(x, 0)
    x -= mean
    again = np.nanmean(x, axis=0)
    if not np.allclose(again, 0):  # huge values: scikit-learn centres a second time
        warnings.warn("Numerical issues were encountered when centering the data", stacklevel=2)
        x -= again
    std[std < 10 * np.finfo(std.dtype).eps] = 1.0  # a constant feature stays 0, not nan
    x /= std
    again = np.nanmean(x, axis=0)
    if not np.allclose(again, 0):
        warnings.warn("Numerical issues were encountered when scaling the data", stacklevel=2)
        x -= again
    return x


def split_indices(n: int, test_size: float = 0.3, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation indices: scikit-learn's train_test_split(arange(n), test_size, random_state=seed),
    its ShuffleSplit's steps (n >= 2: both parts have a row)."""
    n_test = math.ceil(test_size * n)
    permutation = np.random.RandomState(seed).permutation(n)
    return permutation[n_test:n], permutation[:n_test]


def check_classes(name: str, y: np.ndarray, train: np.ndarray, val: np.ndarray, classes: tuple[str, ...],
                   split_seed: int) -> None:
    """Every class must be in both sets: the model cannot learn, or the metric cannot measure, one that is not."""
    for part, idx in (("training", train), ("validation", val)):
        missing = sorted(set(range(len(classes))) - set(np.unique(y[idx]).tolist()))
        if missing:
            shown = ", ".join(repr(classes[k]) for k in missing[:5]) + (", ..." if len(missing) > 5 else "")
            raise UserError(f"{name}: the {part} set (split seed {split_seed}) has no row of class {shown}: "
                            f"{'the model cannot learn it' if part == 'training' else 'val accuracy cannot measure it'}"
                            " (more rows of that class, or another --split-seed)")

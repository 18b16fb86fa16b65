"""Preparing any data set the lesson's way: standardized per feature over all rows, then split 70/30 with
scikit-learn's train_test_split; every class must land in both parts."""

from __future__ import annotations

import numpy as np

from initdash.errors import UserError


def standardize(x: np.ndarray) -> np.ndarray:
    """Zero mean, unit population std per feature over all rows (scikit-learn's `scale`; a constant feature
    becomes all zeros), whatever the shape of one example. Never overflows on finite input."""
    from sklearn.preprocessing import scale

    flat = x.reshape(len(x), -1).astype(np.float64)
    # Scaling a column by a power of two is exact, so this changes no bit of the result where the plain
    # formula works, and keeps sums of huge finite values (1e307) finite where it would overflow.
    peak = np.abs(flat).max(axis=0)
    shift = np.where(peak > 0, np.exp2(-np.floor(np.log2(np.where(peak > 0, peak, 1.0)))), 1.0)
    with np.errstate(all="ignore"):
        flat = scale(flat * shift)
    return flat.reshape(x.shape)


def split_indices(n: int, test_size: float = 0.3, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation indices: scikit-learn's train_test_split(test_size, random_state=seed)."""
    from sklearn.model_selection import train_test_split

    train, val = train_test_split(np.arange(n), test_size=test_size, random_state=seed)
    return train, val


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

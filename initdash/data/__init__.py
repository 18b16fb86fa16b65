"""Data sets: built-in ones (generated, or shipped with scikit-learn), CSV and npz files; standardized per
feature over all rows, then split 70/30 with scikit-learn's train_test_split, as the lesson did.

Two classes are a sigmoid and binary cross-entropy; k >= 3 classes are k outputs, softmax and sparse
categorical cross-entropy. Labels of any kind (numbers or text) become classes 0..k-1 in sorted order.

Importing this package is cheap (no numpy, no scikit-learn): the dashboard describes built-in data from
BUILTIN_INFO and loads it after its first frame is painted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from initdash.errors import UserError
from initdash.tables import plural

if TYPE_CHECKING:
    import numpy as np

DEFAULT_DATA = "banknote-like"
GENERATED = ("banknote-like", "moons", "circles", "xor", "spiral")
SKLEARN_SETS = ("digits", "breast-cancer", "iris", "wine")
BUILTIN_DATA = GENERATED + SKLEARN_SETS
FILE_KINDS = (".csv", ".npz")


class Described:
    """What headers, checks and models need to know of a data set, without its numbers."""

    name: str
    classes: tuple[str, ...]
    synthetic: bool
    digest: str

    in_shape: tuple[int, ...]
    n_train: int
    n_val: int

    @property
    def n_features(self) -> int:
        """Numbers in one example."""
        return math.prod(self.in_shape)

    @property
    def n_classes(self) -> int:
        """Distinct labels."""
        return len(self.classes)

    @property
    def n_outputs(self) -> int:
        """Outputs a model needs: 1 (a sigmoid) for two classes, k (a softmax) for k classes."""
        return 1 if self.n_classes == 2 else self.n_classes

    def shape_text(self) -> str:
        """`4 features`, `8x8 images`, `3x32x32 images`."""
        shape = self.in_shape
        if len(shape) == 1:
            return plural(shape[0], "feature")
        if len(shape) == 3 and shape[0] == 1:
            return f"{shape[1]}x{shape[2]} images"
        return "x".join(map(str, shape)) + (" images" if len(shape) == 3 else " inputs")

    def describe(self) -> str:
        """One line for headers: name, size, shape, classes (when more than two), whether it is generated."""
        kind = "synthetic, " if self.synthetic else ""
        classes = f", {self.n_classes} classes" if self.n_classes > 2 else ""
        return f"{self.name} ({kind}{self.n_train}/{self.n_val} train/val, {self.shape_text()}{classes})"

    def notes(self, source: str) -> list[str]:
        """Lines worth saying once about the data: that it is synthetic, how labels were mapped."""
        if source == DEFAULT_DATA:
            return ["note: built-in synthetic banknote-like data; use --data FILE.csv for the real UCI file"]
        if self.digest and self.n_classes <= 10:
            return ["labels: " + ", ".join(f"{c!r} -> {k}" for k, c in enumerate(self.classes))]
        if self.digest:
            return [f"labels: {self.n_classes} classes, {self.classes[0]!r} -> 0 ... {self.classes[-1]!r} -> "
                    f"{self.n_classes - 1}"]
        return []

    @property
    def info(self) -> DataInfo:
        """This data set's description alone."""
        return DataInfo(self.name, self.n_train, self.n_val, self.in_shape, self.classes, self.synthetic,
                        self.digest)


@dataclass(frozen=True)
class DataInfo(Described):
    """A data set described, not loaded."""

    name: str
    n_train: int
    n_val: int
    in_shape: tuple[int, ...]
    classes: tuple[str, ...]
    synthetic: bool
    digest: str = ""


@dataclass(frozen=True)
class Dataset(Described):
    """A classification data set, standardized and split into training and validation sets.

    x arrays are float32 (N, *in_shape): (N, F) for tables, (N, C, H, W) for images; y arrays are the
    class index of each row (float32 0..k-1).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    feature_names: tuple[str, ...]  # tables only
    classes: tuple[str, ...]  # classes[k] is the original label mapped to class k
    synthetic: bool
    digest: str = ""  # sha256 of a data file's bytes ("" for built-in data)

    @property
    def in_shape(self) -> tuple[int, ...]:  # type: ignore[override]
        """The shape of one example: (F,) for a table, (C, H, W) for images."""
        return tuple(int(s) for s in self.x_train.shape[1:])

    @property
    def n_train(self) -> int:  # type: ignore[override]
        """Training rows."""
        return len(self.y_train)

    @property
    def n_val(self) -> int:  # type: ignore[override]
        """Validation rows."""
        return len(self.y_val)


_DIGITS = tuple(str(k) for k in range(10))
# What every built-in set looks like after the 70/30 split (tests/test_data.py checks it against load()).
BUILTIN_INFO = {
    "banknote-like": DataInfo("banknote-like", 960, 412, (4,), ("0", "1"), True),
    **{name: DataInfo(name, 700, 300, (2,), ("0", "1"), True) for name in ("moons", "circles", "xor", "spiral")},
    "digits": DataInfo("digits", 1257, 540, (1, 8, 8), _DIGITS, False),
    "breast-cancer": DataInfo("breast-cancer", 398, 171, (30,), ("malignant", "benign"), False),
    "iris": DataInfo("iris", 105, 45, (4,), ("setosa", "versicolor", "virginica"), False),
    "wine": DataInfo("wine", 124, 54, (13,), ("class_0", "class_1", "class_2"), False),
}


def builtin_info(source: str, target: str | None = None) -> DataInfo | None:
    """The description of a built-in data set (None for a file), checked like load() checks it."""
    if source not in BUILTIN_DATA:
        return None
    if target is not None:
        raise UserError(f"--target only applies to CSV files, not to the built-in {source!r} data")
    return BUILTIN_INFO[source]


def load(source: str = DEFAULT_DATA, target: str | None = None, split_seed: int = 42) -> Dataset:
    """Load a built-in data set by name or a .csv / .npz file by path; standardize; split 70/30."""
    import numpy as np

    from initdash.data.prepare import check_classes, split_indices, standardize

    digest, features = "", ()
    if builtin_info(source, target) is not None:
        from initdash.data.builtin import load_builtin

        x, y, features, classes = load_builtin(source)
        name, synthetic = source, source in GENERATED
    else:
        from initdash.data.files import encode_labels, file_digest, read_csv, read_npz

        path = Path(source).expanduser()
        suffix = path.suffix.lower()
        if suffix not in FILE_KINDS:
            if not path.exists():
                raise UserError(f"unknown data {source!r}: give a .csv or .npz file or one of "
                                f"{', '.join(BUILTIN_DATA)}")
            raise UserError(f"{path}: data files must end in .csv or .npz")
        if suffix == ".npz" and target is not None:
            raise UserError("--target only applies to CSV files (an npz holds its labels in y)")
        from initdash.inputs import regular_file

        regular_file(path, str(path))  # not /dev/zero, a pipe or a socket: its hash and its rows must end
        if suffix == ".csv":
            x, y, features, classes = read_csv(path, target)
        else:
            x, raw = read_npz(path)
            y, classes = encode_labels(raw, f"{path}: y")
        digest, name, synthetic = file_digest(path), path.name, False
    if len(y) < 4:
        raise UserError(f"{name}: need at least 4 rows to split into training and validation sets, got {len(y)}")
    x = standardize(x)
    train, val = split_indices(len(y), 0.3, split_seed)
    check_classes(name, y, train, val, classes, split_seed)
    f32 = np.float32
    return Dataset(name, x[train].astype(f32), y[train].astype(f32), x[val].astype(f32), y[val].astype(f32),
                   tuple(features), tuple(classes), synthetic, digest)


_LAZY = {"read_csv": "files", "read_npz": "files", "encode_labels": "files", "file_digest": "files",
         "standardize": "prepare", "split_indices": "prepare", "banknote_like": "builtin", "moons": "builtin",
         "circles": "builtin", "xor": "builtin", "spiral": "builtin"}


def __getattr__(name: str):
    """The parts of the data package, loaded on first use (they import numpy and scikit-learn)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"initdash.data.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

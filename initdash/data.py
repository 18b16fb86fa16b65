"""Data sets: built-in ones (generated, or shipped with scikit-learn), CSV and npz files; standardized per
feature over all rows, then split 70/30 with scikit-learn's train_test_split, as the lesson did.

Two classes are a sigmoid and binary cross-entropy; k >= 3 classes are k outputs, softmax and sparse
categorical cross-entropy. Labels of any kind (numbers or text) become classes 0..k-1 in sorted order.
"""

from __future__ import annotations

import csv
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from initdash.errors import UserError, opening

DEFAULT_DATA = "banknote-like"
GENERATED = ("banknote-like", "moons", "circles", "xor", "spiral")
SKLEARN_SETS = ("digits", "breast-cancer", "iris", "wine")
BUILTIN_DATA = GENERATED + SKLEARN_SETS
FILE_KINDS = (".csv", ".npz")
MAX_CLASSES = 1000
REGRESSION_DISTINCT = 20  # more distinct non-integer labels than this looks like a regression target

# Per-class statistics of the UCI banknote-authentication data (features: variance, skewness, curtosis,
# entropy of the wavelet-transformed image).
_BANKNOTE_COUNTS = (762, 610)
_BANKNOTE_MEANS = ((2.277, 4.257, 0.797, -1.148), (-1.868, -0.994, 2.148, -1.247))
_BANKNOTE_STDS = ((2.018, 5.135, 3.238, 2.124), (1.880, 5.400, 5.257, 2.069))
_BANKNOTE_FEATURES = ("variance", "skewness", "curtosis", "entropy")
_GENERATOR_SEED = 20240117  # fixed: the built-in data never changes between runs or machines
_N_2D = 1000
_CSV_BLOCK = 65536  # rows parsed at a time: memory stays bounded however long the file


@dataclass(frozen=True)
class Dataset:
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
    def in_shape(self) -> tuple[int, ...]:
        """The shape of one example: (F,) for a table, (C, H, W) for images."""
        return tuple(int(s) for s in self.x_train.shape[1:])

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
            return f"{shape[0]} feature{'' if shape[0] == 1 else 's'}"
        if len(shape) == 3 and shape[0] == 1:
            return f"{shape[1]}x{shape[2]} images"
        return "x".join(map(str, shape)) + (" images" if len(shape) == 3 else " inputs")

    def describe(self) -> str:
        """One line for headers: name, size, shape, classes (when more than two), whether it is generated."""
        kind = "synthetic, " if self.synthetic else ""
        classes = f", {self.n_classes} classes" if self.n_classes > 2 else ""
        return f"{self.name} ({kind}{len(self.y_train)}/{len(self.y_val)} train/val, {self.shape_text()}{classes})"

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


# --- built-in data --------------------------------------------------------------------------------------

def banknote_like() -> tuple[np.ndarray, np.ndarray]:
    """The default data: Gaussians with the real banknote data's per-class means and stds."""
    rng = np.random.default_rng(_GENERATOR_SEED)
    xs, ys = [], []
    for cls, count in enumerate(_BANKNOTE_COUNTS):
        xs.append(rng.normal(_BANKNOTE_MEANS[cls], _BANKNOTE_STDS[cls], size=(count, 4)))
        ys.append(np.full(count, cls))
    return np.concatenate(xs), np.concatenate(ys)


def moons() -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (scikit-learn's make_moons)."""
    from sklearn.datasets import make_moons

    return make_moons(_N_2D, noise=0.15, random_state=_GENERATOR_SEED + 1)


def circles() -> tuple[np.ndarray, np.ndarray]:
    """A small circle inside a large one (scikit-learn's make_circles)."""
    from sklearn.datasets import make_circles

    return make_circles(_N_2D, noise=0.08, factor=0.5, random_state=_GENERATOR_SEED + 2)


def xor(n: int = _N_2D) -> tuple[np.ndarray, np.ndarray]:
    """Points in a square, labelled by whether x and y have the same sign."""
    rng = np.random.default_rng(_GENERATOR_SEED + 3)
    x = rng.uniform(-1, 1, size=(n, 2))
    return x, (np.sign(x[:, 0]) != np.sign(x[:, 1])).astype(int)


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
    return x + rng.normal(0, noise * 0.5, x.shape), np.r_[np.zeros(n0, int), np.ones(n - n0, int)]


_GENERATORS = {"banknote-like": banknote_like, "moons": moons, "circles": circles, "xor": xor, "spiral": spiral}


def _sklearn_set(name: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """A data set that scikit-learn ships (no download): x, y, feature names, class names."""
    from sklearn import datasets

    loader = {"digits": datasets.load_digits, "breast-cancer": datasets.load_breast_cancer,
              "iris": datasets.load_iris, "wine": datasets.load_wine}[name]
    bunch = loader()
    if name == "digits":
        return bunch.images[:, None], bunch.target, (), tuple(str(c) for c in bunch.target_names)
    return bunch.data, bunch.target, tuple(map(str, bunch.feature_names)), tuple(map(str, bunch.target_names))


# --- files ----------------------------------------------------------------------------------------------

def file_digest(path: Path) -> str:
    """sha256 of a file's bytes: a session records it and refuses to continue on another file."""
    h = hashlib.sha256()
    with opening(str(path)), path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_csv(path: Path, target: str | None = None) -> tuple[np.ndarray, np.ndarray, tuple[str, ...],
                                                             tuple[str, ...]]:
    """A CSV with a header row: numeric features and a label column (the last, or `target`).

    Returns x (float64), the class of every row, the feature names and the class names. Parsed in blocks of
    rows, so memory stays near the size of x itself.
    """
    try:
        with opening(str(path)), path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header, label_col, features = _csv_header(path, reader, target)
            blocks: list[np.ndarray] = []
            labels: list[str] = []
            block: list[tuple[int, list[str]]] = []
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                # Keep each record's line number, so messages name the right row even after blank lines.
                block.append((reader.line_num, row))
                if len(block) == _CSV_BLOCK:
                    blocks.append(_csv_block(path, block, header, label_col, labels))
                    block = []
            if block:
                blocks.append(_csv_block(path, block, header, label_col, labels))
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text CSV file (cannot decode as UTF-8)") from None
    except csv.Error as exc:
        raise UserError(f"{path}: not a valid CSV file ({exc})") from None
    if not labels:
        raise UserError(f"{path}: has a header but no data rows")
    y, classes = encode_labels(labels, f"{path}: label column {header[label_col]!r}")
    return np.concatenate(blocks), y, features, classes


def _csv_header(path: Path, reader, target: str | None) -> tuple[list[str], int, tuple[str, ...]]:
    for row in reader:
        if any(cell.strip() for cell in row):
            header = [h.strip() for h in row]
            break
    else:
        raise UserError(f"{path}: file is empty")
    if len(header) < 2:
        raise UserError(f"{path}: need a header row with at least one feature column and a label column")
    if len(set(header)) != len(header):
        raise UserError(f"{path}: duplicate column names in the header")
    if "" in header:
        raise UserError(f"{path}: column {header.index('') + 1} of the header has no name")
    if target is None:
        label_col = len(header) - 1
    elif target in header:
        label_col = header.index(target)
    else:
        raise UserError(f"{path}: no column named {target!r} (columns: {', '.join(header)})")
    return header, label_col, tuple(h for i, h in enumerate(header) if i != label_col)


def _csv_block(path: Path, block: list[tuple[int, list[str]]], header: list[str], label_col: int,
               labels: list[str]) -> np.ndarray:
    """Parse some rows: their features as float64 (checked finite), their labels appended to `labels`."""
    width = len(header)
    for r, row in block:
        if len(row) != width:
            raise UserError(f"{path}: row {r} has {len(row)} columns, the header has {width}")
        if not row[label_col].strip():
            raise UserError(f"{path}: row {r}, column {header[label_col]!r}: the label is empty")
    labels.extend(row[label_col].strip() for _, row in block)
    cells = [row[:label_col] + row[label_col + 1:] for _, row in block]
    feature_cols = [c for c in range(width) if c != label_col]
    try:
        x = np.array(cells, dtype=np.float64)
    except ValueError:  # find the cell, and name it
        x = np.empty((len(cells), width - 1))
        for i, ((r, _), row) in enumerate(zip(block, cells)):
            for j, cell in enumerate(row):
                try:
                    x[i, j] = float(cell)
                except ValueError:
                    raise UserError(f"{path}: row {r}, column {header[feature_cols[j]]!r}: {cell.strip()!r} is not "
                                    "a number") from None
    bad = np.argwhere(~np.isfinite(x))
    if len(bad):
        i, j = bad[0]
        raise UserError(f"{path}: row {block[i][0]}, column {header[feature_cols[j]]!r}: "
                        f"{cells[i][j].strip()!r} is not a finite number")
    return x


def read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """An .npz file with arrays `x` (N, ...) of numbers and `y` (N,) of integer or text labels."""
    import zipfile

    try:
        with opening(str(path)), np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            for key in ("x", "y"):
                if key not in names:
                    raise UserError(f"{path}: no array named {key!r} (arrays: {', '.join(names) or 'none'}); "
                                    "need x (N, ...) and y (N,)")
            x, y = archive["x"], archive["y"]
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        if isinstance(exc, OSError) and not isinstance(exc, zipfile.BadZipFile) and exc.errno is not None:
            raise UserError(f"{path}: cannot read: {exc.strerror}") from None
        raise UserError(f"{path}: not an .npz file (numpy.savez writes them)") from None
    except ValueError as exc:  # object arrays need pickle, which initdash never loads
        raise UserError(f"{path}: arrays must hold numbers or text, not Python objects ({exc})".splitlines()[0]) \
            from None
    if x.dtype.kind not in "biuf":
        raise UserError(f"{path}: x must hold numbers, it holds {x.dtype}")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise UserError(f"{path}: y must be one label per example, shape (N,), got {y.shape}")
    if x.ndim == 0 or len(x) != len(y):
        raise UserError(f"{path}: x has {len(x) if x.ndim else 0} examples but y has {len(y)} labels")
    if y.dtype.kind not in "biufUS":
        raise UserError(f"{path}: y must hold integer or text labels, it holds {y.dtype}")
    x = x.reshape(len(x), 1) if x.ndim == 1 else x
    if x.ndim == 3:  # (N, H, W) images: one channel
        x = x[:, None]
    x = x.astype(np.float64)
    flat = x.reshape(len(x), -1)
    bad = np.argwhere(~np.isfinite(flat))
    if len(bad):
        what = "NaN" if np.isnan(flat[tuple(bad[0])]) else "inf"
        raise UserError(f"{path}: x[{bad[0][0]}] holds {what}: every value must be a finite number")
    return x, y


# --- labels, standardization, split ---------------------------------------------------------------------

def _canonical_label(value: str) -> str:
    """`1`, `1.0` and ` 1 ` are one class: numeric labels are compared as numbers."""
    try:
        number = float(value)
    except ValueError:
        return value
    if not math.isfinite(number):
        return value
    return str(int(number)) if number.is_integer() else str(number)


def encode_labels(values: np.ndarray | list[str], where: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels of any kind -> class indices 0..k-1 (sorted: numbers by value, text by text) and the class names."""
    values = np.asarray(values)
    if values.dtype.kind in "biuf":
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            raise UserError(f"{where}: labels must be finite numbers or text")
        uniq, index = np.unique(values, return_inverse=True)
        integral = values.dtype.kind != "f" or bool(np.all(uniq == np.round(uniq)))
        names = [str(int(u)) if integral else str(float(u)) for u in uniq]
    else:
        canonical = np.array([_canonical_label(str(v)) for v in values.tolist()])
        uniq, index = np.unique(canonical, return_inverse=True)
        numbers = [_as_number(u) for u in uniq]
        integral = all(n is not None and float(n).is_integer() for n in numbers)
        if all(n is not None for n in numbers):  # numeric text: order by value (so 0 -> 0, 1 -> 1, 10 after 9)
            order = np.argsort(np.array(numbers, dtype=float), kind="stable")
            rank = np.empty_like(order)
            rank[order] = np.arange(len(order))
            uniq, index = uniq[order], rank[index]
        else:
            integral = True  # text labels are classes, however many
        names = [str(u) for u in uniq]
    k = len(names)
    if k < 2:
        raise UserError(f"{where}: labels must have at least 2 distinct values, found {k}"
                        + (f" ({names[0]})" if names else ""))
    if not integral and k > REGRESSION_DISTINCT:
        raise UserError(f"{where}: the labels are {k} distinct non-integer numbers: this looks like regression, "
                        "which is not supported (initdash trains classifiers)")
    if k > MAX_CLASSES or (k > REGRESSION_DISTINCT and k > len(values) // 2):
        raise UserError(f"{where}: {k} distinct labels in {len(values)} rows: too many classes to learn "
                        f"(at most {MAX_CLASSES}, and fewer than one class per two rows)")
    return index.astype(np.int64), tuple(names)


def _as_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


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


def load(source: str = DEFAULT_DATA, target: str | None = None, split_seed: int = 42) -> Dataset:
    """Load a built-in data set by name or a .csv / .npz file by path; standardize; split 70/30."""
    digest, features = "", ()
    if source in BUILTIN_DATA:
        if target is not None:
            raise UserError(f"--target only applies to CSV files, not to the built-in {source!r} data")
        if source in _GENERATORS:
            x, y = _GENERATORS[source]()
            features = _BANKNOTE_FEATURES if source == "banknote-like" else ("x", "y")
            classes: tuple[str, ...] = ("0", "1")
            y = y.astype(np.int64)
        else:
            x, y, features, classes = _sklearn_set(source)
        name, synthetic = source, source in _GENERATORS
    else:
        path = Path(source).expanduser()
        suffix = path.suffix.lower()
        if suffix not in FILE_KINDS:
            if not path.exists():
                raise UserError(f"unknown data {source!r}: give a .csv or .npz file or one of "
                                f"{', '.join(BUILTIN_DATA)}")
            raise UserError(f"{path}: data files must end in .csv or .npz")
        if suffix == ".npz" and target is not None:
            raise UserError("--target only applies to CSV files (an npz holds its labels in y)")
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
    _check_classes(name, y, train, val, classes, split_seed)
    f32 = np.float32
    return Dataset(name, x[train].astype(f32), y[train].astype(f32), x[val].astype(f32), y[val].astype(f32),
                   tuple(features), tuple(classes), synthetic, digest)


def _check_classes(name: str, y: np.ndarray, train: np.ndarray, val: np.ndarray, classes: tuple[str, ...],
                   split_seed: int) -> None:
    """Every class must be in both sets: the model cannot learn, or the metric cannot measure, one that is not."""
    for part, idx in (("training", train), ("validation", val)):
        missing = sorted(set(range(len(classes))) - set(np.unique(y[idx]).tolist()))
        if missing:
            shown = ", ".join(repr(classes[k]) for k in missing[:5]) + (", ..." if len(missing) > 5 else "")
            raise UserError(f"{name}: the {part} set (split seed {split_seed}) has no row of class {shown}: "
                            f"{'the model cannot learn it' if part == 'training' else 'val accuracy cannot measure it'}"
                            " (more rows of that class, or another --split-seed)")

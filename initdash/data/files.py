"""Data files: CSV (a header row, numeric features, a label column) and npz (arrays x and y); labels of any
kind become classes 0..k-1."""

from __future__ import annotations

import csv
import hashlib
import math
from pathlib import Path

import numpy as np

from initdash.errors import UserError, first_line, opening
from initdash.inputs import bounded_lines
from initdash.limits import MAX_CSV_LINE

MAX_CLASSES = 1000
REGRESSION_DISTINCT = 20  # more distinct non-integer labels than this looks like a regression target
_CSV_BLOCK = 65536  # rows parsed at a time: memory stays bounded however long the file


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
            reader = csv.reader(bounded_lines(fh, MAX_CSV_LINE, str(path)))
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

    if path.is_file() and not zipfile.is_zipfile(path):
        raise UserError(f"{path}: not an .npz file (numpy.savez writes them)")
    try:
        with opening(str(path)), np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            for key in ("x", "y"):
                if key not in names:
                    raise UserError(f"{path}: no array named {key!r} (arrays: {', '.join(names) or 'none'}); "
                                    "need x (N, ...) and y (N,)")
            x, y = archive["x"], archive["y"]
            for key, array in (("x", x), ("y", y)):
                if not isinstance(array, np.ndarray):  # a member not written by numpy (no .npy in its name)
                    raise UserError(f"{path}: {key} is not a .npy array (numpy.savez writes them)")
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        if isinstance(exc, OSError) and not isinstance(exc, zipfile.BadZipFile) and exc.errno is not None:
            raise UserError(f"{path}: cannot read: {exc.strerror}") from None
        raise UserError(f"{path}: not an .npz file (numpy.savez writes them)") from None
    except ValueError as exc:  # object arrays need pickle, which initdash never loads; or not a .npy at all
        if "pickle" in str(exc):
            raise UserError(f"{path}: arrays must hold numbers or text, not Python objects") from None
        raise UserError(f"{path}: not a valid .npy array inside ({first_line(exc)})") from None
    if x.dtype.kind not in "biuf":
        raise UserError(f"{path}: x must hold numbers, it holds {x.dtype}")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise UserError(f"{path}: y must be one label per example, shape (N,), got {y.shape}")
    if x.ndim == 0 or len(x) != len(y):
        raise UserError(f"{path}: x has {len(x) if x.ndim else 0} examples but y has {len(y)} labels")
    if len(x) == 0:
        raise UserError(f"{path}: x and y hold no examples (0 rows)")
    if x.ndim > 1 and math.prod(x.shape[1:]) == 0:
        raise UserError(f"{path}: x has no features (shape {x.shape}): every example needs at least one value")
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

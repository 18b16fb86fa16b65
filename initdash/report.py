"""Headless output: the results table, and every epoch of every run as JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from initdash import __version__
from initdash.errors import UserError
from initdash.events import FAILED, LAYER_METRICS, METRICS
from initdash.session import Session, mean_std

CSV_COLUMNS = ("rerun", "initializer", "repeat", "seed", "epoch", *METRICS)

# mkstemp creates its file 0600; an export should get the mode any new file gets (0666 minus the umask).
# The umask can only be read by setting it, so read it once, at import, before any worker thread exists.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def runs(session: Session) -> list[dict[str, Any]]:
    """Every run of every sweep as the JSON export's `runs` list."""
    out = []
    for sweep in session.sweeps:
        for label, run in sweep.runs.items():
            for i, seed in enumerate(run.seeds):
                status = FAILED if run.state == FAILED else run.statuses[i]
                history = [] if run.state == FAILED else run.histories[i]
                out.append({"rerun": sweep.sweep_id, "initializer": label, "repeat": i, "seed": seed,
                            "status": status, "history": [dict(h) for h in history]})
    return out


def to_json(session: Session) -> str:
    """The whole session: version, every setting, every run's history."""
    doc = {"initdash": __version__, "config": {**session.config.to_dict(), "data_label": session.data_label},
           "runs": runs(session)}
    return json.dumps(doc, indent=1, allow_nan=False) + "\n"


def to_csv(session: Session) -> str:
    """Long format: one row per (rerun, initializer, repeat, epoch)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for run in runs(session):
        for h in run["history"]:
            writer.writerow([run["rerun"], run["initializer"], run["repeat"], run["seed"], h["epoch"],
                             *(repr(h[m]) for m in METRICS)])
    return buf.getvalue()


LAYER_CSV_COLUMNS = ("rerun", "initializer", "repeat", "seed", "epoch", "layer", *LAYER_METRICS)


def to_layers_csv(session: Session) -> str | None:
    """MLPs' per-layer statistics, one row per (run, epoch, hidden layer; 1 = first); None without any."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(LAYER_CSV_COLUMNS)
    rows = 0
    for run in runs(session):
        for h in run["history"]:
            if LAYER_METRICS[0] not in h:
                continue
            for layer, values in enumerate(zip(*(h[k] for k in LAYER_METRICS)), start=1):
                writer.writerow([run["rerun"], run["initializer"], run["repeat"], run["seed"], h["epoch"], layer,
                                 *("" if v is None else repr(v) for v in values)])
                rows += 1
    return buf.getvalue() if rows else None


def layers_path(path: Path) -> Path:
    """Where the per-layer CSV goes beside a CSV export: runs.csv -> runs.layers.csv."""
    return path.with_name(path.stem + ".layers.csv")


def check_out_path(path: Path) -> None:
    """Fail early (before any training) if `path` cannot be written as JSON or CSV."""
    if path.suffix.lower() not in (".json", ".csv"):
        raise UserError(f"--out {path}: the file name must end in .json or .csv")
    if path.is_dir():
        raise UserError(f"--out {path}: is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"--out {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserError(f"--out {path}: permission denied")


def write(session: Session, path: Path) -> list[Path]:
    """Write JSON or CSV (by extension) atomically: complete files or none. Returns the paths written.

    A CSV export of MLP runs comes with a second file of per-layer statistics (NAME.layers.csv).
    """
    check_out_path(path)
    if path.suffix.lower() == ".json":
        atomic_write(path, to_json(session))
        return [path]
    layers = to_layers_csv(session)
    if layers is not None:
        atomic_write(layers_path(path), layers)
    atomic_write(path, to_csv(session))
    return [path] + ([layers_path(path)] if layers is not None else [])


def atomic_write(path: Path, text: str) -> None:
    """Write through a temporary file in the same directory and rename it into place."""
    parent = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None


def _cell(values: list[float], digits: int = 4) -> str:
    if not values:
        return "-"
    mean, std = mean_std(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def results_table(session: Session) -> str:
    """Per initializer: final loss, accuracy, val loss, val accuracy (mean ± std over runs), runs, diverged."""
    sweeps = session.completed()
    header = ["initializer", "loss", "accuracy", "val_loss", "val_accuracy", "runs", "diverged", "failed"]
    rows = []
    for label in session.labels():
        runs_ = [s.runs[label] for s in sweeps if label in s.runs]
        finals = {m: [v for r in runs_ for v in r.final(m)] for m in METRICS}
        n_runs = sum(len(r.seeds) for r in runs_)
        diverged = sum(r.statuses.count("diverged") for r in runs_)
        failed = sum(len(r.seeds) for r in runs_ if r.state == FAILED)
        rows.append([label, *(_cell(finals[m]) for m in METRICS), str(n_runs), str(diverged), str(failed)])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


"""JSON and CSV exports: every epoch of every run written out (atomically), and read back as a Session."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from initdash import __version__
from initdash.errors import UserError, first_line
from initdash.events import FAILED, INTERRUPTED, LAYER_METRICS, METRICS
from initdash.export.paths import atomic_write, layers_path
from initdash.session import Session

IMPORTED_CSV = "imported-csv:"  # the data of a session imported from a CSV export, which records no settings
CSV_COLUMNS = ("sweep", "initializer", "repeat", "seed", "status", "epoch", *METRICS, "lr", "width")
LAYER_CSV_COLUMNS = ("sweep", "initializer", "repeat", "seed", "epoch", "layer", "name", *LAYER_METRICS, "lr", "width")


def runs(session: Session) -> list[dict[str, Any]]:
    """Every run of every sweep (whatever it ended as) as the JSON export's `runs` list.

    `seed` is the initializer's seed (as older versions wrote it) and `init_seed` the same; `data_seed` seeds the
    run's data order and dropout (the initializer's seed itself in the independent design).
    """
    from initdash.sweep import data_seeds

    config, out = session.config, []
    for sweep in session.sweeps:
        for label, unit in sweep.initializers.items():
            shuffles = data_seeds(config.seed, sweep.sweep_id, config.design, unit.seeds)
            for i, seed in enumerate(unit.seeds):
                # A grid's run says its cell: the initializer, learning rate and width (per-layer statistics too)
                run = {"sweep": sweep.sweep_id, "initializer": unit.initializer or label, "repeat": i,
                       "seed": seed, "init_seed": seed, "data_seed": shuffles[i],
                       "lr": unit.lr if unit.lr is not None else config.learning_rate, "width": unit.width,
                       "status": unit.run_status(i), "history": [dict(h) for h in unit.histories[i]]}
                if unit.layer_names:
                    run["layer_names"] = list(unit.layer_names)
                out.append(run)
    return out


def to_json(session: Session) -> str:
    """The whole session: version, every setting, every run's history."""
    lr = None if session.config.lrs else session.config.learning_rate  # a grid's rates are its lrs, and each run's
    config = {**session.config.to_dict(), "lr": lr, "data_label": session.data_label}
    doc = {"initdash": __version__, "config": config, "runs": runs(session)}
    return json.dumps(doc, indent=1, allow_nan=False) + "\n"


def to_csv(session: Session) -> str:
    """Long format: one row per (sweep, initializer, repeat, epoch)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for run in runs(session):
        for h in run["history"]:
            writer.writerow([run["sweep"], run["initializer"], run["repeat"], run["seed"], run["status"],
                             h["epoch"], *(repr(h[m]) for m in METRICS), repr(run["lr"]),
                             "" if run["width"] is None else run["width"]])
    return buf.getvalue()


def to_layers_csv(session: Session) -> str | None:
    """Per-layer statistics, one row per (run, epoch, layer; 1 = first in forward order); None without any."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(LAYER_CSV_COLUMNS)
    rows = 0
    for run in runs(session):
        names = run.get("layer_names", [])
        for h in run["history"]:
            if LAYER_METRICS[0] not in h:
                continue
            for layer, values in enumerate(zip(*(h[k] for k in LAYER_METRICS)), start=1):
                name = names[layer - 1] if layer <= len(names) else ""
                writer.writerow([run["sweep"], run["initializer"], run["repeat"], run["seed"], h["epoch"], layer,
                                 name, *("" if v is None else repr(v) for v in values), repr(run["lr"]),
                                 "" if run["width"] is None else run["width"]])
                rows += 1
    return buf.getvalue() if rows else None


def write(session: Session, path: Path) -> list[Path]:
    """Write JSON or CSV (by extension) atomically: complete files or none. Returns the paths written.

    A CSV export of runs with per-layer statistics comes with a second file of them (NAME.layers.csv).
    """
    if path.suffix.lower() == ".json":
        atomic_write(path, to_json(session))
        return [path]
    layers = to_layers_csv(session)
    if layers is not None:
        atomic_write(layers_path(path), layers)
    atomic_write(path, to_csv(session))
    return [path] + ([layers_path(path)] if layers is not None else [])


# --- reading exports back (this version's and older ones: `rerun` was the old name of `sweep`) ----------

def read(path: Path) -> Session:
    """A Session from an export file (JSON, or CSV with its .layers.csv sibling if present), validated whole
    (initdash.export_format) before anything is written; at most MAX_EXPORT_BYTES per file."""
    from initdash.export.paths import EXPORT_SUFFIXES
    from initdash.export_format import parse_json
    from initdash.inputs import read_limited
    from initdash.limits import MAX_EXPORT_BYTES

    if path.suffix.lower() not in EXPORT_SUFFIXES:
        raise UserError(f"{path}: an export ends in .json or .csv")
    data = read_limited(path, MAX_EXPORT_BYTES, str(path))
    if path.suffix.lower() == ".json":
        doc = parse_json(data, str(path))
        config = doc.config.model_dump(exclude={"data_label"})
        return _session(_config(config, path), doc.config.data_label or path.name, doc.runs)
    layers = layers_path(path)
    layers_text = _text(read_limited(layers, MAX_EXPORT_BYTES, str(layers)), layers) if layers.is_file() else None
    try:
        return _from_csv(_text(data, path), layers_text, path)
    except (KeyError, ValueError, TypeError, IndexError, csv.Error) as exc:
        raise UserError(f"{path}: not an initdash export ({first_line(exc)})") from None


def _text(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file") from None


def _config(settings: dict[str, Any], path: Path):
    from initdash.config import ExperimentConfig

    return ExperimentConfig.from_dict(settings, f"{path}: config: ")


def _from_csv(text: str, layers_text: str | None, path: Path) -> Session:
    from initdash.export_format import validate_runs

    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or "initializer" not in rows[0] or not ({"sweep", "rerun"} & set(rows[0])):
        raise UserError(f"{path}: not an initdash CSV export (columns sweep, initializer, repeat, seed, epoch, ...)")
    if len({r.get("lr") for r in rows}) > 1 or any(r.get("width") for r in rows):
        raise UserError(f"{path}: a CSV export of a grid (several learning rates or widths) records no settings and "
                        "cannot be imported: import its JSON export")
    runs: dict[tuple[int, str, int], dict[str, Any]] = {}
    for row in rows:
        key = (int(row.get("sweep") or row["rerun"]), row["initializer"], int(row["repeat"]))
        run = runs.setdefault(key, {"sweep": key[0], "initializer": key[1], "repeat": key[2],
                                    "seed": int(row["seed"]), "status": row.get("status", "ok"), "history": []})
        run["history"].append({"epoch": int(row["epoch"]), **{m: float(row[m]) for m in METRICS}})
    if layers_text:
        by_epoch = {(k, h["epoch"]): h for k, r in runs.items() for h in r["history"]}
        for row in csv.DictReader(io.StringIO(layers_text)):
            key = (int(row.get("sweep") or row["rerun"]), row["initializer"], int(row["repeat"]))
            entry = by_epoch.get((key, int(row["epoch"])))
            if entry is None:
                continue
            for k in LAYER_METRICS:
                entry.setdefault(k, []).append(float(row[k]) if row[k] else None)
            if row.get("name"):
                names = runs[key].setdefault("layer_names", [])
                if row["name"] not in names:
                    names.append(row["name"])
    labels = list(dict.fromkeys(r["initializer"] for r in runs.values()))
    epochs = max(h["epoch"] for r in runs.values() for h in r["history"])
    repeats = max(r["repeat"] for r in runs.values()) + 1
    settings = {"data": f"{IMPORTED_CSV}{path.name}", "initializers": labels, "epochs": max(epochs, 1),
                "repeats": repeats}
    config = _config(settings, path)
    checked = validate_runs(list(runs.values()), [s.label for s in config.initializers], config.epochs, str(path))
    return _session(config, f"{path.name} (imported)", checked)


def _session(config, data_label: str, runs: list) -> Session:
    """Validated exported runs replayed as the events their units sent, through Session.apply: statuses as
    exported, unit and sweep states as a live sweep would have reached them."""
    from initdash.initializers import parse_spec
    from initdash.session import CANCELLED, SWEEP_CANCELLED, SWEEP_INTERRUPTED, replay_sweep, unit_events

    session = Session(config, data_label)
    labels = session.labels()
    sweeps: dict[int, dict[str, list]] = {}
    from initdash import grid

    for run in sorted(runs, key=lambda r: (r.sweep, r.repeat)):
        label = run.initializer if run.initializer in labels else parse_spec(run.initializer).label
        if grid.is_grid(config):  # a grid's run goes to its cell (check_runs made sure it has one)
            label = grid.cell_key(config, label, run.lr if run.lr is not None else config.learning_rate, run.width)
        sweeps.setdefault(run.sweep, {}).setdefault(label, []).append(run)
    for sweep_id, units in sorted(sweeps.items()):
        events, cancelled = [], False
        for label in sorted(units, key=labels.index):
            unit = units[label]
            statuses = [str(r.status) for r in unit]
            failed = all(s == FAILED for s in statuses)
            stopped = any(s in (CANCELLED, INTERRUPTED) for s in statuses)
            cancelled = cancelled or CANCELLED in statuses
            events += unit_events(sweep_id, label, [r.seed for r in unit], statuses,
                                  [[h.row() for h in r.history] for r in unit], unit[0].layer_names,
                                  error="failed (imported)" if failed else "", ended=not stopped)
        replay_sweep(session, sweep_id, events, SWEEP_CANCELLED if cancelled else SWEEP_INTERRUPTED)
    return session

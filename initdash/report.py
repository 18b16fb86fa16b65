"""Headless output: the results table, and every epoch of every run as JSON or CSV (written atomically)."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from initdash import __version__
from initdash.errors import UserError, first_line
from initdash.events import DIVERGED, FAILED, LAYER_METRICS, METRICS
from initdash.session import Session
from initdash.tables import mean_pm_std, text_table

IMPORTED_CSV = "imported-csv:"  # the data of a session imported from a CSV export, which records no settings
CSV_COLUMNS = ("sweep", "initializer", "repeat", "seed", "status", "epoch", *METRICS)
LAYER_CSV_COLUMNS = ("sweep", "initializer", "repeat", "seed", "epoch", "layer", "name", *LAYER_METRICS)


def runs(session: Session) -> list[dict[str, Any]]:
    """Every run of every sweep (whatever it ended as) as the JSON export's `runs` list.

    `seed` is the initializer's seed (as older versions wrote it) and `init_seed` the same; `data_seed` seeds the
    run's data order and dropout (the initializer's seed itself in the independent design).
    """
    from initdash.sweep import data_seeds

    config, out = session.config, []
    for sweep in session.sweeps:
        for label, group in sweep.initializers.items():
            shuffles = data_seeds(config.seed, sweep.sweep_id, config.design, group.seeds)
            for i, seed in enumerate(group.seeds):
                run = {"sweep": sweep.sweep_id, "initializer": label, "repeat": i, "seed": seed, "init_seed": seed,
                       "data_seed": shuffles[i], "status": group.run_status(i),
                       "history": [dict(h) for h in group.histories[i]]}
                if group.layer_names:
                    run["layer_names"] = list(group.layer_names)
                out.append(run)
    return out


def to_json(session: Session) -> str:
    """The whole session: version, every setting, every run's history."""
    config = {**session.config.to_dict(), "lr": session.config.learning_rate, "data_label": session.data_label}
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
                             h["epoch"], *(repr(h[m]) for m in METRICS)])
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
                                 name, *("" if v is None else repr(v) for v in values)])
                rows += 1
    return buf.getvalue() if rows else None


def layers_path(path: Path) -> Path:
    """Where the per-layer CSV goes beside a CSV export: runs.csv -> runs.layers.csv."""
    return path.with_name(path.stem + ".layers.csv")


def output_paths(path: Path) -> list[Path]:
    """Every file an export to `path` may write (a CSV brings its per-layer sibling)."""
    return [path] + ([layers_path(path)] if path.suffix.lower() == ".csv" else [])


def check_out_path(path: Path, inputs: dict[str, Path | None] | None = None) -> None:
    """Fail early (before any training) if `path` cannot be written as JSON or CSV, or would overwrite an input.

    `inputs` names the files the run reads (data, model, config, history database): no export may land on one.
    """
    if path.suffix.lower() not in (".json", ".csv"):
        raise UserError(f"--out {path}: the file name must end in .json or .csv")
    for target in output_paths(path):
        if target.is_dir():
            raise UserError(f"--out {target}: is a directory")
        parent = target.parent if str(target.parent) else Path(".")
        if not parent.is_dir():
            raise UserError(f"--out {target}: directory {parent} does not exist")
        if not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
            raise UserError(f"--out {target}: permission denied")
        for what, source in (inputs or {}).items():
            if source is not None and _same_file(target, source):
                raise UserError(f"--out {path}: {target} is the {what} ({source}); choose another file name")


def _same_file(a: Path, b: Path) -> bool:
    """True when a and b name one file (by path, or by inode where both exist)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.expanduser().resolve() == b.expanduser().resolve()


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


def _umask() -> int:
    """The process's umask, read without changing it where Linux tells it (setting it races other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: Path, text: str) -> None:
    """Write through a temporary file in the same directory and rename it into place."""
    parent = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        # mkstemp creates its file 0600; an export gets the mode any new file gets (0666 minus the umask).
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None


def results_table(session: Session) -> str:
    """Per initializer: final loss, accuracy, val loss, val accuracy (mean ± std over runs), runs, diverged."""
    sweeps = session.completed()
    rows = []
    for label in session.labels():
        groups = [s.initializers[label] for s in sweeps if label in s.initializers]
        finals = {m: [v for g in groups for v in g.final(m)] for m in METRICS}
        n_runs = sum(len(g.seeds) for g in groups)
        diverged = sum(g.statuses.count(DIVERGED) for g in groups if g.state != FAILED)
        failed = sum(len(g.seeds) for g in groups if g.state == FAILED)
        rows.append([label, *(mean_pm_std(finals[m]) for m in METRICS), n_runs, diverged, failed])
    return text_table(["initializer", *METRICS, "runs", "diverged", "failed"], rows)


def results_text(session: Session, metric: str = "val_accuracy") -> str:
    """What headless prints at the end: the results table, then (with more than one run of an initializer) the
    statistics across runs with the verdict sentence."""
    from initdash import stats

    text = results_table(session)
    if most_runs(session) > 1:
        text += "\n\n" + stats.stats_table(session, metric)
    return text


def most_runs(session: Session) -> int:
    """The largest number of runs (over complete sweeps) that any initializer has."""
    counts: dict[str, int] = {}
    for sweep in session.completed():
        for label, group in sweep.initializers.items():
            counts[label] = counts.get(label, 0) + len(group.seeds)
    return max(counts.values(), default=0)


# --- reading exports back (this version's and older ones: `rerun` was the old name of `sweep`) ----------

def read(path: Path) -> Session:
    """A Session from an export file (JSON, or CSV with its .layers.csv sibling if present)."""
    from initdash.errors import opening

    if path.suffix.lower() not in (".json", ".csv"):
        raise UserError(f"{path}: an export ends in .json or .csv")
    try:
        with opening(str(path)):
            text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file") from None
    try:
        if path.suffix.lower() == ".json":
            return _from_json(text, path)
        layers = layers_path(path)
        return _from_csv(text, layers.read_text(encoding="utf-8") if layers.is_file() else None, path)
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise UserError(f"{path}: not an initdash export ({first_line(exc)})") from None


def _from_json(text: str, path: Path) -> Session:
    from initdash.config import ExperimentConfig

    doc = json.loads(text)
    if not isinstance(doc, dict) or "runs" not in doc or "config" not in doc:
        raise UserError(f"{path}: not an initdash export (no `config` and `runs`)")
    settings = dict(doc["config"])
    data_label = settings.pop("data_label", path.name)
    config = ExperimentConfig.from_dict(settings)
    runs = [{**r, "sweep": r.get("sweep", r.get("rerun"))} for r in doc["runs"]]
    return _session(config, data_label, runs)


def _from_csv(text: str, layers_text: str | None, path: Path) -> Session:
    from initdash.config import INDEPENDENT, ExperimentConfig
    from initdash.initializers import parse_spec

    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or "initializer" not in rows[0] or not ({"sweep", "rerun"} & set(rows[0])):
        raise UserError(f"{path}: not an initdash CSV export (columns sweep, initializer, repeat, seed, epoch, ...)")
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
    # A CSV records no design: its runs are compared as independent ones, which never claims more than they show.
    config = ExperimentConfig(data=f"{IMPORTED_CSV}{path.name}",
                              initializers=tuple(parse_spec(label) for label in labels), epochs=max(epochs, 1),
                              repeats=repeats, design=INDEPENDENT)
    return _session(config, f"{path.name} (imported)", list(runs.values()))


def _session(config, data_label: str, runs: list[dict[str, Any]]) -> Session:
    """Rebuild sweeps from exported runs: statuses as exported, worker and sweep states from them."""
    from initdash.session import CANCELLED, DONE, INTERRUPTED, SweepRecord, UnitRecord

    session = Session(config, data_label)
    labels = session.labels()
    sweeps: dict[int, dict[str, list[dict[str, Any]]]] = {}
    for run in sorted(runs, key=lambda r: (int(r["sweep"]), int(r["repeat"]))):
        sweeps.setdefault(int(run["sweep"]), {}).setdefault(run["initializer"], []).append(run)
    for sweep_id, groups in sorted(sweeps.items()):
        record = SweepRecord(sweep_id, {})
        for label in sorted(groups, key=lambda k: labels.index(k) if k in labels else len(labels)):
            group = groups[label]
            statuses = [str(r["status"]) for r in group]
            state = (FAILED if all(s == FAILED for s in statuses) else CANCELLED if CANCELLED in statuses
                     else INTERRUPTED if INTERRUPTED in statuses else DONE)
            histories = [[dict(h) for h in r["history"]] for r in group]
            record.initializers[label] = UnitRecord(
                label, tuple(int(r.get("init_seed", r["seed"])) for r in group), state,
                max((int(h[-1]["epoch"]) for h in histories if h), default=-1), statuses, histories,
                "failed (imported)" if state == FAILED else "", tuple(group[0].get("layer_names", ())))
        states = {g.state for g in record.initializers.values()}
        record.state = ("cancelled" if CANCELLED in states else "interrupted" if INTERRUPTED in states
                        else "complete")
        session.sweeps.append(record)
    return session

"""The history commands: `initdash history`, `initdash export ID`, `initdash import FILE`; and `initdash report`.

Readers only read: `history` and `export` open the database read-only, never create, convert or lock it.
"""

from __future__ import annotations

import json
import shutil
import sys
from datetime import datetime
from pathlib import Path

from initdash import exit_codes
from initdash.arguments import Parser, add_db_option, session_id
from initdash.errors import UserError
from initdash.text import safe


def history_main(argv: list[str]) -> int:
    """`initdash history`: the stored sessions as a table, or JSON."""
    from initdash.store import default_path, open_reader

    p = Parser(prog="initdash history", description="List the sessions stored in the history database.")
    p.add_argument("--json", action="store_true", help="a JSON list of objects (with an `id` key) instead")
    add_db_option(p)
    args = p.parse_args(argv)
    path = args.db or default_path()
    infos = []
    if path.exists():
        with open_reader(path) as reader:
            infos = reader.sessions()
    elif args.db is not None:
        raise UserError(f"no history database at {path}")
    if args.json:
        print(json.dumps([i.to_dict() for i in infos], indent=1))
        return exit_codes.OK
    if not infos:
        print(safe(f"no sessions stored yet in {path}"))
        return exit_codes.OK
    print(history_table(infos, shutil.get_terminal_size().columns))
    return exit_codes.OK


def history_table(infos: list, width: int = 200) -> str:
    """One row per stored session: id, date, data, model, optimizer, epochs, initializers, sweeps (and interrupted
    ones), runs, and the best initializer by mean final val_accuracy; the initializers as a count when the
    names would not fit `width`."""
    from initdash.tables import text_table

    def table(count_only: bool) -> str:
        rows = []
        for i in infos:
            when = datetime.fromisoformat(i.created).astimezone().strftime("%Y-%m-%d %H:%M")
            sweeps = str(i.sweeps) + (f" +{i.interrupted} interrupted" if i.interrupted else "")
            inits = str(len(i.initializers)) if count_only else ",".join(i.initializers[:3]) + (
                f",+{len(i.initializers) - 3}" if len(i.initializers) > 3 else "")
            data = i.data.split(" (")[0] + (" (imported)" if i.imported else "")  # the name; --json has it all
            rows.append([str(i.id), when, data, i.model, i.optimizer, str(i.epochs or "?"), inits, sweeps,
                         str(i.runs), _short(i.best, i.initializers) if i.best else "-"])
        header = ["id", "date", "data", "model", "optimizer", "epochs", "initializers", "sweeps", "runs",
                  "best (val acc)"]
        return text_table(header, rows, left=(1, 2, 3, 4, 6, 9))

    text = table(False)
    return text if max(map(len, text.splitlines())) <= width else table(True)


def export_main(argv: list[str]) -> int:
    """`initdash export ID --out FILE`: a stored session in the JSON or CSV format of --out, or as TensorBoard
    event files (--format tensorboard --out DIR)."""
    from initdash.export import json_csv, paths, tensorboard
    from initdash.store import default_path, open_reader

    p = Parser(prog="initdash export", description="Write a stored session as JSON, CSV or TensorBoard runs.")
    p.add_argument("id", type=session_id, metavar="ID", help="session id (see `initdash history`)")
    p.add_argument("--out", type=Path, required=True, metavar="FILE.json|FILE.csv|DIR", help="where to write it")
    p.add_argument("--format", choices=("json", "csv", "tensorboard"),
                   help="default: by --out's extension; tensorboard: event files in the directory --out "
                        "(new or empty; needs initdash[tensorboard])")
    p.add_argument("--force", action="store_true", help="overwrite --out (a JSON or CSV file) if it exists")
    add_db_option(p)
    args = p.parse_args(argv)
    path = args.db or default_path()
    if args.format == "tensorboard":
        tensorboard.require()
        paths.check_out_dir(args.out, "--out", empty=True)
    else:
        paths.check_out_path(args.out, {"history database": path})
        if args.format is not None and args.out.suffix.lower() != f".{args.format}":
            raise UserError(f"--format {args.format} writes FILE.{args.format}, not {args.out}")
    if not path.exists():
        raise UserError(f"no history database at {path}")
    with open_reader(path) as reader:  # (the database's own problems are said first)
        there = [str(t) for t in paths.output_paths(args.out) if t.exists()] if args.format != "tensorboard" else []
        if there and not args.force:
            raise UserError(f"--out {' and '.join(there)} already exists (add --force to overwrite)")
        session = reader.load_session(args.id)
    if args.format == "tensorboard":
        print(safe(f"wrote {tensorboard.write(session, args.out)} (tensorboard --logdir {args.out})"), file=sys.stderr)
        return exit_codes.OK
    written = json_csv.write(session, args.out)
    print(safe(f"wrote {' and '.join(map(str, written))}"), file=sys.stderr)
    return exit_codes.OK


def import_main(argv: list[str]) -> int:
    """`initdash import FILE`: an export (JSON or CSV, of this or an older initdash) as a new stored session."""
    from initdash.export import json_csv
    from initdash.store import HistoryWriter

    p = Parser(prog="initdash import", description="Store an exported session (JSON or CSV) as a new session.")
    p.add_argument("file", type=Path, metavar="FILE.json|FILE.csv", help="a file written by --out, e or export")
    add_db_option(p)
    args = p.parse_args(argv)
    session = json_csv.read(args.file)  # validated whole before the database is opened: a bad file creates nothing
    with HistoryWriter.open(args.db) as store:
        session_id = store.import_session(session)  # one transaction: all of it or nothing
        print(safe(f"imported {args.file} as session {session_id} in {store.path} "
                   f"({len(session.completed())} complete sweeps): results only, nothing in the file is run or "
                   "contacted"), file=sys.stderr)
    return exit_codes.OK


def _short(label: str, labels: tuple[str, ...] | list[str]) -> str:
    """The best initializer as the dashboard names it: short and unique among its session's (--json has it all)."""
    from initdash.initializers import parse_spec
    from initdash.labels import short_labels

    try:
        return short_labels([parse_spec(x) for x in labels]).get(label, label)
    except Exception:  # a label this version cannot parse (an old or imported session): shown whole
        return label

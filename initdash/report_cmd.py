"""`initdash report ID|FILE.json|DIR`: the statistics of a stored session or of an export file, in the very
words headless prints at the end of a run (its results table, the statistics table and the verdict sentence),
or, for a TensorBoard log directory (any tool's), initdash's statistics per group of its runs.

What the argument names picks a reader (READERS): a session id reads the history database (read-only), a
.json or .csv file reads an export (this version's or an older one), a directory its event files. Each reader
turns the parsed arguments into the text to print.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from initdash import exit_codes
from initdash.arguments import Parser, add_db_option, session_id
from initdash.errors import UserError
from initdash.events import METRICS
from initdash.export.paths import EXPORT_SUFFIXES

SourceKind = Literal["session", "export", "directory"]
SESSION: SourceKind = "session"
EXPORT: SourceKind = "export"
DIRECTORY: SourceKind = "directory"


def build_parser() -> argparse.ArgumentParser:
    """The options of `initdash report`."""
    from initdash.export.tensorboard_report import DEFAULT_GROUP

    p = Parser(prog="initdash report",
               description="Print the statistics of a stored session or of an export file, as headless prints them, "
                           "or per group of the TensorBoard runs under a directory (any tool's).")
    p.add_argument("source", metavar="ID|FILE.json|DIR",
                   help="a session id (see `initdash history`), a file written by --out, e or export (.json, .csv), "
                        "or a TensorBoard log directory")
    p.add_argument("--metric", default="val_accuracy", metavar="NAME",
                   help=f"the final metric the statistics are about: {', '.join(METRICS)} (default val_accuracy, "
                        "as headless); for a directory, any scalar tag")
    t = p.add_argument_group("a TensorBoard directory")
    t.add_argument("--group-by", metavar="HPARAM",
                   help=f"an HParam, or NAME=VALUE in the run directories' names (default {DEFAULT_GROUP})")
    t.add_argument("--better", choices=("lower", "higher"),
                   help="which way the metric is better (default: lower for losses and errors, else higher)")
    add_db_option(p)
    return p


def report_main(argv: list[str]) -> int:
    """`initdash report ID|FILE.json`: print the statistics; a bad id or file is one line and exit code 2."""
    args = build_parser().parse_args(argv)
    kind = source_kind(args.source)
    if kind == DIRECTORY:
        from initdash.export.tensorboard_report import DEFAULT_GROUP, report_directory

        return report_directory(Path(args.source).expanduser(), args.group_by or DEFAULT_GROUP, args.metric,
                                args.better)
    if args.metric not in METRICS:
        raise UserError(f"--metric {args.metric!r}: a session or an export has {', '.join(METRICS)}")
    given = [flag for flag, value in (("--group-by", args.group_by), ("--better", args.better)) if value]
    if given:  # a session's or an export's groups are its initializers, and its metrics say their direction
        what = "a stored session" if kind == SESSION else "an export"
        raise UserError(f"{' and '.join(given)}: for a TensorBoard directory; {args.source} is {what}")
    print(READERS[kind](args), flush=True)
    return exit_codes.OK


def source_kind(text: str) -> SourceKind:
    """What the argument names: a directory, an export file (an existing file, or a .json/.csv name), a session id."""
    path = Path(text).expanduser()
    if path.is_dir():
        return DIRECTORY
    if path.is_file() or path.suffix.lower() in EXPORT_SUFFIXES:
        return EXPORT
    if text.strip().isdigit():
        return SESSION
    raise UserError(f"{text!r} is neither a session id (a whole number) nor an export file "
                    f"({', '.join(EXPORT_SUFFIXES)})")


def _stored(args: argparse.Namespace) -> str:
    """A session of the history database, opened read-only."""
    from initdash import report
    from initdash.store import default_path, open_reader

    try:
        sid = session_id(args.source)
    except argparse.ArgumentTypeError as exc:
        raise UserError(str(exc)) from None
    path = args.db or default_path()
    if not path.exists():
        raise UserError(f"no history database at {path}")
    with open_reader(path) as reader:
        session = reader.load_session(sid)
    return report.results_text(session, args.metric)


def _exported(args: argparse.Namespace) -> str:
    """An export file: read and validated as `initdash import` reads it, stored nowhere."""
    from initdash import report
    from initdash.export import json_csv

    return report.results_text(json_csv.read(Path(args.source).expanduser()), args.metric)


READERS: dict[SourceKind, Callable[[argparse.Namespace], str]] = {SESSION: _stored, EXPORT: _exported}
# (a DIRECTORY is read by initdash.export.tensorboard_report, which prints its own table per group)

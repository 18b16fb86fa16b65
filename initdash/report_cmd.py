"""`initdash report ID|FILE.json`: the statistics of a stored session or of an export file, in the very words
headless prints at the end of a run (its results table, the statistics table and the verdict sentence).

What the argument names picks a reader (READERS): a session id reads the history database (read-only), a
.json or .csv file reads an export (this version's or an older one). Each reader turns the parsed arguments
into the text to print, so a reader of another kind of source (a directory) is one more entry.
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

SourceKind = Literal["session", "export", "directory"]
SESSION: SourceKind = "session"
EXPORT: SourceKind = "export"
DIRECTORY: SourceKind = "directory"
EXPORT_SUFFIXES = (".json", ".csv")


def build_parser() -> argparse.ArgumentParser:
    """The options of `initdash report`."""
    p = Parser(prog="initdash report",
               description="Print the statistics of a stored session or of an export file, as headless prints them.")
    p.add_argument("source", metavar="ID|FILE.json",
                   help="a session id (see `initdash history`) or a file written by --out, e or export (.json, .csv)")
    p.add_argument("--metric", default="val_accuracy", choices=METRICS,
                   help="the final metric the statistics are about (default val_accuracy, as headless)")
    add_db_option(p)
    return p


def report_main(argv: list[str]) -> int:
    """`initdash report ID|FILE.json`: print the statistics; a bad id or file is one line and exit code 2."""
    args = build_parser().parse_args(argv)
    kind = source_kind(args.source)
    reader = READERS.get(kind)
    if reader is None:
        raise UserError(f"{args.source} is a {kind}: `initdash report` reads a session id or an export file "
                        f"({', '.join(EXPORT_SUFFIXES)})")
    print(reader(args), flush=True)
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

    return report.results_text(report.read(Path(args.source).expanduser()), args.metric)


READERS: dict[SourceKind, Callable[[argparse.Namespace], str]] = {SESSION: _stored, EXPORT: _exported}

"""Reading the files a user names, bounded: a config, an export, a data CSV's lines. A file that never ends
(/dev/zero, a pipe that keeps writing) or is far too large is one line and exit 2, never memory run out."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from initdash.errors import UserError, opening


def size_words(n: int) -> str:
    """`1 MiB`, `256 MiB`, `16 KiB`: a limit as a person reads it."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} bytes"


def read_limited(path: Path, limit: int, label: str) -> bytes:
    """The bytes of `path`, at most `limit` of them: a larger (or endless) file is a UserError that says the
    limit. Read in one bounded call, so /dev/zero costs `limit` bytes at most."""
    with opening(label), _open_not_waiting(path, label) as fh:
        info = os.fstat(fh.fileno())
        if stat.S_ISREG(info.st_mode) and info.st_size > limit:
            raise UserError(f"{label}: {info.st_size:,} bytes is larger than the {size_words(limit)} such a file "
                            "may have")
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise UserError(f"{label}: larger than the {size_words(limit)} such a file may have (or it never ends)")
    return data


def _open_not_waiting(path: Path, label: str) -> BinaryIO:
    """`path` opened for reading without waiting: opening a FIFO waits for a writer that may never come (a
    hostile `x.json` hung import and report), so a FIFO or a socket is refused; a device stays bounded by the
    caller's limit."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    mode = os.fstat(fd).st_mode
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        os.close(fd)
        raise UserError(f"{label}: a pipe or socket, not a file (reading it waits for a writer)")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def regular_file(path: Path, label: str) -> None:
    """Refuse a path that is not a regular file (a device such as /dev/zero, a pipe, a socket, a directory)."""
    with opening(label):
        mode = path.stat().st_mode
    if stat.S_ISDIR(mode):
        raise UserError(f"{label}: is a directory")
    if not stat.S_ISREG(mode):
        raise UserError(f"{label}: not a regular file (a device, pipe or socket cannot be one)")


def bounded_lines(fh: TextIO, limit: int, label: str) -> Iterator[str]:
    """The lines of a text file, each at most `limit` characters: a longer one (a file without line ends) is a
    UserError, found after reading `limit` characters, not the whole file."""
    while True:
        line = fh.readline(limit + 1)
        if not line:
            return
        if len(line) > limit and not line.endswith("\n"):
            raise UserError(f"{label}: a line longer than {limit:,} characters (is it a CSV file?)")
        yield line

"""Where exports go: output-path checks before any training, and atomic writes (complete files or none)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from initdash.errors import UserError

EXPORT_SUFFIXES = (".json", ".csv")  # what an export file's name ends in


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
    if path.suffix.lower() not in EXPORT_SUFFIXES:
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


def new_mode(mode: int) -> int:
    """The mode a new file or directory asking for `mode` gets: `mode` less the process's umask."""
    return mode & ~_umask()


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
        os.chmod(tmp, new_mode(0o666))
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None


def check_out_dir(path: Path, flag: str, empty: bool) -> None:
    """Fail early (before any training) if `path` cannot take event files: it is a file, or (with `empty`) a
    directory with something in it, or a place this process cannot write."""
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {path}: is a file; TensorBoard writes a directory")
    if path.is_dir():
        if empty and any(path.iterdir()):
            raise UserError(f"{flag} {path}: not empty (an export goes into a new or empty directory)")
        if not os.access(path, os.W_OK | os.X_OK):
            raise UserError(f"{flag} {path}: permission denied")
        if not empty:
            return
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"{flag} {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {path}: permission denied")

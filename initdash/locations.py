"""Where initdash keeps things on this platform (platformdirs), and where its stylesheet lives."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import platformdirs

APP = "initdash"


def log_file() -> Path:
    """The log with full tracebacks of failed workers."""
    return Path(platformdirs.user_state_dir(APP)) / "initdash.log"


def data_dir() -> Path:
    """Where the history database lives by default."""
    return Path(platformdirs.user_data_dir(APP))


def stylesheet() -> Path:
    """assets/initdash.tcss: inside the installed package, or beside it in a source checkout."""
    packaged = resources.files("initdash") / "assets" / "initdash.tcss"
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "assets" / "initdash.tcss"

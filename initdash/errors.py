"""The one exception type that means 'the user asked for something we cannot do'."""

from collections.abc import Iterator
from contextlib import contextmanager


def first_line(exc: BaseException) -> str:
    """`Type: first line of the message` (the type alone when there is no message): errors said in one line."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}".splitlines()[0] if text.strip() else type(exc).__name__


class UserError(Exception):
    """A bad input: shown as one line on stderr, exit code 2, never a traceback."""


@contextmanager
def opening(label: str) -> Iterator[None]:
    """Turn the errors of opening a file the user named into one-line UserErrors that start with `label`."""
    try:
        yield
    except FileNotFoundError:
        raise UserError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{label}: is a directory") from None
    except PermissionError:
        raise UserError(f"{label}: permission denied") from None


def fails_only_its_work(exc: BaseException) -> bool:
    """True for what a user's code may raise that fails only the work it was doing (that unit, that check):
    any exception, SystemExit, even KeyboardInterrupt raised on a worker thread (Ctrl-C reaches the main thread
    only). False for Ctrl-C on the main thread, a generator being closed and initdash's own stop signals."""
    if isinstance(exc, (GeneratorExit, Interrupted)):
        return False
    if isinstance(exc, KeyboardInterrupt):
        import threading

        return threading.current_thread() is not threading.main_thread()
    return True


def said(exc: BaseException) -> str:
    """first_line, with SystemExit said as the call it was (`sys.exit(3)`): its bare text is only the code."""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})"
    return first_line(exc)


class Interrupted(BaseException):
    """A signal (SIGTERM, SIGHUP) asked initdash to stop: handled like Ctrl-C, with its own exit code."""

    def __init__(self, signum: int) -> None:
        import signal

        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(f"stopped by {self.name}")

    @property
    def exit_code(self) -> int:
        """128 + the signal's number, as shells report it (143 for SIGTERM)."""
        return 128 + self.signum

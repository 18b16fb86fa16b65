"""Run a user's code once, before anything trains, in a forked child process: whatever it does to its process
(`os._exit`, a signal, a segfault in an extension) ends the child, not initdash, and is said in one line.

Training already runs user code in worker processes (executors/processes.py); the checks before it (building
the model once, running a user's initializer once) used to run in initdash's own process, where `os._exit(7)`
in a model's `forward` ended initdash with exit code 7 and no word. Where the platform cannot fork, the code
runs here as before.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any, TypeVar

from initdash.errors import UserError, first_line

T = TypeVar("T")


def forks() -> bool:
    """Whether a child process can start as a fork of this one (Linux): no re-import, no pickled code."""
    import multiprocessing
    import sys

    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


def ended_how(code: int | None) -> str:
    """How a child process ended, from its exit code (negative: the signal that killed it)."""
    return f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"


def in_child(what: str, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` run in a forked child; its result, or its exception raised here again (as RuntimeError with
    its first line when it cannot be pickled); a child that ends without an answer is a UserError naming `what`."""
    import multiprocessing

    if not forks():
        return fn(*args)
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(send, fn, args), daemon=True, name="initdash-check")
    child.start()
    send.close()
    try:
        try:
            kind, value = receive.recv()
        except EOFError:  # the child ended without a word: os._exit, a signal, a crash
            child.join(5)
            raise UserError(f"{what}: it ended the process that checked it ({ended_how(child.exitcode)}) before "
                            "answering") from None
    finally:
        receive.close()
        if child.is_alive():
            child.kill()
        child.join(5)
    if kind == "raise":
        raise value
    return value


def _child(send: Any, fn: Callable[..., Any], args: tuple) -> None:
    import os

    try:
        answer: tuple[str, Any] = ("return", fn(*args))
    except BaseException as exc:  # sent back whole, so the parent says it as it would have in one process
        answer = ("raise", exc)
    try:
        send.send(answer)
    except (pickle.PicklingError, TypeError, AttributeError):  # an exception (or result) that does not pickle
        kind, value = answer
        send.send(("raise", value if isinstance(value, UserError) else RuntimeError(first_line(value))))
    finally:
        send.close()
        os._exit(0)  # no atexit handlers, no flushing of the parent's buffers twice

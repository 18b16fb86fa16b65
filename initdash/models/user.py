"""A user's own model: `FILE.py:NAME` or `package.module:NAME`, NAME a callable that returns a fresh
torch.nn.Module; and the loading it shares with a user's initializer (initializers/user.py). The file runs as
Python code, with the rights of whoever runs initdash.

The file's text travels with the spec (ModelSpec.source, InitSpec.source), so another process (a Ray worker
on another machine) rebuilds it without the file. Every failure is one line (UserError); tracebacks go to the log.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import threading
import traceback
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from initdash.errors import UserError, fails_only_its_work, opening, said
from initdash.models.spec import ModelSpec, digest

_LOCK = threading.Lock()
_MODULES: dict[tuple[str, str], types.ModuleType] = {}  # (target, digest) -> the executed module


def split_target(text: str, flag: str) -> tuple[str, str]:
    """`path/f.py:NAME` -> ('path/f.py', 'NAME'); `pkg.mod:NAME` -> ('pkg.mod', 'NAME')."""
    target, _, attr = text.rpartition(":")
    if not target or not attr:
        raise UserError(f"{flag} {text!r}: expected FILE.py:NAME or package.module:NAME")
    return target, attr


def split(spec: ModelSpec) -> tuple[str, str]:
    """`path/mynet.py:build` -> ('path/mynet.py', 'build'); `pkg.mod:build` -> ('pkg.mod', 'build')."""
    return split_target(spec.name, "--model")


def find_source(target: str) -> Path | None:
    """The file that holds `target`, a FILE.py or a package.module (its module's file), if there is one."""
    if target.endswith(".py"):
        return Path(target)
    try:
        found = importlib.util.find_spec(target)
    except (ImportError, ValueError):
        return None
    return Path(found.origin) if found is not None and found.origin not in (None, "built-in", "frozen") else None


def source_path(spec: ModelSpec) -> Path | None:
    """The file that holds a user's model (the module's file for package.module:NAME); None for built-ins."""
    return None if spec.builtin else find_source(split(spec)[0])


def read_source(target: str, what: str, expect: str | None = None) -> str:
    """The text of a user's `what` (model, initializer) file or module; with `expect`, refuse one whose hash
    differs (--open)."""
    path = find_source(target)
    label = f"{what} file {target}" if target.endswith(".py") else f"{what} module {target}"
    if path is None:
        if target.endswith(".py"):
            raise UserError(f"{label}: no such file")
        try:
            found = importlib.util.find_spec(target) is not None
        except (ImportError, ValueError):
            found = False
        if found:
            raise UserError(f"{label}: has no Python source file, which a session records (use FILE.py:NAME)")
        raise UserError(f"{label}: cannot be found (is it installed, or on PYTHONPATH?)")
    from initdash.inputs import regular_file

    regular_file(path, label)  # a FIFO named f.py: reading it waited forever for a writer
    try:
        with opening(label):
            text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{label}: not Python source (cannot decode it as UTF-8 text)") from None
    if expect and digest(text) != expect:
        raise UserError(f"{label} changed since the session was recorded (content hash differs): start a new "
                        "session instead")
    return text


def attach_source(spec: ModelSpec, expect: str | None = None) -> ModelSpec:
    """The spec with its file's text and hash; with `expect`, refuse a file whose hash differs (--open)."""
    if spec.builtin:
        return spec
    return spec.with_source(read_source(split(spec)[0], "model", expect))


def traceback_note(text: str) -> str:
    from initdash.failures import log_text

    where = log_text(text)
    return f" (traceback in {where})" if where else ""


@contextmanager
def users_code(who: str, log_title: str, after: str = "") -> Iterator[None]:
    """Run a user's code: whatever it raises, sys.exit included, becomes one UserError (`who raised ERROR`, or
    `who called sys.exit(N)`, then `after`), its traceback in the log; Ctrl-C stays Ctrl-C, and a UserError
    (initdash's own words) passes through."""
    try:
        yield
    except UserError:
        raise
    except BaseException as exc:
        if not fails_only_its_work(exc):
            raise
        verb = "" if isinstance(exc, SystemExit) else "raised "
        raise UserError(f"{who} {verb}{said(exc)}{after}"
                        + traceback_note(f"{log_title}:\n{traceback.format_exc()}")) from None


def load_module(target: str, source: str | None, text_digest: str, what: str) -> types.ModuleType:
    """The executed file (or imported module) of a user's `what`, once per content; `source` (the text that
    travelled with the spec) stands in for a module this process cannot import, or for the file."""
    key = (target, text_digest)
    with _LOCK:
        if key in _MODULES:
            return _MODULES[key]
        if not target.endswith(".py"):
            try:
                module = importlib.import_module(target)
            except ImportError:
                if source is None:
                    raise
                module = _execute(target, source, f"initdash_{what}_{text_digest[:12]}")
            except BaseException:  # the module's own code failed while importing
                with users_code(f"{what} module {target}", f"{what} module {target}", " while importing"):
                    raise
        else:
            if source is None:
                source = read_source(target, what)
                text_digest = digest(source)
            module = _execute(target, source, f"initdash_{what}_{text_digest[:12]}")
        _MODULES[key] = module
        return module


def _execute(filename: str, source: str, name: str) -> types.ModuleType:
    """Run a user file's text as a fresh module (its folder first on sys.path, for its own imports)."""
    short = Path(filename).name
    try:
        code = compile(source, filename, "exec")
    except SyntaxError as exc:
        if exc.lineno is None:  # e.g. null bytes: a binary file
            raise UserError(f"{short}: not Python source ({exc.msg})") from None
        raise UserError(f"{short}: not valid Python: {exc.msg} (line {exc.lineno})") from None
    except ValueError as exc:  # e.g. null bytes: a binary file
        raise UserError(f"{short}: not Python source ({exc})") from None
    module = types.ModuleType(name)
    module.__file__ = filename
    folder = str(Path(filename).resolve().parent)
    added = folder not in sys.path and Path(folder).is_dir()
    if added:
        sys.path.insert(0, folder)
    sys.modules[name] = module  # dataclasses and pickling look a module up by name
    try:
        with users_code(short, f"user file {filename}", " while loading"):  # a file must not end initdash silently
            exec(code, module.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    finally:
        if added:
            sys.path.remove(folder)
    return module


def named_callable(target: str, attr: str, source: str | None, text_digest: str, what: str,
                   returns: str) -> Callable[..., object]:
    """NAME from a user's `what` file or module, checked to be callable (`returns` says what it must do)."""
    short = Path(target).name if target.endswith(".py") else target
    try:
        module = load_module(target, source, text_digest, what)
    except ImportError as exc:
        raise UserError(f"{what} module {target}: cannot import it: {exc}".splitlines()[0]) from None
    if not hasattr(module, attr):
        names = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
                       and getattr(v, "__module__", None) == module.__name__)
        raise UserError(f"{short} has no {attr!r}" + (f" (it defines {', '.join(names)})" if names else ""))
    fn = getattr(module, attr)
    if not callable(fn):
        raise UserError(f"{short}: {attr!r} is not callable (it is of type {type(fn).__name__}); it must be a "
                        f"function or class that {returns}")
    return fn


def factory(spec: ModelSpec) -> Callable[..., object]:
    """NAME from the model file or module, checked to be callable."""
    target, attr = split(spec)
    return named_callable(target, attr, spec.source, spec.digest, "model", "returns a torch.nn.Module")


def takes_width(fn: Callable[..., object]) -> bool:
    """True when the builder accepts a `width=` keyword (by name, or **kwargs)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "width" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def call(spec: ModelSpec, in_shape: tuple[int, ...], n_outputs: int):
    """Call NAME with whichever of in_shape and n_outputs it accepts; check that it returns a Module."""
    from torch import nn

    fn = factory(spec)
    kwargs: dict[str, object] = {"in_shape": tuple(in_shape), "n_outputs": n_outputs}
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}
    if spec.width is not None:
        if not takes_width(fn):
            builder = replace(spec, width=None).label  # the builder is at fault, whatever the width
            raise UserError(f"{builder}: --width needs a builder that accepts width= (add a width parameter)")
        kwargs["width"] = spec.width
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        kwargs = {k: v for k, v in kwargs.items() if k in params}
    with users_code(spec.label, f"model {spec.name}"):
        model = fn(**kwargs)
    if not isinstance(model, nn.Module):
        raise UserError(f"{spec.label} returned a {type(model).__name__}, not a torch.nn.Module")
    return model

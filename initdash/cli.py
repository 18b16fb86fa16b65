"""Command line: arguments -> ExperimentConfig; then the dashboard, the headless run, or a history command.

Only the standard library is imported at the top: Ctrl-C while initdash starts is answered in one line, and
the dashboard paints before torch (or numpy, scipy, scikit-learn, ray) loads.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from initdash import exit_codes
from initdash.arguments import COMMANDS, apply_layers, build_parser, explicit_options
from initdash.errors import Interrupted, UserError, first_line
from initdash.limits import MAX_SWEEPS

if TYPE_CHECKING:
    from initdash.experiment import Experiment


def run() -> None:
    """The console script: main(), then a fast exit.

    Tearing torch down at interpreter exit takes ~1 s on a 2-core machine (more under load), which would
    make `q` feel stuck; everything is written and flushed by then, so skip the teardown.
    """
    code = main()
    for stream in (sys.stdout, sys.stderr):
        if stream is None:  # started with it closed (`>&-`): nothing was written to it
            continue
        try:
            stream.flush()
        except (OSError, ValueError):  # the reader of a pipe left early: nothing more to say to it
            try:
                os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
            except (OSError, ValueError):
                pass
    if "torch" in sys.modules or "ray" in sys.modules:
        os._exit(code)
    sys.exit(code)


def say(text: str) -> bool:
    """One line on stderr (outside text in it escaped); False when stderr is gone."""
    from initdash.text import safe

    try:
        print(safe(text), file=sys.stderr, flush=True)
        return True
    except (OSError, ValueError):
        return False


def _load_the_settings_model() -> None:
    """Import the settings model (pydantic) with Ctrl-C held back until the import is done.

    pydantic_core's Rust code takes datetime's C API while it initializes; a KeyboardInterrupt raised inside
    that makes it panic (a multi-line PanicException, not a KeyboardInterrupt). A Ctrl-C meanwhile is noted by a
    handler that only records it, and raised as the usual KeyboardInterrupt once the import is done.
    """
    import signal
    import threading

    if "initdash.settings" in sys.modules or threading.current_thread() is not threading.main_thread():
        return
    pressed: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    try:
        import initdash.settings  # noqa: F401
    finally:
        signal.signal(signal.SIGINT, previous)
    if pressed:
        raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run; returns the exit code (tests call this in-process)."""
    try:
        _load_the_settings_model()
        return _main(argv)
    except UserError as exc:
        say(f"initdash: error: {exc}")
        return exit_codes.USER_ERROR
    except KeyboardInterrupt:
        say("initdash: interrupted")
        return exit_codes.INTERRUPTED
    except Interrupted as exc:
        say(f"initdash: {exc}")
        return exc.exit_code
    except BrokenPipeError:  # `initdash history | head`: the reader left; say nothing more
        return exit_codes.OK
    except MemoryError:
        say("initdash: error: out of memory (try fewer --repeats, a smaller model or less data)")
        return exit_codes.FAILED
    except OverflowError as exc:
        say(f"initdash: error: a number is too large: {exc}")
        return exit_codes.USER_ERROR
    except OSError as exc:  # e.g. stdout on a full disk
        say(f"initdash: error: cannot write output: {exc.strerror or exc}")
        return exit_codes.FAILED
    except Exception as exc:  # a bug: one line here, the traceback in the log
        import traceback

        from initdash.failures import log_text

        where = log_text(f"internal error: {traceback.format_exc()}")
        say(f"initdash: internal error: {first_line(exc)}" + (f" (traceback in {where})" if where else ""))
        return exit_codes.FAILED


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:
        import importlib

        module, _, function = COMMANDS[argv[0]].partition(":")
        return getattr(importlib.import_module(module), function)(argv[1:])
    if argv and not argv[0].startswith("-"):
        raise UserError(f"unknown command {argv[0]!r} (commands: {', '.join(COMMANDS)}; options: initdash --help)")
    args = build_parser().parse_args(argv)
    if args.list_initializers or args.list_models or args.list_presets:
        return _lists(args)
    if args.open is None:
        apply_layers(args, argv)
    if not 1 <= args.sweeps <= MAX_SWEEPS:
        raise UserError(f"--sweeps must be a whole number from 1 to {MAX_SWEEPS}, got {args.sweeps}")
    if sys.stdout is None:  # `initdash >&-`: started with standard output closed
        raise UserError("standard output is closed: the results have nowhere to go (redirect it, e.g. > out.txt)")
    headless = args.headless or not sys.stdout.isatty()
    if args.open is not None:
        _check_open_flags(args, argv)
    if not headless and (args.out is not None or args.sweeps != 1):
        raise UserError("--out and --sweeps are for --headless; in the dashboard press e to export, r to rerun")
    # A user's model may change the working directory: every path is taken as it means now, at start.
    start = Path.cwd()
    for name in ("out", "db", "config", "tensorboard"):
        if getattr(args, name) is not None:
            setattr(args, name, Path(getattr(args, name)).expanduser().absolute())
    from initdash.experiment import prepare

    if headless:
        from initdash.streams import results_only

        with results_only() as results:  # what a model prints goes to stderr, never among the results
            return _headless(args, prepare(args, argv, load_now=True), results)
    return _dashboard(prepare(args, argv, load_now=False), start)


def _lists(args: argparse.Namespace) -> int:
    if args.list_initializers:
        from initdash.initializers import catalog_lines

        print("\n".join(catalog_lines(shutil.get_terminal_size().columns)))
    if args.list_models:
        from initdash.models import model_lines

        print("\n".join(model_lines()))
    if args.list_presets:
        from initdash.presets import preset_lines

        print("\n".join(preset_lines()))
    return exit_codes.OK


def _check_open_flags(args: argparse.Namespace, argv: list[str]) -> None:
    from initdash.config import RUNTIME_SETTINGS, SETTINGS, open_may_change
    from initdash.imported import NAMED

    if args.no_save:
        raise UserError("--open continues a stored session: it cannot be combined with --no-save")
    explicit = explicit_options(argv)
    # --model and --data: only for an imported session (experiment.prepare knows which it is, and says so)
    given = [o for o in (*SETTINGS, "preset", "config") if o in explicit and o not in (*RUNTIME_SETTINGS, *NAMED)]
    if given:
        flags = ", ".join("--" + o.replace("_", "-") for o in given)
        raise UserError(f"{flags} cannot be combined with --open: session {args.open} keeps its own settings "
                        + open_may_change())


def _dashboard(experiment: Experiment, start: Path) -> int:
    from initdash.ui.app import InitdashApp

    try:
        app = InitdashApp(experiment.config, experiment.data, session=experiment.session,
                          store=experiment.store, start_training=experiment.session is None,
                          notes=experiment.notes, experiment=experiment, export_dir=start)
        app.run()
    finally:
        experiment.close()  # whatever the app connected (the experiment owns it) is released here
    if app.fatal:  # the dashboard could not go on (e.g. the Ray cluster did not answer): one line, as ever
        raise UserError(app.fatal)
    return app.return_code or exit_codes.OK


def _headless(args: argparse.Namespace, experiment: Experiment, results: TextIO) -> int:
    from initdash import headless

    try:
        dataset, executor = experiment.ready()
        return headless.main(experiment.config, dataset, args.sweeps, args.out, experiment.store,
                             experiment.session, executor, opened=experiment.opened, notes=experiment.notes,
                             sink=experiment.sink, results=results)
    finally:
        experiment.close()

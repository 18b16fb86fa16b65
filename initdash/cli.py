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
from typing import TYPE_CHECKING

from initdash import __version__, exit_codes
from initdash.errors import Interrupted, UserError

if TYPE_CHECKING:
    from initdash.config import ExperimentConfig
    from initdash.data import Dataset, Described
    from initdash.session import Session
    from initdash.store import HistoryWriter

MAX_SWEEPS = 1_000_000
MAX_ID = 2**63 - 1  # what SQLite's INTEGER holds


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(message)


def int_list(text: str) -> tuple[int, ...]:
    """`16,32` -> (16, 32); empty -> ()."""
    text = text.strip()
    if not text:
        return ()
    try:
        return tuple(int(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 16,16, got {text!r}") from None


def number(text: str) -> float:
    """A float that says so when it is not one (argparse's message names the flag)."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def session_id(text: str) -> int:
    """A stored session's id: a whole number from 1 to 2**63-1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a session id (a whole number), got {text!r}") from None
    if not 1 <= value <= MAX_ID:
        raise argparse.ArgumentTypeError(f"session ids run from 1 to {MAX_ID}, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Every option of `initdash`."""
    from initdash.config import DEVICES, OPTIMIZERS
    from initdash.data import BUILTIN_DATA, DEFAULT_DATA
    from initdash.executors import EXECUTORS
    from initdash.initializers import DEFAULT_INITIALIZERS
    from initdash.models.spec import ACTIVATIONS, BUILTIN_MODELS
    from initdash.presets import PRESETS

    p = _Parser(prog="initdash", description="Watch, live, how the weight initializer changes training.",
                epilog=COMMANDS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"initdash {__version__}")
    d = p.add_argument_group("data")
    d.add_argument("--data", default=DEFAULT_DATA, metavar="NAME|FILE",
                   help=f"built-in data ({', '.join(BUILTIN_DATA)}) or a .csv / .npz file (default {DEFAULT_DATA})")
    d.add_argument("--target", metavar="COLUMN", help="label column of a CSV (default: the last column)")
    d.add_argument("--split-seed", type=int, default=42, metavar="N",
                   help="seed of the 70/30 train/validation split (default 42, as in the lesson)")
    m = p.add_argument_group("model")
    m.add_argument("--model", default="linear", metavar="NAME|FILE.py:NAME|MODULE:NAME",
                   help=f"built-in ({', '.join(BUILTIN_MODELS)}; default linear, the lesson's) or your own: a "
                        "callable that returns a torch.nn.Module (see --list-models)")
    m.add_argument("--hidden", type=int_list, default=(), metavar="N,N,...",
                   help="mlp: hidden layer sizes (alone, it means --model mlp)")
    m.add_argument("--activation", default="relu", metavar="NAME",
                   help=f"mlp, cnn, resnet: {', '.join(ACTIVATIONS)} (default relu)")
    m.add_argument("--channels", type=int_list, default=(16, 32), metavar="N,N,...",
                   help="cnn: channels per convolution; resnet: its width (default 16,32)")
    m.add_argument("--depth", type=int, default=3, metavar="N", help="resnet: residual blocks (default 3)")
    t = p.add_argument_group("training")
    t.add_argument("--optimizer", default="rmsprop", metavar="NAME", help=f"{', '.join(OPTIMIZERS)} (default rmsprop)")
    t.add_argument("--lr", type=number, metavar="X", help="learning rate (default: Keras' for the optimizer)")
    t.add_argument("--batch-size", type=int, default=16, metavar="N", help="mini-batch size (default 16)")
    t.add_argument("--epochs", type=int, default=5, metavar="N", help="epochs (default 5)")
    t.add_argument("--init", default=",".join(DEFAULT_INITIALIZERS), metavar="SPEC,...",
                   help="initializers, e.g. zeros,he_normal,normal:std=0.5 (default: the lesson's five)")
    t.add_argument("--repeats", type=int, default=1, metavar="N", help="seeds per initializer in every sweep")
    t.add_argument("--seed", type=int, metavar="N", help="root seed (default: a fresh random one, shown)")
    t.add_argument("--device", default="cpu", choices=DEVICES, help="where to train (default cpu)")
    t.add_argument("--executor", default="local", choices=EXECUTORS,
                   help="local threads (default), or a Ray cluster: needs initdash[ray]")
    t.add_argument("--ray-address", metavar="ADDR",
                   help="the Ray cluster (default: $RAY_ADDRESS, a running local cluster, else a new local one)")
    o = p.add_argument_group("output")
    o.add_argument("--headless", action="store_true",
                   help="no dashboard: progress on stderr, results table on stdout (automatic when piped)")
    o.add_argument("--sweeps", "--reruns", dest="sweeps", type=int, default=1, metavar="K",
                   help="headless: train every initializer K times with fresh seeds (K presses of r)")
    o.add_argument("--out", type=Path, metavar="FILE.json|FILE.csv", help="headless: write every epoch of every run")
    o.add_argument("--list-initializers", action="store_true", help="print the initializer catalog and exit")
    o.add_argument("--list-models", action="store_true", help="print the built-in models and exit")
    o.add_argument("--list-presets", action="store_true", help="print the presets and exit")
    c = p.add_argument_group("presets and config files (flags override them)")
    c.add_argument("--preset", metavar="NAME", help=f"a named experiment: {', '.join(PRESETS)}")
    c.add_argument("--config", type=Path, metavar="FILE.toml",
                   help="settings from a TOML file, same keys as the flags (e.g. hidden = [64, 64])")
    h = p.add_argument_group("history")
    add_db_option(h)
    h.add_argument("--no-save", action="store_true", help="do not write this session to the history database")
    h.add_argument("--open", type=session_id, metavar="ID",
                   help="continue a stored session (see `initdash history`): its settings, further sweeps")
    return p


COMMANDS_HELP = """commands:
  initdash history [--json]            list the stored sessions
  initdash export ID --out FILE.json|FILE.csv
                                       write a stored session in the --out formats
  initdash import FILE.json|FILE.csv   store an export as a new session (older exports too)"""


def add_db_option(group: argparse._ActionsContainer) -> None:
    """--db, shared by every command that uses the history."""
    from initdash.store import ENV_DB

    group.add_argument("--db", type=Path, metavar="PATH",
                       help=f"history database (default: ${ENV_DB} or history.db in the user data dir)")


def explicit_options(argv: list[str]) -> set[str]:
    """The destinations of the options that `argv` sets explicitly (even to their default value)."""
    p = build_parser()
    for action in p._actions:  # set_defaults would not do: argparse would run SUPPRESS through type=
        action.default = argparse.SUPPRESS
    return set(vars(p.parse_args(argv)))


def apply_layers(args: argparse.Namespace, argv: list[str]) -> None:
    """Fill in what the flags leave unset from --config and --preset (flags > config file > preset)."""
    from initdash import presets

    layered: dict[str, object] = {}
    file_settings = presets.read_config(args.config) if args.config is not None else {}
    name = args.preset if args.preset is not None else file_settings.pop("preset", None)
    file_settings.pop("preset", None)
    if name is not None:
        layered.update(presets.preset(str(name)).settings)
    layered.update(file_settings)
    explicit = explicit_options(argv)
    actions = {a.dest: a for a in build_parser()._actions}
    for key, value in layered.items():
        if key in explicit:
            continue
        action = actions[key]
        text = str(value)
        kind = {int: "a whole number", number: "a number"}.get(action.type, "valid")
        try:
            setattr(args, key, action.type(text) if action.type else text)
        except (ValueError, argparse.ArgumentTypeError):
            raise UserError(f"{key.replace('_', '-')} = {value!r} is not {kind}") from None
        if action.choices and getattr(args, key) not in action.choices:
            raise UserError(f"{key.replace('_', '-')} = {value!r}: choose from {', '.join(action.choices)}")


def config_from_args(args: argparse.Namespace) -> ExperimentConfig:
    """Validate the arguments into an ExperimentConfig (UserError on anything wrong)."""
    import secrets

    from initdash.config import ExperimentConfig
    from initdash.data import BUILTIN_DATA
    from initdash.initializers import parse_list
    from initdash.models.spec import ModelSpec

    seed = args.seed if args.seed is not None else secrets.randbits(31)
    # A data or model file is stored by its absolute path, so `--open` finds it from any directory.
    path = Path(args.data).expanduser()
    data = str(path.resolve()) if args.data not in BUILTIN_DATA and path.is_file() else args.data
    model = ModelSpec(name=_model_path(args.model), hidden=args.hidden, activation=args.activation.lower(),
                      channels=args.channels, depth=args.depth)
    return ExperimentConfig(
        data=data, target=args.target, split_seed=args.split_seed, model=model, optimizer=args.optimizer.lower(),
        lr=args.lr, batch_size=args.batch_size, epochs=args.epochs, initializers=parse_list(args.init),
        repeats=args.repeats, seed=seed, device=args.device, executor=args.executor, ray_address=args.ray_address)


def _model_path(name: str) -> str:
    """`mynet.py:build` with the file's absolute path; built-in names and module paths as given."""
    file, sep, attr = name.rpartition(":")
    if sep and file.endswith(".py"):
        return f"{Path(file).expanduser().resolve()}:{attr}"
    return name


def run() -> None:
    """The console script: main(), then a fast exit.

    Tearing torch down at interpreter exit takes ~1 s on a 2-core machine (more under load), which would
    make `q` feel stuck; everything is written and flushed by then, so skip the teardown.
    """
    code = main()
    for stream in (sys.stdout, sys.stderr):
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
    """One line on stderr; False when stderr is gone."""
    try:
        print(text, file=sys.stderr, flush=True)
        return True
    except (OSError, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run; returns the exit code (tests call this in-process)."""
    try:
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
        say(f"initdash: internal error: {type(exc).__name__}: {exc}".splitlines()[0]
            + (f" (traceback in {where})" if where else ""))
        return exit_codes.FAILED


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:
        from initdash import history

        return getattr(history, COMMANDS[argv[0]])(argv[1:])
    if argv and not argv[0].startswith("-"):
        raise UserError(f"unknown command {argv[0]!r} (commands: {', '.join(COMMANDS)}; options: initdash --help)")
    args = build_parser().parse_args(argv)
    if args.list_initializers or args.list_models or args.list_presets:
        return _lists(args)
    if args.open is None:
        apply_layers(args, argv)
    if not 1 <= args.sweeps <= MAX_SWEEPS:
        raise UserError(f"--sweeps must be a whole number from 1 to {MAX_SWEEPS}, got {args.sweeps}")
    headless = args.headless or not sys.stdout.isatty()
    if args.open is not None:
        _check_open_flags(args, argv)
    if not headless and (args.out is not None or args.sweeps != 1):
        raise UserError("--out and --sweeps are for --headless; in the dashboard press e to export, r to rerun")
    experiment = prepare(args, argv, load_now=headless)
    if headless:
        return _headless(args, experiment)
    return _dashboard(experiment)


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
    from initdash.config import RUNTIME_SETTINGS, SETTINGS

    if args.no_save:
        raise UserError("--open continues a stored session: it cannot be combined with --no-save")
    explicit = explicit_options(argv)
    given = [o for o in (*SETTINGS, "preset", "config") if o in explicit and o not in RUNTIME_SETTINGS]
    if given:
        flags = ", ".join("--" + o.replace("_", "-") for o in given)
        raise UserError(f"{flags} cannot be combined with --open: session {args.open} keeps its own settings "
                        "(--repeats, --sweeps, --executor and --ray-address may change)")


class Experiment:
    """Everything a run needs, checked: config, data, the executor, and where its history goes.

    `data` is the loaded Dataset, or (a built-in set for the dashboard) its description: the dashboard loads
    it after its first frame.
    """

    def __init__(self, config: ExperimentConfig, data: Described, store: HistoryWriter | None,
                 session: Session | None, opened: int | None, notes: list[str]) -> None:
        self.config, self.data, self.store, self.session, self.opened = config, data, store, session, opened
        self.notes = notes
        self.executor = None

    def close(self) -> None:
        """Release the executor (bounded) and the history database."""
        if self.executor is not None:
            self.executor.close()
        if self.store is not None:
            self.store.close()


def prepare(args: argparse.Namespace, argv: list[str], load_now: bool = True) -> Experiment:
    """Validate everything before anything is written: settings, data, model, outputs, executor; then open the
    history and start (or continue) the session.

    Built-in data with a built-in model cannot fail to load: unless `load_now`, it is only described here
    (the dashboard loads it after painting its first frame). Files are loaded, so their errors come first.
    """
    from initdash import models
    from initdash.data import builtin_info, load
    from initdash.executors import connect
    from initdash.report import IMPORTED_CSV, check_out_path
    from initdash.store import HistoryWriter, default_path, open_reader

    session, elsewhere = None, []
    if args.open is None:
        config = config_from_args(args)
        check_device(config)
        config = config.with_changes(model=models.attach_source(config.model))
        info = builtin_info(config.data, config.target)
        if info is not None and config.model.builtin and not load_now:
            dataset: Described = info
        else:
            dataset = load(config.data, config.target, config.split_seed)
            config = config.with_changes(data_digest=dataset.digest)
    else:
        with open_reader(args.db, writing=True) as reader:
            session = reader.load_session(args.open)
        # A sweep another process is training now is theirs: not shown here, never ended by our reruns.
        elsewhere = [s.sweep_id for s in session.sweeps if s.state == "running"]
        session.sweeps = [s for s in session.sweeps if s.state != "running"]
        config = session.config
        if config.data.startswith(IMPORTED_CSV):
            raise UserError(f"session {args.open} was imported from a CSV export, which records neither its data "
                            "nor its settings: it can be listed and exported, not continued")
        changes = {k: getattr(args, k) for k in ("repeats", "executor", "ray_address")
                   if k in explicit_options(argv)}
        if changes.get("executor") == "local":
            changes.setdefault("ray_address", None)
        config = config.with_changes(**changes)
        check_device(config)
        dataset = _same_data(args.open, config, session.data_label)
        config = config.with_changes(model=models.attach_source(config.model, expect=config.model.digest))
    notes = models.check(config, dataset)
    if elsewhere:
        ids = ", ".join(map(str, elsewhere))
        notes.append(f"sweep{'s' * (len(elsewhere) > 1)} {ids} of session {args.open} still training in another "
                     "process: not shown here")
    if args.out is not None:
        inputs = {"data file": Path(config.data) if dataset.digest else None,
                  "model file": models.source_path(config.model), "config file": args.config,
                  "history database": None if args.no_save else (args.db or default_path())}
        check_out_path(args.out, inputs)
    experiment = Experiment(config, dataset, None, session, args.open, notes)
    try:
        # The dashboard paints before Ray loads: it connects after its first frame (same one-line errors).
        if load_now or config.executor != "ray":
            experiment.executor = connect(config)
        if not args.no_save:
            experiment.store = HistoryWriter.open(args.db)
            if args.open is None:
                experiment.store.start_session(config, dataset.describe())
            else:
                experiment.store.continue_session(args.open, config)
    except BaseException:
        experiment.close()
        raise
    return experiment


def _same_data(session_id: int, config: ExperimentConfig, recorded: str) -> Dataset:
    """A session is one experiment: its data file must be the very one it trained on (the same bytes)."""
    from initdash.data import load

    if not config.data_digest:  # built-in data: the same by construction
        return load(config.data, config.target, config.split_seed)
    where = f"session {session_id}: its data file {config.data}"
    if not Path(config.data).is_file():
        raise UserError(f"{where} is gone (moved or deleted since the session was recorded)")
    try:
        dataset = load(config.data, config.target, config.split_seed)
    except UserError as exc:
        raise UserError(f"{where} changed since the session was recorded and no longer loads ({exc})") from None
    if dataset.digest != config.data_digest:
        now = dataset.describe()
        what = f"was {recorded}, now {now}" if now != recorded else "the same shape, other numbers"
        raise UserError(f"{where} changed since the session was recorded ({what}): start a new session instead")
    return dataset


def check_device(config: ExperimentConfig) -> None:
    """--device cuda needs a CUDA GPU here (this imports torch, but only when cuda is asked for); with Ray the
    GPU is the cluster's, and the executor places the tasks on one."""
    if config.device == "cuda" and config.executor != "ray":
        import torch

        if not torch.cuda.is_available():
            raise UserError("--device cuda: no CUDA GPU is available here (use --device auto or cpu)")


def _dashboard(experiment: Experiment) -> int:
    from initdash.ui.app import InitdashApp

    try:
        app = InitdashApp(experiment.config, experiment.data, session=experiment.session,
                          store=experiment.store, start_training=experiment.session is None,
                          executor=experiment.executor, notes=experiment.notes)
        app.run()
    finally:
        if experiment.executor is None:
            experiment.executor = app.executor  # connected by the app: released here all the same
        experiment.close()
    if app.fatal:  # the dashboard could not go on (e.g. the Ray cluster did not answer): one line, as ever
        raise UserError(app.fatal)
    return app.return_code or exit_codes.OK


def _headless(args: argparse.Namespace, experiment: Experiment) -> int:
    from initdash import headless

    try:
        return headless.main(experiment.config, experiment.data, args.sweeps, args.out, experiment.store,
                             experiment.session, experiment.executor, opened=experiment.opened,
                             notes=experiment.notes)
    finally:
        experiment.close()


COMMANDS = {"history": "history_main", "export": "export_main", "import": "import_main"}

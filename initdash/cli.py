"""Command line: arguments -> ExperimentConfig; then the dashboard, or the headless run."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from initdash import __version__, exit_codes
from initdash.config import ACTIVATIONS, DEVICES, OPTIMIZERS, ExperimentConfig
from initdash.data import BUILTIN_DATA, DEFAULT_DATA, Dataset
from initdash.errors import UserError
from initdash.initializers import DEFAULT_INITIALIZERS, catalog_lines, parse_list
from initdash.store import ENV_DB

if TYPE_CHECKING:
    from initdash.session import Session
    from initdash.store import SessionInfo, Store


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(message)


def _int_list(text: str) -> tuple[int, ...]:
    text = text.strip()
    if not text:
        return ()
    try:
        return tuple(int(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 16,16, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """Every option of `initdash`."""
    p = _Parser(prog="initdash", description="Watch, live, how the weight initializer changes training.",
                epilog=COMMANDS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"initdash {__version__}")
    d = p.add_argument_group("data")
    d.add_argument("--data", default=DEFAULT_DATA, metavar="NAME|FILE.csv",
                   help=f"built-in data ({', '.join(BUILTIN_DATA)}) or a CSV file (default {DEFAULT_DATA})")
    d.add_argument("--target", metavar="COLUMN", help="label column of a CSV (default: the last column)")
    d.add_argument("--split-seed", type=int, default=42, metavar="N",
                   help="seed of the 70/30 train/validation split (default 42, as in the lesson)")
    m = p.add_argument_group("model and training")
    m.add_argument("--hidden", type=_int_list, default=(), metavar="N,N,...",
                   help="hidden layer sizes of an MLP (default: none, the lesson's single sigmoid unit)")
    m.add_argument("--activation", default="relu", metavar="NAME", help=f"hidden activation: {', '.join(ACTIVATIONS)}")
    m.add_argument("--optimizer", default="rmsprop", metavar="NAME", help=f"{', '.join(OPTIMIZERS)} (default rmsprop)")
    m.add_argument("--lr", type=float, metavar="X", help="learning rate (default: Keras' for the optimizer)")
    m.add_argument("--batch-size", type=int, default=16, metavar="N", help="mini-batch size (default 16)")
    m.add_argument("--epochs", type=int, default=5, metavar="N", help="epochs (default 5)")
    m.add_argument("--init", default=",".join(DEFAULT_INITIALIZERS), metavar="SPEC,...",
                   help="initializers, e.g. zeros,he_normal,normal:std=0.5 (default: the lesson's five)")
    m.add_argument("--repeats", type=int, default=1, metavar="N", help="seeds per initializer in every sweep")
    m.add_argument("--seed", type=int, metavar="N", help="root seed (default: a fresh random one, shown)")
    m.add_argument("--device", default="cpu", choices=DEVICES, help="where to train (default cpu)")
    o = p.add_argument_group("output")
    o.add_argument("--headless", action="store_true",
                   help="no dashboard: progress on stderr, results table on stdout (automatic when piped)")
    o.add_argument("--reruns", type=int, default=1, metavar="K", help="headless: run the whole sweep K times")
    o.add_argument("--out", type=Path, metavar="FILE.json|FILE.csv", help="headless: write every epoch of every run")
    o.add_argument("--list-initializers", action="store_true", help="print the initializer catalog and exit")
    o.add_argument("--list-presets", action="store_true", help="print the presets and exit")
    c = p.add_argument_group("presets and config files (flags override them)")
    c.add_argument("--preset", metavar="NAME", help="a named experiment: lesson (default), deep-tanh, deep-relu, "
                   "deep-sigmoid")
    c.add_argument("--config", type=Path, metavar="FILE.toml",
                   help="settings from a TOML file, same keys as the flags (e.g. hidden = [64, 64])")
    h = p.add_argument_group("history")
    _add_db_options(h)
    h.add_argument("--no-save", action="store_true", help="do not write this session to the history database")
    h.add_argument("--open", type=int, metavar="ID",
                   help="continue a stored session (see `initdash history`): its settings, further sweeps")
    return p


COMMANDS_HELP = """commands:
  initdash history [--json]            list the stored sessions
  initdash export ID --out FILE.json|FILE.csv
                                       write a stored session in the --out formats"""

# Options that define the experiment: a session reopened with --open keeps its own.
EXPERIMENT_OPTIONS = ("data", "target", "split_seed", "hidden", "activation", "optimizer", "lr", "batch_size",
                      "epochs", "init", "seed", "device", "preset", "config")


def _add_db_options(group: argparse._ActionsContainer) -> None:
    group.add_argument("--db", type=Path, metavar="PATH",
                       help=f"history database (default: ${ENV_DB} or history.db in the user data dir)")


def history_parser() -> argparse.ArgumentParser:
    """Options of `initdash history`."""
    p = _Parser(prog="initdash history", description="List the sessions stored in the history database.")
    p.add_argument("--json", action="store_true", help="a JSON list of objects (with an `id` key) instead")
    _add_db_options(p)
    return p


def export_parser() -> argparse.ArgumentParser:
    """Options of `initdash export`."""
    p = _Parser(prog="initdash export", description="Write a stored session as JSON or CSV.")
    p.add_argument("id", type=int, metavar="ID", help="session id (see `initdash history`)")
    p.add_argument("--out", type=Path, required=True, metavar="FILE.json|FILE.csv", help="where to write it")
    _add_db_options(p)
    return p


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
        kind = {int: "a whole number", float: "a number"}.get(action.type, "valid")
        try:
            setattr(args, key, action.type(text) if action.type else text)
        except (ValueError, argparse.ArgumentTypeError):
            raise UserError(f"{key.replace('_', '-')} = {value!r} is not {kind}") from None
        if action.choices and getattr(args, key) not in action.choices:
            raise UserError(f"{key.replace('_', '-')} = {value!r}: choose from {', '.join(action.choices)}")


def config_from_args(args: argparse.Namespace) -> ExperimentConfig:
    """Validate the arguments into an ExperimentConfig (UserError on anything wrong)."""
    seed = args.seed if args.seed is not None else secrets.randbits(31)
    # A CSV is stored by its absolute path, so `--open` finds it from any directory.
    path = Path(args.data).expanduser()
    data = str(path.resolve()) if args.data not in BUILTIN_DATA and path.is_file() else args.data
    return ExperimentConfig(
        data=data, target=args.target, split_seed=args.split_seed, hidden=args.hidden,
        activation=args.activation.lower(), optimizer=args.optimizer.lower(), lr=args.lr,
        batch_size=args.batch_size, epochs=args.epochs, initializers=parse_list(args.init),
        repeats=args.repeats, seed=seed, device=args.device)


def run() -> None:
    """The console script: main(), then a fast exit.

    Tearing torch down at interpreter exit takes ~1 s on a 2-core machine (more under load), which would
    make `q` feel stuck; everything is written and flushed by then, so skip the teardown.
    """
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # the reader of a pipe left early: nothing more to say to it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if "torch" in sys.modules:
        os._exit(code)
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run; returns the exit code (tests call this in-process)."""
    try:
        return _main(argv)
    except UserError as exc:
        print(f"initdash: error: {exc}", file=sys.stderr)
        return exit_codes.USER_ERROR
    except KeyboardInterrupt:
        print("initdash: interrupted", file=sys.stderr)
        return exit_codes.INTERRUPTED
    except BrokenPipeError:  # `initdash history | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return exit_codes.OK
    except OSError as exc:  # e.g. stdout on a full disk
        print(f"initdash: error: cannot write output: {exc.strerror or exc}", file=sys.stderr)
        return exit_codes.USER_ERROR


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:
        return COMMANDS[argv[0]](argv[1:])
    if argv and not argv[0].startswith("-"):
        raise UserError(f"unknown command {argv[0]!r} (commands: {', '.join(COMMANDS)}; options: initdash --help)")
    args = build_parser().parse_args(argv)
    if args.list_initializers:
        print("\n".join(catalog_lines()))
        return exit_codes.OK
    if args.list_presets:
        from initdash.presets import preset_lines

        print("\n".join(preset_lines()))
        return exit_codes.OK
    if args.open is None:
        apply_layers(args, argv)
    if args.reruns < 1:
        raise UserError(f"--reruns must be a positive whole number, got {args.reruns}")
    headless = args.headless or not sys.stdout.isatty()
    if args.open is not None:
        if args.no_save:
            raise UserError("--open continues a stored session: it cannot be combined with --no-save")
        given = [o for o in EXPERIMENT_OPTIONS if o in explicit_options(argv)]
        if given:
            flags = ", ".join("--" + o.replace("_", "-") for o in given)
            raise UserError(f"{flags} cannot be combined with --open: session {args.open} keeps its own settings "
                            "(--repeats and --reruns may change)")
    if args.out is not None:
        from initdash.report import check_out_path

        check_out_path(args.out)
    if not headless and (args.out is not None or args.reruns != 1):
        raise UserError("--out and --reruns are for --headless; in the dashboard press e to export, r to rerun")
    store, session, config, dataset = open_history(args, argv)
    try:
        if headless:
            return _headless(args, config, dataset, store, session)
        return _dashboard(config, dataset, store, session)
    finally:
        if store is not None:
            store.close()


def _dashboard(config: ExperimentConfig, dataset: Dataset, store: Store | None, session: Session | None) -> int:
    from initdash.ui.app import InitdashApp

    if session is None and store is not None:
        store.start_session(config, dataset.describe())
    # A reopened session shows what it has; r adds sweeps to it.
    InitdashApp(config, dataset, session=session, store=store, start_training=session is None).run()
    if store is not None:
        store.discard_incomplete()  # a sweep cut short by q is no result (as Ctrl-C in headless)
    return exit_codes.OK


def check_device(device: str) -> None:
    """--device cuda needs a CUDA GPU (this imports torch, but only when cuda is asked for)."""
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UserError("--device cuda: no CUDA GPU is available here (use --device auto or cpu)")


def open_history(args: argparse.Namespace,
                 argv: list[str]) -> tuple[Store | None, Session | None, ExperimentConfig, Dataset]:
    """The history store (None with --no-save), the reopened Session (with --open), the config and its data."""
    from initdash.data import load
    from initdash.store import Store

    if args.open is None:
        # Validate the settings and the data before the database file is created.
        config = config_from_args(args)
        check_device(config.device)
        dataset = load(config.data, config.target, config.split_seed)
        return (None if args.no_save else Store.open(args.db)), None, config, dataset
    store = Store.open(args.db)
    try:
        session = store.load_session(args.open)
        config = session.config
        if "repeats" in explicit_options(argv):
            config = config.with_changes(repeats=args.repeats)
        check_device(config.device)
        dataset = load(config.data, config.target, config.split_seed)
        store.continue_session(args.open, config)
        return store, session, config, dataset
    except BaseException:
        store.close()
        raise


def _headless(args: argparse.Namespace, config: ExperimentConfig, dataset: Dataset, store: Store | None,
              session: Session | None) -> int:
    from initdash import headless as hl
    from initdash import report, stats

    print(f"initdash {__version__}: {dataset.describe()}, {config.model_label}, {config.optimizer} "
          f"lr {config.learning_rate:g}, batch {config.batch_size}, {config.epochs} epochs, seed {config.seed}",
          file=sys.stderr)
    if dataset.synthetic and config.data == DEFAULT_DATA:
        print("note: built-in synthetic banknote-like data; use --data FILE.csv for the real UCI file",
              file=sys.stderr)
    if not dataset.synthetic:
        print(f"labels: {dataset.label_names[0]!r} -> 0, {dataset.label_names[1]!r} -> 1", file=sys.stderr)
    if session is not None:
        done = len(session.completed())
        print(f"continuing session {args.open}: {done} sweep{'' if done == 1 else 's'} so far", file=sys.stderr)
    elif store is not None:
        store.start_session(config, dataset.describe())
    # sys.stderr looked up now: run_sweeps' default was bound at import, and may be a stream since replaced.
    session = hl.run_sweeps(config, dataset, args.reruns, progress=sys.stderr, session=session, store=store)
    # Files first: a reader of stdout that leaves early (`| head`) must not cost the user their --out file.
    if args.out is not None:
        written = report.write(session, args.out)
        print(f"wrote {' and '.join(map(str, written))}", file=sys.stderr)
    print(report.results_table(session))
    if _most_runs(session) > 1:
        print()
        print(stats.stats_table(session))
    if store is not None:
        print(f"saved as session {store.session_id} in {store.path} "
              f"(initdash export {store.session_id} --out FILE.json)", file=sys.stderr)
    return exit_codes.OK


def _most_runs(session: Session) -> int:
    """The largest number of runs (over completed sweeps) that any initializer has."""
    counts: dict[str, int] = {}
    for sweep in session.completed():
        for label, run in sweep.runs.items():
            counts[label] = counts.get(label, 0) + len(run.seeds)
    return max(counts.values(), default=0)


def history_main(argv: list[str]) -> int:
    """`initdash history`: the stored sessions as a table, or JSON."""
    import json

    from initdash.store import Store, default_path

    args = history_parser().parse_args(argv)
    path = args.db or default_path()
    infos = []
    if path.exists():
        with Store.open(path, create=False) as store:
            infos = store.sessions()
    if args.json:
        print(json.dumps([i.to_dict() for i in infos], indent=1))
        return exit_codes.OK
    if not infos:
        print(f"no sessions stored yet in {path}")
        return exit_codes.OK
    print(history_table(infos))
    return exit_codes.OK


def history_table(infos: list[SessionInfo]) -> str:
    """One row per stored session: id, date, data, model, initializers, sweeps, runs."""
    from datetime import datetime

    header = ["id", "date", "data", "model", "initializers", "sweeps", "runs"]
    rows = [[str(i.id), datetime.fromisoformat(i.created).astimezone().strftime("%Y-%m-%d %H:%M"), i.data,
             i.model, ",".join(i.initializers), str(i.sweeps), str(i.runs)] for i in infos]
    widths = [max(len(r[k]) for r in [header, *rows]) for k in range(len(header))]
    right = {0, 5, 6}
    lines = ["  ".join(c.rjust(w) if k in right else c.ljust(w) for k, (c, w) in enumerate(zip(row, widths))).rstrip()
             for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def export_main(argv: list[str]) -> int:
    """`initdash export ID --out FILE`: a stored session in the JSON or CSV format of --out."""
    from initdash import report
    from initdash.store import Store

    args = export_parser().parse_args(argv)
    report.check_out_path(args.out)
    with Store.open(args.db, create=False) as store:
        session = store.load_session(args.id)
    written = report.write(session, args.out)
    print(f"wrote {' and '.join(map(str, written))}", file=sys.stderr)
    return exit_codes.OK


COMMANDS = {"history": history_main, "export": export_main}

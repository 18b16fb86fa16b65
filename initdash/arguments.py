"""The command line's vocabulary: every option, how --config and --preset layer under the flags, and how the
arguments become an ExperimentConfig. Only the standard library at the top (the dashboard paints first).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from initdash import __version__
from initdash.errors import UserError
from initdash.limits import MAX_ID

if TYPE_CHECKING:
    from initdash.config import ExperimentConfig


class Parser(argparse.ArgumentParser):
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


def number_list(text: str) -> tuple[float, ...]:
    """`0.1,0.01` -> (0.1, 0.01): one learning rate, or a grid's axis of them."""
    parts = [p.strip() for p in text.split(",")]
    if not all(parts):
        raise argparse.ArgumentTypeError(f"expected numbers like 0.1,0.01, got {text!r}")
    return tuple(number(p) for p in parts)


def role_list(text: str) -> tuple[str, ...]:
    """`kernel,recurrent` -> ('kernel', 'recurrent'): roles from models.roles.ROLES, each once."""
    from initdash.models.roles import ROLES

    roles = tuple(dict.fromkeys(r.strip().lower() for r in text.split(",") if r.strip()))
    wrong = [r for r in roles if r not in ROLES]
    if wrong or not roles:
        raise argparse.ArgumentTypeError(f"expected roles from {', '.join(ROLES)}, got {text!r}")
    return roles


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
    from initdash.config import DEFAULT_DESIGN, DESIGNS, DEVICES, EXECUTORS, OPTIMIZERS
    from initdash.data import BUILTIN_DATA, DEFAULT_DATA
    from initdash.initializers import DEFAULT_INITIALIZERS
    from initdash.models.spec import ACTIVATIONS, BUILTIN_MODELS
    from initdash.presets import PRESETS

    p = Parser(prog="initdash", description="Watch, live, how the weight initializer changes training.",
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
    t.add_argument("--lr", type=number_list, metavar="X[,Y,...]",
                   help="learning rate (default: Keras' for the optimizer); a list makes a grid's lr axis")
    t.add_argument("--width", type=int_list, default=(), metavar="W[,W,...]",
                   help="a grid's width axis: mlp's every hidden layer, cnn's channels in --channels' proportions, "
                        "resnet's channels, or width= for your own builder")
    t.add_argument("--batch-size", type=int, default=16, metavar="N", help="mini-batch size (default 16)")
    t.add_argument("--epochs", type=int, default=5, metavar="N", help="epochs (default 5)")
    t.add_argument("--init", default=",".join(DEFAULT_INITIALIZERS), metavar="SPEC,...",
                   help="initializers, e.g. zeros,he_normal,normal:std=0.5, or your own FILE.py:NAME[:key=value] "
                        "(default: the lesson's five)")
    t.add_argument("--apply-to", type=role_list, default=("kernel",), metavar="ROLE,...",
                   help="roles the initializers act on: kernel (default), recurrent, embedding; the others get "
                        "Keras' defaults (see README)")
    t.add_argument("--repeats", type=int, default=1, metavar="N", help="seeds per initializer in every sweep")
    t.add_argument("--seed", type=int, metavar="N", help="root seed (default: a fresh random one, shown)")
    t.add_argument("--design", default=DEFAULT_DESIGN, choices=DESIGNS,
                   help="paired (default): repeat k of every initializer shares its data order and dropout, so "
                        "only the initializer differs; independent: every run draws all from its own seed")
    t.add_argument("--device", default="cpu", choices=DEVICES, help="where to train (default cpu)")
    t.add_argument("--executor", default="local", choices=EXECUTORS,
                   help="local worker processes, one per core (default), or a Ray cluster: needs initdash[ray]")
    t.add_argument("--ray-address", metavar="ADDR",
                   help="the Ray cluster (default: $RAY_ADDRESS, a running local cluster, else a new local one)")
    o = p.add_argument_group("output")
    o.add_argument("--headless", action="store_true",
                   help="no dashboard: progress on stderr, results table on stdout (automatic when piped)")
    o.add_argument("--sweeps", "--reruns", dest="sweeps", type=int, default=1, metavar="K",
                   help="headless: train every initializer K times with fresh seeds (K presses of r)")
    o.add_argument("--out", type=Path, metavar="FILE.json|FILE.csv", help="headless: write every epoch of every run")
    o.add_argument("--tensorboard", type=Path, metavar="DIR",
                   help="write TensorBoard event files while training, into DIR/sessionN (needs initdash[tensorboard])")
    o.add_argument("--layer-stats", action="store_true",
                   help="headless: record per-layer statistics every epoch (the dashboard always does)")
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
  initdash export ID --format tensorboard --out DIR
                                       write a stored session in the --out formats, or as TensorBoard runs
  initdash import FILE.json|FILE.csv   store an export as a new session (older exports too)
  initdash report ID|FILE.json         the statistics of a stored session or an export, as headless prints them
  initdash report DIR [--group-by HPARAM] [--metric TAG]
                                       statistics per group of the TensorBoard runs under DIR (any tool's)
  initdash audit [--model M] [--data D] [--init I] [--apply-to ROLE,...] [--seed N]
                                       per parameter of the model: its role, fans, what set it, its std"""


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
        if action.nargs == 0:  # a flag such as --layer-stats: true or false in a file
            if not isinstance(value, bool):
                raise UserError(f"{key.replace('_', '-')} = {value!r} is not true or false")
            setattr(args, key, value)
            continue
        text = str(value)
        kind = {int: "a whole number", number: "a number", number_list: "a number or a list of them",
                int_list: "a list of whole numbers"}.get(action.type, "valid")
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
    model = ModelSpec(name=model_path(args.model), hidden=args.hidden, activation=args.activation.lower(),
                      channels=args.channels, depth=args.depth)
    lrs = tuple(args.lr or ())
    return ExperimentConfig(
        data=data, target=args.target, split_seed=args.split_seed, model=model, optimizer=args.optimizer.lower(),
        lr=lrs[0] if len(lrs) == 1 else None, lrs=lrs if len(lrs) > 1 else (), widths=tuple(args.width),
        batch_size=args.batch_size, epochs=args.epochs, initializers=parse_list(args.init),
        apply_to=args.apply_to, repeats=args.repeats, seed=seed, design=args.design, device=args.device,
        executor=args.executor, ray_address=args.ray_address, layer_stats=args.layer_stats)


def model_path(name: str) -> str:
    """`mynet.py:build` with the file's absolute path; built-in names and module paths as given."""
    file, sep, attr = name.rpartition(":")
    if sep and file.endswith(".py"):
        return f"{Path(file).expanduser().resolve()}:{attr}"
    return name

# The subcommands, and the function that runs each (module:function).
COMMANDS = {"history": "initdash.history:history_main", "export": "initdash.history:export_main",
            "import": "initdash.history:import_main", "report": "initdash.report_cmd:report_main",
            "audit": "initdash.audit:audit_main"}

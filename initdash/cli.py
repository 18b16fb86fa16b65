"""Command line: arguments -> ExperimentConfig; then the dashboard, or the headless run."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

from initdash import __version__, exit_codes
from initdash.config import ACTIVATIONS, DEVICES, OPTIMIZERS, ExperimentConfig
from initdash.data import BUILTIN_DATA, DEFAULT_DATA
from initdash.errors import UserError
from initdash.initializers import DEFAULT_INITIALIZERS, catalog_lines, parse_list


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
    p = _Parser(prog="initdash", description="Watch, live, how the weight initializer changes training.")
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
    return p


def config_from_args(args: argparse.Namespace) -> ExperimentConfig:
    """Validate the arguments into an ExperimentConfig (UserError on anything wrong)."""
    seed = args.seed if args.seed is not None else secrets.randbits(31)
    return ExperimentConfig(
        data=args.data, target=args.target, split_seed=args.split_seed, hidden=args.hidden,
        activation=args.activation.lower(), optimizer=args.optimizer.lower(), lr=args.lr,
        batch_size=args.batch_size, epochs=args.epochs, initializers=parse_list(args.init),
        repeats=args.repeats, seed=seed, device=args.device)


def run() -> None:
    """The console script: main(), then a fast exit.

    Tearing torch down at interpreter exit takes ~1 s on a 2-core machine (more under load), which would
    make `q` feel stuck; everything is written and flushed by then, so skip the teardown.
    """
    code = main()
    if "torch" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
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


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.list_initializers:
        print("\n".join(catalog_lines()))
        return exit_codes.OK
    config = config_from_args(args)
    if args.reruns < 1:
        raise UserError(f"--reruns must be a positive whole number, got {args.reruns}")
    if args.out is not None:
        from initdash.report import check_out_path

        check_out_path(args.out)
    from initdash.data import load

    dataset = load(config.data, config.target, config.split_seed)
    headless = args.headless or not sys.stdout.isatty()
    if not headless:
        if args.out is not None or args.reruns != 1:
            raise UserError("--out and --reruns are for --headless; in the dashboard press e to export, r to rerun")
        from initdash.ui.app import InitdashApp

        InitdashApp(config, dataset).run()
        return exit_codes.OK
    from initdash import headless as hl
    from initdash import report

    print(f"initdash {__version__}: {dataset.describe()}, {config.model_label}, {config.optimizer} "
          f"lr {config.learning_rate:g}, batch {config.batch_size}, {config.epochs} epochs, seed {config.seed}",
          file=sys.stderr)
    if dataset.synthetic and config.data == DEFAULT_DATA:
        print("note: built-in synthetic banknote-like data; use --data FILE.csv for the real UCI file",
              file=sys.stderr)
    if not dataset.synthetic:
        print(f"labels: {dataset.label_names[0]!r} -> 0, {dataset.label_names[1]!r} -> 1", file=sys.stderr)
    # sys.stderr looked up now: run_sweeps' default was bound at import, and may be a stream since replaced.
    session = hl.run_sweeps(config, dataset, args.reruns, progress=sys.stderr)
    print(report.results_table(session))
    if args.out is not None:
        report.write(session, args.out)
        print(f"wrote {args.out}", file=sys.stderr)
    return exit_codes.OK

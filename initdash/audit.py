"""`initdash audit`: what initialization does to every parameter of a model (its role, Keras' fans, what set
it, the std the formula expects and the std measured on the tensor), and the one line a session records
about what initialization left to the module.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from initdash import exit_codes
from initdash.errors import UserError
from initdash.tables import text_table

if TYPE_CHECKING:
    from initdash.config import ExperimentConfig
    from initdash.data import Dataset, Described
    from initdash.initializers import Assignment, InitSpec

# The options of a run that say what is audited; any other is refused rather than silently ignored.
AUDIT_OPTIONS = {"data", "target", "split_seed", "model", "hidden", "activation", "channels", "depth", "init",
                 "apply_to", "seed", "preset", "config"}
NAMES_SHOWN = 6  # a summary line names at most this many parameters left to the module
HEADER = ["parameter", "module", "role", "shape", "fan_in", "fan_out", "set by", "expected std", "measured std"]


def _std(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def rows(assignments: list[Assignment]) -> list[list[str]]:
    """One row per parameter: name, module type, role, shape, fans, what set it, expected and measured std."""
    from initdash.models.roles import OWN

    out = []
    for a in assignments:
        s, fans = a.slot, a.slot.fans
        t = s.tensor.detach().float()
        measured = t.std(correction=0).item() if t.numel() > 1 else 0.0
        out.append([s.name, s.module, "-" if s.kind == OWN else s.kind, "x".join(map(str, s.tensor.shape)) or "1",
                    *(map(str, fans) if fans else ("-", "-")), a.by, _std(a.expected), _std(measured)])
    return out


def summary(label: str, assignments: list[Assignment]) -> str:
    """`he_normal set 12,544 of 12,898 parameters (97%)`, then `; left to the module: pos` if anything was."""
    from initdash.initializers import LEFT

    total = sum(a.slot.tensor.numel() for a in assignments)
    chosen = sum(a.slot.tensor.numel() for a in assignments if a.chosen)
    share = 100 if chosen == total else math.floor(100 * chosen / max(total, 1))
    line = f"{label} set {chosen:,} of {total:,} parameters ({share}%)"
    left = [a.slot.name for a in assignments if a.by == LEFT]
    if left:
        more = f", +{len(left) - NAMES_SHOWN} more" if len(left) > NAMES_SHOWN else ""
        line += "; left to the module: " + ", ".join(left[:NAMES_SHOWN]) + more
    return line


def coverage(config: ExperimentConfig, dataset: Described) -> tuple[str, ...]:
    """The summary line of every initializer that leaves something to the module (none for a built-in model
    with catalog initializers: they have only Linear and Conv layers). Catalog initializers share one line:
    roles decide what they set. A user's initializer is run once on a fresh model to see what it sets."""
    from initdash.initializers import LEFT, Assignment, initialize
    from initdash.models import build
    from initdash.models.roles import OWN, slots

    catalog = [s for s in config.initializers if not s.user]
    users = [s for s in config.initializers if s.user]
    if config.model.builtin and not users:
        return ()
    lines = []
    shape, n_out = dataset.in_shape, dataset.n_outputs
    if catalog:
        every = slots(build(config.model, shape, n_out, seed=0))
        done = [Assignment(s, LEFT if s.kind == OWN else "", s.kind in config.apply_to, None) for s in every]
        lines.append(summary(", ".join(s.label for s in catalog), done))
    for spec in users:
        import torch

        done = initialize(build(config.model, shape, n_out, seed=0), spec, torch.Generator().manual_seed(0))
        lines.append(summary(spec.label, done))
    return tuple(line for line in lines if "; left to the module: " in line)


def audit_main(argv: list[str]) -> int:
    """`initdash audit`: per initializer, one row per parameter and the summary line."""
    from initdash.arguments import apply_layers, build_parser, config_from_args, explicit_options
    from initdash.data import load
    from initdash.initializers.user import attach_sources
    from initdash.isolated import in_child
    from initdash.models import attach_source, fit

    p = build_parser()
    p.prog = "initdash audit"
    args = p.parse_args(argv)
    extra = sorted(explicit_options(argv) - AUDIT_OPTIONS)
    if extra:
        raise UserError(f"initdash audit does not take {', '.join('--' + o.replace('_', '-') for o in extra)} "
                        "(it takes the model, data, --init, --apply-to and --seed options of a run)")
    apply_layers(args, argv)
    if args.seed is None:
        args.seed = 0  # an audit is reproducible unless asked otherwise
    config = config_from_args(args)
    config = config.with_changes(model=attach_source(config.model),
                                 initializers=attach_sources(config.initializers))
    dataset = load(config.data, config.target, config.split_seed)
    fit.check(config.with_changes(repeats=1, executor="local"), dataset)
    for i, spec in enumerate(config.initializers):
        # The model's and the initializer's code run in a forked child (as the checks before training do): an
        # os._exit there ends the child and is said in one line.
        table, line = in_child(spec.label, _audit_one, config, dataset, spec)
        print(("\n" if i else "") + table)
        print(line)
    return exit_codes.OK


def _audit_one(config: ExperimentConfig, dataset: Dataset, spec: InitSpec) -> tuple[str, str]:
    """One initializer's audit table and summary line (plain text)."""
    import torch

    from initdash.initializers import initialize
    from initdash.models import build

    model = build(config.model, dataset.in_shape, dataset.n_outputs, config.seed)
    done = initialize(model, spec, torch.Generator().manual_seed(config.seed), torch.as_tensor(dataset.x_train),
                      config.apply_to)
    return text_table(HEADER, rows(done), left=(0, 1, 2, 3, 6)), summary(spec.label, done)

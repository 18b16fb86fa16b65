"""Whether a model fits the data and the memory, checked before anything trains or is written."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from initdash.errors import UserError, fails_only_its_work, first_line, said
from initdash.isolated import in_child
from initdash.models import build, weight_layers, widest
from initdash.models.roles import slots
from initdash.tables import plural

if TYPE_CHECKING:
    from initdash.config import ExperimentConfig
    from initdash.data import Dataset, Described

# A parameter costs its value, its gradient, two optimizer states and one scratch buffer, float32 each.
BYTES_PER_PARAMETER = 5 * 4
MEMORY_SHARE = 0.8  # refuse a sweep whose models would need more than this share of the available memory


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (Linux: MemAvailable), or None if unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"


def check(config: ExperimentConfig, dataset: Described) -> list[str]:
    """Check before anything trains or is written that the model fits the data and the memory; returns notes
    worth saying once (e.g. that the model trains one copy at a time). A user's model is built once for it
    (which imports torch); a built-in is checked by arithmetic.

    Every width of a grid is checked as its own model (without a grid: the one model); memory is counted for
    all units at once (local: every unit's models are held together; Ray: one unit per task, the widest)."""
    from initdash.grid import unit_config, width_axis

    notes: list[str] = []
    per_unit = []
    for width in width_axis(config):  # a builder without width= is refused where it is built (models.user.call)
        found, params, wide, layers = _measure(unit_config(config, width), dataset)
        notes += [n for n in found if n not in notes]
        batch = min(config.batch_size, dataset.n_train)
        per_unit.append(config.repeats * len(config.lrs or (0,)) *
                        (params * BYTES_PER_PARAMETER + 2 * 4 * batch * wide * layers))
    need = sum(per_unit) * len(config.initializers) if config.executor == "local" else max(per_unit)
    _memory(config, dataset, need, "" if config.lrs or config.widths else f" of {params:,} parameters each")
    return notes


def _memory(config: ExperimentConfig, dataset: Described, need: int, each: str = "") -> None:
    """Refuse what would need more than MEMORY_SHARE of the available memory, saying the estimate."""
    spec = config.model
    have = available_memory()
    if have is not None and need > MEMORY_SHARE * have:
        inits, runs = len(config.initializers), config.repeats
        cells = len(config.lrs or (0,)) * len(config.widths or (0,))
        grid = f" x {plural(cells, 'grid point')}" if config.lrs or config.widths else ""
        who = (f"{plural(inits, 'initializer')}{grid} x {plural(runs, 'run')}"
               if config.executor == "local" else f"{plural(runs, 'run')}{grid} per Ray task")
        fewer = "fewer --repeats or a smaller grid" if grid else "fewer --repeats"
        raise UserError(f"{spec.label} on {dataset.name}: {who}{each} need about {_size(need)}, more than the "
                        f"{_size(have)} of memory available here: use a smaller model or {fewer}")


def _measure(config: ExperimentConfig, dataset: Described) -> tuple[list[str], int, int, int]:
    """(notes, parameters, widest activation, layers) of the config's model on this data."""
    from initdash.models.sizes import parameter_count

    spec, shape, n_out = config.model, dataset.in_shape, dataset.n_outputs
    notes: list[str] = []
    if spec.builtin:
        if spec.name in ("cnn", "resnet") and len(shape) > 4:
            raise UserError(f"--model {spec.name} needs examples of 1 to 3 spatial dimensions; "
                            f"{dataset.name} has shape {shape}")
        params, width = parameter_count(spec.name, shape, n_out, spec.hidden, spec.channels, spec.depth)
        layers = 1 + len(spec.hidden) if spec.fast else len(spec.channels) + 2 * spec.depth + 2
    else:
        try:
            # In a forked child: os._exit or a crash in the model's code ends the child, said in one line.
            params, width, layers, notes = in_child(spec.label, _check_user_model, config, dataset)
        except UserError:
            raise
        except BaseException as exc:  # the model's own code (sys.exit in forward, a lazy layer, vmap's probe)
            if not fails_only_its_work(exc):
                raise
            raise UserError(f"{spec.label}: the model fails on {dataset.name} examples of shape {dataset.in_shape}: "
                            f"{said(exc)}") from None
    return notes, params, width, layers


def _check_user_model(config: ExperimentConfig, dataset: Dataset) -> tuple[int, int, int, list[str]]:
    """Build the user's model once: it must have a kernel (a weight an initializer acts on) and outputs that
    fit the labels."""
    import torch

    spec, n_out = config.model, dataset.n_outputs
    try:
        model = build(spec, dataset.in_shape, n_out, seed=0)
    except (MemoryError, RuntimeError) as exc:
        if isinstance(exc, RuntimeError) and "memory" not in str(exc).lower():
            raise
        raise UserError(f"{spec.label}: not enough memory to build the model once") from None
    layers = weight_layers(model)
    if not any(s.kind == "kernel" for s in slots(model)):
        raise UserError(f"{spec.label}: the model has no kernel (a Linear, Conv, ConvTranspose, Bilinear, attention "
                        "or RNN weight), so no initializer could act on it")
    example = torch.as_tensor(dataset.x_train[:2])
    try:
        with torch.no_grad():
            out = model(example)
    except Exception as exc:  # (anything else: check() above)
        raise UserError(f"{spec.label}: the model fails on {dataset.name} examples of shape {dataset.in_shape}: "
                        f"{first_line(exc)}") from None
    want = "(batch, 1) or (batch,)" if n_out == 1 else f"(batch, {n_out})"
    classes = f"{dataset.n_classes} classes"
    if not isinstance(out, torch.Tensor):  # "shape tuple" read as nonsense: say what came back
        raise UserError(f"{spec.label}: it returns a {type(out).__name__}, not a tensor, for a batch of 2: it must "
                        f"return one tensor of shape {want} ({dataset.name} has {classes})")
    got = tuple(out.shape)
    ok = got == (2, n_out) or (n_out == 1 and got == (2,))
    if not ok:
        raise UserError(f"{spec.label}: its output has shape {got} for a batch of 2, but {dataset.name} has "
                        f"{classes}: it must be {want}")
    params = sum(p.numel() for p in model.parameters())
    width = widest(model, example)
    notes = []
    from initdash.engine.generic import vmap_problem

    problem = vmap_problem(model, example)
    if problem:
        notes.append(f"{spec.label}: {problem}; its runs train one model at a time (the same numbers; with "
                     "repeats, slower than batched)")
    return params, width, max(len(layers), 1), notes

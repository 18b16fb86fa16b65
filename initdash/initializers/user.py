"""A user's own initializer: `--init FILE.py:NAME[:key=value,...]` (or `package.module:NAME[:...]`), NAME a
callable `NAME(model, generator, **params)` that initializes the freshly built model in place, drawing from
the run's torch.Generator (Fixup, T-Fixup, GPT-2's scaled residual init, muP's init).

Loaded as a model file is (models/user.py: same rules, one-line errors); its text travels with the spec to
other processes (Ray workers) and its content hash is recorded in the session.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from initdash.errors import UserError
from initdash.initializers.catalog import InitSpec
from initdash.models.spec import digest
from initdash.models.user import named_callable, read_source, users_code

if TYPE_CHECKING:
    import torch

    from initdash.models.roles import Slot


def attach_sources(specs: Sequence[InitSpec], expect: dict[str, str] | None = None) -> tuple[InitSpec, ...]:
    """The specs, a user's ones with their file's text and hash; with `expect` (setting -> hash, from a stored
    session), refuse a file whose hash differs."""
    out = []
    for spec in specs:
        if spec.user:
            target = spec.name.rpartition(":")[0]
            text = read_source(target, "initializer", (expect or {}).get(spec.setting))
            spec = replace(spec, source=text, digest=digest(text))
        out.append(spec)
    return tuple(out)


def run_user(model: torch.nn.Module, spec: InitSpec, generator: torch.Generator,
             report: bool = True) -> list[tuple[Slot, bool]]:
    """Call the user's initializer on `model`; every parameter, and whether the initializer changed it (with
    `report`; without, nothing: the engine does not ask, and seeing it costs a copy of every parameter)."""
    import torch

    from initdash.models.roles import slots

    target, _, attr = spec.name.rpartition(":")
    fn = named_callable(target, attr, spec.source, spec.digest, "initializer",
                        "initializes (model, generator) in place")
    params = spec.resolved()
    try:
        inspect.signature(fn).bind(model, generator, **params)
    except TypeError as exc:
        raise UserError(f"{spec.label}: cannot be called as {attr}(model, generator"
                        + "".join(f", {k}=..." for k in params) + f"): {exc}") from None
    except ValueError:  # no signature to read (a builtin): the call itself will tell
        pass
    every = slots(model) if report else []
    # A write in place bumps a tensor's version (even to the same values); one through `.data` does not, but
    # then the values tell, unless they did not change.
    before = [(s.tensor._version, s.tensor.detach().clone()) for s in every]
    with users_code(spec.label, f"initializer {spec.name}"):
        fn(model, generator, **params)
    return [(s, s.tensor._version != v or not torch.equal(s.tensor.detach(), b)) for s, (v, b) in zip(every, before)]

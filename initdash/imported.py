"""An imported session is data: listed, reported, exported and shown. Continuing it (--open) trains only with
a model, data and executor named on that command line (or built-ins): nothing an export names is executed,
imported, opened or contacted, whatever the file says."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from initdash.errors import UserError

if TYPE_CHECKING:
    from initdash.config import ExperimentConfig

# What the user may name for an imported session: the model and data to use, and where to train.
NAMED = ("model", "data")


def trusted_config(session_id: int, config: ExperimentConfig, args: argparse.Namespace,
                   explicit: set[str]) -> ExperimentConfig:
    """The config an imported session trains again with: built-in model and data as recorded; a model or data
    file only as this command line names it (its content hash must be the recorded one: the same experiment);
    the executor as named here (local by default), never the file's Ray address."""
    from initdash.arguments import model_path
    from initdash.data import BUILTIN_DATA
    from initdash.models.spec import ModelSpec

    where = f"session {session_id} was imported"
    users = [spec.label for spec in config.initializers if spec.user]
    if users:  # an initializer file named by an export: the same code path as its model, never run from it
        raise UserError(f"{where} with a user's initializer ({', '.join(users[:3])}{', ...' if len(users) > 3 else ''}"
                        "): initdash never runs what an export names; it can be listed, reported and exported, "
                        "not trained again")
    missing, changes = [], {}
    m = config.model
    if m.builtin:
        if "model" in explicit and ModelSpec(name=model_path(args.model)).name != m.name:
            raise UserError(f"{where} with the built-in model {m.label}: leave out --model")
    elif "model" not in explicit:
        missing.append(f"--model FILE.py:{m.name.rpartition(':')[2]} (its model was {m.label})")
    else:
        if not m.digest:
            raise UserError(f"{where} from an export that records no content hash of its model ({m.label}): it "
                            "can be listed and exported, not trained again")
        given = ModelSpec(name=model_path(args.model), hidden=m.hidden, activation=m.activation,
                          channels=m.channels, depth=m.depth, digest=m.digest)
        if given.builtin or given.name.rpartition(":")[2] != m.name.rpartition(":")[2]:
            raise UserError(f"{where}: its model was {m.label}; --model {args.model} is another model")
        changes["model"] = given  # attach_source(expect=digest) refuses a file with other content
    if config.data in BUILTIN_DATA:
        if "data" in explicit and args.data != config.data:
            raise UserError(f"{where} with the built-in data {config.data}: leave out --data")
    elif "data" not in explicit:
        missing.append(f"--data FILE (its data was {Path(config.data).name})")
    elif not config.data_digest:
        raise UserError(f"{where} from an export that records no content hash of its data file: it can be listed "
                        "and exported, not trained again")
    else:
        changes["data"] = str(Path(args.data).expanduser().resolve())  # _same_data checks the content hash
    if missing:
        raise UserError(f"{where}: initdash never runs, opens or contacts what an export names; to train it again, "
                        f"pass {' and '.join(missing)}")
    changes["executor"] = args.executor if "executor" in explicit else "local"
    changes["ray_address"] = args.ray_address if "ray_address" in explicit else None
    return config.with_changes(**changes)

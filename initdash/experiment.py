"""The Experiment: everything a session needs, checked before anything is written, with ONE owner of the
slow parts (loading the data, connecting the executor) for the headless mode and the dashboard alike.
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from initdash.arguments import config_from_args, explicit_options
from initdash.errors import UserError

if TYPE_CHECKING:
    from initdash.config import ExperimentConfig
    from initdash.data import Dataset, Described
    from initdash.export.tensorboard import TensorBoardSink
    from initdash.session import Session
    from initdash.store import HistoryWriter
    from initdash.sweep import Executor


class Experiment:
    """Everything a session needs, checked: config, data, the executor, and where its history goes.

    `data` is the loaded Dataset, or (built-in data for the dashboard) its description, and `executor` may
    not be connected yet: `ready()` does both, once, for whoever asks first (headless at once, the dashboard
    from a worker thread after its first frame).
    """

    def __init__(self, config: ExperimentConfig, data: Described, store: HistoryWriter | None,
                 session: Session | None, opened: int | None, notes: list[str]) -> None:
        self.config, self.data, self.store, self.session, self.opened = config, data, store, session, opened
        self.notes = notes
        self.executor: Executor | None = None
        self.sink: TensorBoardSink | None = None  # --tensorboard: event files written while training
        self._lock = threading.Lock()

    def connect(self) -> Executor:
        """The executor the config asks for, connected once (Ray's errors are one-line UserErrors)."""
        from initdash.executors import connect

        with self._lock:
            if self.executor is None:
                self.executor = connect(self.config)
            return self.executor

    def ready(self) -> tuple[Dataset, Executor]:
        """The loaded data and the connected executor (loading and connecting on the first call)."""
        from initdash.data import Dataset, load

        executor = self.connect()
        with self._lock:
            if not isinstance(self.data, Dataset):
                self.data = load(self.config.data, self.config.target, self.config.split_seed)
            return self.data, executor

    def close(self) -> None:
        """Release the executor (bounded), the TensorBoard writer (its queue written out) and the history."""
        if self.executor is not None:
            self.executor.close()
        if self.sink is not None:
            self.sink.close()
        if self.store is not None:
            self.store.close()


def prepare(args: argparse.Namespace, argv: list[str], load_now: bool = True) -> Experiment:
    """Validate everything before anything is written: settings, data, model, outputs, executor; then open the
    history and start (or continue) the session.

    Built-in data with a built-in model cannot fail to load: unless `load_now`, it is only described here
    (the dashboard loads it after painting its first frame). Files are loaded, so their errors come first.
    """
    from initdash import imported, models
    from initdash.audit import coverage
    from initdash.config import RUNTIME_SETTINGS, open_may_change
    from initdash.data import builtin_info, load
    from initdash.export.json_csv import IMPORTED_CSV
    from initdash.export.paths import check_out_dir, check_out_path
    from initdash.initializers.user import attach_sources
    from initdash.isolated import in_child
    from initdash.models import fit
    from initdash.session import SWEEP_RUNNING
    from initdash.store import HistoryWriter, default_path, open_reader

    session, elsewhere = None, []
    if args.open is None:
        config = config_from_args(args)
        check_device(config)
        config = config.with_changes(model=models.attach_source(config.model),
                                     initializers=attach_sources(config.initializers))
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
        elsewhere = [s.sweep_id for s in session.sweeps if s.state == SWEEP_RUNNING]
        session.sweeps = [s for s in session.sweeps if s.state != SWEEP_RUNNING]
        config = session.config
        if config.data.startswith(IMPORTED_CSV):
            raise UserError(f"session {args.open} was imported from a CSV export, which records neither its data "
                            "nor its settings: it can be listed and exported, not continued")
        explicit = explicit_options(argv)
        if session.imported:
            config = imported.trusted_config(args.open, config, args, explicit)
        elif set(imported.NAMED) & explicit:
            flags = ", ".join(f"--{k}" for k in imported.NAMED if k in explicit)
            raise UserError(f"{flags} cannot be combined with --open: session {args.open} keeps its own settings "
                            + open_may_change())
        changes = {k: getattr(args, k) for k in RUNTIME_SETTINGS if k in explicit}
        if changes.get("executor") == "local":
            changes.setdefault("ray_address", None)
        config = config.with_changes(**changes)
        check_device(config)
        dataset = _same_data(args.open, config, session.data_label, load_now)
        config = config.with_changes(model=models.attach_source(config.model, expect=config.model.digest),
                                     initializers=attach_sources(config.initializers,
                                                                 {s.setting: s.digest for s in config.initializers}))
    notes = fit.check(config, dataset)
    # Recorded with the session: what initialization leaves to the module, said once. A built-in model with
    # catalog initializers leaves nothing; otherwise the user's code runs once, in a forked child like the
    # model's own check.
    users = ", ".join(s.label for s in config.initializers if s.user)
    if args.open is None and (users or not config.model.builtin):
        config = config.with_changes(left_to_module=in_child(users or config.model.label, coverage, config, dataset))
    notes += config.left_to_module
    if elsewhere:
        ids = ", ".join(map(str, elsewhere))
        which = "sweeps" if len(elsewhere) > 1 else "sweep"
        notes.append(f"{which} {ids} of session {args.open} still training in another process: not shown here")
    if args.out is not None:
        inputs = {"data file": Path(config.data) if dataset.digest else None,
                  "model file": models.source_path(config.model), "config file": args.config,
                  **{f"initializer file of {s.label}": Path(s.name.rpartition(":")[0])
                     for s in config.initializers if s.user and s.name.rpartition(":")[0].endswith(".py")},
                  "history database": None if args.no_save else (args.db or default_path())}
        check_out_path(args.out, inputs)
    if args.tensorboard is not None:
        from initdash.export import tensorboard

        tensorboard.require()
        check_out_dir(args.tensorboard, "--tensorboard", empty=False)
    experiment = Experiment(config, dataset, None, session, args.open, notes)
    try:
        # The dashboard paints before Ray loads: it connects after its first frame (same one-line errors).
        if load_now or config.executor != "ray":
            experiment.connect()
        if not args.no_save:
            experiment.store = HistoryWriter.open(args.db)
            if args.open is None:
                experiment.store.start_session(config, dataset.describe())
            else:
                experiment.store.continue_session(args.open, config)
        if args.tensorboard is not None:
            experiment.sink = _sink(args.tensorboard, experiment.store)
    except BaseException:
        experiment.close()
        raise
    return experiment


def _sink(root: Path, store: HistoryWriter | None) -> TensorBoardSink:
    """The TensorBoard writer of this session: DIR/sessionN (its history id), so sessions can share a log
    directory; DIR/unsaved-DATE-TIME under --no-save."""
    from datetime import datetime

    from initdash.export.tensorboard import TensorBoardSink

    name = f"session{store.session_id}" if store is not None and store.session_id is not None \
        else f"unsaved-{datetime.now():%Y%m%d-%H%M%S}"
    return TensorBoardSink(root / name)


def _same_data(session_id: int, config: ExperimentConfig, recorded: str, load_now: bool) -> Described:
    """A session is one experiment: its data file must be the very one it trained on (the same bytes). Built-in
    data is the same by construction: as for a new session, only described unless `load_now`."""
    from initdash.data import builtin_info, load

    if not config.data_digest:
        info = builtin_info(config.data, config.target)
        if info is not None and config.model.builtin and not load_now:
            return info
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

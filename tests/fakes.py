"""Sessions made of hand-written events (no torch, no threads): fixed numbers for stats and store tests."""

from __future__ import annotations

from initdash.config import PAIRED, ExperimentConfig
from initdash.events import DIVERGED, METRICS, OK, EpochDone, EpochReport, Event, RunOutcome, UnitFinished, UnitStarted
from initdash.initializers import parse_list
from initdash.models.spec import ModelSpec
from initdash.recorder import Recorder
from initdash.session import Session

NAN = float("nan")


def experiment(hidden: tuple[int, ...] = (), activation: str = "relu", model: str | ModelSpec = "linear",
               **settings) -> ExperimentConfig:
    """An ExperimentConfig, with the model's settings given flat (hidden=..., activation=...) as the flags do."""
    spec = model if isinstance(model, ModelSpec) else ModelSpec(name=model, hidden=tuple(hidden), activation=activation)
    return ExperimentConfig(model=spec, **settings)


def config(inits: str = "he_normal,zeros,uniform,normal", repeats: int = 2, epochs: int = 2,
           seed: int = 7, design: str = PAIRED) -> ExperimentConfig:
    """A small config; only its labels, repeats, epochs and design matter to the fakes."""
    return ExperimentConfig(initializers=parse_list(inits), repeats=repeats, epochs=epochs, seed=seed,
                            design=design)  # type: ignore[arg-type]


def metrics(final: float, epoch: int, epochs: int) -> dict[str, float]:
    """Metrics of one epoch, ending at `final` (accuracies) and 1 - final (losses) at the last epoch."""
    lag = (epochs - epoch) * 0.01
    acc = final - lag
    return {"loss": 1.0 - acc, "accuracy": acc, "val_loss": 1.0 - final + lag, "val_accuracy": final - lag}


def run_events(sweep_id: int, label: str, finals: list[float | None], epochs: int = 2,
               seed0: int = 1000) -> list[Event]:
    """One worker's events: per repeat a final val_accuracy, or None for a run that diverges after epoch 0."""
    seeds = tuple(seed0 + 17 * sweep_id + i for i in range(len(finals)))
    histories: list[list[dict[str, float]]] = [[] for _ in finals]
    statuses = [OK] * len(finals)
    out: list[Event] = [UnitStarted(sweep_id, label, seeds)]
    for epoch in range(epochs + 1):
        values: dict[str, list[float]] = {m: [] for m in METRICS}
        for i, final in enumerate(finals):
            if final is None and epoch >= 1:
                statuses[i] = DIVERGED
            row = metrics(0.5 if final is None else final, epoch, epochs)
            for m in METRICS:
                values[m].append(row[m] if statuses[i] == OK else NAN)
            if statuses[i] == OK:
                histories[i].append({"epoch": epoch, **row})
        out.append(EpochDone(sweep_id, label, EpochReport(epoch, {m: tuple(v) for m, v in values.items()},
                                                          tuple(statuses))))
    out.append(UnitFinished(sweep_id, label, tuple(RunOutcome(s, st, tuple(h))
                                                  for s, st, h in zip(seeds, statuses, histories))))
    return out


def sweep_events(sweep_id: int, finals: dict[str, list[float | None]], epochs: int = 2) -> list[Event]:
    """Every worker's events of one sweep, interleaved the way parallel workers would send them."""
    streams = [run_events(sweep_id, label, f, epochs) for label, f in finals.items()]
    out = []
    for i in range(max(len(s) for s in streams)):
        out += [s[i] for s in streams if i < len(s)]
    return out


def make_session(sweeps: list[dict[str, list[float | None]]], cfg: ExperimentConfig | None = None,
                 store=None, design: str = PAIRED) -> Session:
    """A Session fed sweep by sweep through a Recorder (and into the store too, if given, as the headless mode
    does: a store error fails the test). Repeat k of every initializer is a pair in the paired design."""
    cfg = cfg or config(",".join(sweeps[0]), repeats=len(next(iter(sweeps[0].values()))), design=design)
    session = Session(cfg, "fake data (synthetic, 6/4 train/val, 4 features)")
    if store is not None and store.session_id is None:
        store.start_session(cfg, session.data_label)
    recorder = Recorder(session, store, on_store_error=_store_failed)
    for finals in sweeps:
        sid = recorder.begin_sweep(cfg)
        for event in sweep_events(sid, finals, cfg.epochs):
            recorder.apply(event)
    return session


def _store_failed(message: str) -> None:
    raise AssertionError(f"history store failed: {message}")

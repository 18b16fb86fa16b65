"""TensorBoard both ways: export and --tensorboard write runs that tensorboard's own reader reads back with the
JSON export's values; `initdash report DIR` summarizes runs written by another tool (torch's SummaryWriter)."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
from fakes import run_events

from initdash import stats
from initdash.cli import main
from initdash.events import LAYER_METRICS, METRICS
from initdash.export import tensorboard
from initdash.export.tensorboard import EventWriter, TensorBoardSink, run_name
from initdash.recorder import Recorder
from initdash.session import Session

pytest.importorskip("tensorboard")


def read_runs(root: Path) -> dict[str, dict]:
    """Every run under root, read with tensorboard's own EventAccumulator: hparams, scalars, status words."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata
    from tensorboard.util import tensor_util

    out = {}
    for folder, _, files in os.walk(root):
        if not any(f.startswith("events.out.tfevents.") for f in files):
            continue
        acc = EventAccumulator(folder, size_guidance={"scalars": 0, "tensors": 0})
        acc.Reload()
        content = acc.PluginTagToContent("hparams")
        start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
        hp = {k: getattr(v, v.WhichOneof("kind")) for k, v in start.hparams.items()}
        end = metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG]).status \
            if metadata.SESSION_END_INFO_TAG in content else None
        words = [tensor_util.make_ndarray(e.tensor_proto).item().decode() for e in acc.Tensors("status")]
        scalars = {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}
        out[Path(folder).relative_to(root).as_posix()] = {"hparams": hp, "group": start.group_name, "end": end,
                                                          "status": words, "scalars": scalars}
    return out


def f32(x: float) -> float:
    return float(np.float32(x))


def test_export_and_live_read_back_as_one_run_per_seed_with_the_json_values(tmp_path, capsys):
    # --tensorboard from a config file (the TOML key), a real training with per-layer statistics (asked for).
    cfg = tmp_path / "run.toml"
    cfg.write_text(f'tensorboard = "{tmp_path / "live"}"\nlayer-stats = true\n')
    db = tmp_path / "h.db"
    rc = main(["--headless", "--epochs", "2", "--hidden", "4", "--init", "zeros,normal:std=0.5", "--repeats", "2",
               "--seed", "3", "--db", str(db), "--out", str(tmp_path / "run.json"), "--config", str(cfg)])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert f"wrote TensorBoard runs in {tmp_path / 'live' / 'session1'}" in err
    assert main(["export", "1", "--format", "tensorboard", "--out", str(tmp_path / "tb"), "--db", str(db)]) == 0
    exported, live = read_runs(tmp_path / "tb"), read_runs(tmp_path / "live" / "session1")

    doc = json.loads((tmp_path / "run.json").read_text())
    assert len(exported) == len(doc["runs"]) == 4  # one run per (initializer, seed)
    for run in doc["runs"]:
        name = run_name(run["sweep"], run["initializer"], run["repeat"])
        got = exported[name]
        assert got["hparams"]["initializer"] == run["initializer"] and got["group"] == run["initializer"]
        assert got["hparams"]["seed"] == str(run["seed"]) and got["hparams"]["repeat"] == run["repeat"]
        assert got["hparams"]["optimizer"] == "rmsprop" and got["hparams"]["epochs"] == 2
        assert got["status"] == ["running", run["status"]] and got["end"] == 1  # STATUS_SUCCESS
        for m in METRICS:
            assert got["scalars"][m] == [(h["epoch"], f32(h[m])) for h in run["history"]]
        for m in LAYER_METRICS:
            for layer, name_ in enumerate(run["layer_names"]):
                tag = f"layers/{m}/{name_}"
                want = [(h["epoch"], f32(h[m][layer])) for h in run["history"] if h[m][layer] is not None]
                assert got["scalars"].get(tag, []) == want
    assert exported["sweep1/normal%3Astd=0.5/repeat0"]["hparams"]["initializer.std"] == 0.5
    # Live writes the same runs, tags, steps, values and hparams.
    assert {k: (v["hparams"], v["scalars"], v["status"]) for k, v in live.items()} == \
        {k: (v["hparams"], v["scalars"], v["status"]) for k, v in exported.items()}


def test_stopped_runs_are_marked_in_their_status(tmp_path):
    """Cancelled (a rerun replaced the sweep) and interrupted runs end so in the HParams status and the text."""
    from fakes import config

    cfg = config("zeros,he_normal", repeats=2, epochs=3)
    sink = TensorBoardSink(tmp_path)
    recorder = Recorder(Session(cfg, "fake"), sink=sink)
    for sweep, state in ((1, "cancelled"), (2, "interrupted")):
        recorder.begin_sweep(cfg)
        events = run_events(sweep, "zeros", [0.9, 0.8], epochs=3)
        for event in events[:3]:  # started, epochs 0 and 1
            recorder.apply(event)
        for event in run_events(sweep, "he_normal", [0.7, None], epochs=3):  # he_normal ends: one ok, one diverged
            recorder.apply(event)
        if state == "interrupted":
            recorder.end_sweep("interrupted")
    sink.close()
    runs = read_runs(tmp_path)
    assert runs["sweep1/zeros/repeat0"]["status"] == ["running", "cancelled"]
    assert runs["sweep2/zeros/repeat1"]["status"] == ["running", "interrupted"]
    assert runs["sweep2/zeros/repeat1"]["end"] == 0  # STATUS_UNKNOWN: the proto has no "aborted"
    assert [s for s, _ in runs["sweep2/zeros/repeat1"]["scalars"]["loss"]] == [0, 1]
    assert runs["sweep1/he_normal/repeat0"]["status"][-1] == "ok"
    assert runs["sweep1/he_normal/repeat1"]["status"][-1] == "diverged"
    assert runs["sweep1/he_normal/repeat1"]["end"] == 2  # STATUS_FAILURE
    assert sink.error is None


def test_labels_become_safe_directory_names(tmp_path):
    writer = EventWriter(tmp_path)
    cfg = Session(config_with("zeros"), "x").config
    for label in ("../../evil", "a/b", ".."):
        writer.apply(run_events(1, label, [0.5])[0], cfg, "x")
    names = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.glob("sweep1/*"))
    assert names == ["sweep1/%2E%2E", "sweep1/..%2F..%2Fevil", "sweep1/a%2Fb"]
    assert run_name(2, "he_normal", 1, {"lr": 0.01, "width": 64}) == "sweep2/he_normal/lr=0.01/width=64/repeat1"


def config_with(labels: str):
    from fakes import config

    return config(labels, repeats=1)


def write_other_tools_runs(root: Path) -> dict[str, list[float]]:
    """Runs as a plain PyTorch script writes them: add_scalar per step, then add_hparams (which puts the hparams
    in a timestamped subdirectory); and runs named init=NAME/seed=K with no hparams at all."""
    from torch.utils.tensorboard import SummaryWriter

    finals: dict[str, list[float]] = {"adam": [], "sgd": [], "lion": []}
    rng = np.random.default_rng(0)
    for init, base in (("adam", 0.9), ("sgd", 0.8)):
        for seed in range(4):
            with SummaryWriter(str(root / f"{init}_{seed}")) as w:
                for step in range(3):
                    value = base - 0.1 * (2 - step) + 0.01 * rng.standard_normal()
                    w.add_scalar("acc/val", value, step)
                w.add_hparams({"optim": init, "seed": seed}, {"hparam/acc": value})
                finals[init].append(f32(value))
    for seed in range(2):
        with SummaryWriter(str(root / "optim=lion" / f"seed={seed}")) as w:
            w.add_scalar("acc/val", 0.5 + seed / 10, 0)
            finals["lion"].append(f32(0.5 + seed / 10))
    return finals


def test_report_summarizes_another_tools_directory(tmp_path, capsys):
    finals = write_other_tools_runs(tmp_path)
    assert main(["report", str(tmp_path), "--group-by", "optim", "--metric", "acc/val"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "acc/val at each run's last step, by optim: 10 runs in 3 groups (higher is better)"
    rows = {line.split()[0]: line for line in lines[3:6]}
    for group, values in finals.items():
        mean, std = np.mean(values), np.std(values, ddof=1)
        assert rows[group].split()[1] == str(len(values))
        assert f"{mean:.4f} ± {std:.4f}" in rows[group]
    low, high = stats.confidence_interval(finals["adam"])
    assert f"[{low:.4f}, {high:.4f}]" in rows["adam"] and rows["adam"].endswith("best")
    p, lo, hi = stats.probability_of_improvement(finals["adam"], finals["sgd"], "accuracy")
    head = f"adam beats sgd in {p:.0%} of run pairs (95% interval {stats.percent_interval(lo, hi)})"
    # 4 runs against 4, three groups: no Mann-Whitney result can reach 5% after Holm over 3 pairs: said so
    assert f"{head}: not clear: 4 runs each can never reach the 5% level (Mann-Whitney U, Holm over 3 pairs)" in out
    assert "lion" in rows and "n too small" in rows["lion"]


def test_report_errors_are_one_line(tmp_path, capsys):
    write_other_tools_runs(tmp_path / "runs")
    (tmp_path / "empty").mkdir()
    cases = [(["report", str(tmp_path / "empty")], "no TensorBoard event files"),
             (["report", str(tmp_path / "runs"), "--group-by", "optim"], "has the scalar 'val_accuracy'"),
             (["report", str(tmp_path / "runs"), "--metric", "acc/val", "--group-by", "nope"],
              "hparams: optim, seed"),
             (["report", str(tmp_path / "nowhere")], "is neither a session id (a whole number) nor an export")]
    for argv, words in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err, err


def test_without_tensorboard_one_line_names_the_install(tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    for argv in (["export", "1", "--format", "tensorboard", "--out", str(tmp_path / "tb")],
                 ["report", str(tmp_path)],
                 ["--headless", "--epochs", "1", "--tensorboard", str(tmp_path / "tb")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and tensorboard.INSTALL in err, err
    assert not (tmp_path / "tb").exists()


def test_export_refuses_a_directory_with_files(tmp_path, capsys):
    (tmp_path / "tb").mkdir()
    (tmp_path / "tb" / "keep.txt").write_text("x")
    assert main(["export", "1", "--format", "tensorboard", "--out", str(tmp_path / "tb")]) == 2
    assert "not empty" in capsys.readouterr().err


def test_events_of_every_kind_reach_the_sink_once():
    """The Recorder hands the sink exactly the events the Session accepted (none of a replaced sweep)."""
    class Sink:
        def __init__(self):
            self.events, self.ended = [], []

        def accept(self, event, config, data_label):
            self.events.append(event)

        def end_sweep(self, sweep_id, statuses):
            self.ended.append((sweep_id, statuses))

    from fakes import config

    sink = Sink()
    recorder = Recorder(Session(config("zeros"), "x"), sink=sink)
    recorder.begin_sweep()
    old = run_events(1, "zeros", [0.5, 0.6])
    recorder.apply(old[0])
    recorder.begin_sweep()  # a rerun: sweep 1 ends as cancelled
    assert not recorder.apply(old[1])  # a late event of the replaced sweep is dropped, for the sink too
    assert sink.events == [old[0]] and sink.ended == [(1, {"zeros": ["cancelled", "cancelled"]})]


def test_a_grid_live_and_exported_writes_one_tree_and_a_stopped_grid_sweep_ends_its_runs(tmp_path):
    """Live (the Recorder's sink, fed units) and export (a replay of the Session's cells) write the same runs:
    sweepN/<initializer>/lr=X/width=W/repeatK with the cell's HParams; a grid unit that failed before starting
    keeps its rates apart; a cancelled or interrupted grid sweep ends every run it started."""
    from recorded_grid import grid_config, grid_events

    from initdash.events import UnitFailed
    from initdash.session import SWEEP_INTERRUPTED

    cfg = grid_config(widths=(16, 64), lrs=(0.01, 0.1), repeats=3, epochs=2)
    sink = TensorBoardSink(tmp_path / "live")
    recorder = Recorder(Session(cfg, "tiny"), sink=sink, on_failure=lambda event: None)

    def unit_events(sweep: int, key: str) -> list:
        return [e for e in grid_events(cfg, sweep) if e.initializer == key]

    recorder.begin_sweep(cfg)
    for key in ("normal w=64", "he_normal w=16", "he_normal w=64", "lecun_normal w=16"):
        for event in unit_events(1, key):
            recorder.apply(event)
    # failed before starting: as train_unit says it (every run, each with its rate), and as a dead worker process
    # does (its repeats' seeds, no rates)
    recorder.apply(UnitFailed(1, "lecun_normal w=64", "boom", "", (200, 201, 202) * 2, (0.01,) * 3 + (0.1,) * 3))
    recorder.apply(UnitFailed(1, "normal w=16", "died", "", (0, 1, 2)))
    for sweep in (2, 3):
        recorder.begin_sweep(cfg)  # sweep 2 ends cancelled when sweep 3 begins
        for event in unit_events(sweep, "he_normal w=64")[:2]:  # started, epoch 0
            recorder.apply(event)
    recorder.end_sweep(SWEEP_INTERRUPTED)
    sink.close()
    assert sink.error is None
    tensorboard.write(recorder.session, tmp_path / "tb")
    live, exported = read_runs(tmp_path / "live"), read_runs(tmp_path / "tb")
    assert live == exported

    sweep1 = sorted(k for k in live if k.startswith("sweep1/"))
    assert len(sweep1) == 3 * 2 * 2 * 3  # initializers x rates x widths x repeats
    run = live["sweep1/he_normal/lr=0.1/width=64/repeat2"]
    assert {k: run["hparams"][k] for k in ("initializer", "initializer_name", "lr", "width", "repeat", "seed")} == \
        {"initializer": "he_normal", "initializer_name": "he_normal", "lr": 0.1, "width": 64, "repeat": 2,
         "seed": "102"}
    assert run["group"] == "he_normal lr=0.1 width=64" and run["status"] == ["running", "ok"] and run["end"] == 1
    for lr in ("0.01", "0.1"):
        for repeat in range(3):
            for failed in (f"sweep1/lecun_normal/lr={lr}/width=64/repeat{repeat}",
                           f"sweep1/normal/lr={lr}/width=16/repeat{repeat}"):
                assert live[failed]["status"] == ["running", "failed"] and live[failed]["end"] == 2
    assert "sweep1/lecun_normal/lr=0.01/width=64/repeat3" not in live  # one cell's rates are not mixed in
    for sweep, word in ((2, "cancelled"), (3, "interrupted")):
        stopped = {k: v for k, v in live.items() if k.startswith(f"sweep{sweep}/")}
        assert len(stopped) == 2 * 3  # he_normal at width 64: both rates, every repeat
        assert all(v["status"] == ["running", word] and v["end"] == 0 for v in stopped.values())

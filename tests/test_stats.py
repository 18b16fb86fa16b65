"""Statistics across reruns against values computed by hand."""

import math
import subprocess
import sys

import numpy as np
import pytest
from fakes import config, make_session, run_events, sweep_events

from initdash import stats
from initdash.events import RunFailed
from initdash.stats import compute, confidence_interval, ranks, stats_table

THREE = [  # val_accuracy at the end of each run: 3 sweeps x 2 repeats
    {"he_normal": [0.90, 0.92], "zeros": [0.50, 0.50], "uniform": [0.80, 0.84], "normal": [0.82, 0.86]},
    {"he_normal": [0.94, 0.90], "zeros": [0.50, 0.52], "uniform": [0.86, 0.80], "normal": [0.80, 0.82]},
    {"he_normal": [0.92, 0.92], "zeros": [0.48, 0.50], "uniform": [0.84, 0.82], "normal": [0.84, 0.86]},
]


@pytest.mark.parametrize(("df", "table", "precise"), [
    (2, 4.303, 4.3026527297), (5, 2.571, 2.5705818356), (10, 2.228, 2.2281388520),
    (29, 2.045, 2.0452296421), (30, 2.042, 2.0422724563), (100, 1.984, 1.9839715185), (1000, 1.962, 1.9623390808)])
def test_ci_half_width_uses_student_t_from_tables(df, table, precise):
    values = [float(v) for v in np.random.default_rng(df).normal(10.0, 2.0, df + 1)]
    low, high = confidence_interval(values)
    _, std = stats.mean_std(values)
    t = (high - low) / 2 / (std / math.sqrt(df + 1))
    assert round(t, 3) == table
    assert t == pytest.approx(precise, abs=1e-8)


def test_ci_other_levels():
    values = [1.0, 2.0, 4.0, 8.0, 16.0]  # df 4
    _, std = stats.mean_std(values)
    low, high = confidence_interval(values, confidence=0.99)
    assert (high - low) / 2 == pytest.approx(4.604094871 * std / math.sqrt(5), abs=1e-8)
    values = values + [32.0, 64.0, 128.0]  # df 7, 80%: the 0.9 quantile
    _, std = stats.mean_std(values)
    low, high = confidence_interval(values, confidence=0.8)
    assert (high - low) / 2 == pytest.approx(1.414923928 * std / math.sqrt(8), abs=1e-8)


def test_confidence_interval_by_hand():
    # mean 0.2, sample std 0.1, n 3: 0.2 ± t(0.975, 2) * 0.1 / sqrt(3) = 0.2 ± 4.302653 * 0.0577350
    low, high = confidence_interval([0.1, 0.2, 0.3])
    assert (low, high) == (pytest.approx(0.2 - 0.248414, abs=1e-6), pytest.approx(0.2 + 0.248414, abs=1e-6))
    assert all(math.isnan(x) for x in confidence_interval([0.5]))
    assert all(math.isnan(x) for x in confidence_interval([0.5, 0.6]))  # below n = 3: no interval


def test_ci_is_clipped_to_the_metric_range():
    assert confidence_interval([0.1, 0.2, 0.3], (0.0, 0.35)) == (0.0, 0.35)
    assert stats.metric_range("val_accuracy") == (0.0, 1.0) and stats.metric_range("loss") == (0.0, math.inf)
    session = make_session([{"he_normal": [1.0, 0.90, 1.0], "zeros": [0.5, 0.5, 0.5]}])
    acc = compute(session, "val_accuracy").get("he_normal")
    assert acc.ci_high == 1.0 and 0.8 < acc.ci_low < acc.mean  # unclipped it would reach 1.11
    loss = compute(session, "val_loss").get("he_normal")  # the fakes' val_loss is 1 - val_accuracy
    assert loss.ci_low == 0.0 and loss.mean < loss.ci_high < 0.2


def test_below_three_runs_the_ci_says_n_too_small():
    # n = 2 for an accuracy used to show as [-1.42, 2.34]
    text = stats_table(make_session([{"he_normal": [0.9, 0.91], "zeros": [0.5, 0.52]}]))
    he = next(line for line in text.splitlines() if line.startswith("he_normal"))
    assert "n too small" in he and "[" not in he
    assert not compute(make_session([{"he_normal": [0.9, 0.91]}])).get("he_normal").has_ci


def test_import_stays_cheap():
    code = "import sys, initdash.stats; print('scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_mean_std_ci_per_initializer():
    s = compute(make_session(THREE))
    he = s.get("he_normal")
    # 0.90 0.92 0.94 0.90 0.92 0.92: mean 5.5/6; squared deviations sum to 0.0034/3, so var = 0.0034/15
    assert he.n == 6
    assert he.mean == pytest.approx(5.5 / 6, abs=1e-12)
    assert he.std == pytest.approx(math.sqrt(0.0034 / 15), abs=1e-12)
    half = 2.5705818356 * math.sqrt(0.0034 / 15) / math.sqrt(6)
    assert (he.ci_low, he.ci_high) == (pytest.approx(5.5 / 6 - half, abs=1e-9), pytest.approx(5.5 / 6 + half, abs=1e-9))
    zeros = s.get("zeros")  # 0.5 0.5 0.5 0.52 0.48 0.5: squared deviations 0.0008
    assert (zeros.mean, zeros.std) == (pytest.approx(0.5, abs=1e-12), pytest.approx(math.sqrt(0.0008 / 5), abs=1e-12))
    assert s.get("uniform").mean == pytest.approx(4.96 / 6, abs=1e-12)
    assert s.get("normal").mean == pytest.approx(5.0 / 6, abs=1e-12)


def test_ranks_changes_and_wins():
    # sweep means: 2: he .92, uniform .83, normal .81, zeros .51; 3: he .92, normal .85, uniform .83, zeros .49
    s = compute(make_session(THREE))
    assert s.sweeps == 3 and s.latest_sweep == 3
    got = {i.label: (i.rank, i.change, i.wins) for i in s.inits}
    assert got == {"he_normal": (1, "=", 3), "normal": (2, "↑1", 0), "uniform": (3, "↓1", 0), "zeros": (4, "=", 0)}
    pair = s.pair("he_normal", "zeros")
    assert (pair.a_wins, pair.b_wins, pair.sweeps, pair.clear) == (3, 0, 3, True)
    flipped = s.pair("uniform", "normal")
    assert (flipped.a_wins, flipped.b_wins, flipped.clear) == (1, 2, False)


def test_loss_ranks_lower_first_and_ties_share_the_best_rank():
    assert ranks({"a": 0.5, "b": 0.5, "c": 0.4}, "val_accuracy") == {"a": 1, "b": 1, "c": 3}
    assert ranks({"a": 0.5, "b": 0.5, "c": 0.4}, "loss") == {"a": 2, "b": 2, "c": 1}
    sweeps = [{"zeros": [0.7], "ones": [0.7], "uniform": [0.6]}] * 2
    s = compute(make_session(sweeps), "val_accuracy")
    assert [(i.rank, i.wins) for i in s.inits] == [(1, 2), (1, 2), (3, 0)]
    # the fakes' val_loss is 1 - val_accuracy: lower is better, so the same order
    s = compute(make_session(sweeps), "val_loss")
    assert [i.mean for i in s.inits] == [pytest.approx(0.3), pytest.approx(0.3), pytest.approx(0.4)]
    assert [(i.rank, i.wins) for i in s.inits] == [(1, 2), (1, 2), (3, 0)]


def test_first_sweep_has_no_change_and_a_new_initializer_is_new():
    session = make_session([{"zeros": [0.6], "ones": [0.7]}])
    assert [i.change for i in compute(session).inits] == ["", ""]
    cfg = config("zeros,ones,he_normal", repeats=1)
    session.begin_sweep(2, cfg)
    for event in sweep_events(2, {"zeros": [0.6], "ones": [0.7], "he_normal": [0.9]}):
        session.apply(event)
    s = compute(session)
    assert [(i.label, i.rank, i.change) for i in s.inits] == [("zeros", 3, "↓1"), ("ones", 2, "↓1"),
                                                              ("he_normal", 1, "new")]


def test_diverged_failed_and_cancelled_runs_are_not_counted():
    session = make_session([{"zeros": [0.6, None], "ones": [0.7, 0.8]}])
    s = compute(session)
    assert (s.get("zeros").n, s.get("ones").n) == (1, 2)
    session.begin_sweep(2)
    for event in run_events(2, "zeros", [0.9, 0.9])[:2]:  # started, one epoch, then the worker raised
        session.apply(event)
    session.apply(RunFailed(2, "zeros", "RuntimeError: boom", ""))
    for event in run_events(2, "ones", [0.1, 0.1]):
        session.apply(event)
    s = compute(session)
    assert (s.get("zeros").n, s.get("ones").n, s.sweeps) == (1, 4, 2)
    assert s.get("zeros").rank is None and s.get("ones").rank == 1
    session.begin_sweep(3)  # a sweep still running (or cancelled) never counts
    for event in run_events(3, "zeros", [0.99, 0.99])[:-1]:
        session.apply(event)
    assert compute(session).get("zeros").n == 1


def test_summary_clear_and_unclear():
    s = compute(make_session(THREE))
    assert s.summary == ("he_normal beats zeros in 3 of 3 sweeps (95% CIs do not overlap); "
                         "normal vs uniform: no clear difference (95% CIs overlap)")
    close = compute(make_session([{"he_normal": [0.80], "zeros": [0.78]}, {"he_normal": [0.79], "zeros": [0.81]},
                                  {"he_normal": [0.82], "zeros": [0.80]}]))
    assert close.summary == "he_normal beats zeros in 2 of 3 sweeps, but their 95% CIs overlap: no clear difference"
    assert not close.pair("he_normal", "zeros").clear


def test_summary_says_when_there_is_too_little_data():
    assert compute(make_session([{"he_normal": [0.9], "zeros": [0.5]}])).summary == \
        "only 1 sweep so far: rerun to compare"
    few = compute(make_session([{"he_normal": [0.9, 0.91], "zeros": [0.5, None]}]))
    assert few.summary == "he_normal beats zeros in 1 of 1 sweep; too few runs to tell (n=1 for zeros)"
    assert not few.pair("he_normal", "zeros").clear  # the means are far apart, but n = 1 proves nothing
    empty = make_session([{"zeros": [0.5]}])
    empty.begin_sweep(2)
    empty.sweeps = empty.sweeps[1:]
    assert compute(empty).summary == "no completed sweep yet"


def test_every_neighbour_clear():
    s = compute(make_session([{"he_normal": [0.90, 0.91], "uniform": [0.70, 0.71], "zeros": [0.50, 0.51]}] * 2))
    assert s.summary == ("he_normal beats zeros in 2 of 2 sweeps (95% CIs do not overlap); "
                         "every neighbour in the ranking differs clearly (95% CIs do not overlap)")


def test_stats_table_text():
    text = stats_table(make_session(THREE))
    lines = text.splitlines()
    assert lines[0] == ("val_accuracy at the end of training over 3 completed sweeps "
                        "(higher is better; rank and change in sweep 3)")
    assert lines[1].split() == ["initializer", "n", "mean", "±", "std", "95%", "CI", "rank", "change", "wins"]
    he = lines[3]
    assert he.startswith("he_normal") and "0.9167 ± 0.0151" in he and "[0.9009, 0.9325]" in he
    assert he.split()[-3:] == ["1", "=", "3"]
    assert lines[-1].startswith("he_normal beats zeros in 3 of 3 sweeps")
    with pytest.raises(ValueError):
        stats_table(make_session(THREE), "f1")

"""Statistics across reruns against values computed by hand (and scipy's where it has them)."""

import math
import subprocess
import sys

import numpy as np
import pytest
from fakes import config, make_session, run_events, sweep_events
from scipy import stats as sps

from initdash import improvement, stats
from initdash.config import INDEPENDENT
from initdash.events import UnitFailed
from initdash.stats import (
    PairStats,
    compute,
    confidence_interval,
    improvement_text,
    probability_of_improvement,
    ranks,
    stats_table,
)
from initdash.ui.views import spread_lines

THREE = [  # val_accuracy at the end of each run: 3 sweeps x 2 repeats (compared as independent runs below)
    {"he_normal": [0.90, 0.92], "zeros": [0.50, 0.50], "uniform": [0.80, 0.84], "normal": [0.82, 0.86]},
    {"he_normal": [0.94, 0.90], "zeros": [0.50, 0.52], "uniform": [0.86, 0.80], "normal": [0.80, 0.82]},
    {"he_normal": [0.92, 0.92], "zeros": [0.48, 0.50], "uniform": [0.84, 0.82], "normal": [0.84, 0.86]},
]


def fresh(a, b, metric="val_accuracy"):
    """probability_of_improvement without its memo: what a fresh process would compute."""
    improvement._improvement.cache_clear()
    improvement._resample_counts.cache_clear()
    return probability_of_improvement(a, b, metric)


# --- confidence intervals of the mean --------------------------------------------------------------------

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


# --- probability of improvement ----------------------------------------------------------------------------

def test_probability_of_improvement_known_values():
    assert fresh([0.9, 0.8, 0.95], [0.1, 0.2, 0.3, 0.4]) == (1.0, 1.0, 1.0)  # every A beats every B
    assert fresh([0.1, 0.2, 0.3, 0.4], [0.9, 0.8, 0.95]) == (0.0, 0.0, 0.0)
    p, low, high = fresh([0.1, 0.5, 0.9], [0.1, 0.5, 0.9])  # identical samples
    assert p == 0.5 and low < 0.5 < high
    assert fresh([0.5, 0.5, 0.5], [0.5, 0.5, 0.5]) == (0.5, 0.5, 0.5)  # all ties count half
    # A 0.5 vs B 0.4, 0.5, 0.6: beats one, ties one, loses one: (1 + 0.5) / 3
    assert fresh([0.5], [0.4, 0.5, 0.6])[0] == pytest.approx(0.5)
    assert fresh([0.5, 0.7], [0.4, 0.5, 0.6])[0] == pytest.approx((1.5 + 3) / 6)


@pytest.mark.parametrize("seed", range(5))
def test_p_is_mann_whitney_u_over_n_a_n_b(seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 8, 3 + seed * 4) / 10  # few distinct values: plenty of ties
    b = rng.integers(2, 10, 12 - seed) / 10
    u = sps.mannwhitneyu(a, b).statistic
    assert fresh(list(a), list(b))[0] == pytest.approx(u / (a.size * b.size), abs=1e-12)
    # for a loss lower is better: A beats B exactly when B would beat A for an accuracy
    assert fresh(list(a), list(b), "loss")[0] == pytest.approx(1 - u / (a.size * b.size), abs=1e-12)


def test_loss_metrics_lower_is_better():
    assert fresh([0.1, 0.2, 0.3], [0.4, 0.5, 0.6], "val_loss")[0] == 1.0
    assert fresh([0.1, 0.2, 0.3], [0.4, 0.5, 0.6], "val_accuracy")[0] == 0.0
    with pytest.raises(ValueError):
        probability_of_improvement([0.1], [0.2], "f1")


def test_interval_holds_the_estimate_lies_in_0_1_and_is_deterministic():
    rng = np.random.default_rng(11)
    for _ in range(40):
        a = list(rng.normal(0.8, 0.05, rng.integers(3, 30)).round(2))
        b = list(rng.normal(0.81, 0.05, rng.integers(3, 30)).round(2))
        p, low, high = fresh(a, b)
        assert 0.0 <= low <= p <= high <= 1.0
        assert fresh(a, b) == (p, low, high)  # a fresh process computes the very same interval
        assert probability_of_improvement(a, b, "val_accuracy") == (p, low, high)  # and so does the memo


def test_interval_agrees_with_scipy_bootstrap():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.80, 0.05, 20).round(2), rng.normal(0.82, 0.05, 25).round(2)

    def p_of(x, y, axis=-1):
        return sps.mannwhitneyu(x, y, axis=axis, method="asymptotic").statistic / (x.shape[axis] * y.shape[axis])

    ci = sps.bootstrap((a, b), p_of, method="percentile", n_resamples=4000, rng=1).confidence_interval
    _, low, high = fresh(list(a), list(b))
    assert low == pytest.approx(ci.low, abs=0.03) and high == pytest.approx(ci.high, abs=0.03)


def test_many_runs_resample_in_blocks_with_the_expected_width():
    a, b = np.random.default_rng(5).normal(0.0, 1.0, (2, 600))  # 3 blocks of resamples
    p, low, high = fresh(list(a), list(b))
    se = math.sqrt((600 + 600 + 1) / (12 * 600 * 600))  # of U / (n_a n_b) for two samples of one distribution
    assert low < p < high and (high - low) / 2 == pytest.approx(1.96 * se, rel=0.15)


def test_n_too_small_has_no_interval():
    p, low, high = fresh([0.9, 0.8], [0.1, 0.2, 0.3])
    assert p == 1.0 and math.isnan(low) and math.isnan(high)
    assert all(math.isnan(x) for x in fresh([], [0.1, 0.2, 0.3]))
    small = PairStats("a", "b", 1, 0, 1, p, low, high, 2, 3)
    assert not small.has_ci and not small.clear
    assert improvement_text(small) == "100% (n too small)"


def test_clear_only_when_the_holm_adjusted_test_says_so():
    def pair(low, high, p_holm):
        return PairStats("a", "b", 0, 0, 0, (low + high) / 2, low, high, 5, 5, p_holm=p_holm)

    assert pair(0.51, 0.9, 0.049).clear and pair(0.1, 0.49, 0.01).clear
    assert not pair(0.9, 1.0, 0.05).clear and not pair(0.9, 1.0, math.nan).clear  # an interval alone is no test
    assert pair(0.3, 0.7, 0.04).swapped().clear
    assert improvement_text(pair(0.123, 0.371, 0.5)) == "25% [12%, 38%]"  # rounded outwards


def test_pairs_in_session_stats():
    s = compute(make_session(THREE, design=INDEPENDENT))
    uniform_normal = s.pair("uniform", "normal")
    # uniform .80 .84 .86 .80 .84 .82 against normal .82 .86 .80 .82 .84 .86: 15 of 36 pairs, ties half
    assert uniform_normal.p == pytest.approx(15 / 36) and (uniform_normal.n_a, uniform_normal.n_b) == (6, 6)
    assert uniform_normal.low < 0.5 < uniform_normal.high and not uniform_normal.clear
    flipped = s.pair("normal", "uniform")
    assert flipped.p == pytest.approx(21 / 36)
    mirrored = (pytest.approx(1 - uniform_normal.high), pytest.approx(1 - uniform_normal.low))
    assert (flipped.low, flipped.high) == mirrored
    he_zeros = s.pair("he_normal", "zeros")
    assert (he_zeros.p, he_zeros.low, he_zeros.high, he_zeros.clear) == (1.0, 1.0, 1.0, True)
    # Mann-Whitney, 6 against 6 all apart: p = 2 / C(12, 6); Holm over the 6 pairs of 4 initializers
    assert he_zeros.test == "Mann-Whitney U" and he_zeros.p_value == pytest.approx(2 / 924)
    assert he_zeros.family == 6 and he_zeros.p_holm == pytest.approx(6 * 2 / 924)
    assert s.best.label == "he_normal"


def test_import_stays_cheap():
    code = "import sys, initdash.stats; print('scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# --- ranks, wins and head to head ------------------------------------------------------------------------

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
    s = compute(make_session(THREE, design=INDEPENDENT))
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
    assert s.pair("zeros", "uniform").p == 1.0 and s.pair("zeros", "ones").p == 0.5


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
    session.apply(UnitFailed(2, "zeros", "RuntimeError: boom", ""))
    for event in run_events(2, "ones", [0.1, 0.1]):
        session.apply(event)
    s = compute(session)
    assert (s.get("zeros").n, s.get("ones").n, s.sweeps) == (1, 4, 2)
    assert (s.pair("zeros", "ones").n_a, s.pair("zeros", "ones").n_b) == (1, 4)
    assert s.get("zeros").rank is None and s.get("ones").rank == 1
    session.begin_sweep(3)  # a sweep still running (or cancelled) never counts
    for event in run_events(3, "zeros", [0.99, 0.99])[:-1]:
        session.apply(event)
    assert compute(session).get("zeros").n == 1


# --- words -----------------------------------------------------------------------------------------------

def test_summary_clear_and_unclear():
    s = compute(make_session(THREE, design=INDEPENDENT))
    assert s.summary == ("he_normal beats normal in 100% of run pairs (95% interval [100%, 100%]); "
                         "Mann-Whitney U p = 0.013 (Holm over 6 pairs): clear")
    assert compute(make_session(THREE, design=INDEPENDENT), "val_loss").summary == s.summary  # lower is better
    close = [{"he_normal": [0.80, 0.79, 0.83, 0.77, 0.81], "zeros": [0.78, 0.81, 0.80, 0.79, 0.80]}]
    pair = compute(make_session(close, design=INDEPENDENT)).pair("he_normal", "zeros")
    # he .80 .79 .83 .77 .81 against zeros .78 .81 .80 .79 .80: 3 + 1.5 + 5 + 0 + 4.5 of 25 pairs (ties half)
    assert pair.p == pytest.approx(14 / 25) and not pair.clear and pair.reachable
    assert pair.p_value == pytest.approx(sps.mannwhitneyu([.80, .79, .83, .77, .81], [.78, .81, .80, .79, .80],
                                                          method=sps.PermutationMethod(np.inf)).pvalue)
    assert compute(make_session(close, design=INDEPENDENT)).summary == (
        f"he_normal beats zeros in 56% of run pairs (95% interval {stats.percent_interval(pair.low, pair.high)}); "
        f"Mann-Whitney U p = {pair.p_value:.2g}: not clear; about {pair.estimate} runs each would make a difference "
        "this size clear")
    assert pair.estimate > 300  # 56%: a difference this small takes hundreds of runs


def test_summary_names_the_winner_of_most_run_pairs_first():
    # he_normal has the best mean thanks to one lucky run, but zeros wins 12 of 16 run pairs
    s = compute(make_session([{"he_normal": [0.60, 0.61, 0.62, 0.99], "zeros": [0.63, 0.64, 0.65, 0.66]}]))
    assert s.best.label == "he_normal"
    assert s.summary.startswith("zeros beats he_normal in 75% of run pairs (95% interval [")


def test_summary_picks_the_closest_challenger_of_the_best():
    s = compute(make_session([{"he_normal": [0.90, 0.91, 0.92], "uniform": [0.70, 0.71, 0.72],
                               "normal": [0.905, 0.89, 0.93], "zeros": [0.5, 0.51, 0.52]}]))
    assert s.summary.startswith("he_normal beats normal in 56% of run pairs (95% interval [")
    assert ": not clear: 3 pairs can never reach the 5% level" in s.summary


def test_summary_says_when_there_is_too_little_data():
    assert compute(make_session([{"he_normal": [0.9], "zeros": [0.5]}])).summary == \
        "only 1 sweep so far: rerun to compare"
    few = compute(make_session([{"he_normal": [0.9, 0.91], "zeros": [0.5, None]}]))
    assert few.summary == ("he_normal beats zeros in 100% of run pairs: not clear: 1 pair can never reach "
                           "the 5% level (Wilcoxon signed-rank); it takes at least 6 runs each")
    assert not few.pair("he_normal", "zeros").clear  # far apart, but n = 1 proves nothing
    # 3 against 3: Mann-Whitney's smallest p is 2 / C(6, 3) = 0.1; 4 against 4 can reach 2 / 70
    three = compute(make_session([{"he_normal": [0.9, 0.91, 0.92], "zeros": [0.5, 0.6, 0.7]}], design=INDEPENDENT))
    assert three.summary == ("he_normal beats zeros in 100% of run pairs (95% interval [100%, 100%]): not clear: "
                             "3 runs each can never reach the 5% level (Mann-Whitney U); it takes at least 4 runs each")
    empty = make_session([{"zeros": [0.5]}])
    empty.begin_sweep(2)
    empty.sweeps = empty.sweeps[1:]
    assert compute(empty).summary == "no completed sweep yet"


def test_every_initializer_clearly_apart():
    # paired: 8 pairs (4 sweeps x 2 repeats) all one way: signed-rank p = 2 / 2**8; Holm over 3 pairs
    s = compute(make_session([{"he_normal": [0.90, 0.91], "uniform": [0.70, 0.71], "zeros": [0.50, 0.51]}] * 4))
    assert s.summary == ("he_normal beats uniform in 100% of run pairs (95% interval [100%, 100%]); "
                         "Wilcoxon signed-rank p = 0.023 (Holm over 3 pairs): clear")
    assert all(p.clear for p in s.pairs) and s.pairs[0].n_pairs == 8
    assert s.pairs[0].p_value == pytest.approx(2 / 2**8) and s.pairs[0].p_holm == pytest.approx(3 * 2 / 2**8)


def test_paired_runs_are_matched_by_sweep_and_repeat():
    # Every repeat of b is its repeat of a minus a little: Mann-Whitney sees overlap, the pairs see one direction
    a = [0.70, 0.75, 0.80, 0.85, 0.90, 0.95]
    sweeps = [{"ones": a, "zeros": [x - 0.01 for x in a]}]
    paired = compute(make_session(sweeps)).pair("ones", "zeros")
    independent = compute(make_session(sweeps, design=INDEPENDENT)).pair("ones", "zeros")
    assert paired.test == "Wilcoxon signed-rank" and paired.clear and paired.p_value == pytest.approx(2 / 2**6)
    assert independent.test == "Mann-Whitney U" and not independent.clear and independent.p_value > 0.5
    # a diverged run leaves its repeat out of the pairs (and only that one)
    gone = compute(make_session([{"ones": a, "zeros": [None] + [x - 0.01 for x in a[1:]]}])).pair("ones", "zeros")
    assert gone.n_pairs == 5 and (gone.n_a, gone.n_b) == (6, 5) and not gone.reachable


# --- tables ----------------------------------------------------------------------------------------------

def test_stats_table_text():
    text = stats_table(make_session(THREE, design=INDEPENDENT))
    lines = text.splitlines()
    assert lines[0] == ("val_accuracy at the end of training over 3 completed sweeps "
                        "(higher is better; rank and change in sweep 3)")
    assert lines[1].split() == ["initializer", "n", "mean", "±", "std", "IQM", "95%", "CI", "P(beats", "best)", "p",
                                "vs", "best", "rank", "change", "wins"]
    he = lines[3]
    # IQM of .90 .92 .94 .90 .92 .92: the middle half .90 .92 .92 (scipy trims 1 of 6 each side) -> .9150
    assert he.startswith("he_normal") and "0.9167 ± 0.0151  0.9150" in he and "[0.9009, 0.9325]" in he
    assert he.split()[-5:] == ["best", "best", "1", "=", "3"]
    uniform = next(line for line in lines if line.startswith("uniform"))
    assert "0% [0%, 0%]  0.013 clear" in uniform  # no run of uniform beats any run of he_normal
    assert lines[-3] == "clear: Mann-Whitney U (independent runs) at the 5% level, Holm over 6 pairs"
    assert lines[-2].startswith("P(beats best): probability of improvement with its 95% bootstrap interval")
    assert lines[-1] == compute(make_session(THREE, design=INDEPENDENT)).summary
    paired = stats_table(make_session(THREE)).splitlines()
    assert "too few" in paired[4] and paired[-3].startswith("clear: Wilcoxon signed-rank on per-repeat differences")
    with pytest.raises(ValueError):
        stats_table(make_session(THREE), "f1")


def test_spread_lines():
    s = compute(make_session(THREE))
    lines = spread_lines(s)
    assert lines[0].split() == ["#", "initializer", "n", "mean", "±", "std", "IQM", "95%", "CI", "of", "mean",
                                "P(beats", "best)", "rank", "wins"]
    normal = next(line for line in lines if line.split()[1:2] == ["normal"])
    assert "[0.808, 0.859]" in normal and "0% [0%, 0%]" in normal and normal.split()[-3:] == ["2", "↑1", "0"]
    assert lines[-1] == "best: by mean over 3 sweeps · rank: in sweep 3 only"
    few = spread_lines(compute(make_session([{"he_normal": [0.9, 0.91], "zeros": [0.5, 0.52]}])))
    assert "n too small" in few[3] and "0% (n too small)" in few[3] and "best" in few[2]


def test_spread_lines_leave_out_columns_in_order_and_say_which():
    s = compute(make_session(THREE))
    order = ("wins", "rank", "95% CI of mean", "IQM", "P(beats best)")
    widths = [max(map(len, spread_lines(s)[:-1]))]
    for k in range(1, 6):  # the width each table has once the first k columns of the order are left out
        lines = spread_lines(s, widths[-1] - 1)
        assert lines[-1].endswith("hidden to fit: " + ", ".join(order[:k]))
        assert [h for h in order if h not in lines[0]] == list(order[:k])
        widths.append(max(map(len, lines[:-1])))
    assert widths == sorted(widths, reverse=True)
    assert "hidden" not in spread_lines(s, widths[0])[-1]
    short = spread_lines(s, labels={"he_normal": "he"})
    assert any(line.split()[1:2] == ["he"] for line in short)


@pytest.mark.parametrize("metric", ["val_accuracy", "val_loss"])
def test_each_pair_bootstraps_its_probability_of_improvement_once(monkeypatch, metric):
    """The rank test's effect size is the pair's probability of improvement, not a second 2000-resample bootstrap
    (for a loss the cache key differed, so it ran twice)."""
    calls = []
    real = stats.probability_of_improvement
    monkeypatch.setattr(stats, "probability_of_improvement", lambda *a: calls.append(a) or real(*a))
    stats._test.cache_clear()
    s = compute(make_session(THREE, design=INDEPENDENT), metric)
    assert len(calls) == len(s.pairs) == 6
    assert all(p.effect == p.p for p in s.pairs)

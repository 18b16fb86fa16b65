"""The tests behind "clear": exact p-values (scipy's, and the counted ones with ties), Holm, how many runs it
takes, and by simulation: noise is called clear at most ~5% of the time, a real difference at least 80%."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fakes import make_session
from scipy import stats as sps
from simulate import clear_rate

from initdash import verdict
from initdash.config import INDEPENDENT, PAIRED
from initdash.stats import compute


def test_exact_p_values_agree_with_scipy_without_ties():
    rng = np.random.default_rng(3)
    for n_a, n_b in [(3, 3), (4, 7), (10, 10), (20, 17)]:
        a, b = rng.standard_normal(n_a), rng.standard_normal(n_b) + 0.5
        want = sps.mannwhitneyu(a, b, method="exact").pvalue
        assert verdict.p_values([a], [b], False)[0] == pytest.approx(want, rel=1e-12)
        assert verdict._rank_sum_p(a, b) == pytest.approx(want, rel=1e-12)  # the counted path, same numbers
    for n in (3, 6, 10, 30):
        a, b = rng.standard_normal(n) + 0.3, rng.standard_normal(n)
        want = sps.wilcoxon(a - b, method="exact").pvalue
        assert verdict.p_values([a], [b], True)[0] == pytest.approx(want, rel=1e-12)
        assert verdict._signed_rank_p(a - b) == pytest.approx(want, rel=1e-12)


def test_with_ties_the_p_values_are_every_permutations():
    rng = np.random.default_rng(4)
    every = sps.PermutationMethod(n_resamples=np.inf)
    for _ in range(3):
        a, b = rng.integers(0, 4, 5) / 4, rng.integers(1, 5, 6) / 4
        got = verdict.p_values([a], [b], False)[0]
        assert got == pytest.approx(sps.mannwhitneyu(a, b, method=every).pvalue, rel=1e-9)
        x, y = rng.integers(0, 5, 8) / 4, rng.integers(0, 5, 8) / 4
        d = x - y
        got = verdict.p_values([x], [y], True)[0]
        want = sps.wilcoxon(d[d != 0], method=every).pvalue if (d != 0).any() else 1.0
        assert got == pytest.approx(want, rel=1e-9)
    assert verdict.p_values([[0.5, 0.6, 0.7]], [[0.5, 0.6, 0.7]], True)[0] == 1.0  # every pair ended the same


def test_holm_over_the_pairs():
    got = verdict.holm(np.array([[0.01, 0.04, 0.03, np.nan]]))
    assert got[0, :3] == pytest.approx([0.03, 0.06, 0.06]) and math.isnan(got[0, 3])
    assert verdict.holm(np.array([0.2, 0.9]))[1] == 0.9 and verdict.pair_count(5) == 10


def test_how_many_runs_a_clear_answer_takes():
    # Mann-Whitney: 3 vs 3 at best p = 2/20 = 0.1, 4 vs 4 2/70; signed-rank: 5 pairs 2/32, 6 pairs 2/64
    assert verdict.smallest_p(3, 3, False) == pytest.approx(0.1) and verdict.runs_needed(1, False) == 4
    assert verdict.runs_needed(1, True) == 6 and verdict.runs_needed(10, True) == 9
    assert verdict.runs_needed(10, False) == 6  # 2/C(12, 6) x 10 = 0.02
    assert verdict.runs_estimate(0.5, 1, False) is None
    # Noether: (z_.975 + z_.8)^2 / (6 x 0.25^2) = 20.9 -> 21 per side for P(improvement) = 75%
    assert verdict.runs_estimate(0.75, 1, False) == 21 and verdict.runs_estimate(0.25, 1, False) == 21
    assert verdict.runs_estimate(1.0, 1, False) == 6  # 7.85 / 1.5: the most any difference can show
    assert verdict.runs_estimate(1.0, 1, True) == 11 and verdict.runs_estimate(1.0, 10, True) == 18
    assert verdict.walsh_effect(np.array([1.0, -1.0])) == pytest.approx(0.5)


@pytest.mark.parametrize("paired", [False, True])
@pytest.mark.parametrize("k", [2, 5])
def test_identical_initializers_are_called_clear_at_most_5_percent_of_the_time(paired, k):
    reps = 400
    rates = {n: clear_rate(n, k, paired, reps=reps) for n in range(3, 21)}
    bound = verdict.ALPHA + 3 * math.sqrt(verdict.ALPHA * (1 - verdict.ALPHA) / reps)  # 5% plus sampling error
    assert max(rates.values()) <= bound, rates
    needed = verdict.runs_needed(verdict.pair_count(k), paired)
    assert needed > 3 and all(rates[n] == 0.0 for n in range(3, needed))  # too few runs: never clear
    pooled = sum(rates.values()) / len(rates)  # 7,200 sessions: the average is held to 5% more tightly
    assert pooled <= verdict.ALPHA + 3 * math.sqrt(verdict.ALPHA * (1 - verdict.ALPHA) / (reps * len(rates)))


@pytest.mark.parametrize("paired", [False, True])
def test_ties_keep_the_error_rate(paired):
    rate = clear_rate(10, 2, paired, reps=300, step=0.5)  # values on a grid of half a standard deviation
    assert rate <= verdict.ALPHA + 3 * math.sqrt(verdict.ALPHA * (1 - verdict.ALPHA) / 300)


@pytest.mark.parametrize("paired", [False, True])
def test_a_real_difference_is_called_clear(paired):
    assert clear_rate(10, 2, paired, shift=2.0) >= 0.8


@pytest.mark.parametrize("design", [PAIRED, INDEPENDENT])
def test_sessions_two_standard_deviations_apart_are_clear_end_to_end(design):
    rng = np.random.default_rng(8)
    said = []
    for _ in range(25):
        a, b = rng.normal(2.0, 1.0, 10), rng.normal(0.0, 1.0, 10)
        summary = compute(make_session([{"he_normal": list(a), "zeros": list(b)}], design=design)).summary
        said.append(summary.endswith(": clear") and summary.startswith("he_normal beats zeros"))
    assert sum(said) >= 20, sum(said)


def test_the_normal_approximation_only_where_counting_is_too_slow():
    rng = np.random.default_rng(6)
    a, b = rng.integers(0, 30, 60) / 30, rng.integers(0, 30, 60) / 30  # ties, 60 a side: too many steps
    assert verdict.p_values([a], [b], False)[0] == sps.mannwhitneyu(a, b, method="asymptotic").pvalue
    a, b = a[:30], b[:30]  # 30 a side: counted, exactly
    every = sps.PermutationMethod(n_resamples=2000, rng=1)  # (every split would take minutes: a close estimate)
    assert verdict.p_values([a], [b], False)[0] == pytest.approx(sps.mannwhitneyu(a, b, method=every).pvalue,
                                                                 abs=0.03)

"""Verdict rules and the seed-noise test on hand-made numbers."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tune_cifar.verdicts import (
    BETTER,
    NO_CLEAR_DIFFERENCE,
    WORSE,
    accuracy_verdict,
    compare,
    noise_test,
    worth_verdict,
)


def _group(accuracies, params, wall_time_s):
    return pd.DataFrame({"test_accuracy": accuracies, "params": params, "wall_time_s": wall_time_s})


def test_noise_test_separated_seeds_is_significant():
    result = noise_test(np.array([0.70, 0.71, 0.705]), np.array([0.60, 0.61, 0.605]))
    assert result.larger_than_noise is True
    assert result.p_value < 0.001
    assert "Welch" in result.test


def test_noise_test_overlapping_seeds_is_within_noise():
    result = noise_test(np.array([0.60, 0.64, 0.62]), np.array([0.61, 0.63, 0.615]))
    assert result.larger_than_noise is False
    assert result.p_value > 0.05
    assert "within the seed-to-seed noise" in result.describe()


def test_noise_test_matches_scipy_welch():
    new, old = np.array([0.70, 0.66, 0.69]), np.array([0.64, 0.65, 0.61, 0.63])
    expected = stats.ttest_ind(new, old, equal_var=False).pvalue
    assert noise_test(new, old).p_value == pytest.approx(expected)


def test_noise_test_one_side_without_spread():
    result = noise_test(np.array([0.10, 0.05]), np.array([0.10, 0.10]))
    assert result.p_value == pytest.approx(stats.ttest_ind_from_stats(0.075, np.std([0.1, 0.05], ddof=1), 2, 0.1, 0.0, 2, equal_var=False).pvalue)
    assert result.larger_than_noise is False


def test_noise_test_one_seed_has_no_estimate():
    result = noise_test(np.array([0.70]), np.array([0.60, 0.61]))
    assert result.larger_than_noise is None
    assert result.p_value is None
    assert "no noise estimate" in result.describe()


def test_noise_test_identical_repeats():
    assert noise_test(np.array([0.5, 0.5]), np.array([0.4, 0.4])).larger_than_noise is True
    assert noise_test(np.array([0.5, 0.5]), np.array([0.5, 0.5])).larger_than_noise is False
    # Equal up to float rounding, as two accuracies computed in different orders can be.
    assert noise_test(np.array([0.1, 0.1 + 1e-17]), np.array([0.30000000000000004, 0.1 + 0.2])).larger_than_noise is True


@pytest.mark.parametrize(
    ("gain_pp", "noise_result", "expected"),
    [
        (1.5, None, BETTER),  # one seed: at least 1 pp counts
        (1.0, None, BETTER),
        (0.9, None, NO_CLEAR_DIFFERENCE),
        (-2.0, None, WORSE),
        (0.5, True, BETTER),  # with seeds the test decides, however small the gain
        (-0.5, True, WORSE),
        (3.0, False, NO_CLEAR_DIFFERENCE),
    ],
)
def test_accuracy_verdict(gain_pp, noise_result, expected):
    noise = noise_test(np.array([0.5]), np.array([0.5]))
    if noise_result is not None:
        noise = type(noise)("hand-made", 0.01 if noise_result else 0.5, noise_result)
    assert accuracy_verdict(gain_pp, noise) == expected


@pytest.mark.parametrize(
    ("verdict", "gain_pp", "param_ratio", "time_ratio", "expected_start"),
    [
        (BETTER, 2.0, 4.0, 1.0, "worth it"),  # 2 pp over 2 doublings = 1 pp per doubling
        (BETTER, 1.9, 4.0, 1.0, "not worth it: 0.95 pp per doubling of parameters"),
        (BETTER, 5.0, 0.2, 2.0, "worth it"),  # fewer parameters need nothing
        (BETTER, 1.0, 1.0, 8.0, "not worth it: 0.33 pp per doubling of wall time"),
        (WORSE, -3.0, 0.5, 0.5, "not worth it: less accurate"),
        (NO_CLEAR_DIFFERENCE, 0.2, 0.5, 0.9, "worth it: no clear accuracy difference"),
        (NO_CLEAR_DIFFERENCE, 0.2, 0.5, 1.1, "not worth it: no clear accuracy gain"),
    ],
)
def test_worth_verdict(verdict, gain_pp, param_ratio, time_ratio, expected_start):
    assert worth_verdict(verdict, gain_pp, param_ratio, time_ratio).startswith(expected_start)


def test_compare_uses_group_means():
    new = _group([0.70, 0.72], [1000, 1000], [21.0, 23.0])
    old = _group([0.60, 0.62], [4000, 4000], [10.0, 12.0])
    result = compare("new", new, "old", old, "test_accuracy")
    assert result.gain_pp == pytest.approx(10.0)
    assert result.param_ratio == pytest.approx(0.25)
    assert result.time_ratio == pytest.approx(2.0)
    assert result.new_std == pytest.approx(np.std([0.70, 0.72], ddof=1))
    assert result.accuracy_verdict == BETTER
    assert result.worth_verdict == "worth it"


def test_compare_single_seed_states_no_noise_estimate():
    result = compare("new", _group([0.65], [10], [5.0]), "old", _group([0.645], [10], [5.0]), "test_accuracy")
    assert result.noise.larger_than_noise is None
    assert result.new_std is None
    assert result.accuracy_verdict == NO_CLEAR_DIFFERENCE

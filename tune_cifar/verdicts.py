"""Compare two groups of trials: accuracy gain, cost ratios, a seed-noise test and stated verdicts.

A group is one practice variant (one trial per seed) or one search trial. The rules are
stated in ``RULES`` and printed in every report, so a reader can check each verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

# Judgment thresholds, not measured: one percentage point of accuracy is taken as the
# smallest difference worth reporting without a noise estimate. A costlier model should buy
# at least that much for each doubling of its parameters or training time.
SINGLE_SEED_THRESHOLD_PP = 1.0
WORTH_PP_PER_DOUBLING = 1.0
SIGNIFICANCE_LEVEL = 0.05
# Accuracies equal to this many decimals are equal: one image of CIFAR-10's 10,000 test
# images moves accuracy by 1e-4, and float rounding by far less than 1e-9.
ACCURACY_DECIMALS = 9

BETTER = "better"
WORSE = "worse"
NO_CLEAR_DIFFERENCE = "no clear difference"

RULES = (
    f"**Noise test.** With at least two seeds on each side, the difference in mean accuracy is "
    f"tested with Welch's two-sided t-test (unequal variances); it is larger than the seed-to-seed "
    f"noise when p < {SIGNIFICANCE_LEVEL}. With one seed on either side there is no noise estimate.",
    f"**Better.** 'better' (or 'worse') when the accuracy difference is larger than the noise by "
    f"that test; with one seed, when it is at least {SINGLE_SEED_THRESHOLD_PP:g} percentage point "
    f"(a threshold chosen by judgment). Otherwise 'no clear difference'.",
    f"**Worth it.** A 'better' model is worth it when, for each cost that grew (parameters, wall "
    f"time), it gains at least {WORTH_PP_PER_DOUBLING:g} percentage point of accuracy per doubling "
    f"of that cost (gain / log2(cost ratio)); a cost that did not grow needs nothing. A model "
    f"with no clear difference is worth it only when it is cheaper in both costs; a worse model is not.",
)


@dataclass(frozen=True)
class NoiseTest:
    """Result of testing whether a difference in mean accuracy exceeds seed-to-seed noise."""

    test: str
    p_value: float | None
    larger_than_noise: bool | None
    """None when there is no noise estimate (fewer than two seeds on a side)."""

    def describe(self) -> str:
        if self.larger_than_noise is None:
            return f"no noise estimate ({self.test})"
        relation = "larger than" if self.larger_than_noise else "within"
        return f"{relation} the seed-to-seed noise ({self.test}, p = {self.p_value:.3g})"


@dataclass(frozen=True)
class Comparison:
    """``new`` against ``old``: accuracy in fractions, costs as ratios new/old, and verdicts."""

    new: str
    old: str
    metric: str
    new_accuracy: float
    old_accuracy: float
    new_std: float | None
    old_std: float | None
    new_seeds: int
    old_seeds: int
    new_params: float
    old_params: float
    new_time_s: float
    old_time_s: float
    noise: NoiseTest
    accuracy_verdict: str
    worth_verdict: str

    @property
    def gain_pp(self) -> float:
        return (self.new_accuracy - self.old_accuracy) * 100

    @property
    def param_ratio(self) -> float:
        return self.new_params / self.old_params

    @property
    def time_ratio(self) -> float:
        return self.new_time_s / self.old_time_s


def noise_test(new_values: np.ndarray, old_values: np.ndarray) -> NoiseTest:
    """Test whether the mean of ``new_values`` differs from that of ``old_values`` beyond seed noise."""
    seeds = f"{len(new_values)} and {len(old_values)} seeds"
    if len(new_values) < 2 or len(old_values) < 2:
        return NoiseTest(seeds, None, None)
    # Rounding makes accuracies that differ only by float error equal, so their variance is 0.
    new_values, old_values = np.round(new_values, ACCURACY_DECIMALS), np.round(old_values, ACCURACY_DECIMALS)
    if np.ptp(new_values) == 0 and np.ptp(old_values) == 0:
        # Welch's statistic is undefined without spread; identical repeats carry no noise.
        different = bool(new_values[0] != old_values[0])
        return NoiseTest(f"no spread across {seeds}, so any difference counts", 0.0 if different else 1.0, different)
    # From summary statistics, because scipy's ttest_ind warns on a side without spread,
    # which Welch's test handles (that side's variance term is 0).
    result = stats.ttest_ind_from_stats(
        new_values.mean(), new_values.std(ddof=1), len(new_values),
        old_values.mean(), old_values.std(ddof=1), len(old_values),
        equal_var=False,
    )
    p_value = float(result.pvalue)
    return NoiseTest(f"Welch's t-test, {seeds}", p_value, p_value < SIGNIFICANCE_LEVEL)


def accuracy_verdict(gain_pp: float, noise: NoiseTest) -> str:
    """Return 'better', 'worse' or 'no clear difference' by the rule in ``RULES``."""
    if noise.larger_than_noise is None:
        clear = abs(gain_pp) >= SINGLE_SEED_THRESHOLD_PP
    else:
        clear = noise.larger_than_noise
    if not clear or gain_pp == 0:
        return NO_CLEAR_DIFFERENCE
    return BETTER if gain_pp > 0 else WORSE


def worth_verdict(verdict: str, gain_pp: float, param_ratio: float, time_ratio: float) -> str:
    """Return 'worth it' or 'not worth it' with the reason, by the rule in ``RULES``."""
    costs = {"parameters": param_ratio, "wall time": time_ratio}
    if verdict == WORSE:
        return "not worth it: less accurate"
    if verdict == NO_CLEAR_DIFFERENCE:
        if all(ratio < 1 for ratio in costs.values()):
            return "worth it: no clear accuracy difference, and cheaper in parameters and wall time"
        return "not worth it: no clear accuracy gain for its cost"

    shortfalls = []
    for cost, ratio in costs.items():
        if ratio <= 1:
            continue
        per_doubling = gain_pp / math.log2(ratio)
        if per_doubling < WORTH_PP_PER_DOUBLING:
            shortfalls.append(f"{per_doubling:.2f} pp per doubling of {cost}")
    if shortfalls:
        return f"not worth it: {' and '.join(shortfalls)}, under {WORTH_PP_PER_DOUBLING:g} pp"
    return "worth it"


def compare(new: str, new_rows: pd.DataFrame, old: str, old_rows: pd.DataFrame, metric: str) -> Comparison:
    """Compare two groups of trials (rows with a value of ``metric``) and apply the verdict rules."""
    new_values = new_rows[metric].to_numpy(dtype=float)
    old_values = old_rows[metric].to_numpy(dtype=float)
    noise = noise_test(new_values, old_values)
    gain_pp = (new_values.mean() - old_values.mean()) * 100
    param_ratio = new_rows["params"].mean() / old_rows["params"].mean()
    time_ratio = new_rows["wall_time_s"].mean() / old_rows["wall_time_s"].mean()
    verdict = accuracy_verdict(gain_pp, noise)
    return Comparison(
        new=new,
        old=old,
        metric=metric,
        new_accuracy=float(new_values.mean()),
        old_accuracy=float(old_values.mean()),
        new_std=_std(new_values),
        old_std=_std(old_values),
        new_seeds=len(new_values),
        old_seeds=len(old_values),
        new_params=float(new_rows["params"].mean()),
        old_params=float(old_rows["params"].mean()),
        new_time_s=float(new_rows["wall_time_s"].mean()),
        old_time_s=float(old_rows["wall_time_s"].mean()),
        noise=noise,
        accuracy_verdict=verdict,
        worth_verdict=worth_verdict(verdict, gain_pp, param_ratio, time_ratio),
    )


def _std(values: np.ndarray) -> float | None:
    # Sample standard deviation (ddof=1), the estimate of seed-to-seed spread.
    return float(np.std(values, ddof=1)) if len(values) > 1 else None

"""Accuracy-against-cost analysis of one or more experiments, without importing Ray.

Loads experiment folders into two frames (trials and per-epoch history), ranks trials,
finds the Pareto front of accuracy against a cost, summarises seeds per practice variant,
and estimates hyperparameter importances with Optuna from a search's trials.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import optuna
import pandas as pd

from tune_cifar.practice import PRACTICE_ORDER
from tune_cifar.results import STOP_REASON_LABELS, ExperimentError, folders_without_params, load_experiment

logger = logging.getLogger(__name__)

METRICS = ("test_accuracy", "val_accuracy")

# Config columns that describe how a trial ran, not what was tuned.
NON_HYPERPARAMETERS = ("config/training.",)


class AnalysisError(ValueError):
    """Raised when no experiment folder given could be read."""


@dataclass
class Experiments:
    """Trials and history of the experiments that loaded, and messages about what was left out."""

    trials: pd.DataFrame
    history: pd.DataFrame
    problems: list[str] = field(default_factory=list)
    """One message per experiment folder that was skipped."""
    notes: list[str] = field(default_factory=list)
    """One message per loaded experiment with subfolders that are not trials."""


def load_experiments(folders: Sequence[str | os.PathLike]) -> Experiments:
    """Load each folder; skip unreadable ones with a message, and fail only when none loads."""
    trial_frames, history_frames, problems, notes = [], [], [], []
    for folder in folders:
        try:
            trials, history = load_experiment(folder)
        except (ExperimentError, OSError, ValueError) as error:
            problems.append(f"{folder}: skipped: {error}")
            logger.warning("skipped %s: %s", folder, error)
            continue
        if trials.empty:
            problems.append(f"{folder}: skipped: Ray Tune's experiment state lists no trials")
            continue
        stray = folders_without_params(folder)
        if stray:
            notes.append(f"{folder}: {len(stray)} folder(s) without params.json ignored: {', '.join(stray)}")
        history["experiment"] = trials["experiment"].iloc[0]
        trial_frames.append(trials)
        history_frames.append(history)

    if not trial_frames:
        raise AnalysisError("no experiment could be read: " + "; ".join(problems))
    trials = pd.concat(trial_frames, ignore_index=True)
    trials["practice"] = is_practice(trials)
    trials["stop_reason_label"] = trials["stop_reason"].map(STOP_REASON_LABELS).fillna(trials["stop_reason"])
    return Experiments(trials, pd.concat(history_frames, ignore_index=True), problems, notes)


def is_practice(trials: pd.DataFrame) -> pd.Series:
    """Mark the trials of practice variants run by the reproduce command.

    A search's seeded points carry variant names too, but run under the search's epoch cap,
    so they count as search trials. An experiment of unknown kind counts as a reproduce run
    when all its trials have variant names.
    """
    named = trials["name"].isin(PRACTICE_ORDER)
    all_named = named.groupby(trials["experiment"]).transform("all")
    return named & ((trials["kind"] == "reproduce") | ((trials["kind"] == "unknown") & all_named))


def choose_metric(trials: pd.DataFrame, requested: str | None = None) -> str:
    """Return ``requested``, or test accuracy when any trial has it, else validation accuracy."""
    if requested is not None:
        if requested not in METRICS:
            raise AnalysisError(f"metric {requested!r} is not one of {', '.join(METRICS)}")
        return requested
    if "test_accuracy" in trials and trials["test_accuracy"].notna().any():
        return "test_accuracy"
    return "val_accuracy"


def with_metric(trials: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Return the trials that have a value of ``metric``, params and wall time, best first."""
    usable = trials.dropna(subset=[metric, "params", "wall_time_s"])
    return usable.sort_values(metric, ascending=False, kind="stable")


def without_metric(trials: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Return the trials that lack ``metric`` (or params or wall time), with their state."""
    return trials[trials[[metric, "params", "wall_time_s"]].isna().any(axis=1)]


def pareto_front(table: pd.DataFrame, cost: str, metric: str) -> pd.Series:
    """Return a boolean Series: True for rows no other row dominates on lower ``cost`` and higher ``metric``.

    Row B dominates row A when B costs no more, is no less accurate, and is strictly
    better in one of the two. Rows with a missing value are never on the front.
    """
    costs = table[cost].to_numpy(dtype=float)
    values = table[metric].to_numpy(dtype=float)
    valid = ~(np.isnan(costs) | np.isnan(values))
    on_front = np.zeros(len(table), dtype=bool)
    for index in np.flatnonzero(valid):
        others = valid & (costs <= costs[index]) & (values >= values[index])
        strictly = (costs < costs[index]) | (values > values[index])
        on_front[index] = not np.any(others & strictly)
    return pd.Series(on_front, index=table.index)


def variant_statistics(trials: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Return one row per practice variant with results: seeds, mean and sample std of ``metric``, mean costs."""
    practice = with_metric(trials[trials["practice"]], metric)
    grouped = practice.groupby("name", sort=False)
    table = pd.DataFrame(
        {
            "seeds": grouped[metric].size(),
            "mean": grouped[metric].mean(),
            "std": grouped[metric].std(ddof=1),
            "params": grouped["params"].mean(),
            "wall_time_s": grouped["wall_time_s"].mean(),
            "epochs_run": grouped["epochs_run"].mean(),
        }
    )
    order = {name: index for index, name in enumerate(PRACTICE_ORDER)}
    return table.sort_index(key=lambda names: names.map(order))


def hyperparameter_columns(trials: pd.DataFrame) -> list[str]:
    """Return the hyperparameter columns with at least two distinct values among the given trials.

    These are the search sampler's flat parameters (``search/``) when the trials have them,
    else the ``config/`` columns. The full config repeats the sampled values in nested form.
    """
    sampled = [column for column in trials.columns if column.startswith("search/") and trials[column].notna().any()]
    candidates = sampled or [
        column for column in trials.columns if column.startswith("config/") and not column.startswith(NON_HYPERPARAMETERS)
    ]
    # A conditional parameter must take two values among the trials that have it, not merely be absent in some.
    return [column for column in candidates if trials[column].dropna().astype(str).nunique() > 1]


def hyperparameter_importances(trials: pd.DataFrame, metric: str) -> dict[str, float]:
    """Return Optuna's importance (PED-ANOVA, normalised to sum 1) of each varying hyperparameter.

    The trials become finished trials of a new in-memory Optuna study, with ``metric`` as
    the objective value. Returns an empty dict when fewer than two hyperparameters vary
    or fewer than three trials have the metric.
    """
    usable = trials.dropna(subset=[metric])
    columns = hyperparameter_columns(usable)
    if len(usable) < 3 or len(columns) < 2:
        return {}

    distributions = {column: _distribution(usable[column].dropna()) for column in columns}
    study = optuna.create_study(direction="maximize")
    for _, row in usable.iterrows():
        # A conditional parameter (a conv block beyond the trial's block count) is absent, not NaN.
        present = [column for column in columns if not pd.isna(row[column])]
        params = {column: _param_value(row[column], distributions[column]) for column in present}
        trial = optuna.trial.create_trial(
            params=params, distributions={column: distributions[column] for column in present}, value=float(row[metric])
        )
        study.add_trial(trial)
    return dict(optuna.importance.get_param_importances(study))


def _distribution(values: pd.Series) -> optuna.distributions.BaseDistribution:
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().all() and values.map(lambda value: not isinstance(value, bool)).all():
        low, high = float(numbers.min()), float(numbers.max())
        if (numbers == numbers.round()).all():
            return optuna.distributions.IntDistribution(int(low), int(high))
        return optuna.distributions.FloatDistribution(low, high, log=low > 0 and high / low >= 10)
    return optuna.distributions.CategoricalDistribution(sorted(values.astype(str).unique()))


def _param_value(value, distribution: optuna.distributions.BaseDistribution):
    if isinstance(distribution, optuna.distributions.CategoricalDistribution):
        return str(value)
    if isinstance(distribution, optuna.distributions.IntDistribution):
        return int(value)
    return float(value)

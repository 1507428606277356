"""Ray Tune wiring of the open search: objectives, schedulers, the Optuna searcher and resume checks."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler
from ray.tune.search.optuna import OptunaSearch

from tune_cifar.config import ConfigError
from tune_cifar.search_space import SearchSpace

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Objective:
    """The metrics the searcher optimizes, read from each trial's last report."""

    metrics: tuple[str, ...]
    modes: tuple[str, ...]
    """'max' or 'min' per metric."""
    description: str

    @property
    def is_multi(self) -> bool:
        return len(self.metrics) > 1


OBJECTIVES: dict[str, Objective] = {
    "val_accuracy": Objective(("val_accuracy",), ("max",), "maximize validation accuracy"),
    "accuracy_vs_params": Objective(
        ("val_accuracy", "params"), ("max", "min"), "Pareto set of validation accuracy against parameter count"
    ),
    "accuracy_vs_time": Objective(
        ("val_accuracy", "elapsed_s"), ("max", "min"), "Pareto set of validation accuracy against training wall time (s)"
    ),
}

ASHA_METRICS = {"val_accuracy": "max", "val_loss": "min"}


@dataclass(frozen=True)
class SchedulerOptions:
    """Early-stopping scheduler settings; the option names follow ``python -m tune_cifar.search``."""

    name: str = "asha"
    metric: str = "val_accuracy"
    """Metric ASHA compares trials on at each rung: 'val_accuracy' or 'val_loss'."""
    grace_period: int = 1
    """Epochs every trial runs before ASHA may stop it."""
    reduction_factor: float = 3.0
    """ASHA keeps the top 1/reduction_factor of trials at each rung."""
    max_t: int = 100
    """Epochs of the longest possible trial; ASHA places its last rung there."""


def _asha(options: SchedulerOptions, objective: Objective) -> TrialScheduler:
    if objective.is_multi:
        raise ConfigError(
            f"--scheduler asha compares trials on one metric, but the objective optimizes "
            f"{' and '.join(objective.metrics)} together; use --scheduler fifo with a multi-objective --objective"
        )
    lookup(ASHA_METRICS, options.metric, "--asha-metric")
    if options.grace_period < 1 or options.grace_period > options.max_t:
        raise ConfigError(f"--grace-period must be in [1, {options.max_t}] (the longest trial's epochs), got {options.grace_period}")
    if options.reduction_factor <= 1:
        raise ConfigError(f"--reduction-factor must be > 1, got {options.reduction_factor}")
    return ASHAScheduler(
        time_attr="training_iteration",
        metric=options.metric,
        mode=ASHA_METRICS[options.metric],
        max_t=options.max_t,
        grace_period=options.grace_period,
        reduction_factor=options.reduction_factor,
    )


def _fifo(options: SchedulerOptions, objective: Objective) -> TrialScheduler:
    return FIFOScheduler()


SCHEDULERS: dict[str, Callable[[SchedulerOptions, Objective], TrialScheduler]] = {
    "asha": _asha,
    "fifo": _fifo,
}
"""Scheduler name to builder; 'fifo' runs every trial to its own end (no early stopping by the scheduler)."""


def lookup(registry: Mapping[str, Any], name: str, option: str) -> Any:
    """Return ``registry[name]``, or raise ConfigError naming the option and the valid names."""
    if name not in registry:
        raise ConfigError(f"{option} {name!r} is not known; valid names are {', '.join(registry)}")
    return registry[name]


def build_scheduler(options: SchedulerOptions, objective: Objective) -> TrialScheduler:
    return lookup(SCHEDULERS, options.name, "--scheduler")(options, objective)


class CheckedOptunaSearch(OptunaSearch):
    """``OptunaSearch`` that records what a resumed experiment restored, for ``check_resume``."""

    last_restored: dict[str, Any] | None = None
    """Study summary of the latest restore in this process (class-wide, because Ray Tune may
    run a copy of the searcher object that the Tuner was given)."""

    def restore(self, checkpoint_path: str) -> None:
        super().restore(checkpoint_path)
        summary = study_summary(self)
        CheckedOptunaSearch.last_restored = summary
        logger.info(
            "searcher restored from %s: Optuna study '%s' with %d trials (%d complete), %d seeded points",
            checkpoint_path,
            self._study_name,
            summary["trials"],
            summary["complete"],
            len(self._points_to_evaluate),
        )


def study_summary(searcher: OptunaSearch) -> dict[str, Any]:
    """Return the trial counts and enqueued-point use of the searcher's Optuna study."""
    trials = searcher._ot_study.get_trials(deepcopy=False)
    return {
        "trials": len(trials),
        "complete": sum(trial.state.name == "COMPLETE" for trial in trials),
        "params": [dict(trial.params) for trial in trials],
    }


def build_searcher(space: SearchSpace, objective: Objective, seed: int) -> CheckedOptunaSearch:
    """Return a TPE searcher (seeded) over the define-by-run ``space``, seeded variants first."""
    metric: str | list[str] = list(objective.metrics) if objective.is_multi else objective.metrics[0]
    mode: str | list[str] = list(objective.modes) if objective.is_multi else objective.modes[0]
    return CheckedOptunaSearch(
        space=space,
        metric=metric,
        mode=mode,
        points_to_evaluate=space.points_to_evaluate(),
        seed=seed,
    )


def max_epochs_bound(space: SearchSpace) -> int:
    """Return the most epochs any trial of ``space`` can run, for ASHA's last rung."""
    if space.epoch_cap is not None:
        return space.epoch_cap
    if "max_epochs" in space.fixed:
        return space.fixed["max_epochs"]
    distribution = space.parameters["max_epochs"]
    return max(distribution.choices) if distribution.kind == "categorical" else int(distribution.high)


def check_resume(
    before: list[dict[str, Any]],
    after: list[dict[str, Any]],
    space: SearchSpace,
    num_samples: int | None,
) -> list[str]:
    """Check a resumed experiment; return the failed checks (empty when all passed) and log each result.

    ``before`` and ``after`` are the trial configs of the experiment before the restore and
    after the resumed run. The searcher's Optuna study must come back with at least the
    trials that existed before, because a fresh searcher would start empty and enqueue the
    seeded points again. No seeded variant may run twice, and no trial from before may be
    lost. The experiment must reach ``num_samples`` trials; None skips that check, for
    runs that a time budget may end sooner.
    """
    failures = []
    summary = CheckedOptunaSearch.last_restored
    if summary is None:
        failures.append("the searcher state was not restored: OptunaSearch.restore never ran")
    elif summary["trials"] < len(before):
        failures.append(f"the restored Optuna study has {summary['trials']} trials, fewer than the {len(before)} the experiment had")
    else:
        logger.info("resume check passed: the Optuna study came back with %d trials for %d experiment trials", summary["trials"], len(before))

    names = [config.get("name") for config in after]
    repeated = sorted({name for name in names if name in space.seeded and names.count(name) > 1})
    if repeated:
        failures.append(f"seeded variant(s) {', '.join(repeated)} ran more than once")
    else:
        logger.info("resume check passed: each seeded variant ran once (%s)", ", ".join(n for n in names if n in space.seeded))

    kept = {config["trial_dir"] for config in after}
    lost = [config["trial_dir"] for config in before if config["trial_dir"] not in kept]
    if lost:
        failures.append(f"trial(s) {', '.join(lost)} from before the resume are missing")
    if num_samples is not None and len(after) != num_samples:
        failures.append(f"the experiment has {len(after)} trials, not the {num_samples} of --num-samples")
    else:
        logger.info("resume check passed: %d trials kept, %d in total as requested", len(before), len(after))
    for failure in failures:
        logger.error("resume check failed: %s", failure)
    return failures


def trial_records(result_grid: tune.ResultGrid) -> list[dict[str, Any]]:
    """Return each trial's config plus its folder name (``trial_dir``), for ``check_resume``."""
    # A trial that had not reported before the driver stopped has no config in its Result.
    return [{**(result.config or {}), "trial_dir": result.path.rstrip("/").rsplit("/", 1)[-1]} for result in result_grid]

"""``python -m tune_cifar.search``: Optuna (TPE) search over an open space, on one machine or a Ray cluster.

The space comes from a YAML file (``search_spaces/open.yaml`` by default, see
``search_space``); the practice's variants named in it run first as fixed points. Trials
receive the data set through Ray's object store, so worker nodes need no copy of it. The
experiment folder (``--storage-path``/``--name``) receives Ray Tune's state, one folder per
trial (``params.json``, ``result.json``, ``trial_meta.json``, checkpoints), ``run.json``
with the settings, and ``results.csv`` and ``pareto.csv``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from tune_cifar.cli import RunError, add_speed_arguments, run_command
from tune_cifar.config import ConfigError
from tune_cifar.data import load_cifar10
from tune_cifar.search_space import OPEN_SPACE_FILE, SearchSpace, load_space
from tune_cifar.training import PRECISIONS

logger = logging.getLogger("tune_cifar.search")

RUN_FILE = "run.json"
DEFAULT_STORAGE = Path("runs/search")


@dataclass(frozen=True)
class SearchSettings:
    """One search's settings, stored in ``run.json`` so that ``--resume`` continues with the same ones."""

    space: str
    data_dir: str | None
    num_samples: int
    max_epochs: int | None
    """Cap on every trial's epoch budget; None keeps the sampled budgets."""
    time_budget_s: float | None
    max_concurrent: int | None
    cpus_per_trial: float
    gpus_per_trial: float
    objective: str
    scheduler: str
    asha_metric: str
    grace_period: int
    reduction_factor: float
    seed: int
    max_failures: int
    precision: str
    channels_last: bool = True
    compile: str = "off"



def build_parser() -> argparse.ArgumentParser:
    from tune_cifar.search_tuner import ASHA_METRICS, OBJECTIVES, SCHEDULERS

    parser = argparse.ArgumentParser(
        prog="python -m tune_cifar.search",
        description="Search CNN hyperparameters on CIFAR-10 with Optuna (TPE) through Ray Tune, starting "
        "from the practice's variants, then print the best trial and the Pareto set.",
    )
    add = parser.add_argument
    add("--space", type=Path, default=OPEN_SPACE_FILE, help="search space YAML file (default: %(default)s)")
    add("--data-dir", type=Path, help="CIFAR-10 folder: cifar-10-batches-py or train/ and test/ image folders "
        "(default: ~/.cache/tune_cifar/cifar10, downloaded there when empty)")
    add("--cache-dir", type=Path, help="where decoded arrays are cached (default: ~/.cache/tune_cifar/arrays)")
    add("--num-samples", type=int, default=20, help="trials in total, seeded variants included (default: %(default)s)")
    add("--max-epochs", type=int, help="cap every trial's epoch budget at N epochs (default: no cap)")
    add("--time-budget", type=float, help="stop starting trials and end the search after this many seconds (default: none)")
    add("--max-concurrent", type=int, help="trials running at once (default: as many as the cluster's resources allow)")
    add("--cpus-per-trial", type=float, help="CPUs per trial (default: all cores of this machine; 1 with --address or a GPU share)")
    add("--gpus-per-trial", type=float, default=0.0, help="GPUs per trial; a fraction such as 0.25 lets 4 trials share a GPU (default: 0)")
    add("--name", default="search", help="experiment name, the folder inside --storage-path (default: %(default)s)")
    add("--storage-path", default=str(DEFAULT_STORAGE), help="local folder, or a shared or cloud URI such as s3://bucket/runs "
        "that every node can reach (default: %(default)s)")
    add("--address", help="join a running Ray cluster ('auto' or HOST:PORT) instead of starting a local Ray")
    add("--resume", action="store_true", help="continue the interrupted experiment --storage-path/--name with its settings")
    add("--objective", default="val_accuracy", help=f"one of {', '.join(OBJECTIVES)} (default: %(default)s)")
    add("--scheduler", default="asha", help=f"one of {', '.join(SCHEDULERS)}; fifo turns scheduler early stopping off "
        "and is required with a multi-objective --objective (default: %(default)s)")
    add("--asha-metric", default="val_accuracy", help=f"metric ASHA stops trials on: {', '.join(ASHA_METRICS)} (default: %(default)s)")
    add("--grace-period", type=int, default=1, help="epochs every trial runs before ASHA may stop it (default: %(default)s)")
    add("--reduction-factor", type=float, default=3.0, help="ASHA keeps 1/N of the trials at each rung (default: %(default)s)")
    add("--seed", type=int, default=0, help="seed of the TPE sampler and of every trial's weights, dropout and batch order (default: 0)")
    add("--max-failures", type=int, default=2, help="retries of a failed trial from its last checkpoint (default: %(default)s)")
    add("--precision", choices=PRECISIONS, default="fp32", help="training precision (default: %(default)s)")
    add_speed_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(_run, build_parser().parse_args(argv))


def _run(args: argparse.Namespace) -> int:
    from tune_cifar import storage

    experiment = storage.join(storage.absolute(args.storage_path), args.name)
    settings = _resume_settings(args, experiment) if args.resume else _new_settings(args, experiment)
    space = load_space(settings.space).with_epoch_cap(settings.max_epochs)
    _check_sizes(settings, space)
    scheduler_options, objective = _scheduler_and_objective(settings, space)

    data = load_cifar10(settings.data_dir, cache_dir=args.cache_dir)
    logger.info("data: %s, %d training and %d test images", data.source, len(data.y_train), len(data.y_test))
    if not args.resume:
        storage.write_text(storage.join(experiment, RUN_FILE), json.dumps(asdict(settings), indent=2) + "\n")

    started = time.perf_counter()
    outcome = _run_experiment(args, settings, space, scheduler_options, objective, data, experiment)
    logger.info("search took %.0f s", time.perf_counter() - started)
    return _report(outcome, space, objective, experiment)


def _new_settings(args: argparse.Namespace, experiment: str) -> SearchSettings:
    from tune_cifar import storage

    if storage.exists(experiment):
        raise RunError(f"{experiment} already contains an experiment; pass --resume to continue it, or choose another --name")
    _check_numbers(args)
    cpus = args.cpus_per_trial
    if cpus is None:
        from tune_cifar.tuning import default_cpus_per_trial

        cpus = 1 if args.address else default_cpus_per_trial(args.gpus_per_trial)
    return SearchSettings(
        space=str(Path(args.space).resolve()),
        data_dir=str(Path(args.data_dir).resolve()) if args.data_dir else None,
        num_samples=args.num_samples,
        max_epochs=args.max_epochs,
        time_budget_s=args.time_budget,
        max_concurrent=args.max_concurrent,
        cpus_per_trial=cpus,
        gpus_per_trial=args.gpus_per_trial,
        objective=args.objective,
        scheduler=args.scheduler,
        asha_metric=args.asha_metric,
        grace_period=args.grace_period,
        reduction_factor=args.reduction_factor,
        seed=args.seed,
        max_failures=args.max_failures,
        precision=args.precision,
        channels_last=args.channels_last == "on",
        compile=args.compile,
    )


def _resume_settings(args: argparse.Namespace, experiment: str) -> SearchSettings:
    from ray import tune

    from tune_cifar import storage

    if not tune.Tuner.can_restore(experiment):
        raise RunError(f"nothing to resume in {experiment}: no Ray Tune experiment state there; run without --resume")
    stored = SearchSettings(**json.loads(storage.read_text(storage.join(experiment, RUN_FILE))))
    defaults = build_parser().parse_args([])
    for key, value in asdict(stored).items():
        given = getattr(args, key, None)
        if given is not None and given != getattr(defaults, key, None) and str(given) != str(value):
            logger.warning("--%s %s ignored on --resume: the search continues with %r from %s", key.replace("_", "-"), given, value, RUN_FILE)
    return stored


def _check_numbers(args: argparse.Namespace) -> None:
    minimums = (
        ("--num-samples", args.num_samples, 1),
        ("--max-epochs", args.max_epochs, 1),
        ("--max-concurrent", args.max_concurrent, 1),
        ("--max-failures", args.max_failures, 0),
    )
    for option, value, low in minimums:
        if value is not None and value < low:
            raise ConfigError(f"{option} must be >= {low}, got {value}")
    if args.time_budget is not None and args.time_budget <= 0:
        raise ConfigError(f"--time-budget must be > 0 seconds, got {args.time_budget}")
    if args.cpus_per_trial is not None and args.cpus_per_trial <= 0:
        raise ConfigError(f"--cpus-per-trial must be > 0, got {args.cpus_per_trial}")
    if args.gpus_per_trial < 0:
        raise ConfigError(f"--gpus-per-trial must be >= 0, got {args.gpus_per_trial}")


def _check_sizes(settings: SearchSettings, space: SearchSpace) -> None:
    if settings.num_samples < len(space.seeded):
        raise ConfigError(
            f"--num-samples {settings.num_samples} is below the {len(space.seeded)} seeded variants of {space.source}; "
            f"use --num-samples >= {len(space.seeded)} or list fewer seeded_variants in that file"
        )


def _scheduler_and_objective(settings: SearchSettings, space: SearchSpace):
    from tune_cifar.search_tuner import OBJECTIVES, SchedulerOptions, build_scheduler, lookup, max_epochs_bound

    objective = lookup(OBJECTIVES, settings.objective, "--objective")
    options = SchedulerOptions(
        name=settings.scheduler,
        metric=settings.asha_metric,
        grace_period=settings.grace_period,
        reduction_factor=settings.reduction_factor,
        max_t=max_epochs_bound(space),
    )
    build_scheduler(options, objective)  # raises ConfigError now, before Ray starts
    return options, objective


@dataclass
class _Outcome:
    trials: list[dict[str, Any]]
    run_ended: bool
    resume_failures: list[str]


def _run_experiment(args, settings: SearchSettings, space: SearchSpace, scheduler_options, objective, data, experiment: str) -> _Outcome:
    from ray import tune

    from tune_cifar.search_tuner import build_scheduler, build_searcher, check_resume, trial_records
    from tune_cifar.tuning import init_ray, make_trainable, trial_dirname

    init_ray(args.address)
    trainable = make_trainable(data, settings.cpus_per_trial, settings.gpus_per_trial)
    before: list[dict[str, Any]] = []
    if args.resume:
        logger.info("resuming %s", experiment)
        tuner = tune.Tuner.restore(experiment, trainable=trainable, resume_errored=True)
        before = trial_records(tuner.get_results())
        logger.info("the experiment had %d trials before this resume", len(before))
    else:
        name = experiment.rstrip("/").rsplit("/", 1)[-1]
        tuner = tune.Tuner(
            trainable,
            param_space={
                "seed": settings.seed,
                "training": {
                    "precision": settings.precision,
                    "channels_last": settings.channels_last,
                    "compile": settings.compile,
                },
                "data_dir": settings.data_dir,
            },
            tune_config=tune.TuneConfig(
                search_alg=build_searcher(space, objective, settings.seed),
                scheduler=build_scheduler(scheduler_options, objective),
                num_samples=settings.num_samples,
                max_concurrent_trials=settings.max_concurrent,
                time_budget_s=settings.time_budget_s,
                trial_dirname_creator=trial_dirname,
            ),
            run_config=tune.RunConfig(
                name=name,
                storage_path=experiment[: -len(name)].rstrip("/"),
                failure_config=tune.FailureConfig(max_failures=settings.max_failures),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            ),
        )

    result_grid = tuner.fit()
    trials = [
        {
            "config": result.config or {},
            "metrics": result.metrics,
            "errored": result.error is not None,
            "trial_dir": result.path.rstrip("/").rsplit("/", 1)[-1],
        }
        for result in result_grid
    ]
    failures: list[str] = []
    if args.resume:
        expected = settings.num_samples if settings.time_budget_s is None else None
        failures = check_resume(before, trial_records(result_grid), space, expected)
    return _Outcome(trials, run_ended=_all_terminated(result_grid), resume_failures=failures)


def _all_terminated(result_grid: Any) -> bool:
    """Return whether every trial ended (TERMINATED or ERROR), that is, the run was not interrupted."""
    # NOTE: ResultGrid exposes no trial status in Ray 2.60, so this reads its private
    # ExperimentAnalysis; if that changes, unfinished trials are reported as 'incomplete'.
    analysis = getattr(result_grid, "_experiment_analysis", None)
    trials = getattr(analysis, "trials", None)
    if trials is None:
        return False
    return all(trial.status in ("TERMINATED", "ERROR") for trial in trials)


def _report(outcome: _Outcome, space: SearchSpace, objective, experiment: str) -> int:
    from tune_cifar import storage
    from tune_cifar.search_results import best_trial, format_trial, pareto_set, results_table, write_results

    names = list(space.parameters)
    table = results_table(outcome.trials, names, outcome.run_ended)
    metrics = objective.metrics if objective.is_multi else ("val_accuracy", "params")
    modes = objective.modes if objective.is_multi else ("max", "min")
    pareto = pareto_set(table, metrics, modes)
    folder = storage.local_folder(experiment)
    paths = write_results(table, pareto, folder)

    print(table[["trial", "name", "status", "epochs", "val_accuracy", "val_loss", "params", "elapsed_s"]].to_string(index=False))
    print()
    print(format_trial("best trial", best_trial(table), names))
    print(format_trial("best searched trial", best_trial(table, seeded=False), names))
    print(format_trial("best practice variant", best_trial(table, seeded=True), names))
    print(f"\nPareto set ({' vs '.join(f'{m} ({mode})' for m, mode in zip(metrics, modes))}):")
    print(pareto[["trial", "name", *metrics]].to_string(index=False) if not pareto.empty else "  empty")
    print(f"\nresults: {', '.join(map(str, paths))}")

    counts = table["status"].value_counts().to_dict()
    logger.info("trial status counts: %s", counts)
    if outcome.resume_failures:
        print("resume checks failed: " + "; ".join(outcome.resume_failures), file=sys.stderr)
        return 1
    if counts.get("incomplete") or counts.get("failed"):
        print("some trials did not finish; rerun with --resume to continue them", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m tune_cifar.reproduce``: the practice's variants as fixed trials of one Ray Tune experiment.

Each selected variant of ``search_spaces/practice.yaml`` becomes one trial (one per seed
with ``--seeds``), trained with the lecture's Keras protocol. The output folder receives
the Ray Tune experiment, ``results.csv``, ``history.csv``, per-variant curves and model
summaries, ``summary.md`` answering the practice's questions, and the accuracy-against-cost
report of ``tune_cifar.report`` in ``report/``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from tune_cifar.cli import RunError, add_speed_arguments, run_command
from tune_cifar.config import ConfigError
from tune_cifar.data import load_cifar10
from tune_cifar.model import format_summary
from tune_cifar.practice import PRACTICE_FILE, Variant, load_variants, select_variants
from tune_cifar.training import PRECISIONS

logger = logging.getLogger("tune_cifar.reproduce")

RUN_FILE = "run.json"
RESULT_COLUMNS = [
    "variant",
    "seed",
    "params",
    "epochs_run",
    "stopped_early",
    "stop_reason",
    "status",
    "train_accuracy",
    "train_loss",
    "test_accuracy",
    "test_loss",
    "val_accuracy",
    "val_loss",
    "wall_time_s",
    "trial_id",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tune_cifar.reproduce",
        description="Run the CIFAR-10 practice's variants (original, q1-q4, extra) as fixed Ray Tune trials "
        "with the lecture's Keras protocol, then write results.csv, curves and summary.md.",
    )
    parser.add_argument("--data-dir", type=Path, help="CIFAR-10 folder: cifar-10-batches-py or train/ and test/ image folders "
                        "(default: ~/.cache/tune_cifar/cifar10, downloaded there when empty)")
    parser.add_argument("--download", action="store_true", help="download the official archive into --data-dir if no data is there")
    parser.add_argument("--cache-dir", type=Path, help="where decoded arrays are cached (default: ~/.cache/tune_cifar/arrays)")
    parser.add_argument("--space", type=Path, default=PRACTICE_FILE, help="variants file (default: %(default)s)")
    parser.add_argument("--variants", help="comma-separated variant names, such as original,q4 (default: all)")
    parser.add_argument("--max-epochs", type=int, help="cap every variant's epoch budget at N, for short CPU runs")
    parser.add_argument("--seed", type=int, help="seed of weights, dropout and batch order (default: 0)")
    parser.add_argument("--seeds", type=int, help="run each variant with N seeds: seed, seed+1, ... (default: 1)")
    parser.add_argument("--output", type=Path, default=Path("runs/reproduce"), help="output folder (default: %(default)s)")
    parser.add_argument("--resume", action="store_true", help="continue the interrupted run in --output; finished trials are kept")
    parser.add_argument("--summary", action="store_true", help="print the selected variants' model summaries and exit")
    parser.add_argument("--address", help="join a running Ray cluster ('auto' or HOST:PORT) instead of starting a local one")
    parser.add_argument("--cpus-per-trial", type=float, help="CPUs per trial (default: all cores of this machine, 1 with a GPU share)")
    parser.add_argument("--gpus-per-trial", type=float, default=0.0, help="GPUs per trial; fractions share a GPU (default: 0)")
    parser.add_argument("--precision", choices=PRECISIONS, help="training precision (default: fp32, the Keras default)")
    parser.add_argument("--max-failures", type=int, default=2, help="retries of a failed trial from its last checkpoint (default: 2)")
    add_speed_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(_run, build_parser().parse_args(argv))



def _run(args: argparse.Namespace) -> int:
    _check_numbers(args)
    variants = load_variants(args.space)
    output: Path = args.output

    settings = _settings(args, output)
    selected = select_variants(variants, settings["variants"])
    if args.summary:
        for variant in selected:
            print(f"# {variant.name}: {variant.description}")
            print(format_summary(variant.config.model, variant.name), end="\n\n")
        return 0

    data = load_cifar10(args.data_dir, cache_dir=args.cache_dir, download=args.download)
    logger.info("data: %s, %d training and %d test images", data.source, len(data.y_train), len(data.y_test))

    output.mkdir(parents=True, exist_ok=True)
    (output / RUN_FILE).write_text(json.dumps(settings, indent=2) + "\n")
    started = time.perf_counter()
    _run_experiment(args, settings, selected, data, output)
    logger.info("experiment took %.0f s", time.perf_counter() - started)

    results = write_outputs(output, selected, settings)
    print(results.to_string(index=False))
    print(f"\nresults: {output / 'results.csv'}\nsummary: {output / 'summary.md'}\nreport:  {output / 'report' / 'report.html'}")
    unfinished = results[results["status"] != "finished"]
    if not unfinished.empty:
        print(f"{len(unfinished)} trial(s) did not finish; rerun with --resume --output {output} to continue them.")
        return 1
    return 0


def _check_numbers(args: argparse.Namespace) -> None:
    for option, value, low in (("--max-epochs", args.max_epochs, 1), ("--seeds", args.seeds, 1), ("--max-failures", args.max_failures, 0)):
        if value is not None and value < low:
            raise ConfigError(f"{option} must be >= {low}, got {value}")
    if args.cpus_per_trial is not None and args.cpus_per_trial <= 0:
        raise ConfigError(f"--cpus-per-trial must be > 0, got {args.cpus_per_trial}")
    if args.gpus_per_trial < 0:
        raise ConfigError(f"--gpus-per-trial must be >= 0, got {args.gpus_per_trial}")


def _settings(args: argparse.Namespace, output: Path) -> dict[str, Any]:
    """Return the run's settings: from the command line, or from ``run.json`` on --resume."""
    given = {
        "variants": args.variants,
        "max_epochs": args.max_epochs,
        "seed": args.seed if args.seed is not None else 0,
        "seeds": args.seeds if args.seeds is not None else 1,
        "precision": args.precision or "fp32",
        "channels_last": args.channels_last == "on",
        "compile": args.compile,
        "space": str(Path(args.space).resolve()),
    }
    if args.summary:
        return given

    from tune_cifar.tuning import can_resume, experiment_path

    if not args.resume:
        if experiment_path(output).exists():
            raise RunError(
                f"{output} already contains an experiment; pass --resume to continue it, "
                "or choose another --output folder"
            )
        return given
    if not can_resume(output):
        raise RunError(f"nothing to resume in {output}: no Ray Tune experiment state there; run without --resume")

    stored = json.loads((output / RUN_FILE).read_text())
    for key in ("variants", "max_epochs", "seed", "seeds", "precision"):
        option = getattr(args, key)
        if option is not None and option != stored.get(key):
            logger.warning("--%s %s ignored on --resume: the run continues with %r", key.replace("_", "-"), option, stored.get(key))
    return stored


def _run_experiment(args: argparse.Namespace, settings: dict[str, Any], selected: list[Variant], data: Any, output: Path) -> None:
    from ray import tune

    from tune_cifar.tuning import default_cpus_per_trial, experiment_path, init_ray, make_trainable, trial_dirname

    init_ray(args.address)
    cpus = args.cpus_per_trial or default_cpus_per_trial(args.gpus_per_trial)
    trainable = make_trainable(data, cpus, args.gpus_per_trial)
    exp_path = experiment_path(output).resolve()

    if args.resume:
        logger.info("resuming %s", exp_path)
        tuner = tune.Tuner.restore(str(exp_path), trainable=trainable, resume_errored=True)
    else:
        tuner = tune.Tuner(
            trainable,
            param_space=practice_param_space(selected, settings),
            tune_config=tune.TuneConfig(trial_dirname_creator=trial_dirname),
            run_config=tune.RunConfig(
                name=exp_path.name,
                storage_path=str(exp_path.parent),
                failure_config=tune.FailureConfig(max_failures=args.max_failures),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            ),
        )
    tuner.fit()


class _VariantConfig:
    """Resolve a trial's config from its variant name inside Ray Tune's grid search."""

    def __init__(self, configs: dict[str, dict[str, Any]]):
        self.configs = configs

    def __call__(self, spec: Any) -> dict[str, Any]:
        return self.configs[spec.config["name"]]


def practice_param_space(selected: list[Variant], settings: dict[str, Any]) -> dict[str, Any]:
    """Return the Ray Tune param_space: a grid over variant names (and seeds), configs resolved per trial."""
    from ray import tune

    configs = {v.name: v.config.with_epoch_cap(settings["max_epochs"]).to_dict() for v in selected}
    seeds = [settings["seed"] + offset for offset in range(settings["seeds"])]
    return {
        "name": tune.grid_search([v.name for v in selected]),
        "seed": tune.grid_search(seeds) if len(seeds) > 1 else seeds[0],
        "trial": tune.sample_from(_VariantConfig(configs)),
        "training": {
            "precision": settings["precision"],
            # run.json files written before these options existed lack the keys.
            "channels_last": settings.get("channels_last", True),
            "compile": settings.get("compile", "off"),
        },
    }


def write_outputs(output: Path, selected: list[Variant], settings: dict[str, Any]):
    """Write results.csv, history.csv, per-variant curves and summaries, summary.md and report/."""
    from tune_cifar.plots import plot_curve
    from tune_cifar.practice_summary import write_summary
    from tune_cifar.report import write_report
    from tune_cifar.results import load_experiment
    from tune_cifar.tuning import experiment_path

    trials, history = load_experiment(experiment_path(output))
    # Rows follow the variants file's order (then seed), as the practice asks its questions.
    order = {variant.name: index for index, variant in enumerate(selected)}
    results = trials.rename(columns={"name": "variant"})[RESULT_COLUMNS]
    results = results.sort_values(["variant", "seed"], key=lambda column: column.map(order) if column.name == "variant" else column)
    results = results.reset_index(drop=True)
    results.to_csv(output / "results.csv", index=False)
    history.to_csv(output / "history.csv", index=False)

    for variant in selected:
        folder = output / "variants" / variant.name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.txt").write_text(format_summary(variant.config.model, variant.name) + "\n")
        variant_history = history[history["name"] == variant.name]
        if variant_history.empty:
            continue
        for metric in ("loss", "accuracy"):
            plot_curve(variant_history, metric, folder / f"{metric}.png", f"{variant.name}: {variant.description}")

    description = (
        f"Variants: {', '.join(v.name for v in selected)}; seed {settings['seed']}"
        + (f" (+{settings['seeds'] - 1} more)" if settings["seeds"] > 1 else "")
        + (f"; epochs capped at {settings['max_epochs']}" if settings["max_epochs"] else "; full epoch budgets")
        + f"; precision {settings['precision']}."
    )
    write_summary(trials, output / "summary.md", description)
    write_report([experiment_path(output)], output / "report")
    return results


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark 2: wall time Ray Tune adds to short trials, against a plain loop in one process.

Both sides train the same variants, capped at ``--max-epochs``, with the same seed,
precision and thread count, and both include the cached data load and each trial's
final evaluation on the training and test sets:

- plain: ``Trainer`` and ``fit`` called in a loop in this process;
- Tune: ``tune_cifar.reproduce.main`` in this process, which also writes results.csv,
  curves and summary.md. Ray is started first and its start-up timed apart, so the
  overhead is reported both with and without it.

Run from the repository root:

    python -m benchmarks.tune_overhead --data-dir ../shared/datasets/cifar10-jpg
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import torch

from benchmarks.common import add_data_arguments, describe_machine, format_load, format_table
from tune_cifar import reproduce
from tune_cifar.data import load_cifar10
from tune_cifar.practice import load_variants, select_variants
from tune_cifar.training import DeviceData, Trainer, TrainingOptions, fit

# Goal: Tune adds under this fraction to the wall time of one-epoch trials.
GOAL_OVERHEAD = 0.10


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tune_overhead", description=__doc__.split("\n\n")[0])
    add_data_arguments(parser)
    parser.add_argument("--variants", default="original,q1", help="variants to train, one trial each (default: %(default)s)")
    parser.add_argument("--max-epochs", type=int, default=1, help="epoch cap of every trial (default: %(default)s)")
    parser.add_argument("--cpus", type=int, default=os.cpu_count(), help="threads of the plain loop and CPUs per Tune trial (default: %(default)s)")
    parser.add_argument("--precision", default="fp32", help="training precision of both sides (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of both sides (default: %(default)s)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    torch.set_num_threads(args.cpus)
    print("\n".join(describe_machine()), flush=True)

    plain_s, plain_trials = run_plain(args)
    startup_s, tune_s, experiment_s = run_tune(args)

    rows = [[name, f"{seconds:.1f}"] for name, seconds in plain_trials]
    print(f"\nload average at end (1, 5, 15 min): {format_load()}")
    print("\nplain loop, seconds per trial (training and final evaluation)")
    print(format_table(["variant", "seconds"], rows))
    print_overheads(plain_s, startup_s, tune_s, experiment_s)
    return 0


def run_plain(args: argparse.Namespace) -> tuple[float, list[tuple[str, float]]]:
    """Train the variants one after another in this process; return total and per-trial seconds."""
    start = time.perf_counter()
    data = load_cifar10(args.data_dir, cache_dir=args.cache_dir)
    variants = select_variants(load_variants(), args.variants)
    options = TrainingOptions(device="cpu", precision=args.precision, threads=args.cpus)
    device_data = DeviceData(data, torch.device("cpu"), options.channels_last)
    trials = []
    for variant in variants:
        trial_start = time.perf_counter()
        config = variant.config.with_epoch_cap(args.max_epochs)
        fit(Trainer(config, device_data, args.seed, options), trial_name=variant.name)
        trials.append((variant.name, time.perf_counter() - trial_start))
    return time.perf_counter() - start, trials


class ExperimentClock(logging.Handler):
    """Catch reproduce's "experiment took" log record, whose argument is the unrounded Tuner.fit time."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: float | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, str) and record.msg.startswith("experiment took") and record.args:
            self.seconds = float(record.args[0])


def run_tune(args: argparse.Namespace) -> tuple[float, float, float | None]:
    """Start Ray, then run the same trials through reproduce; return start-up, reproduce and Tuner.fit seconds."""
    import ray

    from tune_cifar.tuning import init_ray

    clock = ExperimentClock()
    logging.getLogger("tune_cifar.reproduce").addHandler(clock)
    start = time.perf_counter()
    init_ray(None)
    startup_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as output:
        argv = [
            "--data-dir", str(args.data_dir),
            "--variants", args.variants,
            "--max-epochs", str(args.max_epochs),
            "--seed", str(args.seed),
            "--precision", args.precision,
            "--cpus-per-trial", str(args.cpus),
            "--output", str(Path(output) / "run"),
        ]
        if args.cache_dir:
            argv += ["--cache-dir", str(args.cache_dir)]
        start = time.perf_counter()
        exit_code = reproduce.main(argv)
        tune_s = time.perf_counter() - start
    ray.shutdown()
    logging.getLogger("tune_cifar.reproduce").removeHandler(clock)
    if exit_code != 0:
        raise RuntimeError(f"reproduce exited with code {exit_code}; see its output above")
    return startup_s, tune_s, clock.seconds


def print_overheads(plain_s: float, startup_s: float, tune_s: float, experiment_s: float | None) -> None:
    """Print wall times and Tune's overhead over the plain loop, with and without Ray start-up."""
    rows = [["plain loop (data load, trials)", f"{plain_s:.1f}", ""]]
    if experiment_s is not None:
        rows.append(["reproduce's Tuner.fit only", f"{experiment_s:.1f}", _overhead(experiment_s, plain_s)])
    rows += [
        ["reproduce, Ray start-up excluded", f"{tune_s:.1f}", _overhead(tune_s, plain_s)],
        ["reproduce, Ray start-up included", f"{startup_s + tune_s:.1f}", _overhead(startup_s + tune_s, plain_s)],
    ]
    print(f"\nRay start-up: {startup_s:.1f} s")
    print("reproduce also loads the data and writes results.csv, curves, summary.md and its report after Tuner.fit")
    print(f"wall time and Tune's overhead over the plain loop (goal: under {GOAL_OVERHEAD:.0%})")
    print(format_table(["run", "seconds", "overhead"], rows))


def _overhead(seconds: float, plain_s: float) -> str:
    fraction = seconds / plain_s - 1.0
    return f"{fraction:+.1%} {'met' if fraction < GOAL_OVERHEAD else 'MISSED'}"


if __name__ == "__main__":
    sys.exit(main())

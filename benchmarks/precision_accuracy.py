"""bf16 against fp32: test accuracy over several seeds, to compare the gap with seed-to-seed noise.

Each seed trains the same variant twice on the same subset, once per precision, for
``--epochs`` epochs with early stopping off, and evaluates on the full test set. bf16
counts as harmless when the mean accuracy gap is within the spread (standard deviation)
of fp32's accuracy across seeds. Run from the repository root:

    python -m benchmarks.precision_accuracy --data-dir ../shared/datasets/cifar10-jpg
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from dataclasses import replace
from typing import Sequence

import torch

from benchmarks.common import add_data_arguments, describe_machine, format_load, format_table
from tune_cifar.data import load_cifar10
from tune_cifar.practice import load_variants, select_variants
from tune_cifar.training import DeviceData, Trainer, TrainingOptions, fit


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.precision_accuracy", description=__doc__.split("\n\n")[0])
    add_data_arguments(parser)
    parser.add_argument("--variants", default="original", help="variants to train (default: %(default)s)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per precision: 0, 1, ... (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run, early stopping off (default: %(default)s)")
    parser.add_argument("--train-images", type=int, default=20000,
                        help="first N training images, 20%% of them held out for validation (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch intra-op threads (default: %(default)s)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    print("\n".join(describe_machine()), flush=True)
    data = load_cifar10(args.data_dir, cache_dir=args.cache_dir)
    subset = replace(data, x_train=data.x_train[: args.train_images], y_train=data.y_train[: args.train_images])

    rows = []
    for variant in select_variants(load_variants(), args.variants):
        config = replace(variant.config, max_epochs=args.epochs, patience=None)
        runs = {precision: [run_once(config, subset, seed, precision, args.threads) for seed in range(args.seeds)]
                for precision in ("fp32", "bf16")}
        rows.append(summarize(variant.name, runs))

    print(f"\nload average at end (1, 5, 15 min): {format_load()}")
    header = ["variant", "fp32 test accuracy", "bf16 test accuracy", "mean gap (bf16 - fp32)",
              "fp32 seed std", "verdict", "bf16 / fp32 speed"]
    print(format_table(header, rows))
    return 0


def run_once(config, data, seed: int, precision: str, threads: int) -> tuple[float, float]:
    """Train and evaluate one run; return (test accuracy, wall seconds)."""
    options = TrainingOptions(device="cpu", precision=precision, threads=threads)
    trainer = Trainer(config, DeviceData(data, torch.device("cpu"), options.channels_last), seed, options)
    outcome = fit(trainer, trial_name=f"{precision} seed {seed}")
    print(f"{precision} seed {seed}: test accuracy {outcome.test_accuracy:.4f}, {outcome.wall_time_s:.1f} s", flush=True)
    return outcome.test_accuracy, outcome.wall_time_s


def summarize(name: str, runs: dict[str, list[tuple[float, float]]]) -> list[str]:
    """Return one table row: accuracies as mean +- std, the gap, the fp32 seed spread and the verdict."""
    fp32 = [accuracy for accuracy, _ in runs["fp32"]]
    bf16 = [accuracy for accuracy, _ in runs["bf16"]]
    gap = statistics.mean(bf16) - statistics.mean(fp32)
    spread = statistics.stdev(fp32) if len(fp32) > 1 else float("nan")
    verdict = "within seed noise" if abs(gap) <= spread else "outside seed noise"
    speed = sum(seconds for _, seconds in runs["fp32"]) / sum(seconds for _, seconds in runs["bf16"])
    return [name, _mean_std(fp32), _mean_std(bf16), f"{gap:+.4f}", f"{spread:.4f}", verdict, f"{speed:.2f}x"]


def _mean_std(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else float("nan")
    return f"{statistics.mean(values):.4f} +- {spread:.4f}"


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark 1: training images per second of tune_cifar's trainer against two reference loops.

For each distinct architecture of the practice, at its batch size, on the real data:

- tune_cifar: ``Trainer.train_epoch`` with its default options, in fp32 and bf16;
- (a) the PyTorch CIFAR-10 tutorial's loop (``benchmarks/tutorial_reference.py``),
  with the tutorial's ``num_workers=2`` and with 0 workers, the faster counting;
- (b) the lecture's Keras script (``benchmarks/keras_reference.py``), run in a Python
  that has TensorFlow (``--keras-python``).

Every implementation trains the same network with RMSprop at the same batch size for
the same number of timed batches after untimed warm-up batches, with the same torch or
TensorFlow thread count. Only training steps are timed, no validation. Run from the
repository root:

    python -m benchmarks.throughput --data-dir ../shared/datasets/cifar10-jpg --keras-python ../tfvenv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from benchmarks.common import (
    Architecture,
    add_data_arguments,
    describe_machine,
    format_load,
    format_table,
    practice_architectures,
    trainer_throughput,
)
from benchmarks.tutorial_reference import tutorial_throughput
from tune_cifar.data import load_cifar10
from tune_cifar.training import TrainingOptions

KERAS_SCRIPT = Path(__file__).resolve().parent / "keras_reference.py"

# Goals on a 2-core CPU: tune_cifar's images/s over each reference's.
GOAL_OVER_TUTORIAL = 2.0
GOAL_OVER_KERAS = 1.3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.throughput", description=__doc__.split("\n\n")[0])
    add_data_arguments(parser)
    parser.add_argument("--variants", help="comma-separated variant names; their architectures are measured (default: all)")
    parser.add_argument("--images", type=int, default=6000, help="timed training images per measurement (default: %(default)s)")
    parser.add_argument("--warmup-batches", type=int, default=10, help="untimed batches before the reference loops' timing (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch and TensorFlow intra-op threads (default: %(default)s)")
    parser.add_argument("--precisions", default="fp32,bf16", help="tune_cifar precisions to measure (default: %(default)s)")
    parser.add_argument("--tutorial-workers", default="0,2", help="DataLoader num_workers settings of the tutorial loop (default: %(default)s)")
    parser.add_argument("--keras-python", default=os.environ.get("TUNE_CIFAR_KERAS_PYTHON", sys.executable),
                        help="Python with TensorFlow for the Keras loop (default: $TUNE_CIFAR_KERAS_PYTHON, else this Python)")
    parser.add_argument("--no-keras", action="store_true", help="skip the Keras loop")
    parser.add_argument("--json", type=Path, help="also write the measurements to this JSON file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for option, value in (("--images", args.images), ("--warmup-batches", args.warmup_batches), ("--threads", args.threads)):
        if value < 1:
            print(f"error: {option} must be >= 1, got {value}", file=sys.stderr)
            return 2
    torch.set_num_threads(args.threads)
    print("\n".join(describe_machine()), flush=True)

    data = load_cifar10(args.data_dir, cache_dir=args.cache_dir)
    architectures = practice_architectures(args.variants)
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    workers = [int(w) for w in args.tutorial_workers.split(",") if w.strip()]

    results = {arch.name: measure_torch(arch, data, args, precisions, workers) for arch in architectures}
    keras_results, keras_note = ({}, "skipped (--no-keras)") if args.no_keras else run_keras(architectures, data, args)
    for name, result in keras_results.items():
        results[name]["keras"] = result["images_per_s"]

    print(f"\nload average at end (1, 5, 15 min): {format_load()}")
    print(f"Keras reference: {keras_note}")
    print_tables(results, precisions, workers)
    if args.json:
        args.json.write_text(json.dumps({"results": results, "keras": keras_note}, indent=2) + "\n")
    return 0


def batches_for(arch: Architecture, images: int) -> int:
    return max(1, images // arch.config.batch_size)


def measure_torch(arch: Architecture, data, args: argparse.Namespace, precisions: list[str], workers: list[int]) -> dict:
    """Measure tune_cifar's trainer and the tutorial loop on one architecture; return images/s by label."""
    batches = batches_for(arch, args.images)
    result: dict[str, float] = {}
    for precision in precisions:
        options = TrainingOptions(device="cpu", precision=precision, threads=args.threads)
        timing = trainer_throughput(arch.config, data, options, batches)
        result[f"tune_cifar {precision}"] = timing.images_per_s
        print(f"{arch.name}: tune_cifar {precision} {timing.images_per_s:.0f} images/s", flush=True)
    for count in workers:
        timing = tutorial_throughput(arch.config, data, batches, args.warmup_batches, count)
        result[f"tutorial workers={count}"] = timing.images_per_s
        print(f"{arch.name}: tutorial num_workers={count} {timing.images_per_s:.0f} images/s", flush=True)
    return result


def run_keras(architectures: list[Architecture], data, args: argparse.Namespace) -> tuple[dict, str]:
    """Run keras_reference.py in ``--keras-python``; return results by name and a note on the run."""
    needed = max((batches_for(arch, args.images) + args.warmup_batches) * arch.config.batch_size for arch in architectures)
    specs = [
        {**arch.config.to_dict(), "name": arch.name, "batches": batches_for(arch, args.images)}
        for arch in architectures
    ]
    with tempfile.TemporaryDirectory() as folder:
        data_file = Path(folder) / "train.npz"
        np.savez(data_file, x=data.x_train[:needed], y=data.y_train[:needed])
        spec_file = Path(folder) / "spec.json"
        spec = {"data": str(data_file), "architectures": specs, "warmup_batches": args.warmup_batches, "threads": args.threads}
        spec_file.write_text(json.dumps(spec))
        command = [args.keras_python, str(KERAS_SCRIPT), str(spec_file)]
        try:
            completed = subprocess.run(command, capture_output=True, text=True, check=False)
        except OSError as error:
            return {}, f"not run: {args.keras_python} could not be started ({error}); pass --keras-python"

    if completed.returncode != 0:
        tail = completed.stderr.strip().splitlines()[-3:]
        return {}, (
            f"failed with exit code {completed.returncode} in {args.keras_python}: {' / '.join(tail)}. "
            "Install tensorflow-cpu there (the 'benchmark' extra) or pass --keras-python"
        )
    lines = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    versions = lines[0]
    results = {line["name"]: line for line in lines[1:]}
    for name, line in results.items():
        print(f"{name}: keras {line['images_per_s']:.0f} images/s", flush=True)
    return results, f"TensorFlow {versions['tensorflow']}, Keras {versions['keras']} ({args.keras_python})"


def print_tables(results: dict[str, dict[str, float]], precisions: list[str], workers: list[int]) -> None:
    """Print images/s per implementation, then the ratios against the goals (the ratios last)."""
    columns = [f"tune_cifar {p}" for p in precisions] + [f"tutorial workers={w}" for w in workers] + ["keras"]
    rows = [[name] + [_format_rate(result.get(column)) for column in columns] for name, result in results.items()]
    print("\nimages per second (training steps only)")
    print(format_table(["architecture", *columns], rows))

    ratio_header = ["architecture"]
    for precision in precisions:
        ratio_header += [f"{precision} / tutorial (goal {GOAL_OVER_TUTORIAL}x)", f"{precision} / keras (goal {GOAL_OVER_KERAS}x)"]
    ratio_rows = []
    for name, result in results.items():
        tutorial = max(result[f"tutorial workers={w}"] for w in workers) if workers else None
        row = [name]
        for precision in precisions:
            ours = result[f"tune_cifar {precision}"]
            row += [_format_ratio(ours, tutorial, GOAL_OVER_TUTORIAL), _format_ratio(ours, result.get("keras"), GOAL_OVER_KERAS)]
        ratio_rows.append(row)
    print("\nratios: tune_cifar images/s over the reference's (the faster tutorial setting counts)")
    print(format_table(ratio_header, ratio_rows))


def _format_rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def _format_ratio(ours: float, reference: float | None, goal: float) -> str:
    if reference is None:
        return "n/a"
    ratio = ours / reference
    return f"{ratio:.2f}x {'met' if ratio >= goal else 'MISSED'}"


if __name__ == "__main__":
    sys.exit(main())

"""Trainer option sweep: images/s of each precision, memory format and compile mode.

The measured winners become ``TrainingOptions``' defaults; ``benchmarks/README.md``
records the numbers behind each default. Each cell times ``Trainer.train_epoch`` over
``--images`` training images after one untimed warm-up epoch of the same size; the
warm-up column shows what ``torch.compile`` adds to a trial's first epoch. Run from the
repository root:

    python -m benchmarks.trainer_options --data-dir ../shared/datasets/cifar10-jpg
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from typing import Sequence

import torch

from benchmarks.common import add_data_arguments, describe_machine, format_load, format_table, practice_architectures, trainer_throughput
from tune_cifar.data import load_cifar10
from tune_cifar.training import COMPILE_MODES, TrainingOptions


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.trainer_options", description=__doc__.split("\n\n")[0])
    add_data_arguments(parser)
    parser.add_argument("--variants", default="original,q4", help="variants whose architectures are measured (default: %(default)s)")
    parser.add_argument("--images", type=int, default=4000, help="timed training images per cell (default: %(default)s)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="device to measure on (default: %(default)s)")
    parser.add_argument("--precisions", default="fp32,bf16", help="precisions to sweep (default: %(default)s)")
    parser.add_argument("--compile-modes", default="off,default",
                        help=f"compile modes to sweep, from {', '.join(COMPILE_MODES)} (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch intra-op threads (default: %(default)s)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    print("\n".join(describe_machine()), flush=True)
    data = load_cifar10(args.data_dir, cache_dir=args.cache_dir)
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    compile_modes = [m.strip() for m in args.compile_modes.split(",") if m.strip()]

    rows = []
    for arch in practice_architectures(args.variants):
        batches = max(1, args.images // arch.config.batch_size)
        baseline = None
        for precision, channels_last, compile_mode in itertools.product(precisions, (False, True), compile_modes):
            options = TrainingOptions(device=args.device, precision=precision, threads=args.threads,
                                      channels_last=channels_last, compile=compile_mode)
            timing = trainer_throughput(arch.config, data, options, batches)
            baseline = baseline or timing.images_per_s  # the first cell: first precision, contiguous, first mode
            row = [arch.name, precision, "on" if channels_last else "off", compile_mode,
                   f"{timing.images_per_s:.0f}", f"{timing.images_per_s / baseline:.2f}x", f"{timing.warmup_s:.1f}"]
            print(" ".join(row), flush=True)
            rows.append(row)

    print(f"\nload average at end (1, 5, 15 min): {format_load()}")
    header = ["architecture", "precision", "channels_last", "compile", "images/s", "vs first row", "warm-up epoch s"]
    print(format_table(header, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark 4: the whole practice at its full protocol, all six variants sharing one GPU.

Runs ``tune_cifar.reproduce`` in this process with a fractional GPU share per trial
(default 1/6, so all six trials run at once on one GPU), samples the GPU's utilisation
with ``nvidia-smi`` every second, and prints wall time per variant and in total. Goal on
one H200: all six variants in under 5 minutes. Run from the repository root:

    python -m benchmarks.gpu_practice --data-dir ../shared/datasets/cifar10-jpg

``--tiny`` is the CPU check of the same path: six one-epoch trials on a generated
stand-in data set of 200 images, without a GPU share when no GPU is visible.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Sequence

import pandas as pd
import torch

from benchmarks.common import add_data_arguments, REPO_ROOT, describe_machine, format_load, format_table, write_image_folders
from tune_cifar import reproduce
from tune_cifar.practice import PRACTICE_ORDER
from tune_cifar.training import PRECISIONS

GOAL_TOTAL_S = 300.0
SAMPLE_INTERVAL_S = 1.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_practice", description=__doc__.split("\n\n")[0])
    add_data_arguments(parser)
    parser.add_argument("--output", type=Path, help="run folder (default: runs/gpu_practice/<date-time>)")
    parser.add_argument("--gpus-per-trial", type=float, help="GPU share per trial (default: 1/6 with a GPU, 0 without)")
    parser.add_argument("--cpus-per-trial", type=float, help="CPUs per trial (default: this machine's CPUs / 6, at least 1)")
    parser.add_argument("--precision", default="fp32", choices=PRECISIONS, help="training precision (default: %(default)s)")
    parser.add_argument("--max-epochs", type=int, help="cap every variant's epoch budget (default: the full protocol)")
    parser.add_argument("--tiny", action="store_true", help="CPU check: generated 200-image data set, one epoch per variant")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    print("\n".join(describe_machine()), flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        if args.tiny:
            args.data_dir = write_image_folders(Path(scratch) / "data", train_per_class=16, test_per_class=4)
            args.cache_dir = Path(scratch) / "cache"
            args.max_epochs = args.max_epochs or 1
        return run(args)


def run(args: argparse.Namespace) -> int:
    """Run the six variants through reproduce while sampling the GPU; print the timings."""
    gpus = args.gpus_per_trial if args.gpus_per_trial is not None else (1 / 6 if torch.cuda.is_available() else 0.0)
    cpus = args.cpus_per_trial or max(1, (os.cpu_count() or 1) // 6)
    output = args.output or REPO_ROOT / "runs" / "gpu_practice" / datetime.now().strftime("%Y%m%d-%H%M%S")
    argv = [
        "--data-dir", str(args.data_dir),
        "--output", str(output),
        "--gpus-per-trial", str(gpus),
        "--cpus-per-trial", str(cpus),
        "--precision", args.precision,
    ]
    if args.cache_dir:
        argv += ["--cache-dir", str(args.cache_dir)]
    if args.max_epochs:
        argv += ["--max-epochs", str(args.max_epochs)]
    print(f"reproduce arguments: {' '.join(argv)}", flush=True)

    sampler = GpuSampler()
    sampler.start()
    start = time.perf_counter()
    exit_code = reproduce.main(argv)
    total_s = time.perf_counter() - start
    sampler.stop()

    import ray

    ray.shutdown()
    print(f"\nload average at end (1, 5, 15 min): {format_load()}")
    if exit_code != 0:
        print(f"reproduce exited with code {exit_code}; the timings below cover only finished trials", file=sys.stderr)
    print_results(output, total_s, sampler)
    return exit_code


class GpuSampler:
    """Poll ``nvidia-smi`` in a background thread for GPU utilisation (%) and memory used (MiB)."""

    def __init__(self) -> None:
        self.utilisation: list[float] = []
        self.memory_mib: list[float] = []
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        command = ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits"]
        while not self._stop.is_set():
            try:
                lines = subprocess.run(command, capture_output=True, text=True, check=True, timeout=10).stdout.splitlines()
            except (OSError, subprocess.SubprocessError) as error:
                self.error = f"nvidia-smi failed: {error}"
                return
            try:
                utilisation, memory = (float(field) for field in lines[0].split(","))  # the first GPU only
            except ValueError:  # "[N/A]" on GPUs that do not report utilisation
                self.error = f"nvidia-smi printed {lines[:1]!r}, not two numbers"
                return
            self.utilisation.append(utilisation)
            self.memory_mib.append(memory)
            self._stop.wait(SAMPLE_INTERVAL_S)

    def summary(self) -> str:
        if not self.utilisation:
            return f"not measured ({self.error or 'no samples'})"
        busy = [value for value in self.utilisation if value > 0]
        return (
            f"mean {sum(self.utilisation) / len(self.utilisation):.0f}% over {len(self.utilisation)} one-second samples, "
            f"mean {sum(busy) / max(1, len(busy)):.0f}% while busy, max {max(self.utilisation):.0f}%; "
            f"memory used max {max(self.memory_mib):.0f} MiB"
        )


def print_results(output: Path, total_s: float, sampler: GpuSampler) -> None:
    """Print one row per variant from results.csv, the GPU utilisation and the total against the goal."""
    results_file = output / "results.csv"
    if results_file.exists():
        results = pd.read_csv(results_file).set_index("variant")
        rows = []
        for name in PRACTICE_ORDER:
            if name not in results.index:
                continue
            row = results.loc[name]
            rows.append([name, int(row["epochs_run"]), row["stop_reason"], f"{row['test_accuracy']:.4f}", f"{row['wall_time_s']:.1f}"])
        print("\nper variant (wall time inside the trial: training, validation and final evaluation)")
        print(format_table(["variant", "epochs", "stop", "test accuracy", "wall time s"], rows))
    print(f"\nGPU utilisation: {sampler.summary()}")
    verdict = "met" if total_s < GOAL_TOTAL_S else "MISSED"
    print(f"total wall time (Ray start-up, data load, six trials, outputs): {total_s:.1f} s; "
          f"goal < {GOAL_TOTAL_S:.0f} s: {verdict} ({total_s / GOAL_TOTAL_S:.2f} of the budget)")


if __name__ == "__main__":
    sys.exit(main())

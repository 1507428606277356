"""Benchmark 3: CIFAR-10 load time, first decode and cached, through ``tune_cifar.data.load_cifar10``.

The first load decodes every image into a fresh temporary cache folder; the cached
loads then read that cache. The operating system's file cache is left as it is, so the
decode figure is for files already read once (warm page cache) unless the machine was
just booted. Run from the repository root:

    python -m benchmarks.data_loading --data-dir ../shared/datasets/cifar10-jpg
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from typing import Sequence

from benchmarks.common import add_data_arguments, describe_machine, format_load, format_table
from tune_cifar.data import load_cifar10

# Goal: a cached load of the full set in under this many seconds.
GOAL_CACHED_S = 2.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.data_loading", description=__doc__.split("\n\n")[0])
    add_data_arguments(parser, cache=False)
    parser.add_argument("--repeats", type=int, default=5, help="cached loads to time (default: %(default)s)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.repeats < 1:
        print(f"error: --repeats must be >= 1, got {args.repeats}", file=sys.stderr)
        return 2
    print("\n".join(describe_machine()), flush=True)

    with tempfile.TemporaryDirectory() as cache_dir:
        start = time.perf_counter()
        data = load_cifar10(args.data_dir, cache_dir=cache_dir)
        decode_s = time.perf_counter() - start
        images = len(data.y_train) + len(data.y_test)
        del data

        cached = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            load_cifar10(args.data_dir, cache_dir=cache_dir)
            cached.append(time.perf_counter() - start)

    median = statistics.median(cached)
    print(f"\nload average at end (1, 5, 15 min): {format_load()}")
    rows = [
        ["first load (decode and write cache)", f"{decode_s:.2f}", ""],
        [f"cached load, median of {args.repeats}", f"{median:.2f}", f"{'met' if median < GOAL_CACHED_S else 'MISSED'} (goal < {GOAL_CACHED_S} s)"],
        ["cached load, slowest", f"{max(cached):.2f}", ""],
    ]
    print(f"{images} images")
    print(format_table(["load", "seconds", "goal"], rows))
    print(f"ratio: first load / cached load = {decode_s / median:.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

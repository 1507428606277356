"""Helpers shared by the benchmark scripts: machine description, data subsets and timed runs."""

from __future__ import annotations

import argparse

import os
import platform
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from tune_cifar.config import VALIDATION_FRACTION, TrialConfig
from tune_cifar.practice import PRACTICE_ORDER, load_variants
from tune_cifar.training import DeviceData, Trainer, TrainingOptions

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "datasets" / "cifar10-jpg"
"""The full CIFAR-10 JPEG copy that sits beside the checkout on the project's machines."""


def add_data_arguments(parser: argparse.ArgumentParser, cache: bool = True) -> None:
    """Add ``--data-dir`` (and ``--cache-dir`` unless ``cache`` is False), shared by every benchmark."""
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="CIFAR-10 folder (default: %(default)s)")
    if cache:
        parser.add_argument("--cache-dir", type=Path, help="decoded-array cache folder (default: tune_cifar's)")


def describe_machine() -> list[str]:
    """Return lines naming the CPU, GPU, library versions, load average and command."""
    import ray
    import torchvision

    lines = [
        f"machine: {_cpu_model()}, {os.cpu_count()} logical CPU(s), {_memory_gib():.0f} GiB RAM, GPU: {_gpu_name()}",
        f"versions: python {platform.python_version()}, torch {torch.__version__}, "
        f"torchvision {torchvision.__version__}, ray {ray.__version__}",
        f"torch threads: {torch.get_num_threads()}",
        f"load average at start (1, 5, 15 min): {format_load()}",
        f"command: {_command_line()}",
    ]
    return lines


def _command_line() -> str:
    # Under ``python -m`` sys.argv[0] is the file path, which would not run as printed.
    main_spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    program = ["-m", main_spec.name] if main_spec is not None else [sys.argv[0]]
    return shlex.join(["python", *program, *sys.argv[1:]])


def format_load() -> str:
    """Return the 1, 5 and 15 minute load averages, the sign of other work on the machine."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gib() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        return float("nan")


def _gpu_name() -> str:
    if not torch.cuda.is_available():
        return "none"
    return ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))


@dataclass(frozen=True)
class Architecture:
    """One distinct model and batch size of the practice, with the variants that share it."""

    name: str
    """Variant names joined by '/', such as 'q1/q2'."""
    config: TrialConfig


def practice_architectures(names: str | None = None) -> list[Architecture]:
    """Return the practice's distinct (model, batch size) pairs in practice order.

    Variants that differ only in epoch budget (q1 and q2) train the same network at the
    same batch size, so they share one entry. ``names`` keeps entries that contain any of
    the comma-separated variant names.
    """
    variants = load_variants()
    groups: dict[tuple, list[str]] = {}
    configs: dict[tuple, TrialConfig] = {}
    for name in PRACTICE_ORDER:
        config = variants[name].config
        key = (config.model, config.batch_size)
        groups.setdefault(key, []).append(name)
        configs.setdefault(key, config)

    wanted = None if names is None else {name.strip() for name in names.split(",") if name.strip()}
    if wanted is not None:
        unknown = wanted - set(PRACTICE_ORDER)
        if unknown:
            raise ValueError(f"unknown variant(s) {', '.join(sorted(unknown))}; choose from {', '.join(PRACTICE_ORDER)}")
    architectures = []
    for key, members in groups.items():
        if wanted is None or wanted & set(members):
            architectures.append(Architecture("/".join(members), configs[key]))
    return architectures


def fit_subset(data: Any, num_fit: int, num_test: int = 100) -> SimpleNamespace:
    """Return the first training images, sized so the trainer's fit part has exactly ``num_fit``.

    The trainer holds out the last 20% of its training arrays for validation, so the
    subset is about 1.25 times ``num_fit``.
    """
    total = num_fit
    while int(total * (1.0 - VALIDATION_FRACTION)) < num_fit:
        total += 1
    if total > len(data.y_train):
        raise ValueError(
            f"{num_fit} fit images need {total} training images but the data set has "
            f"{len(data.y_train)}; lower --images"
        )
    return SimpleNamespace(
        x_train=data.x_train[:total],
        y_train=data.y_train[:total],
        x_test=data.x_test[:num_test],
        y_test=data.y_test[:num_test],
    )


@dataclass(frozen=True)
class Throughput:
    """A timed run of training steps."""

    images: int
    seconds: float
    warmup_s: float
    """Time of the untimed warm-up before the measurement, compile time included."""

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds


def trainer_throughput(
    config: TrialConfig, data: Any, options: TrainingOptions, batches: int, seed: int = 0
) -> Throughput:
    """Time ``Trainer.train_epoch`` over ``batches`` full batches, after one untimed warm-up epoch.

    The warm-up epoch runs on the same trainer, so oneDNN primitives and any
    ``torch.compile`` graphs exist before the clock starts.
    """
    num_fit = batches * config.batch_size
    device = torch.device("cuda" if options.device == "cuda" else "cpu")
    device_data = DeviceData(fit_subset(data, num_fit), device, options.channels_last)
    trainer = Trainer(config, device_data, seed, options)

    start = time.perf_counter()
    trainer.train_epoch()
    warmup_s = time.perf_counter() - start

    start = time.perf_counter()
    trainer.train_epoch()  # ends with .item(), so queued GPU work is finished too
    seconds = time.perf_counter() - start
    return Throughput(images=num_fit, seconds=seconds, warmup_s=warmup_s)


def write_image_folders(path: Path, train_per_class: int, test_per_class: int, seed: int = 0) -> Path:
    """Write random 32x32 PNGs as ``path/{train,test}/<class>/NNNN.png``, a stand-in data set for checks."""
    from PIL import Image

    classes = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    rng = np.random.default_rng(seed)
    for split, count in (("train", train_per_class), ("test", test_per_class)):
        for class_name in classes:
            folder = path / split / class_name
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                pixels = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels, "RGB").save(folder / f"{index:04d}.png")
    return path


def format_table(header: list[str], rows: list[list[Any]]) -> str:
    """Render rows as a Markdown table, so the output can be pasted into benchmarks/README.md."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
    return "\n".join(lines)

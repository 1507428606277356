"""Pieces shared by the command-line entry points: logging set-up and user-error exits."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable

from tune_cifar.config import ConfigError
from tune_cifar.data import DataError
from tune_cifar.training import COMPILE_MODES, TrainingOptions


class RunError(ValueError):
    """Raised for an output or experiment folder that cannot be used as requested."""


USER_ERRORS = (ConfigError, DataError, RunError)
"""Errors caused by input; a command prints them on one line and exits with 2."""


def run_command(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Configure logging, call ``run(args)`` and turn an input error into exit code 2."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        return run(args)
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def add_speed_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options that change a trial's speed but not its protocol."""
    defaults = TrainingOptions()
    parser.add_argument(
        "--channels-last",
        choices=("on", "off"),
        default="on" if defaults.channels_last else "off",
        help="channels-last memory format for activations and conv weights (default: %(default)s, "
        "the faster one on CPU in benchmarks/trainer_options.py)",
    )
    parser.add_argument(
        "--compile",
        choices=COMPILE_MODES,
        default=defaults.compile,
        help="torch.compile mode; reduce-overhead also uses CUDA graphs on a GPU (default: %(default)s)",
    )

"""The in-memory CIFAR-10 arrays, the package's error type and the Keras-style validation split."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

# Shape of one image in the NHWC layout that Keras's cifar10.load_data() returns.
IMAGE_SHAPE = (32, 32, 3)


class DataError(ValueError):
    """Invalid, missing or unreadable CIFAR-10 input.

    The message names the file or value and the fix.
    """


@dataclass(frozen=True)
class Cifar10:
    """CIFAR-10 as uint8 NHWC arrays, in the order that Keras would see them.

    For the official python batches, the training order is data_batch_1..5
    concatenated, as in Keras, so ``split_validation`` holds out data_batch_5.
    Image folders have no official order. Their order is a fixed, seeded
    permutation described in ``tune_cifar.data.folders``.
    """

    x_train: np.ndarray
    """Training images, uint8, shape (N, 32, 32, 3), channels last (RGB)."""
    y_train: np.ndarray
    """Training labels, int64, shape (N,), index into ``classes``.

    Keras's load_data() returns uint8 labels of shape (N, 1) instead.
    """
    x_test: np.ndarray
    """Test images, uint8, shape (M, 32, 32, 3)."""
    y_test: np.ndarray
    """Test labels, int64, shape (M,)."""
    classes: tuple[str, ...]
    """Class names in label-index order."""
    source: str
    """Folder and format that the arrays came from, for logs and run records."""


def split_validation(
    x: np.ndarray, y: np.ndarray, fraction: float = 0.2
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split off the last ``fraction`` of the samples for validation, as Keras does.

    Keras's ``fit(validation_split=fraction)`` keeps the first
    ``int(N * (1 - fraction))`` samples for training and the rest for
    validation, without shuffling. This function returns
    ``(x_fit, y_fit, x_val, y_val)`` with the same boundary. The results are
    views of the inputs, not copies.

    Raises:
        DataError: if ``fraction`` is not strictly between 0 and 1, if x and y
            differ in length, or if either part would be empty.
    """
    _validate_fraction(fraction)
    if len(x) != len(y):
        raise DataError(
            f"cannot split a validation set: x has {len(x)} samples but y has {len(y)}. "
            "Pass images and labels of the same length"
        )

    n_samples = len(x)
    split_at = int(n_samples * (1.0 - fraction))
    if split_at == 0 or split_at == n_samples:
        raise DataError(
            f"cannot split {n_samples} samples with validation fraction {fraction}: "
            f"the {'training' if split_at == 0 else 'validation'} part would be empty. "
            "Use more samples or a fraction further from 0 and 1"
        )

    logger.debug("validation split: %d fit samples, %d validation samples", split_at, n_samples - split_at)
    return x[:split_at], y[:split_at], x[split_at:], y[split_at:]


def _validate_fraction(fraction: float) -> None:
    # bool is an int subclass, but True as a fraction is a caller mistake.
    is_number = isinstance(fraction, (int, float, np.floating)) and not isinstance(fraction, bool)
    if not is_number or not 0.0 < fraction < 1.0:
        raise DataError(
            f"invalid validation fraction {fraction!r}: it must be a number strictly between 0 and 1 "
            "(Keras's validation_split=0.2 keeps the last 20% of the training data for validation)"
        )

"""Fixtures that write tiny CIFAR-10 data sets in both supported layouts.

Every fixture generates its data from fixed seeds, so tests never need the
real data set or the network.
"""

from __future__ import annotations

import io
import pickle
import struct
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)

# Rows per file in the tiny batches folder. The official files have 10,000.
BATCH_ROWS = 20

try:
    from numpy._core.multiarray import _reconstruct as _numpy_reconstruct
except ImportError:  # numpy < 2.0
    from numpy.core.multiarray import _reconstruct as _numpy_reconstruct


class _Python2StylePickler(pickle._Pickler):
    """Protocol-2 pickler that writes str and bytes as Python 2 strings.

    The official batches were pickled by Python 2, where strings are byte
    strings (SHORT_BINSTRING and BINSTRING opcodes) and numpy's array
    constructor lives in numpy.core.multiarray. Python 3's own protocol-2
    output differs: it encodes bytes through the global _codecs.encode. The
    pure-Python pickler is used because only it allows per-type overrides.
    """

    dispatch = pickle._Pickler.dispatch.copy()

    def save_python2_string(self, obj: str | bytes) -> None:
        data = obj.encode("latin-1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = save_python2_string
    dispatch[bytes] = save_python2_string

    def save_global(self, obj: object, name: str | None = None) -> None:
        if obj is _numpy_reconstruct:
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
            self.memoize(obj)
            return
        super().save_global(obj, name)


def write_python2_pickle(path: Path, obj: object) -> None:
    """Pickle ``obj`` to ``path`` in the byte layout of the official Python 2 batch files."""
    buffer = io.BytesIO()
    _Python2StylePickler(buffer, protocol=2).dump(obj)
    path.write_bytes(buffer.getvalue())


def make_batch(rng: np.random.Generator, batch_label: str, rows: int = BATCH_ROWS) -> dict[bytes, object]:
    """Return a batch dict with random pixels and labels that cover all 10 classes."""
    labels = rng.permutation(np.arange(rows) % len(CIFAR10_CLASSES))
    return {
        b"batch_label": batch_label.encode(),
        b"labels": [int(label) for label in labels],
        b"data": rng.integers(0, 256, size=(rows, 3072), dtype=np.uint8),
        b"filenames": [f"image_{i:04d}.png".encode() for i in range(rows)],
    }


def write_cifar_batches(folder: Path, seed: int = 0) -> Path:
    """Write a complete tiny cifar-10-batches-py folder and return it."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(1, 6):
        write_python2_pickle(folder / f"data_batch_{i}", make_batch(rng, f"training batch {i} of 5"))
    write_python2_pickle(folder / "test_batch", make_batch(rng, "testing batch 1 of 1"))
    write_python2_pickle(
        folder / "batches.meta",
        {
            b"num_cases_per_batch": BATCH_ROWS,
            b"label_names": [name.encode() for name in CIFAR10_CLASSES],
            b"num_vis": 3072,
        },
    )
    return folder



def random_arrays(n_train: int, n_test: int, seed: int = 0) -> SimpleNamespace:
    """Return random in-memory CIFAR-10-shaped arrays with the fields of ``Cifar10``, for trainer tests."""
    rng = np.random.default_rng(seed)
    return SimpleNamespace(
        x_train=rng.integers(0, 256, (n_train, 32, 32, 3), dtype=np.uint8),
        y_train=rng.integers(0, 10, n_train),
        x_test=rng.integers(0, 256, (n_test, 32, 32, 3), dtype=np.uint8),
        y_test=rng.integers(0, 10, n_test),
    )

def write_cifar_folder(
    path: Path, n_train_per_class: int, n_test_per_class: int, fmt: str = "png", seed: int = 0
) -> Path:
    """Write ``path``/{train,test}/<class>/NNNN.<fmt> with random 32x32 RGB images and return ``path``.

    Pixel (0, 0) of each image stores (class index, image index, split index
    0 for train and 1 for test), so a test can check that labels stay aligned
    with images after reordering. PNG keeps every pixel exact. JPEG does not.
    """
    rng = np.random.default_rng(seed)
    for split_index, (split, count) in enumerate((("train", n_train_per_class), ("test", n_test_per_class))):
        for class_index, class_name in enumerate(CIFAR10_CLASSES):
            class_dir = path / split / class_name
            class_dir.mkdir(parents=True)
            for image_index in range(count):
                pixels = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
                pixels[0, 0] = (class_index, image_index, split_index)
                Image.fromarray(pixels, "RGB").save(class_dir / f"{image_index:04d}.{fmt}")
    return path


@pytest.fixture
def write_python2_pickle_file() -> Callable[[Path, object], None]:
    """Function that writes an object as an official-style Python 2 pickle, for building bad batch files."""
    return write_python2_pickle


@pytest.fixture
def cifar_batches_dir(tmp_path: Path) -> Path:
    """A tiny cifar-10-batches-py folder: 5 training batches and a test batch of 20 rows each."""
    return write_cifar_batches(tmp_path / "cifar-10-batches-py")


@pytest.fixture
def make_cifar_folder() -> Callable[..., Path]:
    """Factory ``make_cifar_folder(path, n_train_per_class, n_test_per_class, fmt="png")`` for image folders."""
    return write_cifar_folder


@pytest.fixture
def cifar_folder_dir(tmp_path: Path) -> Path:
    """Tiny image folders with the 10 CIFAR-10 classes: 8 training and 2 test PNGs per class."""
    return write_cifar_folder(tmp_path / "cifar10-png", n_train_per_class=8, n_test_per_class=2)

"""Reader for the official CIFAR-10 "python version" batches (cifar-10-batches-py).

The folder contains data_batch_1 .. data_batch_5, test_batch and batches.meta.
Each file is a pickle written by Python 2 (protocol 2), so its keys and
strings load as bytes with ``encoding="bytes"``. A batch contains ``data``, a
uint8 array of shape (rows, 3072) with each row in CHW order (1024 red, then
1024 green, then 1024 blue values, each plane row-major), and ``labels``, a list
of ints. batches.meta contains ``label_names``. The official batches have 10,000
rows each, but the reader accepts any row count so that tests can use tiny files.

Pickles can run arbitrary code when loaded, so the files are read with
``RestrictedUnpickler``, which resolves only the numpy globals that an array
pickle refers to and rejects everything else before it is called.
"""

from __future__ import annotations

import io
import logging
import pickle
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from tune_cifar.data.dataset import IMAGE_SHAPE, Cifar10, DataError

logger = logging.getLogger(__name__)

BATCHES_FOLDER_NAME = "cifar-10-batches-py"
TRAIN_BATCH_NAMES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH_NAME = "test_batch"
META_NAME = "batches.meta"
SOURCE_FILE_NAMES = (*TRAIN_BATCH_NAMES, TEST_BATCH_NAME, META_NAME)

_PIXELS_PER_IMAGE = IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * IMAGE_SHAPE[2]

# Pickling moved numpy's array constructor from numpy.core to numpy._core in numpy 2.0.
# Both names map to whichever module this numpy has, so files from either era load.
try:
    from numpy._core.multiarray import _reconstruct as _numpy_reconstruct
except ImportError:  # numpy < 2.0
    from numpy.core.multiarray import _reconstruct as _numpy_reconstruct

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}

# Exceptions that the pickle docs list for malformed input, plus the ones numpy
# raises when an array's state does not match its shape or dtype.
_UNPICKLING_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError)


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals a CIFAR-10 batch contains.

    Dicts, lists, ints and strings need no globals in protocol 2. numpy arrays
    need ``_reconstruct``, ``ndarray`` and ``dtype``. Any other global raises
    DataError naming the file, so a tampered file fails before its code runs.
    """

    def __init__(self, file: io.BufferedIOBase, path: Path) -> None:
        super().__init__(file, encoding="bytes")
        self._path = path

    def find_class(self, module: str, name: str) -> object:
        allowed = _ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            raise DataError(
                f"rejected pickle global {module}.{name} in {self._path}: a CIFAR-10 batch file contains "
                "only numpy arrays, lists and strings, so this file is not an official batch or was "
                "tampered with. Replace it with a fresh copy of cifar-10-batches-py"
            )
        return allowed


def find_batches_folder(data_dir: Path) -> Path | None:
    """Return the cifar-10-batches-py folder at or directly inside ``data_dir``, or None.

    ``data_dir`` may be the batches folder itself or the folder that torchvision
    downloads into, which contains it.
    """
    for candidate in (data_dir, data_dir / BATCHES_FOLDER_NAME):
        if (candidate / TRAIN_BATCH_NAMES[0]).is_file() or (candidate / META_NAME).is_file():
            return candidate
    return None


def missing_files(folder: Path) -> list[str]:
    """Return the names of the batch files and batches.meta that ``folder`` lacks."""
    return [name for name in SOURCE_FILE_NAMES if not (folder / name).is_file()]


def check_complete(folder: Path) -> None:
    """Raise DataError unless ``folder`` contains every batch file and batches.meta."""
    missing = missing_files(folder)
    if missing:
        raise DataError(
            f"incomplete CIFAR-10 batches folder {folder}: missing {', '.join(missing)}. "
            f"A complete folder contains {', '.join(SOURCE_FILE_NAMES)}. "
            "Replace it with a fresh copy of cifar-10-batches-py"
        )


def read_batches(folder: Path) -> Cifar10:
    """Read all batches in ``folder`` into NHWC arrays.

    The training arrays are data_batch_1..5 concatenated in that order, which is
    the order Keras's cifar10.load_data() returns.

    Raises:
        DataError: if a file is missing, truncated, tampered with, or has
            the wrong keys, dtype or shape.
    """
    check_complete(folder)
    classes = _read_class_names(folder / META_NAME)

    train_parts = [_read_batch(folder / name, len(classes)) for name in TRAIN_BATCH_NAMES]
    x_test, y_test = _read_batch(folder / TEST_BATCH_NAME, len(classes))
    x_train = np.concatenate([x for x, _ in train_parts])
    y_train = np.concatenate([y for _, y in train_parts])

    logger.info("read %d training and %d test images from %s", len(x_train), len(x_test), folder)
    return Cifar10(
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        classes=classes,
        source=f"{folder} (python batches)",
    )


def load_pickle(path: Path) -> object:
    """Unpickle ``path`` with ``RestrictedUnpickler``.

    Raises:
        DataError: if the file is unreadable, truncated or malformed, or
            refers to a global that a batch never contains.
    """
    try:
        with open(path, "rb") as file:
            return RestrictedUnpickler(file, path).load()
    except DataError:
        raise
    except OSError as error:
        raise DataError(f"cannot read {path}: {error}") from error
    except _UNPICKLING_ERRORS as error:
        raise DataError(
            f"cannot unpickle {path}: {type(error).__name__}: {error}. The file is truncated or not a "
            "CIFAR-10 batch. Replace it with a fresh copy of cifar-10-batches-py"
        ) from error


def _read_class_names(path: Path) -> tuple[str, ...]:
    meta = _as_str_keyed_dict(load_pickle(path), path)
    names = meta.get("label_names")
    if not isinstance(names, list) or not names or not all(isinstance(n, (bytes, str)) for n in names):
        raise DataError(f"invalid {path}: expected key 'label_names' with a non-empty list of strings, got {names!r:.80}")
    return tuple(n.decode("latin-1") if isinstance(n, bytes) else n for n in names)


def _read_batch(path: Path, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    batch = _as_str_keyed_dict(load_pickle(path), path)
    data = batch.get("data")
    labels = batch.get("labels")

    if not _is_pixel_matrix(data):
        found = f"a {data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(
            f"invalid {path}: key 'data' must be a uint8 array of shape (rows, {_PIXELS_PER_IMAGE}) "
            f"with at least one row, found {found}"
        )
    if not isinstance(labels, list) or len(labels) != len(data):
        found = f"a list of {len(labels)}" if isinstance(labels, list) else type(labels).__name__
        raise DataError(
            f"invalid {path}: key 'labels' must be a list with one int per row of 'data' "
            f"({len(data)} rows), found {found}"
        )

    y = np.asarray(labels)
    if y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= n_classes:
        raise DataError(
            f"invalid {path}: labels must be ints from 0 to {n_classes - 1} "
            f"(one per name in {META_NAME}), found values {np.unique(y)[:20]}"
        )

    # Each row is three 32x32 planes (CHW). Keras transposes them to HWC the same way.
    x = data.reshape(-1, IMAGE_SHAPE[2], IMAGE_SHAPE[0], IMAGE_SHAPE[1]).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x), y.astype(np.int64)


def _is_pixel_matrix(data: object) -> bool:
    return (
        isinstance(data, np.ndarray)
        and data.dtype == np.uint8
        and data.ndim == 2
        and data.shape[0] > 0
        and data.shape[1] == _PIXELS_PER_IMAGE
    )


def _as_str_keyed_dict(obj: object, path: Path) -> dict[str, object]:
    # Python 2 pickles read with encoding="bytes" have bytes keys, but files re-saved by Python 3 may have str keys.
    if not isinstance(obj, Mapping):
        raise DataError(f"invalid {path}: expected a pickled dict, found {type(obj).__name__}")
    return {k.decode("latin-1") if isinstance(k, bytes) else k: v for k, v in obj.items()}

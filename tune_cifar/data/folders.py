"""Reader for CIFAR-10 stored as image folders: ``train/<class>/*`` and ``test/<class>/*``.

Images must be 32x32 RGB PNG or JPEG files (suffix .png, .jpg or .jpeg, any
case). Other files are skipped with a warning, and hidden files (name starts
with ".") are skipped silently. Class indices follow the sorted class-folder
names, which for CIFAR-10 (airplane, automobile, ..., truck) is the order of
the official label indices. The train and test folders must contain the same
class folders.

Order. Image folders carry no official sample order, but Keras-style
validation (the last 20% of the training arrays) needs a fixed one. Files are
first sorted by (class index, file name), then the training set is permuted
with ``np.random.default_rng(TRAIN_ORDER_SEED).permutation(n_train)`` and the
test set with ``np.random.default_rng(TEST_ORDER_SEED).permutation(n_test)``.
The seeds are constants of this module and never depend on a run's seed, so
every run and every model variant gets the same validation split of the same
folder. Permuting the test set too means that a prefix such as
``x_test[:1000]`` covers all classes.
"""

from __future__ import annotations

import concurrent.futures
import concurrent.futures.process
import logging
import multiprocessing
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from tune_cifar.data.dataset import IMAGE_SHAPE, Cifar10, DataError

logger = logging.getLogger(__name__)

SPLIT_NAMES = ("train", "test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")

# Arbitrary but fixed: changing either seed changes every validation split and
# makes results on image folders incomparable with earlier runs.
TRAIN_ORDER_SEED = 2009
TEST_ORDER_SEED = 2010

# Restricting PIL to these decoders roughly halves the time to open a 32x32
# file, because PIL otherwise tries every registered format's header check
# (0.49 s instead of 1.05 s for 5,000 CIFAR-10 JPEGs in one run on 2 CPU cores).
_PIL_FORMATS = ("PNG", "JPEG")

# Judgment calls: below this many images, starting worker processes costs more
# than it saves. Chunks of this size keep the progress log and the
# inter-process transfers (about 3 MB per chunk) small.
_PARALLEL_MIN_IMAGES = 4096
_CHUNK_SIZE = 1000
_MAX_WORKERS = 8
_LOG_EVERY = 10_000


@dataclass(frozen=True)
class ImageFolderListing:
    """Image files of one image-folder data set, in sorted (class index, file name) order."""

    root: Path
    classes: tuple[str, ...]
    train_files: tuple[str, ...]
    """Paths relative to ``root``, for example "train/cat/0001.jpg"."""
    train_labels: np.ndarray
    test_files: tuple[str, ...]
    test_labels: np.ndarray

    @property
    def all_files(self) -> tuple[str, ...]:
        return self.train_files + self.test_files


def is_image_folder_layout(data_dir: Path) -> bool:
    """Return whether ``data_dir`` contains both a train and a test folder."""
    return all((data_dir / split).is_dir() for split in SPLIT_NAMES)


def list_image_folders(root: Path) -> ImageFolderListing:
    """List the image files under ``root``/train and ``root``/test.

    Uses os.scandir, because every load lists all files, even one served from the cache.

    Raises:
        DataError: if a split has no class folders, a class folder has no
            images, or train and test contain different class folders.
    """
    skipped: list[str] = []
    files_by_split = {split: _scan_split(root, split, skipped) for split in SPLIT_NAMES}
    if skipped:
        logger.warning(
            "skipped %d entries under %s that are not %s image files, for example %s",
            len(skipped), root, "/".join(IMAGE_SUFFIXES), skipped[0],
        )

    classes = _check_same_classes(root, files_by_split["train"], files_by_split["test"])
    train_files, train_labels = _flatten("train", files_by_split["train"], classes)
    test_files, test_labels = _flatten("test", files_by_split["test"], classes)
    return ImageFolderListing(root, classes, train_files, train_labels, test_files, test_labels)


def read_image_folders(listing: ImageFolderListing, workers: int | None = None) -> Cifar10:
    """Decode every listed image and return them in the documented fixed order.

    ``workers`` is the number of decoding processes. The default uses one per
    available CPU core (at most 8) for 4096 or more images, and decodes in
    this process otherwise.

    Raises:
        DataError: if an image will not decode or is not 32x32 RGB.
    """
    paths = [os.path.join(listing.root, name) for name in listing.all_files]
    images = decode_images(paths, workers)
    n_train = len(listing.train_files)

    train_order = np.random.default_rng(TRAIN_ORDER_SEED).permutation(n_train)
    test_order = np.random.default_rng(TEST_ORDER_SEED).permutation(len(listing.test_files))
    return Cifar10(
        x_train=images[:n_train][train_order],
        y_train=listing.train_labels[train_order],
        x_test=images[n_train:][test_order],
        y_test=listing.test_labels[test_order],
        classes=listing.classes,
        source=f"{listing.root} (image folders)",
    )


def decode_images(paths: Sequence[str], workers: int | None = None) -> np.ndarray:
    """Decode images into a uint8 array of shape (len(paths), 32, 32, 3), logging progress."""
    if workers is None:
        workers = _default_workers(len(paths))
    chunks = [list(paths[i : i + _CHUNK_SIZE]) for i in range(0, len(paths), _CHUNK_SIZE)]
    logger.info("decoding %d images with %d process(es)", len(paths), workers)

    if workers <= 1:
        return _collect(map(_decode_chunk, chunks), len(paths))

    # "spawn" starts clean interpreters. Forking a process that runs threads,
    # such as a Ray driver, can copy a held lock into the child and hang it.
    # NOTE: spawned workers import the caller's __main__ module. In a script
    # without an `if __name__ == "__main__":` guard, each worker re-runs the
    # script's top-level code, prints a multiprocessing traceback and exits.
    # The fallback below then decodes in this process.
    context = multiprocessing.get_context("spawn")
    try:
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            return _collect(pool.map(_decode_chunk, chunks), len(paths))
    except concurrent.futures.process.BrokenProcessPool as error:
        logger.warning("decoding worker processes failed (%s), so this process decodes the images instead", error)
        return _collect(map(_decode_chunk, chunks), len(paths))


def decode_image(path: str) -> np.ndarray:
    """Decode one image file into a uint8 array of shape (32, 32, 3).

    Raises:
        DataError: if the file will not decode or is not a 32x32 RGB image.
            Grayscale, palette and RGBA images are rejected, not converted,
            because a silent conversion would hide a wrong data set.
    """
    try:
        with Image.open(path, formats=_PIL_FORMATS) as image:
            # Check before load() so that an oversized file is never decoded.
            if image.size != IMAGE_SHAPE[:2] or image.mode != "RGB":
                width, height = image.size
                raise DataError(
                    f"invalid image {path}: found {width}x{height} mode {image.mode}, but CIFAR-10 images "
                    "are 32x32 RGB. Convert or remove this file"
                )
            image.load()
            return np.asarray(image, dtype=np.uint8)
    except DataError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        # PIL raises UnidentifiedImageError (an OSError) for unknown formats,
        # OSError for truncated files and SyntaxError or ValueError for some corrupt headers.
        raise DataError(
            f"cannot decode image {path}: {type(error).__name__}: {error}. Replace or remove this file"
        ) from error


def _decode_chunk(paths: list[str]) -> np.ndarray:
    # Top-level function so that worker processes can unpickle it.
    images = np.empty((len(paths), *IMAGE_SHAPE), dtype=np.uint8)
    for i, path in enumerate(paths):
        images[i] = decode_image(path)
    return images


def _collect(chunk_results, n_images: int) -> np.ndarray:
    images = np.empty((n_images, *IMAGE_SHAPE), dtype=np.uint8)
    done = 0
    for chunk in chunk_results:
        images[done : done + len(chunk)] = chunk
        previous = done
        done += len(chunk)
        if done // _LOG_EVERY > previous // _LOG_EVERY:
            logger.info("decoded %d/%d images", done, n_images)
    return images


def _default_workers(n_images: int) -> int:
    if n_images < _PARALLEL_MIN_IMAGES:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # sched_getaffinity is Linux-only
        cores = os.cpu_count() or 1
    return max(1, min(cores, _MAX_WORKERS))


def _scan_split(root: Path, split: str, skipped: list[str]) -> dict[str, list[str]]:
    """Return {class name: sorted image file names} for one split folder."""
    split_dir = root / split
    files_by_class: dict[str, list[str]] = {}
    with os.scandir(split_dir) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                files_by_class[entry.name] = _scan_class(Path(entry.path), skipped)
            else:
                skipped.append(entry.path)

    if not files_by_class:
        raise DataError(
            f"no class folders in {split_dir}: expected one folder per class, such as "
            f"{split_dir / 'airplane'}/0000.png"
        )
    return files_by_class


def _scan_class(class_dir: Path, skipped: list[str]) -> list[str]:
    names = []
    with os.scandir(class_dir) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_file() and entry.name.lower().endswith(IMAGE_SUFFIXES):
                names.append(entry.name)
            else:
                skipped.append(entry.path)

    if not names:
        raise DataError(
            f"class folder {class_dir} contains no images: expected {'/'.join(IMAGE_SUFFIXES)} files. "
            "Add its images or remove the folder from both train and test"
        )
    return sorted(names)


def _check_same_classes(
    root: Path, train: dict[str, list[str]], test: dict[str, list[str]]
) -> tuple[str, ...]:
    if train.keys() != test.keys():
        only_train = sorted(train.keys() - test.keys())
        only_test = sorted(test.keys() - train.keys())
        raise DataError(
            f"train and test class folders differ in {root}: only in train: {only_train or 'none'}, "
            f"only in test: {only_test or 'none'}. Both splits need the same class folders"
        )
    return tuple(sorted(train))


def _flatten(
    split: str, files_by_class: dict[str, list[str]], classes: tuple[str, ...]
) -> tuple[tuple[str, ...], np.ndarray]:
    """Return the split's relative file paths in (class index, file name) order, and their labels."""
    files: list[str] = []
    labels: list[int] = []
    for label, class_name in enumerate(classes):
        names = files_by_class[class_name]
        files.extend(f"{split}/{class_name}/{name}" for name in names)
        labels.extend([label] * len(names))
    return tuple(files), np.asarray(labels, dtype=np.int64)

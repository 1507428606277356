"""CIFAR-10 loading: local python batches or image folders, a decoded-array cache and a download.

``load_cifar10`` returns uint8 NHWC arrays in the order Keras would see them,
and ``split_validation`` holds out the last fraction of the training arrays as
Keras's ``validation_split`` does. Every bad-input error is a ``DataError``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tune_cifar.data import batches, cache, folders
from tune_cifar.data.dataset import Cifar10, DataError, split_validation
from tune_cifar.data.download import download_cifar10

__all__ = [
    "DEFAULT_CACHE_DIR",
    "DEFAULT_DATA_DIR",
    "Cifar10",
    "DataError",
    "load_cifar10",
    "split_validation",
]

logger = logging.getLogger(__name__)


def _path_from_env(variable: str, default: Path) -> Path:
    value = os.environ.get(variable)
    return Path(value).expanduser() if value else default


# Read once, when this package is first imported.
DEFAULT_DATA_DIR: Path = _path_from_env("TUNE_CIFAR_DATA_DIR", Path.home() / ".cache" / "tune_cifar" / "cifar10")
"""Data folder used when none is given, and where a download goes. Set TUNE_CIFAR_DATA_DIR to override it."""

DEFAULT_CACHE_DIR: Path = _path_from_env("TUNE_CIFAR_CACHE_DIR", Path.home() / ".cache" / "tune_cifar" / "arrays")
"""Folder for decoded-array cache files. Set TUNE_CIFAR_CACHE_DIR to override it."""

_EXPECTED_LAYOUTS = (
    f"either the official python batches (a {batches.BATCHES_FOLDER_NAME} folder containing "
    f"{', '.join(batches.SOURCE_FILE_NAMES)}, or the folder containing it) or image folders "
    "(train/<class>/*.png|jpg and test/<class>/*.png|jpg)"
)


@dataclass(frozen=True)
class _Source:
    """Detected data set: the folder that contains it, its files and how to decode them."""

    folder: Path
    layout: str
    relative_paths: tuple[str, ...]
    read: Callable[[], Cifar10]


def load_cifar10(
    data_dir: str | os.PathLike | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    download: bool = False,
) -> Cifar10:
    """Load CIFAR-10 from ``data_dir``, decoding it only when the cache is missing or stale.

    ``data_dir`` is a cifar-10-batches-py folder, the folder containing it, or
    a folder with train/<class>/ and test/<class>/ image folders. When it is
    None, ``DEFAULT_DATA_DIR`` is used, and the official batches are
    downloaded there if it contains no data. ``download=True`` always runs the
    download (into ``data_dir`` if given), which torchvision skips when the
    files are already present and verified. Apart from a download, nothing is
    written to the data folder. Decoded arrays are cached under ``cache_dir``
    (default ``DEFAULT_CACHE_DIR``).

    Raises:
        DataError: if the folder is missing, contains neither layout, contains
            a bad file, or a needed download fails.
    """
    root = _prepare_data_dir(data_dir, download)
    source = _detect_source(root)
    logger.debug("found %s in %s", source.layout, source.folder)

    cache_root = Path(cache_dir).expanduser() if cache_dir is not None else DEFAULT_CACHE_DIR
    cache_file = cache.cache_file_for(cache_root, source.folder)
    fingerprint = cache.fingerprint_sources(source.folder, source.relative_paths, source.layout)
    cached = cache.load_cached(cache_file, fingerprint)
    if cached is not None:
        return cached

    data = source.read()
    cache.save_cached(cache_file, data, fingerprint)
    return data


def _prepare_data_dir(data_dir: str | os.PathLike | None, download: bool) -> Path:
    """Return the data folder to read, downloading into it first where required."""
    if data_dir is None:
        root = DEFAULT_DATA_DIR
        if download or not _contains_data(root):
            download_cifar10(root)
        return root.resolve()

    root = Path(data_dir).expanduser()
    if download:
        download_cifar10(root)
    elif not root.is_dir():
        raise DataError(
            f"data folder not found: {root}. Pass --data-dir pointing at {_EXPECTED_LAYOUTS}, "
            "or --download to fetch the official batches"
        )
    return root.resolve()


def _contains_data(root: Path) -> bool:
    """Return whether ``root`` contains image folders or a complete batches folder.

    An incomplete batches folder counts as no data, so that a download that
    was interrupted while unpacking is repeated.
    """
    if not root.is_dir():
        return False
    batches_folder = batches.find_batches_folder(root)
    if batches_folder is not None:
        return not batches.missing_files(batches_folder)
    return folders.is_image_folder_layout(root)


def _detect_source(root: Path) -> _Source:
    """Find which layout ``root`` contains, preferring the official batches if both are present."""
    batches_folder = batches.find_batches_folder(root)
    if batches_folder is not None:
        batches.check_complete(batches_folder)
        return _Source(
            folder=batches_folder,
            layout="python batches",
            relative_paths=batches.SOURCE_FILE_NAMES,
            read=lambda: batches.read_batches(batches_folder),
        )

    if folders.is_image_folder_layout(root):
        listing = folders.list_image_folders(root)
        return _Source(
            folder=root,
            layout=f"image folders, order seeds {folders.TRAIN_ORDER_SEED} and {folders.TEST_ORDER_SEED}",
            relative_paths=listing.all_files,
            read=lambda: folders.read_image_folders(listing),
        )

    raise DataError(
        f"no CIFAR-10 data found in {root}: expected {_EXPECTED_LAYOUTS}. "
        "Pass --data-dir pointing at one of these, or --download to fetch the official batches"
    )

"""Cache of decoded CIFAR-10 arrays, so that only the first load decodes the source files.

One .npz file per source folder stores the four arrays, the class names and a
fingerprint of the source files: the sorted relative path, size and mtime_ns
of every file. A load whose fingerprint differs rebuilds the cache, so
replacing or touching any source file invalidates it. The cache never writes
into the source folder.

A cache write goes to a temporary file in the cache folder that os.replace
then renames, so a killed run leaves either the old file or the new one. A
cache file that fails to load is rebuilt with a warning.

NOTE: there is no lock. Processes that find no valid cache at the same time,
such as parallel trials on a first run, each decode the source files and
each replace the cache file with identical contents.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from tune_cifar.data.dataset import IMAGE_SHAPE, Cifar10

logger = logging.getLogger(__name__)

# Part of every fingerprint. Bump it when decoding or ordering changes, so
# that caches written by older code are rebuilt.
CACHE_FORMAT_VERSION = 1

_ARRAY_NAMES = ("x_train", "y_train", "x_test", "y_test")

# np.load raises these for a truncated, foreign or incomplete file.
_LOAD_ERRORS = (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile)


def cache_file_for(cache_dir: Path, source_dir: Path) -> Path:
    """Return the cache file for a resolved source folder.

    The name contains the folder's base name, for readability, and a hash of
    its full path, so that two folders with the same name do not collide.
    """
    path_hash = hashlib.sha256(str(source_dir).encode()).hexdigest()[:16]
    readable_name = re.sub(r"[^A-Za-z0-9._-]", "_", source_dir.name)[:40]
    return cache_dir / f"cifar10-{readable_name}-{path_hash}.npz"


def fingerprint_sources(source_dir: Path, relative_paths: Iterable[str], layout: str) -> str:
    """Return a hash of the layout, cache version and (path, size, mtime_ns) of every source file.

    Raises:
        OSError: if a listed file cannot be stat-ed.
    """
    digest = hashlib.sha256(f"version {CACHE_FORMAT_VERSION}\nlayout {layout}\n".encode())
    for relative_path in sorted(relative_paths):
        stat = os.stat(os.path.join(source_dir, relative_path))
        digest.update(f"{relative_path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def load_cached(cache_file: Path, fingerprint: str) -> Cifar10 | None:
    """Return the cached data set, or None if the file is missing, stale or unreadable.

    An unreadable or inconsistent file logs a warning, because the caller
    rebuilds it and the user may want to know why a load was slow.
    """
    if not cache_file.is_file():
        logger.info("no cache file at %s, so the source files are decoded", cache_file)
        return None

    try:
        with np.load(cache_file, allow_pickle=False) as stored:
            stored_fingerprint = str(stored["fingerprint"])
            if stored_fingerprint != fingerprint:
                logger.info("cache file %s is stale because the source files changed, so it is rebuilt", cache_file)
                return None
            data = Cifar10(
                x_train=stored["x_train"],
                y_train=stored["y_train"],
                x_test=stored["x_test"],
                y_test=stored["y_test"],
                classes=tuple(str(name) for name in stored["classes"]),
                source=str(stored["source"]),
            )
    except _LOAD_ERRORS as error:
        logger.warning("cannot read cache file %s (%s: %s), so it is rebuilt", cache_file, type(error).__name__, error)
        return None

    problem = _find_inconsistency(data)
    if problem:
        logger.warning("cache file %s is inconsistent (%s), so it is rebuilt", cache_file, problem)
        return None

    logger.info("loaded %s from cache file %s", data.source, cache_file)
    return data


def save_cached(cache_file: Path, data: Cifar10, fingerprint: str) -> None:
    """Write the data set and its fingerprint to ``cache_file`` atomically.

    A failed write logs a warning and leaves no partial file, because the
    arrays in memory are still valid and only the next load gets slower.
    """
    temp_path = None
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        file_descriptor, temp_path = tempfile.mkstemp(
            dir=cache_file.parent, prefix=f".{cache_file.name}.", suffix=".tmp"
        )
        with os.fdopen(file_descriptor, "wb") as file:
            # Uncompressed, so that loading the 184 MB of a full set is a plain read.
            np.savez(
                file,
                **{name: getattr(data, name) for name in _ARRAY_NAMES},
                classes=np.array(data.classes, dtype=str),
                source=np.array(data.source),
                fingerprint=np.array(fingerprint),
            )
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp_path, cache_file)
        temp_path = None
        logger.info("wrote cache file %s", cache_file)
    except OSError as error:
        logger.warning(
            "cannot write cache file %s (%s), so the next load decodes the source files again. "
            "Pass a writable cache_dir to fix this",
            cache_file, error,
        )
    finally:
        if temp_path is not None:
            Path(temp_path).unlink(missing_ok=True)


def _find_inconsistency(data: Cifar10) -> str | None:
    """Return what is wrong with arrays read from a cache file, or None."""
    for images, labels, split in ((data.x_train, data.y_train, "train"), (data.x_test, data.y_test, "test")):
        if images.dtype != np.uint8 or images.shape[1:] != IMAGE_SHAPE:
            return f"{split} images are {images.dtype} of shape {images.shape}"
        if labels.dtype != np.int64 or labels.shape != (len(images),):
            return f"{split} labels are {labels.dtype} of shape {labels.shape} for {len(images)} images"
    return None

"""Paths of experiment storage: a local folder or a URI (such as s3://bucket/runs) read through pyarrow."""

from __future__ import annotations

from pathlib import Path

import pyarrow.fs

RESULTS_FALLBACK = Path("runs/search")
"""Local folder for result tables when the experiment lives at a remote URI."""


def is_uri(location: str) -> bool:
    return "://" in location


def absolute(location: str) -> str:
    """Return a URI unchanged and a local path made absolute (Ray Tune needs absolute local paths)."""
    return location if is_uri(location) else str(Path(location).expanduser().resolve())


def join(location: str, name: str) -> str:
    return f"{location.rstrip('/')}/{name}"


def _filesystem(location: str) -> tuple[pyarrow.fs.FileSystem, str]:
    return pyarrow.fs.FileSystem.from_uri(location)


def exists(location: str) -> bool:
    filesystem, path = _filesystem(location)
    return filesystem.get_file_info(path).type != pyarrow.fs.FileType.NotFound


def write_text(location: str, text: str) -> None:
    filesystem, path = _filesystem(location)
    filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with filesystem.open_output_stream(path) as stream:
        stream.write(text.encode("utf-8"))


def read_text(location: str) -> str:
    filesystem, path = _filesystem(location)
    with filesystem.open_input_stream(path) as stream:
        return stream.read().decode("utf-8")


def local_folder(location: str) -> Path:
    """Return ``location`` itself when it is local, else a folder of the same name under ``RESULTS_FALLBACK``."""
    if is_uri(location):
        return RESULTS_FALLBACK / location.rstrip("/").rsplit("/", 1)[-1]
    return Path(location)

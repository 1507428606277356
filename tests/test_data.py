"""Tests of tune_cifar.data: both layouts, ordering, the cache, bad input and the download."""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import tune_cifar.data
from tune_cifar.data import Cifar10, DataError, folders, load_cifar10, split_validation
from tune_cifar.data.folders import TEST_ORDER_SEED, TRAIN_ORDER_SEED, decode_images

from tests.conftest import BATCH_ROWS, CIFAR10_CLASSES

SHARED_CIFAR10_JPG = Path(__file__).resolve().parents[1].parent / "shared/datasets/cifar10-jpg"


def read_pickle_trusted(path: Path) -> dict:
    """Read a batch file that the test itself wrote, independently of the code under test."""
    with open(path, "rb") as file:
        return pickle.load(file, encoding="bytes")


def sorted_image_files(root: Path, split: str) -> list[Path]:
    """Return a split's files in (class index, file name) order, the documented pre-permutation order."""
    return [path for name in CIFAR10_CLASSES for path in sorted((root / split / name).iterdir())]


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


# --- Official python batches -------------------------------------------------------------------


@pytest.mark.parametrize("use_parent", [False, True], ids=["batches-folder", "parent-folder"])
def test_batches_shapes_and_dtypes(cifar_batches_dir, tmp_path, use_parent):
    data_dir = cifar_batches_dir.parent if use_parent else cifar_batches_dir

    data = load_cifar10(data_dir, cache_dir=tmp_path / "cache")

    assert data.x_train.shape == (5 * BATCH_ROWS, 32, 32, 3)
    assert data.x_test.shape == (BATCH_ROWS, 32, 32, 3)
    assert data.x_train.dtype == np.uint8
    assert data.x_test.dtype == np.uint8
    assert data.y_train.shape == (5 * BATCH_ROWS,)
    assert data.y_train.dtype == np.int64
    assert data.y_test.dtype == np.int64
    assert data.classes == CIFAR10_CLASSES
    assert data.source == f"{cifar_batches_dir.resolve()} (python batches)"


def test_batches_labels_in_batch_order(cifar_batches_dir, tmp_path):
    expected_train = np.concatenate(
        [read_pickle_trusted(cifar_batches_dir / f"data_batch_{i}")[b"labels"] for i in range(1, 6)]
    )
    expected_test = read_pickle_trusted(cifar_batches_dir / "test_batch")[b"labels"]

    data = load_cifar10(cifar_batches_dir, cache_dir=tmp_path / "cache")

    np.testing.assert_array_equal(data.y_train, expected_train)
    np.testing.assert_array_equal(data.y_test, expected_test)
    assert set(data.y_train.tolist()) == set(range(10))


def test_batches_pixels_chw_to_hwc(cifar_batches_dir, tmp_path):
    rows = read_pickle_trusted(cifar_batches_dir / "data_batch_1")[b"data"]

    data = load_cifar10(cifar_batches_dir, cache_dir=tmp_path / "cache")

    # A row stores the red plane, then green, then blue, each 32x32 row-major.
    image, y, x = 3, 5, 17
    expected_pixel = [rows[image, channel * 1024 + y * 32 + x] for channel in range(3)]
    assert data.x_train[image, y, x].tolist() == expected_pixel

    planes = np.stack([rows[:, :1024], rows[:, 1024:2048], rows[:, 2048:]], axis=-1)
    np.testing.assert_array_equal(data.x_train[:BATCH_ROWS], planes.reshape(BATCH_ROWS, 32, 32, 3))


def test_batches_validation_split_is_batch_5(cifar_batches_dir, tmp_path):
    data = load_cifar10(cifar_batches_dir, cache_dir=tmp_path / "cache")
    last_batch = read_pickle_trusted(cifar_batches_dir / "data_batch_5")

    x_fit, y_fit, x_val, y_val = split_validation(data.x_train, data.y_train, 0.2)

    assert len(x_fit) == 4 * BATCH_ROWS
    np.testing.assert_array_equal(y_val, last_batch[b"labels"])
    np.testing.assert_array_equal(x_val.transpose(0, 3, 1, 2).reshape(BATCH_ROWS, -1), last_batch[b"data"])


# --- Image folders -------------------------------------------------------------------------------


def test_folders_shapes_and_labels(cifar_folder_dir, tmp_path):
    data = load_cifar10(cifar_folder_dir, cache_dir=tmp_path / "cache")

    assert data.x_train.shape == (80, 32, 32, 3)
    assert data.x_test.shape == (20, 32, 32, 3)
    assert data.x_train.dtype == np.uint8
    assert data.y_train.dtype == np.int64
    assert data.classes == CIFAR10_CLASSES
    assert np.bincount(data.y_train).tolist() == [8] * 10
    assert np.bincount(data.y_test).tolist() == [2] * 10
    assert data.source == f"{cifar_folder_dir.resolve()} (image folders)"


def test_folders_labels_match_images(cifar_folder_dir, tmp_path):
    data = load_cifar10(cifar_folder_dir, cache_dir=tmp_path / "cache")

    # The fixture stores each image's class index in its red value at pixel (0, 0).
    np.testing.assert_array_equal(data.x_train[:, 0, 0, 0], data.y_train)
    np.testing.assert_array_equal(data.x_test[:, 0, 0, 0], data.y_test)
    assert (data.x_test[:, 0, 0, 2] == 1).all()


def test_folders_documented_order(cifar_folder_dir, tmp_path):
    train_files = sorted_image_files(cifar_folder_dir, "train")
    test_files = sorted_image_files(cifar_folder_dir, "test")
    train_order = np.random.default_rng(TRAIN_ORDER_SEED).permutation(len(train_files))
    test_order = np.random.default_rng(TEST_ORDER_SEED).permutation(len(test_files))

    data = load_cifar10(cifar_folder_dir, cache_dir=tmp_path / "cache")

    expected_train = np.stack([read_png(train_files[i]) for i in train_order])
    expected_test = np.stack([read_png(test_files[i]) for i in test_order])
    np.testing.assert_array_equal(data.x_train, expected_train)
    np.testing.assert_array_equal(data.x_test, expected_test)


def test_folders_order_ignores_global_seeds(cifar_folder_dir, tmp_path):
    np.random.seed(1)
    first = load_cifar10(cifar_folder_dir, cache_dir=tmp_path / "cache-1")
    np.random.seed(2)
    second = load_cifar10(cifar_folder_dir, cache_dir=tmp_path / "cache-2")

    np.testing.assert_array_equal(first.x_train, second.x_train)
    np.testing.assert_array_equal(first.y_train, second.y_train)
    assert not np.array_equal(first.y_train, np.sort(first.y_train))


def test_folders_jpeg_accepted(make_cifar_folder, tmp_path):
    root = make_cifar_folder(tmp_path / "cifar10-jpg", 2, 1, fmt="jpg")

    data = load_cifar10(root, cache_dir=tmp_path / "cache")

    assert data.x_train.shape == (20, 32, 32, 3)
    assert data.x_test.shape == (10, 32, 32, 3)


def test_folders_skip_other_files(cifar_folder_dir, tmp_path, caplog):
    (cifar_folder_dir / "train" / "cat" / "notes.txt").write_text("not an image")
    (cifar_folder_dir / "test" / "cat" / ".DS_Store").write_bytes(b"\0")

    with caplog.at_level(logging.WARNING, logger="tune_cifar.data"):
        data = load_cifar10(cifar_folder_dir, cache_dir=tmp_path / "cache")

    assert data.x_train.shape == (80, 32, 32, 3)
    assert "skipped 1 entries" in caplog.text
    assert "notes.txt" in caplog.text


def test_parallel_decode_matches_serial(cifar_folder_dir, monkeypatch):
    # Small chunks make both workers decode several chunks that must be reassembled in order.
    monkeypatch.setattr(folders, "_CHUNK_SIZE", 7)
    paths = [str(path) for path in sorted_image_files(cifar_folder_dir, "train")]

    serial = decode_images(paths, workers=1)
    parallel = decode_images(paths, workers=2)

    np.testing.assert_array_equal(serial, parallel)


def test_decode_logs_progress(cifar_folder_dir, monkeypatch, caplog):
    monkeypatch.setattr(folders, "_CHUNK_SIZE", 10)
    monkeypatch.setattr(folders, "_LOG_EVERY", 20)
    paths = [str(path) for path in sorted_image_files(cifar_folder_dir, "train")]

    with caplog.at_level(logging.INFO, logger="tune_cifar.data"):
        decode_images(paths, workers=1)

    progress = [record.getMessage() for record in caplog.records if record.getMessage().startswith("decoded")]
    assert progress == ["decoded 20/80 images", "decoded 40/80 images", "decoded 60/80 images", "decoded 80/80 images"]


def test_parallel_decode_raises_data_error(cifar_folder_dir):
    bad_file = cifar_folder_dir / "train" / "dog" / "0003.png"
    bad_file.write_bytes(b"not a png")
    paths = [str(path) for path in sorted_image_files(cifar_folder_dir, "train")]

    with pytest.raises(DataError, match="cannot decode image .*0003.png"):
        decode_images(paths, workers=2)


# --- Cache ---------------------------------------------------------------------------------------


def count_decodes(monkeypatch) -> list[int]:
    """Wrap the image-folder decoder so that the test can count how often it runs."""
    calls: list[int] = []
    original = folders.read_image_folders

    def counting_read(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(folders, "read_image_folders", counting_read)
    return calls


def test_cache_hit_skips_decoding(cifar_folder_dir, tmp_path, monkeypatch):
    calls = count_decodes(monkeypatch)

    first = load_cifar10(cifar_folder_dir, cache_dir=tmp_path / "cache")
    second = load_cifar10(cifar_folder_dir, cache_dir=tmp_path / "cache")

    assert len(calls) == 1
    np.testing.assert_array_equal(first.x_train, second.x_train)
    np.testing.assert_array_equal(first.y_test, second.y_test)
    assert first.classes == second.classes
    assert first.source == second.source


def test_cache_rebuilt_after_touch(cifar_folder_dir, tmp_path, monkeypatch):
    calls = count_decodes(monkeypatch)
    load_cifar10(cifar_folder_dir, cache_dir=tmp_path / "cache")

    image = cifar_folder_dir / "train" / "cat" / "0001.png"
    stat = image.stat()
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    load_cifar10(cifar_folder_dir, cache_dir=tmp_path / "cache")

    assert len(calls) == 2


def test_cache_rebuilt_after_replace(cifar_folder_dir, tmp_path):
    load_cifar10(cifar_folder_dir, cache_dir=tmp_path / "cache")

    image = cifar_folder_dir / "test" / "ship" / "0000.png"
    new_pixels = np.full((32, 32, 3), 7, dtype=np.uint8)
    new_pixels[0, 0] = (8, 0, 1)  # keep the fixture's label marker
    Image.fromarray(new_pixels, "RGB").save(image)
    data = load_cifar10(cifar_folder_dir, cache_dir=tmp_path / "cache")

    matches = [i for i in range(len(data.x_test)) if (data.x_test[i] == new_pixels).all()]
    assert len(matches) == 1


def test_cache_rebuilt_for_batches(cifar_batches_dir, tmp_path, write_python2_pickle_file):
    load_cifar10(cifar_batches_dir, cache_dir=tmp_path / "cache")

    test_batch = read_pickle_trusted(cifar_batches_dir / "test_batch")
    test_batch[b"labels"] = [9] * BATCH_ROWS
    write_python2_pickle_file(cifar_batches_dir / "test_batch", test_batch)
    data = load_cifar10(cifar_batches_dir, cache_dir=tmp_path / "cache")

    assert data.y_test.tolist() == [9] * BATCH_ROWS


def test_cache_corrupt_file_rebuilt(cifar_folder_dir, tmp_path, caplog):
    cache_dir = tmp_path / "cache"
    expected = load_cifar10(cifar_folder_dir, cache_dir=cache_dir)
    (cache_file,) = cache_dir.iterdir()
    cache_file.write_bytes(cache_file.read_bytes()[:1000])

    with caplog.at_level(logging.WARNING, logger="tune_cifar.data"):
        data = load_cifar10(cifar_folder_dir, cache_dir=cache_dir)

    np.testing.assert_array_equal(data.x_train, expected.x_train)
    assert "cannot read cache file" in caplog.text
    reloaded = load_cifar10(cifar_folder_dir, cache_dir=cache_dir)
    np.testing.assert_array_equal(reloaded.x_train, expected.x_train)


def test_cache_failed_write_leaves_no_file(cifar_folder_dir, tmp_path, monkeypatch, caplog):
    cache_dir = tmp_path / "cache"

    def failing_savez(file, **arrays):
        file.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", failing_savez)
    with caplog.at_level(logging.WARNING, logger="tune_cifar.data"):
        data = load_cifar10(cifar_folder_dir, cache_dir=cache_dir)

    assert data.x_train.shape == (80, 32, 32, 3)
    assert list(cache_dir.iterdir()) == []
    assert "cannot write cache file" in caplog.text
    assert "disk full" in caplog.text


def test_load_writes_nothing_to_data_folder(cifar_folder_dir, cifar_batches_dir, tmp_path):
    for data_dir in (cifar_folder_dir, cifar_batches_dir):
        before = sorted(path for path in data_dir.rglob("*"))

        load_cifar10(data_dir, cache_dir=tmp_path / "cache")

        assert sorted(path for path in data_dir.rglob("*")) == before


# --- Bad input -------------------------------------------------------------------------------


def test_missing_folder_rejected(tmp_path):
    missing = tmp_path / "nowhere"

    with pytest.raises(DataError, match="data folder not found") as error:
        load_cifar10(missing, cache_dir=tmp_path / "cache")

    assert str(missing) in str(error.value)
    assert "--data-dir" in str(error.value)
    assert "--download" in str(error.value)


def test_unknown_layout_rejected(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("nothing here")

    with pytest.raises(DataError, match="no CIFAR-10 data found") as error:
        load_cifar10(empty, cache_dir=tmp_path / "cache")

    message = str(error.value)
    assert str(empty) in message
    assert "cifar-10-batches-py" in message
    assert "train/<class>" in message


@pytest.mark.parametrize(
    ("size", "mode", "found"),
    [
        ((31, 32), "RGB", "31x32 mode RGB"),
        ((64, 64), "RGB", "64x64 mode RGB"),
        ((32, 32), "L", "32x32 mode L"),
        ((32, 32), "RGBA", "32x32 mode RGBA"),
        ((32, 32), "P", "32x32 mode P"),
    ],
)
def test_wrong_image_size_or_mode_rejected(cifar_folder_dir, tmp_path, size, mode, found):
    bad_file = cifar_folder_dir / "train" / "frog" / "0002.png"
    Image.new(mode, size).save(bad_file)

    with pytest.raises(DataError, match="invalid image") as error:
        load_cifar10(cifar_folder_dir, cache_dir=tmp_path / "cache")

    assert str(bad_file) in str(error.value)
    assert found in str(error.value)


@pytest.mark.parametrize("content", [b"", b"not an image", b"\x89PNG\r\n\x1a\n" + b"\0" * 20], ids=["empty", "text", "bad-png"])
def test_undecodable_image_rejected(cifar_folder_dir, tmp_path, content):
    bad_file = cifar_folder_dir / "test" / "horse" / "0001.png"
    bad_file.write_bytes(content)

    with pytest.raises(DataError, match="cannot decode image") as error:
        load_cifar10(cifar_folder_dir, cache_dir=tmp_path / "cache")

    assert str(bad_file) in str(error.value)


def test_truncated_jpeg_rejected(make_cifar_folder, tmp_path):
    root = make_cifar_folder(tmp_path / "cifar10-jpg", 1, 1, fmt="jpg")
    bad_file = root / "train" / "bird" / "0000.jpg"
    bad_file.write_bytes(bad_file.read_bytes()[:200])

    with pytest.raises(DataError, match="cannot decode image") as error:
        load_cifar10(root, cache_dir=tmp_path / "cache")

    assert str(bad_file) in str(error.value)


def test_empty_class_folder_rejected(cifar_folder_dir, tmp_path):
    class_dir = cifar_folder_dir / "train" / "deer"
    for image in class_dir.iterdir():
        image.unlink()

    with pytest.raises(DataError, match="contains no images") as error:
        load_cifar10(cifar_folder_dir, cache_dir=tmp_path / "cache")

    assert str(class_dir) in str(error.value)


def test_different_class_folders_rejected(cifar_folder_dir, tmp_path):
    (cifar_folder_dir / "test" / "truck").rename(cifar_folder_dir / "test" / "lorry")

    with pytest.raises(DataError, match="train and test class folders differ") as error:
        load_cifar10(cifar_folder_dir, cache_dir=tmp_path / "cache")

    assert "only in train: ['truck']" in str(error.value)
    assert "only in test: ['lorry']" in str(error.value)


def test_no_class_folders_rejected(tmp_path):
    for split in ("train", "test"):
        (tmp_path / "data" / split).mkdir(parents=True)

    with pytest.raises(DataError, match="no class folders in"):
        load_cifar10(tmp_path / "data", cache_dir=tmp_path / "cache")


def test_truncated_batch_rejected(cifar_batches_dir, tmp_path):
    batch = cifar_batches_dir / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:5000])

    with pytest.raises(DataError, match="cannot unpickle") as error:
        load_cifar10(cifar_batches_dir, cache_dir=tmp_path / "cache")

    assert str(batch) in str(error.value)


def test_missing_batch_rejected(cifar_batches_dir, tmp_path):
    (cifar_batches_dir / "data_batch_4").unlink()

    with pytest.raises(DataError, match="missing data_batch_4"):
        load_cifar10(cifar_batches_dir, cache_dir=tmp_path / "cache")


class _WriteMarkerWithOpen:
    """Object whose unpickling would create a file through builtins.open."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


class _WriteMarkerWithShell:
    """Object whose unpickling would create a file through os.system."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


@pytest.mark.parametrize("payload_type", [_WriteMarkerWithOpen, _WriteMarkerWithShell], ids=["open", "os.system"])
def test_tampered_batch_not_executed(cifar_batches_dir, tmp_path, write_python2_pickle_file, payload_type):
    marker = tmp_path / "code-ran"
    batch = cifar_batches_dir / "data_batch_2"
    content = read_pickle_trusted(batch)
    content[b"labels"] = payload_type(marker)
    write_python2_pickle_file(batch, content)

    with pytest.raises(DataError, match="rejected pickle global") as error:
        load_cifar10(cifar_batches_dir, cache_dir=tmp_path / "cache")

    assert str(batch) in str(error.value)
    assert ("open" in str(error.value)) or ("system" in str(error.value))
    assert not marker.exists()


def test_tampered_meta_not_executed(cifar_batches_dir, tmp_path, write_python2_pickle_file):
    marker = tmp_path / "code-ran"
    write_python2_pickle_file(cifar_batches_dir / "batches.meta", _WriteMarkerWithOpen(marker))

    with pytest.raises(DataError, match="batches.meta"):
        load_cifar10(cifar_batches_dir, cache_dir=tmp_path / "cache")

    assert not marker.exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda batch: batch.pop(b"labels"), "key 'labels' must be a list"),
        (lambda batch: batch.pop(b"data"), "key 'data' must be a uint8 array"),
        (lambda batch: batch.update({b"data": batch[b"data"][:, :3000]}), r"shape \(20, 3000\)"),
        (lambda batch: batch.update({b"data": batch[b"data"].astype(np.int32)}), "int32 array"),
        (lambda batch: batch.update({b"labels": batch[b"labels"][:-1]}), "a list of 19"),
        (lambda batch: batch.update({b"labels": [10] * BATCH_ROWS}), "labels must be ints from 0 to 9"),
        (lambda batch: batch.update({b"labels": ["cat"] * BATCH_ROWS}), "labels must be ints from 0 to 9"),
    ],
    ids=["no-labels", "no-data", "wrong-width", "wrong-dtype", "short-labels", "label-range", "label-type"],
)
def test_malformed_batch_rejected(cifar_batches_dir, tmp_path, write_python2_pickle_file, change, message):
    batch_file = cifar_batches_dir / "test_batch"
    batch = read_pickle_trusted(batch_file)
    change(batch)
    write_python2_pickle_file(batch_file, batch)

    with pytest.raises(DataError, match=message) as error:
        load_cifar10(cifar_batches_dir, cache_dir=tmp_path / "cache")

    assert str(batch_file) in str(error.value)


def test_batch_not_a_dict_rejected(cifar_batches_dir, tmp_path, write_python2_pickle_file):
    write_python2_pickle_file(cifar_batches_dir / "data_batch_1", [1, 2, 3])

    with pytest.raises(DataError, match="expected a pickled dict, found list"):
        load_cifar10(cifar_batches_dir, cache_dir=tmp_path / "cache")


def test_meta_without_names_rejected(cifar_batches_dir, tmp_path, write_python2_pickle_file):
    write_python2_pickle_file(cifar_batches_dir / "batches.meta", {b"num_vis": 3072})

    with pytest.raises(DataError, match="label_names"):
        load_cifar10(cifar_batches_dir, cache_dir=tmp_path / "cache")


def test_python3_pickle_accepted(cifar_batches_dir, tmp_path):
    # A batch re-saved by Python 3 (protocol 4, str keys) still contains only allowed globals.
    for name in ("data_batch_1", "batches.meta"):
        content = read_pickle_trusted(cifar_batches_dir / name)
        content = {key.decode(): value for key, value in content.items()}
        (cifar_batches_dir / name).write_bytes(pickle.dumps(content, protocol=4))

    data = load_cifar10(cifar_batches_dir, cache_dir=tmp_path / "cache")

    assert data.x_train.shape == (5 * BATCH_ROWS, 32, 32, 3)
    assert data.classes == CIFAR10_CLASSES


# --- Validation split --------------------------------------------------------------------------


def test_split_validation_keras_boundary():
    x = np.arange(10)
    y = np.arange(10) * 10

    x_fit, y_fit, x_val, y_val = split_validation(x, y, 0.25)

    # Keras: split_at = int(10 * (1 - 0.25)) = 7.
    assert x_fit.tolist() == list(range(7))
    assert x_val.tolist() == [7, 8, 9]
    assert y_fit.tolist() == [i * 10 for i in range(7)]
    assert y_val.tolist() == [70, 80, 90]


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, float("nan"), True, "0.2", None])
def test_split_validation_invalid_fraction(fraction):
    with pytest.raises(DataError, match="invalid validation fraction"):
        split_validation(np.zeros(10), np.zeros(10), fraction)


def test_split_validation_length_mismatch():
    with pytest.raises(DataError, match="x has 10 samples but y has 9"):
        split_validation(np.zeros(10), np.zeros(9), 0.2)


@pytest.mark.parametrize(
    ("n_samples", "fraction", "empty_part"),
    [(1, 0.2, "training"), (10, 1e-17, "validation")],
)
def test_split_validation_empty_part(n_samples, fraction, empty_part):
    with pytest.raises(DataError, match=f"the {empty_part} part would be empty"):
        split_validation(np.zeros(n_samples), np.zeros(n_samples), fraction)


# --- Default folder and download -------------------------------------------------------------


def block_network(monkeypatch) -> None:
    """Make torchvision's download and any urllib request fail without opening a connection."""
    import torchvision.datasets.cifar

    def raise_url_error(*args, **kwargs):
        raise urllib.error.URLError("network access is disabled in tests")

    monkeypatch.setattr(torchvision.datasets.cifar, "download_and_extract_archive", raise_url_error)
    monkeypatch.setattr(urllib.request, "urlopen", raise_url_error)


def test_download_failure_message(tmp_path, monkeypatch):
    block_network(monkeypatch)
    default_dir = tmp_path / "default-data"
    monkeypatch.setattr(tune_cifar.data, "DEFAULT_DATA_DIR", default_dir)

    with pytest.raises(DataError, match="download of CIFAR-10 from") as error:
        load_cifar10(cache_dir=tmp_path / "cache")

    message = str(error.value)
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in message
    assert "network access is disabled in tests" in message
    assert str(default_dir) in message
    assert "--data-dir DIR" in message


def test_download_requested_for_explicit_folder(cifar_folder_dir, tmp_path, monkeypatch):
    block_network(monkeypatch)

    with pytest.raises(DataError, match="download of CIFAR-10 from .* failed"):
        load_cifar10(cifar_folder_dir, cache_dir=tmp_path / "cache", download=True)


def test_default_folder_with_data_skips_download(cifar_folder_dir, tmp_path, monkeypatch):
    def fail_download(root):
        raise AssertionError(f"unexpected download into {root}")

    monkeypatch.setattr(tune_cifar.data, "DEFAULT_DATA_DIR", cifar_folder_dir)
    monkeypatch.setattr(tune_cifar.data, "download_cifar10", fail_download)

    data = load_cifar10(cache_dir=tmp_path / "cache")

    assert data.x_train.shape == (80, 32, 32, 3)


def test_default_folder_incomplete_downloads(cifar_batches_dir, tmp_path, monkeypatch):
    # An interrupted unpack leaves an incomplete batches folder, which must trigger a new download.
    block_network(monkeypatch)
    (cifar_batches_dir / "test_batch").unlink()
    monkeypatch.setattr(tune_cifar.data, "DEFAULT_DATA_DIR", cifar_batches_dir.parent)

    with pytest.raises(DataError, match="download of CIFAR-10 from .* failed"):
        load_cifar10(cache_dir=tmp_path / "cache")


def test_default_dirs_from_environment(tmp_path):
    environment = {
        **os.environ,
        "TUNE_CIFAR_DATA_DIR": str(tmp_path / "data"),
        "TUNE_CIFAR_CACHE_DIR": str(tmp_path / "arrays"),
    }
    script = "import tune_cifar.data as d; print(d.DEFAULT_DATA_DIR); print(d.DEFAULT_CACHE_DIR)"

    result = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True, check=True)

    assert result.stdout.splitlines() == [str(tmp_path / "data"), str(tmp_path / "arrays")]


# --- Shared full copy ------------------------------------------------------------------------


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED_CIFAR10_JPG.is_dir(), reason=f"shared CIFAR-10 copy not found at {SHARED_CIFAR10_JPG}")
def test_shared_cifar10_jpg():
    # Uses the default cache folder, so only the first run decodes the 60,000 JPEGs.
    data = load_cifar10(SHARED_CIFAR10_JPG)

    assert isinstance(data, Cifar10)
    assert data.x_train.shape == (50_000, 32, 32, 3)
    assert data.x_test.shape == (10_000, 32, 32, 3)
    assert data.classes == CIFAR10_CLASSES
    assert np.bincount(data.y_train).tolist() == [5000] * 10
    assert np.bincount(data.y_test).tolist() == [1000] * 10


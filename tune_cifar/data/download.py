"""Download of the official CIFAR-10 python batches through torchvision.

torchvision (0.29) fetches ``CIFAR10.url``,
https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz, which is also the
archive that Keras's cifar10.load_data() downloads. It checks the archive's MD5
and unpacks cifar-10-batches-py into the target folder.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tune_cifar.data.batches import BATCHES_FOLDER_NAME
from tune_cifar.data.dataset import DataError

logger = logging.getLogger(__name__)


def download_cifar10(root: Path) -> Path:
    """Download and unpack the official batches into ``root`` and return the batches folder.

    torchvision skips the download when ``root`` already contains files with
    the official MD5 sums. Constructing torchvision's CIFAR10 also loads the
    training batches once with plain pickle.load, but only after those MD5
    checks passed.

    Raises:
        DataError: if the download, the checksum or the unpacking fails. The
            message names the URL and how to use local data instead.
    """
    # Imported here because importing torchvision imports torch, which takes
    # seconds and is not needed when the data is already local.
    from torchvision.datasets import CIFAR10

    logger.info("downloading CIFAR-10 from %s into %s", CIFAR10.url, root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        CIFAR10(str(root), train=True, download=True)
    except (OSError, RuntimeError) as error:
        # urllib raises URLError (an OSError) when offline. torchvision raises
        # RuntimeError when the archive fails its checksum.
        raise DataError(
            f"download of CIFAR-10 from {CIFAR10.url} into {root} failed: {type(error).__name__}: {error}. "
            "If this machine has no internet access, pass --data-dir DIR pointing at local data: either "
            f"a {BATCHES_FOLDER_NAME} folder (or the folder containing it), or image folders "
            "DIR/train/<class>/ and DIR/test/<class>/ with 32x32 PNG or JPEG files"
        ) from error

    logger.info("downloaded CIFAR-10 into %s", root / BATCHES_FOLDER_NAME)
    return root / BATCHES_FOLDER_NAME

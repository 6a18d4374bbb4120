"""Real Fashion-MNIST (Debian's dataset-fashion-mnist), loaded once per session."""

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from training.data import FASHION_MNIST_CLASSES, Splits, read_mnist_layout

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="session")
def fashion() -> Splits:
    if not FASHION_MNIST_DIR.is_dir():
        pytest.fail(f"{FASHION_MNIST_DIR} is missing: install Debian's dataset-fashion-mnist (make setup does)")
    return read_mnist_layout(FASHION_MNIST_DIR, FASHION_MNIST_CLASSES)


@pytest.fixture(scope="session")
def small(fashion) -> Splits:
    """4,000 training and 1,000 test images: enough to see learning in a few seconds."""
    return Splits(fashion.train.subset(4000), fashion.test.subset(1000))


@pytest.fixture(scope="session")
def tiny(fashion) -> Splits:
    """2,000 training and 500 test images: for what a run writes, where how well it learns is not the point."""
    return Splits(fashion.train.subset(2000), fashion.test.subset(500))


@pytest.fixture(scope="session")
def fashion_slice_dir(fashion, tmp_path_factory) -> Path:
    """The first 300 training and 60 test images of Fashion-MNIST as IDX files in its own layout: real data
    small enough for whole commands, read by `--fashion-mnist-dir`."""
    folder = tmp_path_factory.mktemp("fashion-slice")
    for prefix, split, count in (("train", fashion.train, 300), ("t10k", fashion.test, 60)):
        for part, array in (("images-idx3", split.images[:count, 0]), ("labels-idx1", split.labels[:count])):
            array = array.numpy().astype(np.uint8)
            header = b"\x00\x00\x08" + bytes([array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
            (folder / f"{prefix}-{part}-ubyte.gz").write_bytes(gzip.compress(header + array.tobytes()))
    return folder

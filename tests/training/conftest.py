"""Real Fashion-MNIST (Debian's dataset-fashion-mnist), loaded once per session."""

from pathlib import Path

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

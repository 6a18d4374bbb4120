"""Real image data: IDX files (Fashion-MNIST from Debian's package, MNIST downloaded); image folders and the
choice among data sets are in `training.datasets`.

Every reader returns an `ImageData`: uint8 images (N, C, H, W), int64 labels (N,) and the class names,
which travel into each checkpoint. Broken input raises `DataError` naming the file and the fault.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import torch

log = logging.getLogger(__name__)

FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
MNIST_CLASSES = [str(digit) for digit in range(10)]
MNIST_BASE_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
# The published MD5 sums of the original MNIST files.
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}


class DataError(ValueError):
    """A data file is missing, corrupt or cannot be fetched; the message names it."""


@dataclass(frozen=True)
class ImageData:
    images: torch.Tensor  # (N, C, H, W) uint8
    labels: torch.Tensor  # (N,) int64
    class_names: list[str]

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        channels, height, width = self.images.shape[1:]
        return (channels, height, width)

    def labelled(self) -> ImageData:
        """The images whose label is known (label >= 0; see `keep_labels`)."""
        known = self.labels >= 0
        return ImageData(self.images[known], self.labels[known], self.class_names)

    def digest(self) -> str:
        """16 hex digits that tell this data from any other: its images, labels, class names and image shape."""
        digest = hashlib.sha256(json.dumps([self.class_names, list(self.image_shape)]).encode())
        digest.update(self.images.numpy().tobytes())
        digest.update(self.labels.numpy().tobytes())
        return digest.hexdigest()[:16]

    def subset(self, limit: int | None) -> ImageData:
        """The first `limit` items (all when None): for short runs and tests."""
        if limit is None:
            return self
        return ImageData(self.images[:limit], self.labels[:limit], self.class_names)


@dataclass(frozen=True)
class Splits:
    train: ImageData
    test: ImageData
    validation: ImageData | None = None  # held out of the training images: for choosing settings


def hold_out_validation(splits: Splits, fraction: float = 1 / 12, seed: int = 0) -> Splits:
    """`splits` with a validation split taken out of the training images: the same share of every class,
    chosen at random from `seed` (Fashion-MNIST: 5,000 of the 60,000). Settings are chosen on it; the test
    split is for the figures reported at the end."""
    generator = torch.Generator().manual_seed(seed)
    train = splits.train
    held = torch.zeros(len(train), dtype=torch.bool)
    for label in range(len(train.class_names)):
        members = torch.nonzero(train.labels == label).squeeze(1)
        chosen = members[torch.randperm(len(members), generator=generator)[: round(fraction * len(members))]]
        held[chosen] = True

    def part(mask: torch.Tensor) -> ImageData:
        return ImageData(train.images[mask], train.labels[mask], train.class_names)

    return Splits(part(~held), splits.test, part(held))


# IDX


def keep_labels(data: ImageData, per_class: int, seed: int = 0) -> ImageData:
    """`data` with the labels of all but `per_class` images of each class (a seeded choice) set to -1
    ("unknown"): the labelled subset of semi-supervised training. `per_class=0` hides every label (clustering)."""
    generator = torch.Generator().manual_seed(seed)
    kept = torch.zeros(len(data), dtype=torch.bool)
    for label in range(len(data.class_names)):
        members = torch.nonzero(data.labels == label).squeeze(1)
        if per_class > len(members):
            raise DataError(f"class {data.class_names[label]!r} has {len(members)} images, fewer than {per_class}")
        kept[members[torch.randperm(len(members), generator=generator)[:per_class]]] = True
    return ImageData(data.images, torch.where(kept, data.labels, -1), data.class_names)


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzip or raw): validate the magic number, the dimensions and the size."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except FileNotFoundError as error:
        raise DataError(f"{path}: no such file") from error
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise DataError(f"{path}: corrupt gzip data ({error})") from error
    if len(raw) < 4 or raw[0:2] != b"\x00\x00" or raw[2] != 0x08:
        raise DataError(f"{path}: not an IDX file of unsigned bytes (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    header_size = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header_size:
        raise DataError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header_size])
    expected = header_size + int(np.prod(shape))
    if len(raw) != expected:
        raise DataError(f"{path}: IDX says shape {shape} ({expected} bytes) but the file holds {len(raw)} bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)


def read_idx_pair(images_path: Path, labels_path: Path, class_names: list[str]) -> ImageData:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise DataError(f"{images_path} {images.shape} and {labels_path} {labels.shape} do not pair up")
    if labels.size and labels.max() >= len(class_names):
        raise DataError(f"{labels_path}: label {labels.max()} but only {len(class_names)} classes")
    return ImageData(
        torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64)), class_names
    )


def read_mnist_layout(folder: Path, class_names: list[str]) -> Splits:
    """The four files of the MNIST layout (train-*/t10k-*) in one folder."""
    return Splits(
        read_idx_pair(folder / "train-images-idx3-ubyte.gz", folder / "train-labels-idx1-ubyte.gz", class_names),
        read_idx_pair(folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz", class_names),
    )


# MNIST download


def download_mnist(cache_dir: Path, base_url: str = MNIST_BASE_URL, checksums: dict[str, str] = MNIST_MD5) -> Path:
    """Fetch the MNIST files into `cache_dir` (skipping verified ones) and return the folder.

    A partial download resumes with an HTTP Range request; a file becomes visible under its name
    only once its checksum matches, so an interrupted or corrupt download never passes for data.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    with httpx.Client(timeout=30.0, follow_redirects=True) as client:
        for name, md5 in checksums.items():
            target = cache_dir / name
            if target.is_file() and _md5(target) == md5:
                continue
            _download(client, base_url.rstrip("/") + "/" + name, target, md5)
    return cache_dir


def _download(client: httpx.Client, url: str, target: Path, md5: str) -> None:
    partial = target.with_name(target.name + ".part")
    offset = partial.stat().st_size if partial.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 416:  # the partial file is already complete
                pass
            elif response.status_code not in (200, 206):
                raise DataError(f"{url}: HTTP {response.status_code}")
            else:
                mode = "ab" if response.status_code == 206 else "wb"  # 200: the server ignored the range
                with partial.open(mode) as file:
                    for chunk in response.iter_bytes():
                        file.write(chunk)
                    file.flush()
                    os.fsync(file.fileno())
    except httpx.HTTPError as error:
        raise DataError(
            f"cannot download {url} ({error}); are you offline? Put the MNIST files in {target.parent} "
            "or set another base URL"
        ) from error
    actual = _md5(partial)
    if actual != md5:
        partial.unlink()
        raise DataError(f"{url}: checksum mismatch (md5 {actual}, expected {md5}); the download was discarded")
    os.replace(partial, target)


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

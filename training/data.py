"""Real image data: IDX files (Fashion-MNIST from Debian's package, MNIST downloaded) and image folders.

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
from PIL import Image, UnidentifiedImageError

from models.pixels import from_pil

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
CLASS_LIST = "classes.txt"  # optional in an image folder: the class folders in label order, one per line
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}


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


# image folder


def read_image_folder(root: Path, image_shape: tuple[int, int, int], test_fraction: float = 0.1) -> Splits:
    """Images in one subfolder per class, each converted to `image_shape` (mode and size) as uploads are.

    With `train/` and `test/` subfolders (each one subfolder per class), those are the splits; otherwise every
    10th image of each class is the test split. Labels follow the class folders' order in `classes.txt` at the
    root where there is one, else their sorted names. Within a split the images are ordered by file name, then class,
    so a folder written by `write_image_folder` reads back in the order, and so the batches, of its source.
    An unreadable image, or a class with too few images, raises DataError naming it.
    """
    channels = image_shape[0]
    if channels not in (1, 3):
        raise DataError(f"image folders give 1 (grayscale) or 3 (RGB) channels, not {channels}")
    if not root.is_dir():
        raise DataError(f"{root}: no such folder (--image-folder takes a folder with one subfolder per class)")
    if (root / "train").is_dir() and (root / "test").is_dir():
        class_names = _class_folders(root / "train")
        if (test_names := _class_folders(root / "test")) != class_names:
            raise DataError(f"{root}: train/ has classes {class_names} but test/ has {test_names}: make them agree")
        return Splits(*(_read_split(root / split, class_names, image_shape, 0) for split in ("train", "test")))
    every = max(2, round(1 / test_fraction))
    class_names = _class_folders(root)
    return Splits(*(_read_split(root, class_names, image_shape, every, part) for part in ("train", "test")))


def _class_folders(root: Path) -> list[str]:
    """The class folders in label order: as listed in the data's classes.txt, else sorted by name."""
    names = sorted(path.name for path in root.iterdir() if path.is_dir())
    if not names:
        raise DataError(f"{root}: expected one subfolder per class, found none")
    listing = next((folder / CLASS_LIST for folder in (root, root.parent) if (folder / CLASS_LIST).is_file()), None)
    if listing is None:
        return names
    listed = listing.read_text().splitlines()
    if sorted(listed) != names:
        raise DataError(f"{listing} lists {listed} but {root} has the class folders {names}: make them agree")
    return listed


def _read_split(
    root: Path, class_names: list[str], image_shape: tuple[int, int, int], every: int, part: str = "all"
) -> ImageData:
    """The images of `root`/CLASS/**: all of them, or with `every` > 0 the `part` ("train" or "test", every
    `every`-th image of each class) of them."""
    found: list[tuple[str, int, Path]] = []
    for label, name in enumerate(class_names):
        files = sorted(path for path in (root / name).rglob("*") if path.suffix.lower() in IMAGE_SUFFIXES)
        needed = max(every, 2)
        if len(files) < needed:
            raise DataError(
                f"{root / name}: {len(files)} image{'s' * (len(files) != 1)}; each class needs at least {needed}"
                + (f" (every {every}th goes to the test split)" if every else "")
            )
        if every:
            files = [path for index, path in enumerate(files) if (index % every == every - 1) == (part == "test")]
        found.extend((path.relative_to(root / name).as_posix(), label, path) for path in files)
    found.sort()
    arrays = []
    for _, _, path in found:
        try:
            with Image.open(path) as image:
                arrays.append(from_pil(image, image_shape))
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
            raise DataError(f"{path}: not a readable image ({error}): fix or remove it") from error
    labels = torch.tensor([label for _, label, _ in found], dtype=torch.int64)
    return ImageData(torch.from_numpy(np.stack(arrays)), labels, class_names)


def write_image_folder(splits: Splits, root: Path, image_shape: tuple[int, int, int]) -> None:
    """`splits` as PNGs, ROOT/{train,test}/CLASS/NNNNN.png, converted to `image_shape` the way
    `read_image_folder` converts, and ROOT/classes.txt; numbered in order and the classes listed in label
    order, so reading the folder back gives the same images, labels and order.
    A "/" in a class name (Fashion-MNIST's "T-shirt/top") becomes "-", as a folder name cannot hold it."""
    root.mkdir(parents=True, exist_ok=True)
    folder_names = [name.replace("/", "-") for name in splits.train.class_names]
    (root / CLASS_LIST).write_text("".join(f"{name}\n" for name in folder_names))
    for split, data in (("train", splits.train), ("test", splits.test)):
        digits = len(str(max(len(data) - 1, 0)))
        folders = [root / split / name for name in folder_names]
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
        for index, (image, label) in enumerate(zip(data.images.numpy(), data.labels.tolist(), strict=True)):
            pil = Image.fromarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0))
            array = from_pil(pil, image_shape)
            out = Image.fromarray(array[0] if image_shape[0] == 1 else array.transpose(1, 2, 0))
            out.save(folders[label] / f"{index:0{digits}d}.png")


def load_splits(
    dataset: str,
    *,
    fashion_mnist_dir: Path,
    mnist_dir: Path,
    mnist_base_url: str = MNIST_BASE_URL,
    image_folder: Path | None = None,
    image_shape: tuple[int, int, int] = (1, 28, 28),
) -> Splits:
    """The train and test splits of `dataset`: fashion-mnist, mnist or folder."""
    if dataset == "fashion-mnist":
        return read_mnist_layout(fashion_mnist_dir, FASHION_MNIST_CLASSES)
    if dataset == "mnist":
        return read_mnist_layout(download_mnist(mnist_dir, mnist_base_url), MNIST_CLASSES)
    if dataset == "folder":
        if image_folder is None:
            raise DataError("the folder data set needs --image-folder")
        return read_image_folder(image_folder, image_shape)
    raise DataError(f"unknown data set {dataset!r}: use fashion-mnist, mnist or folder")

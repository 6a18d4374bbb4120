"""The data sets a command names (fashion-mnist, mnist, folder), and folders of images: read as a data set,
and written from one (`python -m training export`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from models.pixels import from_pil
from training.data import (
    FASHION_MNIST_CLASSES,
    MNIST_BASE_URL,
    MNIST_CLASSES,
    DataError,
    ImageData,
    Splits,
    download_mnist,
    read_mnist_layout,
)

CLASS_LIST = "classes.txt"  # optional in an image folder: the class folders in label order, one per line
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}


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

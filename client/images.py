"""Images between numpy arrays and PNG bytes, the way the service sends and takes them."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

# What `encode` takes as images: a batch array (N, H, W) or (N, H, W, C), or a sequence of single
# images, each an array (H, W) / (H, W, C), a PIL image, or the bytes of an image file.
Images = np.ndarray | Sequence[np.ndarray | Image.Image | bytes]


def to_png(image: np.ndarray | Image.Image | bytes) -> bytes:
    """One image as PNG bytes (bytes pass through: the service reads any format Pillow reads)."""
    if isinstance(image, bytes):
        return image
    if isinstance(image, np.ndarray):
        image = Image.fromarray(_as_uint8(image))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def pngs_of(images: Images) -> list[bytes]:
    if isinstance(images, np.ndarray):
        if images.ndim not in (3, 4):
            raise ValueError(f"a batch of images is (N, H, W) or (N, H, W, C); got shape {images.shape}")
        return [to_png(image) for image in images]
    return [to_png(image) for image in images]


def from_base64_pngs(texts: list[str]) -> np.ndarray:
    """The service's base64 PNGs -> (N, H, W) uint8 for grey images, (N, H, W, C) for colour ones."""
    arrays = [np.asarray(Image.open(io.BytesIO(base64.b64decode(text)))) for text in texts]
    return np.stack(arrays) if arrays else np.zeros((0, 0, 0), dtype=np.uint8)


def to_pil(images: np.ndarray) -> list[Image.Image]:
    """A batch from the client, (N, H, W) or (N, H, W, C) uint8, as PIL images."""
    return [Image.fromarray(image) for image in images]


def _as_uint8(image: np.ndarray) -> Any:
    """uint8 as it is; floats are taken as [0, 1] (what models and plots use) and scaled to 0..255."""
    if image.dtype == np.uint8:
        return image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image
    if np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all() or image.min() < 0 or image.max() > 1:
            raise ValueError("float images must hold values in [0, 1]")
        return _as_uint8(np.round(image * 255).astype(np.uint8))
    raise ValueError(f"images must be uint8 or float in [0, 1], not {image.dtype}")

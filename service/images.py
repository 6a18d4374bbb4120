"""Image bytes <-> uint8 arrays (C, H, W): upload decoding with limits, PNG encoding, grids.

Uploads are converted the way training converted image folders (`models.pixels.from_pil`): Pillow's
`convert` to the model's mode (L or RGB), then `resize` to its height and width.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from models import pixels


class ImageError(ValueError):
    """An upload that is not an image we can use; the message says why."""


class ImageTooLarge(ImageError):
    """An upload with more pixels than the limit (413, not 422: the request is fine, only too big)."""


def decode_image(data: bytes, shape: tuple[int, int, int], max_pixels: int) -> np.ndarray:
    """PNG/JPEG/... bytes -> (C, H, W) uint8 in the model's shape."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.size[0] * image.size[1] > max_pixels:
                    raise ImageTooLarge(
                        f"image of {image.size[0]}x{image.size[1]} pixels exceeds the limit of {max_pixels}"
                    )
                image.load()
                return pixels.from_pil(image, shape)
    except ImageError:
        raise
    except UnidentifiedImageError as error:
        raise ImageError("not a readable image: the bytes are in no image format that Pillow reads") from error
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageError(f"image refused as a decompression bomb: {error}") from error
    except (OSError, ValueError, SyntaxError, EOFError) as error:  # truncated or corrupt data
        raise ImageError(f"corrupt or truncated image: {error}") from error


def decode_base64(text: str) -> bytes:
    """Plain base64 or a data: URI -> bytes."""
    if text.startswith("data:"):
        header, _, text = text.partition(",")
        if ";base64" not in header:
            raise ImageError("data: URIs must be base64-encoded (data:image/png;base64,...)")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ImageError(f"not valid base64: {error}") from error


def encode_png(image: np.ndarray) -> bytes:
    """(C, H, W) uint8 -> PNG bytes."""
    channels = image.shape[0]
    pixels = image[0] if channels == 1 else image.transpose(1, 2, 0)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels), "L" if channels == 1 else "RGB").save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def encode_png_base64(image: np.ndarray) -> str:
    return base64.b64encode(encode_png(image)).decode("ascii")


def grid(images: np.ndarray, columns: int | None = None) -> np.ndarray:
    """(N, C, H, W) -> one (C, rows*H, columns*W) image, about square, 1-pixel gutters of black."""
    count, channels, height, width = images.shape
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    canvas = np.zeros((channels, rows * (height + 1) - 1, columns * (width + 1) - 1), dtype=np.uint8)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        canvas[
            :, row * (height + 1) : row * (height + 1) + height, column * (width + 1) : column * (width + 1) + width
        ] = image
    return canvas


def heat_map(images: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """(N, C, H, W) uint8 images and their (N, C, H, W) error maps -> (N, 3, H, W) uint8: each image in gray, going
    red where its error is high (each map scaled to its own largest error)."""
    gray = images.astype(np.float32).mean(1)
    heat = maps.mean(1)
    heat = heat / np.maximum(heat.reshape(len(heat), -1).max(1), 1e-12)[:, None, None]
    shaded = gray * (1 - heat)
    return np.stack([shaded + 255 * heat, shaded, shaded], 1).round().clip(0, 255).astype(np.uint8)

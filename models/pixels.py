"""Images between their stored form and the networks', defined once for training and serving alike.

Stored and uploaded images are uint8 (C, H, W) arrays; the networks take float tensors in [0, 1] and
decoders give logits, whose sigmoid is the image.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image


def from_pil(image: Image.Image, shape: tuple[int, int, int]) -> np.ndarray:
    """Any Pillow image -> a uint8 (C, H, W) array of `shape`: converted to L (one channel) or RGB, then resized.
    Training reads image folders this way and the service its uploads, so both see the same pixels."""
    channels, height, width = shape
    converted = image.convert("L" if channels == 1 else "RGB").resize((width, height))
    return np.asarray(converted, dtype=np.uint8).reshape(height, width, channels).transpose(2, 0, 1)


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float32 in [0, 1], always a new tensor (the stored images stay as they are)."""
    return images.to(torch.float32, copy=True).div_(255)


def to_uint8(logits: torch.Tensor) -> torch.Tensor:
    """Decoder logits -> uint8 images: the sigmoid, scaled to 0..255 and rounded."""
    return torch.sigmoid(logits).mul_(255).round_().to(torch.uint8)

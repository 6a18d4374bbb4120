"""Image classifiers: the auxiliary critic that training uses, and the networks that evaluation judges with.

- "strided": a small strided CNN. Training trains a fresh one beside a model, on real images only, as
  the auxiliary critic that teaches decoders to draw recognisable classes (cheap on a CPU).
- "cnn" and "resnet": the evaluation classifiers, a plain VGG-style CNN and a small residual network.
  Two architectures, trained with different seeds and data orders, give two independent feature spaces
  for the Fréchet distance and precision/recall, so a figure tuned in one can be checked in the other.
  Neither is ever a training signal.

They live here because they are nn.Modules saved in the same checkpoint format; none is a served model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import nn

ClassifierArchitecture = Literal["strided", "cnn", "resnet"]


@dataclass(frozen=True, kw_only=True)
class ClassifierConfig:
    image_shape: tuple[int, int, int] = (1, 28, 28)  # (channels, height, width)
    num_classes: int = 10
    feature_dim: int = 128  # size of the penultimate layer, the feature space of the Fréchet distance
    architecture: ClassifierArchitecture = "strided"
    variant: str = "plain"  # one variant; the field keeps the checkpoint header uniform


class Classifier(nn.Module):
    kind: ClassVar[str] = "classifier"

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        channels, height, width = config.image_shape
        if config.architecture != "strided" and (height % 4 or width % 4):
            raise ValueError(f"the {config.architecture} classifier halves the image twice; got {height}x{width}")
        match config.architecture:
            case "strided":  # strided convolutions rather than pooling: several times cheaper on a CPU
                trunk = [
                    nn.Conv2d(channels, 32, 4, stride=2, padding=1), nn.ReLU(),  # (B, 32, H/2, W/2)
                    nn.Conv2d(32, 64, 4, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),  # (B, 64, H/4, W/4)
                    nn.Flatten(), nn.Dropout(0.3),
                    nn.Linear(64 * (height // 4) * (width // 4), config.feature_dim),
                ]  # fmt: skip
            case "cnn":
                trunk = [
                    *_conv(channels, 32), *_conv(32, 32), nn.MaxPool2d(2),  # (B, 32, H/2, W/2)
                    *_conv(32, 64), *_conv(64, 64), nn.MaxPool2d(2),  # (B, 64, H/4, W/4)
                    nn.Flatten(), nn.Dropout(0.4),
                    nn.Linear(64 * (height // 4) * (width // 4), config.feature_dim),
                ]  # fmt: skip
            case "resnet":  # pre-activation residual blocks, global average pooling
                trunk = [
                    nn.Conv2d(channels, 32, 3, padding=1, bias=False),  # (B, 32, H, W)
                    _Residual(32, 64, stride=2), _Residual(64, 128, stride=2),  # (B, 128, H/4, W/4)
                    nn.BatchNorm2d(128), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                    nn.Linear(128, config.feature_dim),
                ]  # fmt: skip
        self.features = nn.Sequential(*trunk, nn.ReLU())  # (B, feature_dim)
        self.head = nn.Linear(config.feature_dim, config.num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) in [0, 1] -> class logits (B, num_classes)."""
        return self.head(self.features(images))


def _conv(channels_in: int, channels_out: int) -> list[nn.Module]:
    return [nn.Conv2d(channels_in, channels_out, 3, padding=1, bias=False), nn.BatchNorm2d(channels_out), nn.ReLU()]


class _Residual(nn.Module):
    """BN-ReLU-conv twice plus the input (He et al. 2016, identity mappings); a strided 1x1 conv where the
    shape changes."""

    def __init__(self, channels_in: int, channels_out: int, stride: int = 1) -> None:
        super().__init__()
        self.branch = nn.Sequential(
            nn.BatchNorm2d(channels_in), nn.ReLU(),
            nn.Conv2d(channels_in, channels_out, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(channels_out), nn.ReLU(),
            nn.Conv2d(channels_out, channels_out, 3, padding=1, bias=False),
        )  # fmt: skip
        self.shortcut: nn.Module = (
            nn.Identity()
            if stride == 1 and channels_in == channels_out
            else nn.Conv2d(channels_in, channels_out, 1, stride=stride, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.branch(x) + self.shortcut(x)

"""A small CNN image classifier.

Training trains one per data set to judge generated images (is a sample of class 3 recognised as
class 3? how far are generated features from real ones?) and, as a separate instance, as an
auxiliary critic that teaches decoders to draw recognisable classes. It lives here
because it is an nn.Module saved in the same checkpoint format; it is never a served model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn


@dataclass(frozen=True, kw_only=True)
class ClassifierConfig:
    image_shape: tuple[int, int, int] = (1, 28, 28)  # (channels, height, width)
    num_classes: int = 10
    feature_dim: int = 128  # size of the penultimate layer, the feature space of the Fréchet distance
    variant: str = "plain"  # one variant; the field keeps the checkpoint header uniform


class Classifier(nn.Module):
    kind: ClassVar[str] = "classifier"

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        channels, height, width = config.image_shape
        # strided convolutions rather than pooling: as accurate here and several times cheaper on a CPU
        self.features = nn.Sequential(
            nn.Conv2d(channels, 32, 4, stride=2, padding=1),  # (B, 32, H/2, W/2)
            nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2, padding=1),  # (B, 64, H/4, W/4)
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.Flatten(),
            nn.Dropout(0.3),
            nn.Linear(64 * (height // 4) * (width // 4), config.feature_dim),
            nn.ReLU(),
        )
        self.head = nn.Linear(config.feature_dim, config.num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) in [0, 1] -> class logits (B, num_classes)."""
        return self.head(self.features(images))

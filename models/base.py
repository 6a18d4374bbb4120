"""What every autoencoder family shares: the common config fields and the encode/decode surface.

Training and serving only ever call `encode`, `decode` and `images_from_logits`, and read the
`takes_labels_*` flags, so they never branch on the family.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import torch
from torch import nn

from models.nets import Architecture, Decoder, Encoder, one_hot


@dataclass(frozen=True, kw_only=True)
class AutoencoderConfig:
    image_shape: tuple[int, int, int] = (1, 28, 28)  # (channels, height, width) of the images
    latent_dim: int = 16  # size of the code z
    architecture: Architecture = "conv"  # "mlp" for fully connected nets, "conv" for the small CNN pair
    hidden: int = 512  # width of the fully connected layers
    decoder_channels: int = 32  # conv decoder: channels at half resolution (twice as many at a quarter)
    # conv decoder: channels at full resolution, refined by a 3x3 conv into the image (0: the last transposed
    # conv draws the image itself)
    decoder_refine_channels: int = 0
    num_classes: int = 0  # classes in the data; only label-conditioned variants need it > 0
    variant: str = "plain"  # the family's variant; each family narrows this with a Literal

    def __post_init__(self) -> None:
        for name in ("latent_dim", "hidden", "decoder_channels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.decoder_refine_channels < 0:
            raise ValueError(f"decoder_refine_channels must be 0 (none) or more, got {self.decoder_refine_channels}")
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ValueError(f"image_shape must be (channels, height, width), got {self.image_shape}")
        if self.variant != "plain" and self.num_classes < 2:
            raise ValueError(f"the {self.variant!r} variant is label-conditioned and needs num_classes >= 2")


class Encoding(NamedTuple):
    latents: torch.Tensor  # (B, latent_dim): the code, or for a VAE the posterior mean
    log_variances: torch.Tensor | None  # (B, latent_dim) for a VAE, None for deterministic encoders
    class_logits: torch.Tensor | None = None  # (B, num_classes) for a model with a categorical head, else None


class Autoencoder(nn.Module):
    """Base of AE, VAE and AAE. Subclasses build `self.encoder` and `self.decoder` in __init__."""

    kind: ClassVar[str]
    config: AutoencoderConfig
    encoder: nn.Module
    decoder: nn.Module

    @property
    def takes_labels_to_encode(self) -> bool:
        return False

    @property
    def takes_labels_to_decode(self) -> bool:
        return False

    @property
    def classifies(self) -> bool:
        """Whether the encoder has a categorical head: `encode` then gives class logits beside the code."""
        return False

    def _labels(self, labels: torch.Tensor | None, needed: bool) -> torch.Tensor | None:
        """Class indices (B,) to one-hot; class probabilities (B, num_classes) pass as they are."""
        if not needed:
            return None
        if labels is None:
            raise ValueError(f"this {self.kind} ({self.config.variant}) needs a label per image")
        if labels.is_floating_point():
            return labels
        return one_hot(labels, self.config.num_classes)

    def encode(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> Encoding:
        """Images (B, C, H, W) in [0, 1] -> codes (B, latent_dim)."""
        return Encoding(self.encoder(images, self._labels(labels, self.takes_labels_to_encode)), None)

    def decode(self, latents: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Codes (B, latent_dim) -> image logits (B, C, H, W); `labels` as class indices (B,) or, for a
        decoder that takes them, class probabilities (B, num_classes)."""
        return self.decoder(latents, self._labels(labels, self.takes_labels_to_decode))

    def reconstruct(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images -> reconstruction logits through the code (the labels used where the model takes them; a
        categorical head decodes its own class probabilities, so it needs none)."""
        encoding = self.encode(images, labels if self.takes_labels_to_encode else None)
        if encoding.class_logits is not None:
            return self.decode(encoding.latents, torch.softmax(encoding.class_logits, dim=1))
        return self.decode(encoding.latents, labels if self.takes_labels_to_decode else None)

    def _encoder(self, out_features: int, num_classes: int = 0) -> Encoder:
        config = self.config
        return Encoder(
            image_shape=config.image_shape, out_features=out_features, architecture=config.architecture,
            hidden=config.hidden, num_classes=num_classes,
        )  # fmt: skip

    def _decoder(self, num_classes: int = 0) -> Decoder:
        config = self.config
        return Decoder(
            image_shape=config.image_shape, latent_dim=config.latent_dim, architecture=config.architecture,
            hidden=config.hidden, num_classes=num_classes, channels=config.decoder_channels,
            refine_channels=config.decoder_refine_channels,
        )  # fmt: skip

    @staticmethod
    def images_from_logits(logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits)

"""Encoder, decoder and discriminator blocks shared by every model family.

Images are float tensors in [0, 1] of shape (B, C, H, W). Decoders return logits of that shape, so
losses can use the numerically stable `binary_cross_entropy_with_logits`; `torch.sigmoid` turns
them into images. Labels, where a block takes them, are one-hot (B, num_classes) float tensors.
"""

from __future__ import annotations

import itertools
from typing import Literal

import torch
from torch import nn

Architecture = Literal["mlp", "conv"]


# helpers


def one_hot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Integer labels (B,) to float one-hot (B, num_classes) on the labels' device."""
    return nn.functional.one_hot(labels.long(), num_classes).float()


def _mlp(sizes: list[int], *, final_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for index, (size_in, size_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(size_in, size_out))
        if index < len(sizes) - 2 or final_activation:
            layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


def _check_conv_shape(image_shape: tuple[int, int, int]) -> None:
    _, height, width = image_shape
    if height % 4 or width % 4:
        raise ValueError(
            f"the conv architecture halves the image twice, so height and width must be multiples "
            f"of 4; got {height}x{width} (resize the images or use architecture='mlp')"
        )


# classes


class Encoder(nn.Module):
    """Image (B, C, H, W) [+ one-hot label] -> features (B, out_features).

    The label, when there is one, joins after the image trunk, so the convolutional layers stay
    label-agnostic and the same trunk serves conditional and unconditional models.
    """

    def __init__(
        self,
        *,
        image_shape: tuple[int, int, int],
        out_features: int,
        architecture: Architecture,
        hidden: int,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        channels, height, width = image_shape
        if architecture == "conv":
            _check_conv_shape(image_shape)
            self.trunk: nn.Module = nn.Sequential(
                nn.Conv2d(channels, 32, 4, stride=2, padding=1),  # (B, 32, H/2, W/2)
                nn.LeakyReLU(0.2),
                nn.Conv2d(32, 64, 4, stride=2, padding=1),  # (B, 64, H/4, W/4)
                nn.BatchNorm2d(64),
                nn.LeakyReLU(0.2),
                nn.Flatten(),
            )
            trunk_features = 64 * (height // 4) * (width // 4)
        else:
            self.trunk = nn.Sequential(nn.Flatten(), _mlp([channels * height * width, hidden], final_activation=True))
            trunk_features = hidden
        self.head = _mlp([trunk_features + num_classes, hidden, out_features], final_activation=False)
        self.num_classes = num_classes

    def forward(self, images: torch.Tensor, labels_one_hot: torch.Tensor | None = None) -> torch.Tensor:
        features = self.trunk(images)
        if self.num_classes:
            assert labels_one_hot is not None, "a label-conditioned encoder needs labels"
            features = torch.cat([features, labels_one_hot], dim=1)
        return self.head(features)


class Decoder(nn.Module):
    """Latent (B, latent_dim) [+ one-hot label] -> image logits (B, C, H, W)."""

    def __init__(
        self,
        *,
        image_shape: tuple[int, int, int],
        latent_dim: int,
        architecture: Architecture,
        hidden: int,
        num_classes: int = 0,
        channels: int = 32,
        refine_channels: int = 0,
    ) -> None:
        super().__init__()
        image_channels, height, width = image_shape
        self.image_shape = image_shape
        self.num_classes = num_classes
        in_features = latent_dim + num_classes
        if architecture == "conv":
            _check_conv_shape(image_shape)
            self.net = nn.Sequential(
                _mlp([in_features, hidden, 2 * channels * (height // 4) * (width // 4)], final_activation=True),
                nn.Unflatten(1, (2 * channels, height // 4, width // 4)),
                nn.ConvTranspose2d(2 * channels, channels, 4, stride=2, padding=1),  # (B, channels, H/2, W/2)
                nn.BatchNorm2d(channels),
                nn.LeakyReLU(0.2),
                nn.ConvTranspose2d(channels, refine_channels or image_channels, 4, stride=2, padding=1),  # (B, ., H, W)
            )
            if refine_channels:  # a 3x3 conv at full resolution draws the image from the upsampled features
                self.net.extend([
                    nn.BatchNorm2d(refine_channels), nn.LeakyReLU(0.2),
                    nn.Conv2d(refine_channels, image_channels, 3, padding=1),
                ])  # fmt: skip
        else:
            self.net = nn.Sequential(
                _mlp([in_features, hidden, hidden, image_channels * height * width], final_activation=False),
                nn.Unflatten(1, image_shape),
            )

    def forward(self, latents: torch.Tensor, labels_one_hot: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes:
            assert labels_one_hot is not None, "a label-conditioned decoder needs labels"
            latents = torch.cat([latents, labels_one_hot], dim=1)
        return self.net(latents)


class Discriminator(nn.Module):
    """Latent code (B, latent_dim) [+ one-hot label slot] -> logit that the code came from the prior."""

    def __init__(self, *, latent_dim: int, hidden: int, label_slots: int = 0) -> None:
        super().__init__()
        self.label_slots = label_slots
        self.net = _mlp([latent_dim + label_slots, hidden, hidden, 1], final_activation=False)

    def forward(self, latents: torch.Tensor, label_slots_one_hot: torch.Tensor | None = None) -> torch.Tensor:
        if self.label_slots:
            assert label_slots_one_hot is not None, "this discriminator sees a label slot"
            latents = torch.cat([latents, label_slots_one_hot], dim=1)
        return self.net(latents).squeeze(1)  # (B,)


class ClassStandardise(nn.Module):
    """Codes (B, dim) standardised within their class: zero mean and unit variance per dimension per class.

    A BatchNorm1d without scale or shift whose statistics are kept per class: in training each class's
    batch statistics (a class with fewer than two codes in the batch uses its running ones), in eval the
    running statistics. Labels come one-hot (B, num_classes), so gathering a code's statistics is a matmul.
    """

    def __init__(self, *, num_classes: int, dim: int, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.running_mean: torch.Tensor
        self.running_var: torch.Tensor
        self.register_buffer("running_mean", torch.zeros(num_classes, dim))
        self.register_buffer("running_var", torch.ones(num_classes, dim))

    def forward(self, codes: torch.Tensor, labels_one_hot: torch.Tensor) -> torch.Tensor:
        means, variances = self.running_mean, self.running_var
        if self.training:
            counts = labels_one_hot.sum(0)[:, None]  # (num_classes, 1)
            batch_means = labels_one_hot.T @ codes / counts.clamp_min(1)
            batch_variances = labels_one_hot.T @ (codes - labels_one_hot @ batch_means).pow(2) / counts.clamp_min(1)
            present = counts >= 2
            with torch.no_grad():  # running variances unbiased, as BatchNorm keeps them
                unbiased = batch_variances * counts / (counts - 1).clamp_min(1)
                self.running_mean.lerp_(torch.where(present, batch_means, self.running_mean), self.momentum)
                self.running_var.lerp_(torch.where(present, unbiased, self.running_var), self.momentum)
            means = torch.where(present, batch_means, means)
            variances = torch.where(present, batch_variances, variances)
        return (codes - labels_one_hot @ means) * torch.rsqrt(labels_one_hot @ variances + self.eps)


class ImageDiscriminator(nn.Module):
    """Image (B, C, H, W) in [0, 1] -> (logit that it is a real image (B,), its features (B, features)).

    Spectral normalisation (Miyato et al. 2018) on every layer and no batch norm: real and decoded images go
    through in separate batches, and batch statistics would let it tell them apart by the batch alone.
    """

    def __init__(self, *, image_shape: tuple[int, int, int], channels: int = 32) -> None:
        super().__init__()
        _check_conv_shape(image_shape)
        image_channels, height, width = image_shape
        normalised = nn.utils.parametrizations.spectral_norm
        self.features = nn.Sequential(
            normalised(nn.Conv2d(image_channels, channels, 4, stride=2, padding=1)),  # (B, channels, H/2, W/2)
            nn.LeakyReLU(0.2),
            normalised(nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1)),  # (B, 2 channels, H/4, W/4)
            nn.LeakyReLU(0.2),
            nn.Flatten(),
        )
        self.head = normalised(nn.Linear(2 * channels * (height // 4) * (width // 4), 1))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(images)
        return self.head(features).squeeze(1), features

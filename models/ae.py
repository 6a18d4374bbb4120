"""Plain deterministic autoencoder.

A plain AE has no prior of its own: it samples through an ex-post density (a Gaussian mixture fitted
to the training codes, as in Ghosh et al., "From Variational to Deterministic Autoencoders", 2020),
which training fits and the checkpoint stores as the model's prior.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch

from models.base import Autoencoder, AutoencoderConfig


@dataclass(frozen=True, kw_only=True)
class AEConfig(AutoencoderConfig):
    variant: Literal["plain"] = "plain"  # the plain AE has no label-conditioned variant


class AEOutput(NamedTuple):
    latents: torch.Tensor  # (B, latent_dim)
    logits: torch.Tensor  # (B, C, H, W) reconstruction logits


class AE(Autoencoder):
    kind = "ae"

    def __init__(self, config: AEConfig) -> None:
        super().__init__()
        self.config: AEConfig = config
        self.encoder = self._encoder(config.latent_dim)
        self.decoder = self._decoder()

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> AEOutput:
        latents = self.encode(images).latents
        return AEOutput(latents, self.decode(latents))

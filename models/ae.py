"""Plain deterministic autoencoder, and its label-conditioned variant.

A plain AE has no prior of its own: it samples through an ex-post density (a Gaussian mixture fitted
to the training codes, as in Ghosh et al., "From Variational to Deterministic Autoencoders", 2020),
which training fits and the checkpoint stores as the model's prior.

Variants:
- "plain": unconditional.
- "conditional": the one-hot label goes to the decoder only, so the code keeps what the label does not
  say (style); the encoder stays label-free. It samples by label through a per-class ex-post density.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch

from models.base import Autoencoder, AutoencoderConfig


@dataclass(frozen=True, kw_only=True)
class AEConfig(AutoencoderConfig):
    variant: Literal["plain", "conditional"] = "plain"


class AEOutput(NamedTuple):
    latents: torch.Tensor  # (B, latent_dim)
    logits: torch.Tensor  # (B, C, H, W) reconstruction logits


class AE(Autoencoder):
    kind = "ae"

    def __init__(self, config: AEConfig) -> None:
        super().__init__()
        self.config: AEConfig = config
        self.encoder = self._encoder(config.latent_dim)
        self.decoder = self._decoder(config.num_classes if config.variant == "conditional" else 0)

    @property
    def takes_labels_to_decode(self) -> bool:
        return self.config.variant == "conditional"

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> AEOutput:
        latents = self.encode(images).latents
        return AEOutput(latents, self.decode(latents, labels))

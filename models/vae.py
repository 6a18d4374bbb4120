"""Variational autoencoder (Kingma & Welling, 2014) and its label-conditioned variant (Sohn et al., 2015).

The encoder gives the mean and log-variance of a diagonal Gaussian q(z|x); the reparameterisation
z = mu + sigma * eps keeps sampling differentiable. The loss (in `models.losses`) is reconstruction
plus the closed-form KL(q(z|x) || N(0, I)), weighted by beta.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch

from models.base import Autoencoder, AutoencoderConfig, Encoding


@dataclass(frozen=True, kw_only=True)
class VAEConfig(AutoencoderConfig):
    variant: Literal["plain", "conditional"] = "plain"  # "conditional": one-hot label to encoder and decoder
    reconstruction: Literal["bce", "mse"] = "bce"  # Bernoulli (BCE) or Gaussian (MSE) likelihood
    beta: float = 1.0  # weight of the KL term (1 is the true ELBO)


class VAEOutput(NamedTuple):
    means: torch.Tensor  # (B, latent_dim)
    log_variances: torch.Tensor  # (B, latent_dim)
    latents: torch.Tensor  # (B, latent_dim), a reparameterised draw
    logits: torch.Tensor  # (B, C, H, W) reconstruction logits


class VAE(Autoencoder):
    kind = "vae"

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.config: VAEConfig = config
        num_classes = config.num_classes if config.variant == "conditional" else 0
        self.encoder = self._encoder(2 * config.latent_dim, num_classes)  # means and log-variances
        self.decoder = self._decoder(num_classes)

    @property
    def takes_labels_to_encode(self) -> bool:
        return self.config.variant == "conditional"

    @property
    def takes_labels_to_decode(self) -> bool:
        return self.config.variant == "conditional"

    def encode(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> Encoding:
        """Images -> posterior means and log-variances (B, latent_dim) each."""
        stats = self.encoder(images, self._labels(labels, self.takes_labels_to_encode))
        means, log_variances = stats.chunk(2, dim=1)
        return Encoding(means, log_variances)

    @staticmethod
    def reparameterize(
        means: torch.Tensor, log_variances: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """z = mu + sigma * eps with sigma = exp(log_variance / 2): sigma, not sigma squared. eps from `generator`
        (a CPU one) where given, else from torch's global generator, as training draws it."""
        noise = torch.randn_like(means) if generator is None else torch.randn(means.shape, generator=generator)
        return means + torch.exp(0.5 * log_variances) * noise.to(means.device)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> VAEOutput:
        means, log_variances, _ = self.encode(images, labels)
        assert log_variances is not None
        latents = self.reparameterize(means, log_variances)
        return VAEOutput(means, log_variances, latents, self.decode(latents, labels))

"""Losses as pure functions of tensors. Per-image sums, then a mean over the batch, so the figures
are in nats per image and comparable across batch sizes."""

from __future__ import annotations

from typing import Literal

import torch
from torch.nn import functional as F


def reconstruction_loss(
    logits: torch.Tensor, images: torch.Tensor, kind: Literal["bce", "mse"] = "bce"
) -> torch.Tensor:
    """Mean over the batch of the per-image summed BCE (Bernoulli NLL, nats) or squared error."""
    if kind == "bce":
        per_value = F.binary_cross_entropy_with_logits(logits, images, reduction="none")
    else:
        per_value = (torch.sigmoid(logits) - images) ** 2
    return per_value.flatten(1).sum(1).mean()


def kl_to_standard_normal(means: torch.Tensor, log_variances: torch.Tensor) -> torch.Tensor:
    """Closed-form KL(N(mu, sigma^2) || N(0, I)) per image (B,): 0.5 * sum(mu^2 + sigma^2 - 1 - log sigma^2)."""
    return 0.5 * (means.pow(2) + log_variances.exp() - 1.0 - log_variances).sum(1)


def vae_loss(
    logits: torch.Tensor,
    images: torch.Tensor,
    means: torch.Tensor,
    log_variances: torch.Tensor,
    *,
    reconstruction: Literal["bce", "mse"] = "bce",
    beta: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, reconstruction term, KL term), each a batch mean; loss = reconstruction + beta * KL."""
    reconstruction_term = reconstruction_loss(logits, images, reconstruction)
    kl_term = kl_to_standard_normal(means, log_variances).mean()
    return reconstruction_term + beta * kl_term, reconstruction_term, kl_term


def discriminator_loss(prior_logits: torch.Tensor, code_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator should call prior samples real (1) and encoder codes fake (0)."""
    real = F.binary_cross_entropy_with_logits(prior_logits, torch.ones_like(prior_logits))
    fake = F.binary_cross_entropy_with_logits(code_logits, torch.zeros_like(code_logits))
    return real + fake


def generator_loss(code_logits: torch.Tensor) -> torch.Tensor:
    """The encoder wins when the discriminator calls its codes real (non-saturating GAN loss)."""
    return F.binary_cross_entropy_with_logits(code_logits, torch.ones_like(code_logits))


def class_confidence_loss(class_logits: torch.Tensor) -> torch.Tensor:
    """For images drawn without a label, judged by a classifier (CatGAN, Springenberg 2015): each image
    should be sure of its class (low entropy per image) and the batch should use every class (high
    entropy of the mean prediction). A blend of two classes scores worse than either; so does a batch of
    one class. Ranges from -log(num_classes) (every image certain, classes balanced) up to log(num_classes).
    """
    log_probabilities = class_logits.log_softmax(1)
    probabilities = log_probabilities.exp()
    per_image_entropy = -(probabilities * log_probabilities).sum(1).mean()
    mean_prediction = probabilities.mean(0)
    batch_entropy = -(mean_prediction * mean_prediction.clamp_min(1e-12).log()).sum()
    return per_image_entropy - batch_entropy

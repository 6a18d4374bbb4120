"""Drawing new images: codes from the prior, then the decoder. Shared by training, evaluation and serving."""

from __future__ import annotations

from typing import NamedTuple

import torch

from models.base import Autoencoder
from models.priors import Prior


class Samples(NamedTuple):
    latents: torch.Tensor  # (n, latent_dim)
    labels: torch.Tensor | None  # (n,) the label of each sample, None for unconditional models
    images: torch.Tensor  # (n, C, H, W) in [0, 1]


def by_label(model: Autoencoder, density: Prior) -> bool:
    """Whether a label can choose what is drawn: through the decoder (conditional VAE, supervised AAE) or
    through the density's components (label-prior AAE, any model with a per-class ex-post density)."""
    return model.takes_labels_to_decode or density.num_labels > 0


def draw_codes(
    model: Autoencoder,
    prior: Prior,
    n: int,
    labels: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    temperature: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Codes (n, latent_dim) and labels (n,) or None to decode into n new images, on the CPU.

    A label reaches the image through the decoder, the prior's component, or both (see `by_label`). A
    model that samples by label, asked for no label, draws uniform labels.
    Random numbers come from `generator` on the CPU, so a seed gives the same images on any device.
    `temperature` pulls the codes toward their components' centres (`Prior.sample`).
    """
    if labels is not None and not by_label(model, prior):
        raise ValueError(
            f"this {model.kind} ({model.config.variant}) with a {prior.name} prior does not sample by label"
        )
    if labels is None and by_label(model, prior):
        labels = torch.randint(0, model.config.num_classes or prior.num_labels, (n,), generator=generator)
    labels = labels.cpu() if labels is not None else None
    return prior.sample(n, labels if prior.num_labels else None, generator, temperature), labels


@torch.no_grad()
def draw_samples(
    model: Autoencoder,
    prior: Prior,
    n: int,
    labels: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    temperature: float = 1.0,
) -> Samples:
    """Draw n images; `labels` (n,) chooses their classes where the model samples by label."""
    latents, labels = draw_codes(model, prior, n, labels, generator, temperature)
    device = next(model.parameters()).device
    logits = model.decode(latents.to(device), labels.to(device) if labels is not None else None)
    return Samples(latents, labels, model.images_from_logits(logits))

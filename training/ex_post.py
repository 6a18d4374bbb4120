"""Ex-post densities: Gaussian mixtures fitted to the codes of the training images (Ghosh et al., 2020,
"From Variational to Deterministic Autoencoders", section 4). The plain AE's prior is one mixture over all
codes; `fit_class_mixture` fits one per class, the label-conditioned sampler of the decoder fine-tuning."""

from __future__ import annotations

import logging

import torch
from sklearn.mixture import GaussianMixture

from models import Autoencoder, ClassMixtureDensity, GaussianMixtureDensity
from models.pixels import to_unit
from training.data import ImageData

log = logging.getLogger(__name__)


@torch.no_grad()
@torch.no_grad()
def encode_all(model: Autoencoder, data: ImageData) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Every image's code (a VAE's posterior mean; encoded with its label where the encoder takes one) and, for
    a categorical head, its y probabilities: on the model's device, in eval mode, 1,000 images at a time."""
    model.eval()
    device = next(model.parameters()).device
    latents, head_probabilities = [], []
    for start in range(0, len(data), 1000):
        images = to_unit(data.images[start : start + 1000].to(device))
        labels = data.labels[start : start + 1000].to(device) if model.takes_labels_to_encode else None
        encoding = model.encode(images, labels)
        latents.append(encoding.latents)
        if encoding.class_logits is not None:
            head_probabilities.append(torch.softmax(encoding.class_logits, dim=1))
    return torch.cat(latents), torch.cat(head_probabilities) if head_probabilities else None


def codes_of(model: Autoencoder, data: ImageData) -> torch.Tensor:
    """The codes (N, latent_dim) of `data`'s images, float64 on the CPU (what the densities are fitted to)."""
    return encode_all(model, data)[0].cpu().double()


def fit_ex_post_density(
    model: Autoencoder, data: ImageData, *, components: int = 10, seed: int = 0
) -> GaussianMixtureDensity:
    return GaussianMixtureDensity(*_fit(codes_of(model, data), components, seed))


def fit_class_mixture(
    model: Autoencoder, data: ImageData, *, components: int = 3, seed: int = 0
) -> ClassMixtureDensity:
    """`components` full-covariance Gaussians per class, each fitted to that class's training codes."""
    codes = codes_of(model, data)
    fitted = []
    for label in range(len(data.class_names)):
        chosen = codes[data.labels == label]
        if len(chosen) < 2 * components:  # e.g. a cluster hardly used: its draws come from every code's density
            log.warning("class %d has %d codes: fitting its %d components to all codes", label, len(chosen), components)
            chosen = codes
        fitted.append(_fit(chosen, components, seed))
    weights, means, covariances = (torch.stack(parts) for parts in zip(*fitted, strict=True))
    return ClassMixtureDensity(weights, means, covariances)


def _fit(codes: torch.Tensor, components: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    mixture = GaussianMixture(components, covariance_type="full", reg_covar=1e-5, random_state=seed).fit(codes.numpy())
    return torch.from_numpy(mixture.weights_), torch.from_numpy(mixture.means_), torch.from_numpy(mixture.covariances_)

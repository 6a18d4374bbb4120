"""The plain AE's ex-post density: a Gaussian mixture fitted to the codes of the training images
(Ghosh et al., 2020, "From Variational to Deterministic Autoencoders", section 4)."""

from __future__ import annotations

import torch
from sklearn.mixture import GaussianMixture

from models import Autoencoder, GaussianMixtureDensity
from training.data import ImageData


@torch.no_grad()
def fit_ex_post_density(
    model: Autoencoder, data: ImageData, *, components: int = 10, seed: int = 0
) -> GaussianMixtureDensity:
    model.eval()
    device = next(model.parameters()).device
    codes = torch.cat(
        [
            model.encode(data.images[start : start + 1000].to(device).float() / 255).latents.cpu()
            for start in range(0, len(data), 1000)
        ]
    ).double()
    mixture = GaussianMixture(components, covariance_type="full", reg_covar=1e-5, random_state=seed).fit(codes.numpy())
    return GaussianMixtureDensity(
        torch.from_numpy(mixture.weights_), torch.from_numpy(mixture.means_), torch.from_numpy(mixture.covariances_)
    )

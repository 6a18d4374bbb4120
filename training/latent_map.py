"""A 2-D model's latent map: the test images' codes and draws from its prior, stored in the checkpoint.

The service hands it out (`GET /models/NAME/latent-map`) so the explorer page can plot the codes by
class over the prior and decode any point a user clicks; it is computed here, where the test set is.
"""

from __future__ import annotations

import torch

from models import Autoencoder, LatentMap, Prior
from training.data import ImageData
from training.ex_post import codes_of

PRIOR_DRAWS = 2000


@torch.no_grad()
def compute_latent_map(model: Autoencoder, prior: Prior, test: ImageData, *, seed: int = 0) -> LatentMap | None:
    """The map of a model with 2-D codes; None for wider codes, which a flat map would not show as they are."""
    if model.config.latent_dim != 2:
        return None
    codes = codes_of(model, test)
    generator = torch.Generator().manual_seed(seed)
    prior_labels = torch.arange(PRIOR_DRAWS) % prior.num_labels if prior.num_labels else None
    prior_codes = prior.sample(PRIOR_DRAWS, prior_labels, generator)
    return LatentMap(codes.float(), test.labels.long(), prior_codes.float(), prior_labels)

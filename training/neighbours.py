"""Each training image's nearest neighbours in pixel space: the unlabelled images' only hint of which belong
together, used by the categorical AAEs' neighbour phase (`training.steps.NeighbourStep`; SCAN, Van Gansbeke
et al. 2020, with pixels in place of a self-supervised feature space)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from models.pixels import to_unit
from training.data import ImageData

COMPONENTS = 50  # principal components kept: neighbours as label-consistent as in all 784 pixels, at half the cost
CHUNK = 2048


@torch.no_grad()
def nearest_neighbours(data: ImageData, k: int) -> torch.Tensor:
    """(N, k) indices into `data` of each image's `k` nearest other images: cosine similarity of the centred
    images' leading principal components."""
    pixels = to_unit(data.images.flatten(1))
    centred = pixels - pixels.mean(0)
    with torch.random.fork_rng():  # pca_lowrank's random projection, seeded here, leaves training's draws alone
        torch.manual_seed(0)
        _, _, directions = torch.pca_lowrank(centred, q=min(COMPONENTS + 10, *centred.shape), center=False)
    features = F.normalize(centred @ directions[:, :COMPONENTS], dim=1)
    found = []
    for start in range(0, len(features), CHUNK):
        similarity = features[start : start + CHUNK] @ features.T
        rows = torch.arange(len(similarity))
        similarity[rows, rows + start] = -2.0  # not its own neighbour
        found.append(similarity.topk(k, dim=1).indices)
    return torch.cat(found)

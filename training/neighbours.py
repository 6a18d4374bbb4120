"""Each training image's nearest neighbours by the shape of its edges: the unlabelled images' only hint of which
belong together, used by the categorical AAEs' neighbour phase (`training.steps.NeighbourStep`; SCAN, Van
Gansbeke et al. 2020, with histograms of oriented gradients in place of a self-supervised feature space).

Why HOG (Dalal & Triggs 2005; scikit-image's) and not the pixels: among Fashion-MNIST's training images only a
little more of each image's 20 nearest share its class (83 % against 80 % by the pixels' principal components),
but the clustering AAE trained on them maps to the classes far better (30 clusters, seeds 0 / 1: 0.775 / 0.743
against 0.695 / 0.722; docs/findings.md).
"""

from __future__ import annotations

import numpy as np
import torch
from joblib import Parallel, cpu_count, delayed
from skimage.feature import hog
from torch.nn import functional as F

from models.pixels import to_unit
from training.data import ImageData

COMPONENTS = 50  # principal components kept: neighbours as label-consistent as all 1,296 HOG features, 5x faster
CELLS = 7  # HOG cells across an image (4x4 pixels at 28x28), 2x2 cells per normalised block
CHUNK = 2048


@torch.no_grad()
def nearest_neighbours(data: ImageData, k: int) -> torch.Tensor:
    """(N, k) indices into `data` of each image's `k` nearest other images: cosine similarity of the leading
    principal components of the images' centred HOG features."""
    features = edge_features(data)
    centred = features - features.mean(0)
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


def edge_features(data: ImageData) -> torch.Tensor:
    """(N, F) histograms of oriented gradients of each image (9 orientations; cells of about a seventh of the
    image's side), computed in parallel on every core: scikit-image takes one image at a time, in Python."""
    _, height, width = data.image_shape
    cell = (max(1, height // CELLS), max(1, width // CELLS))
    workers = min(cpu_count(), -(-len(data) // 4096))  # a small set: no worker processes to start
    chunks = np.array_split(to_unit(data.images).numpy(), workers)
    features = Parallel(n_jobs=workers)(delayed(_hog)(each, cell) for each in chunks)
    return torch.from_numpy(np.concatenate(features)).float()


def _hog(images: np.ndarray, cell: tuple[int, int]) -> np.ndarray:
    return np.stack([hog(image, orientations=9, pixels_per_cell=cell, cells_per_block=(2, 2), channel_axis=0)
                     for image in images])  # fmt: skip

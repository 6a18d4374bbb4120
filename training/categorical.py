"""How well a categorical head classifies or clusters, and the baselines it is measured against.

- Semi-supervised: the error of y's argmax on the evaluation split.
- Clustering (the paper's protocol, Makhzani et al. 2015 §6): each cluster is mapped to the majority class
  of the training images it holds, then scored like a classifier; beside it the normalised mutual
  information between clusters and classes, which needs no mapping.
- k-means (scikit-learn) with as many clusters, on pixels or on a plain autoencoder's codes, scored the same.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score

from models import Autoencoder
from models.pixels import to_unit
from training.data import ImageData

BATCH = 1000


@torch.no_grad()
def class_probabilities(model: Autoencoder, data: ImageData) -> torch.Tensor:
    """y's softmax (N, num_classes) for `data`'s images, on the CPU."""
    model.eval()
    device = next(model.parameters()).device
    chunks = []
    for start in range(0, len(data), BATCH):
        logits = model.encode(to_unit(data.images[start : start + BATCH].to(device))).class_logits
        assert logits is not None, f"this {model.kind} ({model.config.variant}) has no categorical head"
        chunks.append(torch.softmax(logits, dim=1).cpu())
    return torch.cat(chunks)


def labelled_by_head(model: Autoencoder, data: ImageData, class_names: list[str]) -> ImageData:
    """`data` with every hidden label (-1) replaced by y's argmax, under the model's own label names: what a
    categorical model's second stage learns from, so that it sees no label its training did not (a clustering
    model's labels are then all its clusters)."""
    predicted = class_probabilities(model, data).argmax(1)
    return ImageData(data.images, torch.where(data.labels >= 0, data.labels, predicted), class_names)


def classification_figures(model: Autoencoder, data: ImageData) -> dict[str, Any]:
    """Accuracy and error of y's argmax as the class, overall and per class."""
    predicted = class_probabilities(model, data).argmax(1)
    correct = (predicted == data.labels).float()
    per_class = [float(correct[data.labels == label].mean()) for label in range(len(data.class_names))]
    accuracy = float(correct.mean())
    return {"accuracy": accuracy, "error": 1 - accuracy, "accuracy_per_class": per_class}


def cluster_figures(model: Autoencoder, train: ImageData, data: ImageData) -> dict[str, Any]:
    """Clusters of `data` by y's argmax, mapped to classes by the training images (see `mapped_figures`)."""
    clusters = model.config.num_classes
    train_clusters = class_probabilities(model, train).argmax(1).numpy()
    data_clusters = class_probabilities(model, data).argmax(1).numpy()
    return mapped_figures(train_clusters, train, data_clusters, data, clusters)


def kmeans_figures(
    train_features: np.ndarray, train: ImageData, features: np.ndarray, data: ImageData, clusters: int, seed: int = 0
) -> dict[str, Any]:
    """k-means with `clusters` centres fitted to `train_features`, scored on `features` like a cluster head."""
    kmeans = KMeans(n_clusters=clusters, n_init=3, random_state=seed).fit(train_features)
    return mapped_figures(kmeans.labels_, train, kmeans.predict(features), data, clusters)


def mapped_figures(
    train_clusters: np.ndarray, train: ImageData, data_clusters: np.ndarray, data: ImageData, clusters: int
) -> dict[str, Any]:
    """Accuracy once each cluster stands for the majority class of its training images (an empty cluster for
    the most common class), the NMI of clusters and classes on `data`, the mapping and how many clusters hold
    any training image."""
    train_labels = train.labels.numpy()
    counts = np.zeros((clusters, len(train.class_names)), dtype=np.int64)
    np.add.at(counts, (train_clusters, train_labels), 1)
    fallback = np.bincount(train_labels, minlength=len(train.class_names)).argmax()
    majority = np.where(counts.sum(1) > 0, counts.argmax(1), fallback)
    labels = data.labels.numpy()
    return {
        "clusters": clusters,
        "accuracy": float((majority[data_clusters] == labels).mean()),
        "nmi": float(normalized_mutual_info_score(labels, data_clusters)),
        "majority_class": [train.class_names[index] for index in majority],
        "clusters_used": int((counts.sum(1) > 0).sum()),
    }


def pixels(data: ImageData) -> np.ndarray:
    """Images as flat float vectors in [0, 1], the features of k-means on pixels."""
    return to_unit(data.images.flatten(1)).numpy()

"""Evaluation: reconstruction error, the VAE's ELBO, and how real the samples look to classifiers.

No Inception weights can be fetched here, so classifiers trained on the same data play Inception's part:
their penultimate features define the Fréchet distance and precision/recall, and their predictions say
whether a sample drawn for class k is recognised as class k. There are two "judges", of different
architectures, seeds and data orders (`models.classifier`), and every figure is computed in both feature
spaces: a setting chosen by one judge's figures can be checked against the other's. Neither is ever a
training signal. The noise reference (uniform-noise images) puts the distance on a scale that means
something across data sets.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
from collections import OrderedDict
from typing import Any

import numpy as np
import prdc
import scipy.linalg
import torch
from torch.nn import functional as F

from models import VAE, Autoencoder, Classifier, Prior, by_label, draw_samples
from models.losses import kl_to_standard_normal
from models.pixels import to_unit
from training.data import ImageData

log = logging.getLogger(__name__)
BATCH = 500
PRDC_K = 5  # Naeem et al.'s choice; with 5,000 real and 5,000 generated images
# what a judge made of the reference images (the real ones, the noise), by the digest of its weights and theirs:
# the same for every model evaluated against them, and `defaults` evaluates ten (four of a model's six judge
# passes were these); a few entries, each a feature matrix
_REFERENCES: OrderedDict[bytes, tuple[np.ndarray, torch.Tensor]] = OrderedDict()
_REFERENCES_KEPT = 8


def classifier_accuracy(classifier: Classifier, data: ImageData) -> float:
    return float((judged(classifier, to_unit(data.images))[1] == data.labels).float().mean())


@torch.no_grad()
def judged(classifier: Classifier, images: torch.Tensor) -> tuple[np.ndarray, torch.Tensor]:
    """Penultimate-layer features (N, feature_dim) of float images in [0, 1], and the class (N,) the
    classifier sees in them: one pass, since the class is the head's reading of those very features."""
    device = _device(classifier)
    feature_chunks, class_chunks = [], []
    for start in range(0, len(images), BATCH):
        chunk = classifier.features(images[start : start + BATCH].to(device))
        feature_chunks.append(chunk.cpu())
        class_chunks.append(classifier.head(chunk).argmax(1).cpu())
    return torch.cat(feature_chunks).double().numpy(), torch.cat(class_chunks)


def judged_reference(classifier: Classifier, images: torch.Tensor) -> tuple[np.ndarray, torch.Tensor]:
    """`judged`, remembered for images every model is compared with: computed once for the same weights and
    images (a digest of both, so a judge trained further or other images are judged afresh)."""
    digest = hashlib.blake2b(digest_size=32)
    for tensor in [*classifier.state_dict().values(), images]:
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    key = digest.digest()
    if key not in _REFERENCES:
        _REFERENCES[key] = judged(classifier, images)
        if len(_REFERENCES) > _REFERENCES_KEPT:
            _REFERENCES.popitem(last=False)
    _REFERENCES.move_to_end(key)
    return _REFERENCES[key]


def features(classifier: Classifier, images: torch.Tensor) -> np.ndarray:
    """Penultimate-layer features (N, feature_dim) of float images in [0, 1]."""
    return judged(classifier, images)[0]


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(C_a + C_b - 2 (C_a C_b)^(1/2)), as in FID."""
    mean_a, mean_b = features_a.mean(0), features_b.mean(0)
    # ReLU features leave some dimensions dead; a tiny ridge keeps the matrix root well defined (as pytorch-fid does)
    ridge = 1e-6 * np.eye(features_a.shape[1])
    cov_a, cov_b = np.cov(features_a, rowvar=False) + ridge, np.cov(features_b, rowvar=False) + ridge
    root = scipy.linalg.sqrtm(cov_a @ cov_b)
    root = root.real if np.iscomplexobj(root) else root
    return float(((mean_a - mean_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


@torch.no_grad()
def evaluate(
    model: Autoencoder,
    density: Prior,
    data: ImageData,
    judges: dict[str, Classifier],
    *,
    split: str,
    num_samples: int = 5000,
    seed: int = 0,
    judge_labels: bool = True,
) -> dict[str, Any]:
    """Every figure the checkpoint stores under "evaluation", on `data` (the test split, or the validation
    split while settings are chosen): reconstruction, and for samples drawn from `density` the figures of
    `sample_figures` in each judge's feature space. `judge_labels=False` for a model whose labels are not the
    data's classes (a clustering model's clusters): its samples are then judged without their labels."""
    model.eval()
    device = _device(model)
    squared_error = bce = negative_elbo = 0.0
    elbo_noise = torch.Generator().manual_seed(seed)  # the same checkpoint and data give the same figures
    for start in range(0, len(data), BATCH):
        images = to_unit(data.images[start : start + BATCH].to(device))
        labels = data.labels[start : start + BATCH].to(device)
        logits = model.reconstruct(images, labels)  # through the code: a VAE's posterior mean
        squared_error += float(((torch.sigmoid(logits) - images) ** 2).flatten(1).mean(1).sum())
        per_image_bce = F.binary_cross_entropy_with_logits(logits, images, reduction="none").flatten(1).sum(1)
        bce += float(per_image_bce.sum())
        if isinstance(model, VAE):  # one-sample estimate of -ELBO = E_q[-log p(x|z)] + KL(q || p)
            encoding = model.encode(images, labels if model.takes_labels_to_encode else None)
            assert encoding.log_variances is not None
            latents = VAE.reparameterize(encoding.latents, encoding.log_variances, elbo_noise)
            sampled_logits = model.decode(latents, labels if model.takes_labels_to_decode else None)
            reconstruction = F.binary_cross_entropy_with_logits(sampled_logits, images, reduction="none")
            kl = kl_to_standard_normal(encoding.latents, encoding.log_variances)
            negative_elbo += float((reconstruction.flatten(1).sum(1) + kl).sum())
    figures: dict[str, Any] = {
        "split": split,
        "reconstruction_mse": squared_error / len(data),
        "reconstruction_bce_nats": bce / len(data),
    }
    if isinstance(model, VAE):
        figures["negative_elbo_nats"] = negative_elbo / len(data)

    generator = torch.Generator().manual_seed(seed)
    num_samples = min(num_samples, len(data))  # as many samples as real images to compare them with
    num_labels = model.config.num_classes or density.num_labels
    requested = torch.arange(num_samples) % num_labels if by_label(model, density) else None
    samples = draw_samples(model, density, num_samples, requested, generator).images.cpu()
    requested = requested if judge_labels else None
    figures |= {"sampled_from": density.name, "samples": num_samples, "prdc_k": PRDC_K}
    real = data.subset(num_samples)
    # the same noise reference for every judge, and for every model: its own generator
    noise = torch.rand(real.images.shape, generator=torch.Generator().manual_seed(seed))
    figures["spaces"] = {name: sample_figures(samples, requested, real, judge, noise) for name, judge in judges.items()}
    return figures


def sample_figures(
    images: torch.Tensor,
    labels: torch.Tensor | None,
    real: ImageData,
    judge: Classifier,
    noise: torch.Tensor,
) -> dict[str, Any]:
    """How `images` (float, [0, 1]) compare with the `real` images in `judge`'s feature space: the Fréchet
    distance and its ratio to that of the `noise` images, precision/recall/density/coverage; and for images drawn
    for `labels`, the share the judge assigns to their label, overall, per class and as a confusion matrix
    (rows: the label asked for; columns: the class the judge sees), beside its accuracy on the real images."""
    (real_features, real_predicted), (image_features, predicted) = (
        judged_reference(judge, to_unit(real.images)),
        judged(judge, images),
    )
    figures: dict[str, Any] = frechet_figures(image_features, real_features, judged_reference(judge, noise)[0])
    figures |= precision_recall(real_features, image_features)
    if labels is not None:
        classes = len(real.class_names)
        confusion = torch.zeros(classes, classes, dtype=torch.int64)
        confusion.index_put_((labels, predicted), torch.ones_like(labels), accumulate=True)
        real_accuracy = float((real_predicted == real.labels).float().mean())
        figures |= {
            "label_accuracy": float((predicted == labels).float().mean()),
            "real_accuracy": real_accuracy,
            "label_accuracy_ratio": float((predicted == labels).float().mean()) / real_accuracy,
            "label_accuracy_per_class": (confusion.diagonal() / confusion.sum(1).clamp_min(1)).tolist(),
            "confusion": confusion.tolist(),
        }
    return figures


def frechet_figures(
    image_features: np.ndarray, real_features: np.ndarray, noise_features: np.ndarray
) -> dict[str, float]:
    """Fréchet distance of images to real ones, that of uniform noise, and their ratio: 0 for the real
    images' own statistics, 1 for noise."""
    distance = frechet_distance(image_features, real_features)
    noise_distance = frechet_distance(noise_features, real_features)
    return {
        "frechet_distance": distance,
        "frechet_distance_noise": noise_distance,
        "frechet_ratio_to_noise": distance / noise_distance,
    }


def precision_recall(real_features: np.ndarray, image_features: np.ndarray) -> dict[str, float]:
    """Precision, recall, density and coverage (Naeem et al. 2020, the `prdc` package) with k = PRDC_K
    nearest neighbours: precision, the share of images inside the real images' k-NN balls; recall, the
    share of real images inside the images' balls; density, precision counted with multiplicity (about 1
    for real images); coverage, the share of real images whose ball holds an image."""
    with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the sample counts
        scores = prdc.compute_prdc(real_features, image_features, nearest_k=PRDC_K)
    return {name: float(value) for name, value in scores.items()}


def _device(module: torch.nn.Module) -> torch.device:
    return next(module.parameters()).device

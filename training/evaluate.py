"""Evaluation: reconstruction error, the VAE's ELBO, and how real the samples look to a classifier.

No Inception weights can be fetched here, so a small CNN trained on the same data plays Inception's
part: its penultimate features define the Fréchet distance, and its predictions say whether a sample
drawn for class k is recognised as class k. The noise reference (uniform-noise images) puts the
distance on a scale that means something across data sets.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.linalg
import torch
from torch.nn import functional as F
from tqdm import tqdm

from models import VAE, Autoencoder, Classifier, ClassifierConfig, Prior, draw_samples
from models.losses import kl_to_standard_normal
from training.data import ImageData

log = logging.getLogger(__name__)
BATCH = 500


def train_classifier(train: ImageData, *, epochs: int = 4, seed: int = 0, device: str = "cpu") -> Classifier:
    """The evaluation classifier: a small CNN, Adam, light shift augmentation against overfitting."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    classifier = Classifier(ClassifierConfig(image_shape=train.image_shape, num_classes=len(train.class_names)))
    classifier.to(device).train()
    optimiser = torch.optim.Adam(classifier.parameters(), lr=2e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=2e-3, total_steps=epochs * -(-len(train) // 128))
    for epoch in range(epochs):
        order = torch.randperm(len(train), generator=generator)
        for indices in tqdm(order.split(128), desc=f"classifier epoch {epoch + 1}/{epochs}", leave=False, disable=None):
            images = train.images[indices].to(device).float().div_(255)
            shift = [int(s) for s in torch.randint(-2, 3, (2,), generator=generator)]
            images = torch.roll(images, shifts=shift, dims=(2, 3))
            loss = F.cross_entropy(classifier(images), train.labels[indices].to(device))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
    return classifier.eval()


@torch.no_grad()
def classifier_accuracy(classifier: Classifier, data: ImageData) -> float:
    device = _device(classifier)
    correct = 0
    for start in range(0, len(data), BATCH):
        images = data.images[start : start + BATCH].to(device).float() / 255
        correct += int((classifier(images).argmax(1).cpu() == data.labels[start : start + BATCH]).sum())
    return correct / len(data)


@torch.no_grad()
def features(classifier: Classifier, images: torch.Tensor) -> np.ndarray:
    """Penultimate-layer features (N, feature_dim) of float images in [0, 1]."""
    device = _device(classifier)
    chunks = [
        classifier.features(images[start : start + BATCH].to(device)).cpu() for start in range(0, len(images), BATCH)
    ]
    return torch.cat(chunks).double().numpy()


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
    prior: Prior,
    test: ImageData,
    classifier: Classifier,
    *,
    num_samples: int = 5000,
    seed: int = 0,
) -> dict[str, float]:
    """Every figure the checkpoint stores under "evaluation"."""
    model.eval()
    device = _device(model)
    squared_error = bce = negative_elbo = 0.0
    for start in range(0, len(test), BATCH):
        images = test.images[start : start + BATCH].to(device).float() / 255
        labels = test.labels[start : start + BATCH].to(device)
        encoding = model.encode(images, labels if model.takes_labels_to_encode else None)
        logits = model.decode(encoding.latents, labels if model.takes_labels_to_decode else None)
        squared_error += float(((torch.sigmoid(logits) - images) ** 2).flatten(1).mean(1).sum())
        per_image_bce = F.binary_cross_entropy_with_logits(logits, images, reduction="none").flatten(1).sum(1)
        bce += float(per_image_bce.sum())
        if isinstance(model, VAE):  # one-sample estimate of -ELBO = E_q[-log p(x|z)] + KL(q || p)
            assert encoding.log_variances is not None
            latents = VAE.reparameterize(encoding.latents, encoding.log_variances)
            sampled_logits = model.decode(latents, labels if model.takes_labels_to_decode else None)
            reconstruction = F.binary_cross_entropy_with_logits(sampled_logits, images, reduction="none")
            kl = kl_to_standard_normal(encoding.latents, encoding.log_variances)
            negative_elbo += float((reconstruction.flatten(1).sum(1) + kl).sum())
    figures = {"reconstruction_mse": squared_error / len(test), "reconstruction_bce_nats": bce / len(test)}
    if isinstance(model, VAE):
        figures["negative_elbo_nats"] = negative_elbo / len(test)

    generator = torch.Generator().manual_seed(seed)
    num_classes = len(test.class_names)
    requested = torch.arange(num_samples) % num_classes if model.samples_by_label else None
    samples = draw_samples(model, prior, num_samples, requested, generator).images.cpu()
    figures |= frechet_figures(samples, test.images[:num_samples].float() / 255, classifier, generator)
    if requested is not None:
        figures["label_accuracy"] = label_accuracy(samples, requested, classifier)
        figures["classifier_test_accuracy"] = classifier_accuracy(classifier, test)
        figures["label_accuracy_ratio"] = figures["label_accuracy"] / figures["classifier_test_accuracy"]
    return figures


def frechet_figures(
    images: torch.Tensor, real: torch.Tensor, classifier: Classifier, generator: torch.Generator
) -> dict[str, float]:
    """Fréchet distance of `images` to `real` (float, [0, 1]) in the classifier's feature space, that of
    uniform noise (as many images, from `generator`), and their ratio: 0 for the real images' own
    statistics, 1 for noise."""
    noise = torch.rand(real.shape, generator=generator)
    real_features = features(classifier, real)
    distance = frechet_distance(features(classifier, images), real_features)
    noise_distance = frechet_distance(features(classifier, noise), real_features)
    return {
        "frechet_distance": distance,
        "frechet_distance_noise": noise_distance,
        "frechet_ratio_to_noise": distance / noise_distance,
    }


@torch.no_grad()
def label_accuracy(images: torch.Tensor, labels: torch.Tensor, classifier: Classifier) -> float:
    """The share of `images` the classifier assigns to their `labels`."""
    device = _device(classifier)
    predicted = torch.cat(
        [classifier(images[s : s + BATCH].to(device)).argmax(1).cpu() for s in range(0, len(images), BATCH)]
    )
    return float((predicted == labels).float().mean())


def _device(module: torch.nn.Module) -> torch.device:
    return next(module.parameters()).device

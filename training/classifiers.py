"""Training an image classifier: the evaluation judges (`training.evaluate`) and the auxiliary critic that the
decoder fine-tuning learns from (`training.fine_tune`) are trained the same way, as separate networks with
their own seeds, so no judge is ever a training signal."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import torch
from torch.nn import functional as F
from tqdm import tqdm

import models
from models import Classifier, ClassifierConfig
from models.classifier import ClassifierArchitecture
from models.pixels import to_unit
from training.data import ImageData


def train_classifier(
    train: ImageData,
    *,
    architecture: ClassifierArchitecture = "strided",
    epochs: int = 4,
    seed: int = 0,
    device: str = "cpu",
) -> Classifier:
    """A classifier trained on `train`: AdamW with a one-cycle schedule; each image shifted by up to two
    pixels and mirrored at random (against overfitting); the seed sets the weights and the data order."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    config = ClassifierConfig(
        image_shape=train.image_shape, num_classes=len(train.class_names), architecture=architecture
    )
    classifier = Classifier(config).to(device).train()
    optimiser = torch.optim.AdamW(classifier.parameters(), lr=3e-3, weight_decay=5e-4)
    batches = -(-len(train) // 128)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=3e-3, total_steps=epochs * batches)
    for epoch in range(epochs):
        order = torch.randperm(len(train), generator=generator)
        for indices in tqdm(order.split(128), desc=f"classifier epoch {epoch + 1}/{epochs}", leave=False, disable=None):
            images = shift_and_mirror(to_unit(train.images[indices]), generator).to(device)
            loss = F.cross_entropy(classifier(images), train.labels[indices].to(device))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
    return classifier.eval()


def auxiliary_classifier(
    train: ImageData, *, epochs: int, seed: int, device: str = "cpu", kept_in: Path | None = None
) -> Classifier:
    """`train_classifier(train, epochs=epochs, seed=seed)`; with `kept_in`, trained once and kept in that folder
    under a name that is the digest of its images, labels and settings, and loaded from there by every later
    call with the same ones. Every preset of the default set fine-tunes against the same critic (same images,
    labels and seed), so only the first trains it; the file records the seconds that took, which the set's
    time budget counts once."""
    if kept_in is None:
        return train_classifier(train, epochs=epochs, seed=seed, device=device)
    digest = hashlib.sha256(json.dumps([train.class_names, epochs, seed]).encode())
    digest.update(train.images.numpy().tobytes())
    digest.update(train.labels.numpy().tobytes())
    path = kept_in / f"{digest.hexdigest()[:16]}.safetensors"
    if path.exists():
        kept = models.load(path, device)
        assert isinstance(kept.model, Classifier), f"{path} is not a classifier checkpoint"
        return kept.model
    started = time.perf_counter()
    classifier = train_classifier(train, epochs=epochs, seed=seed, device=device)
    training = {"epochs": epochs, "seed": seed, "train_images": len(train), "seconds": time.perf_counter() - started}
    kept_in.mkdir(parents=True, exist_ok=True)
    models.save(path, classifier, class_names=train.class_names, training=training)
    return classifier


def shift_and_mirror(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image shifted by -2..2 pixels both ways (zero fill) and mirrored left-right with probability 1/2."""
    n, _, height, width = images.shape
    padded = F.pad(images, (2, 2, 2, 2))
    rows = torch.randint(0, 5, (n,), generator=generator)[:, None] + torch.arange(height)  # (n, H)
    columns = torch.randint(0, 5, (n,), generator=generator)[:, None] + torch.arange(width)  # (n, W)
    mirrored = torch.rand(n, generator=generator) < 0.5
    columns = torch.where(mirrored[:, None], columns.flip(1), columns)
    index = torch.arange(n)[:, None, None]
    return padded[index, :, rows[:, :, None], columns[:, None, :]].permute(0, 3, 1, 2)


def rescale_brightness(
    images: torch.Tensor, generator: torch.Generator, low: float = 0.5, high: float = 1.5
) -> torch.Tensor:
    """Each image's intensities times its own factor drawn uniformly from [`low`, `high`], clipped to [0, 1]: the
    background stays black, the garment turns lighter or darker."""
    factors = low + (high - low) * torch.rand(len(images), 1, 1, 1, generator=generator)
    return (images * factors).clamp_(0, 1)

"""Training an image classifier: the evaluation judges (`training.evaluate`) and the auxiliary critic that the
decoder fine-tuning learns from (`training.fine_tune`) are trained the same way, as separate networks with
their own seeds, so no judge is ever a training signal."""

from __future__ import annotations

import torch
from torch.nn import functional as F
from tqdm import tqdm

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

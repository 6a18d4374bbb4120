"""The losses of the training phases, each a module whose forward takes a `Batch` and returns (loss, stats).

Written as modules so that `torch.nn.parallel.DistributedDataParallel` can wrap each phase under
torchrun: every backward then averages the gradients across ranks. In a single process they are
called directly. They hold no optimiser: `training.phases` says which modules each one updates, and
`training.loop` steps them.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from models import AAE, VAE, Autoencoder, Classifier, Prior, by_label, draw_codes
from models.losses import class_confidence_loss, discriminator_loss, generator_loss, reconstruction_loss, vae_loss
from models.nets import one_hot
from models.pixels import to_unit
from training.classifiers import rescale_brightness, shift_and_mirror
from training.data import ImageData

Stats = dict[str, torch.Tensor]


class Batch(NamedTuple):
    images: torch.Tensor  # (B, C, H, W) float in [0, 1], on the training device
    labels: torch.Tensor  # (B,) int64; -1 where an image's label is not used (semi-supervised, clustering)
    generator: torch.Generator  # CPU random numbers for prior draws: the same on any device
    indices: torch.Tensor | None = None  # (B,) the images' positions in the training data (the neighbour phase)


class ReconstructionStep(nn.Module):
    """Reconstruction (+ KL for a VAE), plus the auxiliary classifier's loss on prior draws.

    The auxiliary classifier judges images decoded from prior draws. For a model that samples by label,
    its cross-entropy against the requested label teaches the decoder to draw recognisable classes
    (AC-GAN style); for one that does not, `class_confidence_loss` teaches it to draw some class, not a
    blend of several, and every class as often. It is trained on real images only (`ClassifierStep`)
    and is never the evaluation classifier.
    """

    def __init__(self, model: Autoencoder, prior: Prior, auxiliary: Classifier | None, auxiliary_weight: float) -> None:
        super().__init__()
        self.model, self.prior, self.auxiliary, self.auxiliary_weight = model, prior, auxiliary, auxiliary_weight

    def forward(self, batch: Batch) -> tuple[torch.Tensor, Stats]:
        model, images, labels, generator, stats = self.model, batch.images, batch.labels, batch.generator, {}
        if isinstance(model, VAE):
            output = model(images, labels if model.takes_labels_to_encode else None)
            loss, stats["reconstruction"], stats["kl"] = vae_loss(
                output.logits, images, output.means, output.log_variances,
                reconstruction=model.config.reconstruction, beta=model.config.beta,
            )  # fmt: skip
        else:
            loss = stats["reconstruction"] = reconstruction_loss(model.reconstruct(images, labels), images)
        if self.auxiliary is not None:
            real_labels = auxiliary_labels(labels)
            drawn = real_labels if by_label(model, self.prior) else None  # the classes asked for, where a label can ask
            codes, _ = draw_codes(model, self.prior, len(real_labels), drawn, generator)
            drawn_logits = model.decode(codes.to(images.device), drawn if model.takes_labels_to_decode else None)
            judged = judge(self.auxiliary, torch.sigmoid(drawn_logits))
            stats["auxiliary"] = class_confidence_loss(judged) if drawn is None else F.cross_entropy(judged, drawn)
            loss = loss + self.auxiliary_weight * stats["auxiliary"]
        return loss, stats


def judge(auxiliary: Classifier, images: torch.Tensor) -> torch.Tensor:
    """The auxiliary classifier's logits for drawn images, judged as it judges real ones: in eval mode.

    In train mode its BatchNorm would normalise a batch of drawn images by their own statistics, hiding
    the very differences from real images (contrast, brightness) that the decoder should fix, and dropout
    would add noise (aae: FD/noise 0.090 judged in train mode, 0.073 in eval mode, in runs side by side).
    Gradients still flow to the decoder; the classifier's own updates come from `ClassifierStep`.
    """
    auxiliary.eval()
    try:
        return auxiliary(images)
    finally:
        auxiliary.train()


def auxiliary_labels(labels: torch.Tensor) -> torch.Tensor:
    """Half a batch of draws teaches the decoder as well as a whole one, at half the cost."""
    return labels[: len(labels) // 2 or 1]


class ClassifierStep(nn.Module):
    """The auxiliary classifier learns from real images only."""

    def __init__(self, auxiliary: Classifier) -> None:
        super().__init__()
        self.auxiliary = auxiliary

    def forward(self, batch: Batch) -> tuple[torch.Tensor, Stats]:
        labels = auxiliary_labels(batch.labels)
        return F.cross_entropy(self.auxiliary(batch.images[: len(labels)]), labels), {}


class DiscriminatorStep(nn.Module):
    """The discriminator learns prior draws = real, codes = fake (one pass over both).

    For a label-prior AAE it also sees each code's label slot: the class, or "no label" for a random
    `unlabelled_fraction` of them, whose prior draws then come from a random component (the whole prior).
    """

    def __init__(self, model: AAE, prior: Prior, unlabelled_fraction: float) -> None:
        super().__init__()
        self.model, self.prior, self.unlabelled_fraction = model, prior, unlabelled_fraction

    def forward(self, batch: Batch) -> tuple[torch.Tensor, Stats]:
        images, labels, generator = batch.images, batch.labels, batch.generator
        slots = label_slots(self.model, labels, self.unlabelled_fraction, generator)
        prior_labels = None
        if slots is not None:
            random_labels = torch.randint(0, self.prior.num_labels, slots.shape, generator=generator)
            prior_labels = torch.where(slots.cpu() < 0, random_labels, slots.cpu())
        real_codes = self.prior.sample(len(labels), prior_labels, generator).to(images.device)
        with torch.no_grad():
            codes = self.model.encode(images, labels).latents  # the encoder uses the labels only if it takes them
        both_slots = torch.cat([slots, slots]) if slots is not None else None
        real_logits, fake_logits = self.model.discriminate(torch.cat([real_codes, codes]), both_slots).chunk(2)
        loss = discriminator_loss(real_logits, fake_logits)
        return loss, {"discriminator": loss, "discriminator_accuracy": _accuracy(real_logits, fake_logits)}


class GeneratorStep(nn.Module):
    """The encoder learns to make the discriminator call its codes real."""

    def __init__(self, model: AAE, unlabelled_fraction: float) -> None:
        super().__init__()
        self.model, self.unlabelled_fraction = model, unlabelled_fraction

    def forward(self, batch: Batch) -> tuple[torch.Tensor, Stats]:
        images, labels, generator = batch.images, batch.labels, batch.generator
        slots = label_slots(self.model, labels, self.unlabelled_fraction, generator)
        loss = generator_loss(self.model.discriminate(self.model.encode(images, labels).latents, slots))
        return loss, {"generator": loss}


def label_slots(
    model: AAE, labels: torch.Tensor, unlabelled_fraction: float, generator: torch.Generator
) -> torch.Tensor | None:
    """The label slot the discriminator sees per code (label-prior AAEs): the class, or -1 ("no label") for a
    random share."""
    if model.config.variant != "label-prior":
        return None
    hidden = torch.rand(len(labels), generator=generator).to(labels.device) < unlabelled_fraction
    return torch.where(hidden, torch.full_like(labels, -1), labels)


class CategoryDiscriminatorStep(nn.Module):
    """The second discriminator learns one-hot draws of a uniform categorical = real, y's softmax = fake."""

    def __init__(self, model: AAE) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: Batch) -> tuple[torch.Tensor, Stats]:
        images, generator = batch.images, batch.generator
        classes = self.model.config.num_classes
        drawn = one_hot(torch.randint(0, classes, (len(images),), generator=generator), classes).to(images.device)
        with torch.no_grad():
            probabilities = class_probabilities(self.model, images)
        real_logits, fake_logits = self.model.discriminate_categories(torch.cat([drawn, probabilities])).chunk(2)
        loss = discriminator_loss(real_logits, fake_logits)
        return loss, {"category_discriminator": loss, "category_accuracy": _accuracy(real_logits, fake_logits)}


class CategoryGeneratorStep(nn.Module):
    """The encoder learns to make y's softmax pass for a one-hot draw: confident, and every class as often.

    A discriminator that sees one y at a time says little about how often each class comes up, and without
    labels the head drifts onto a few clusters (14 of 30 in 6 epochs). `balance` adds that signal directly:
    the KL divergence of the batch's mean y from the uniform distribution (log K minus its entropy; CatGAN's and
    IMSAT's marginal term)."""

    def __init__(self, model: AAE, balance: float = 0.0) -> None:
        super().__init__()
        self.model, self.balance = model, balance

    def forward(self, batch: Batch) -> tuple[torch.Tensor, Stats]:
        probabilities = class_probabilities(self.model, batch.images)
        loss = generator_loss(self.model.discriminate_categories(probabilities))
        stats = {"category_generator": loss}
        if self.balance:
            stats["imbalance"] = imbalance(probabilities)
            loss = loss + self.balance * stats["imbalance"]
        return loss, stats


class LabelledStep(nn.Module):
    """The semi-supervised phase: cross-entropy of the categorical head on a mini-batch of the labelled images.

    The labelled pool is small (100 or 1,000 images), so each image is shifted and mirrored at random, as
    the supervised-only baseline's are (`training.classifiers.shift_and_mirror`)."""

    def __init__(self, model: AAE, labelled: ImageData, batch_size: int) -> None:
        super().__init__()
        self.model, self.labelled, self.batch_size = model, labelled, min(batch_size, len(labelled))

    def forward(self, batch: Batch) -> tuple[torch.Tensor, Stats]:
        chosen = torch.randperm(len(self.labelled), generator=batch.generator)[: self.batch_size]
        images = shift_and_mirror(to_unit(self.labelled.images[chosen]), batch.generator)
        logits = self.model.encode(images.to(batch.images.device)).class_logits
        assert logits is not None, "the labelled phase needs a categorical head"
        loss = F.cross_entropy(logits, self.labelled.labels[chosen].to(logits.device))
        return loss, {"labelled": loss}


class NeighbourStep(nn.Module):
    """y agrees between an image and one of its nearest neighbours by HOG features (`training.neighbours`), both
    shifted, mirrored and made lighter or darker at random: the loss is minus the log of the chance that both fall
    in the same class (SCAN's consistency term, Van Gansbeke et al. 2020). It needs no label, and pulls the classes
    along the images' neighbourhoods rather than across them; its own balance term (as the category generator's)
    keeps it from putting everything in one class."""

    def __init__(self, model: AAE, data: ImageData, neighbours: torch.Tensor, balance: float) -> None:
        super().__init__()
        self.model, self.data, self.neighbours, self.balance = model, data, neighbours, balance

    def forward(self, batch: Batch) -> tuple[torch.Tensor, Stats]:
        assert batch.indices is not None, "the neighbour phase needs the images' positions in the training data"
        anchors = batch.indices.cpu()  # the batch's own images, taken from the host copy as the partners are
        partners = self.neighbours[anchors, torch.randint(0, self.neighbours.shape[1], (len(anchors),),
                                                          generator=batch.generator)]  # fmt: skip
        both = shift_and_mirror(to_unit(self.data.images[torch.cat([anchors, partners])]), batch.generator)
        # and each a little lighter or darker: a garment's class does not depend on how dark its cloth is, and y
        # learns so (the clusters map to the classes better on validation; docs/findings.md)
        both = rescale_brightness(both, batch.generator)
        probabilities = class_probabilities(self.model, both.to(batch.images.device))
        anchors, others = probabilities.chunk(2)
        stats = {"neighbours": -torch.log((anchors * others).sum(1).clamp_min(1e-7)).mean()}
        stats["neighbour_imbalance"] = imbalance(probabilities)
        return stats["neighbours"] + self.balance * stats["neighbour_imbalance"], stats


def imbalance(probabilities: torch.Tensor) -> torch.Tensor:
    """The KL divergence of the batch's mean y from the uniform distribution: 0 when every class is as likely."""
    marginal = probabilities.mean(0)
    return (marginal * torch.log(marginal * len(marginal) + 1e-8)).sum()


def class_probabilities(model: Autoencoder, images: torch.Tensor) -> torch.Tensor:
    logits = model.encode(images).class_logits
    assert logits is not None, "a categorical head gives class logits"
    return torch.softmax(logits, dim=1)


def _accuracy(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return ((real_logits > 0).float().mean() + (fake_logits < 0).float().mean()) / 2

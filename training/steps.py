"""The phases of one training step, each as a module whose forward returns its loss.

Written as modules so that `torch.nn.parallel.DistributedDataParallel` can wrap each phase under
torchrun: every backward then averages the gradients across ranks. In a single process they are
called directly. They hold no optimiser; `training.loop` steps the optimisers.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from models import AAE, VAE, Autoencoder, Classifier, Prior, by_label, draw_codes
from models.losses import class_confidence_loss, discriminator_loss, generator_loss, reconstruction_loss, vae_loss

Stats = dict[str, torch.Tensor]


class ReconstructionStep(nn.Module):
    """Phase 1: reconstruction (+ KL for a VAE), plus the auxiliary classifier's loss on prior draws.

    The auxiliary classifier judges images decoded from prior draws. For a model that samples by label,
    its cross-entropy against the requested label teaches the decoder to draw recognisable classes
    (AC-GAN style); for one that does not, `class_confidence_loss` teaches it to draw some class, not a
    blend of several, and every class as often. It is trained on real images only (`ClassifierStep`)
    and is never the evaluation classifier.
    """

    def __init__(self, model: Autoencoder, prior: Prior, auxiliary: Classifier | None, auxiliary_weight: float) -> None:
        super().__init__()
        self.model, self.prior, self.auxiliary, self.auxiliary_weight = model, prior, auxiliary, auxiliary_weight

    def forward(
        self, images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, Stats]:
        model, stats = self.model, {}
        decoder_labels = labels if model.takes_labels_to_decode else None
        if isinstance(model, VAE):
            output = model(images, labels if model.takes_labels_to_encode else None)
            loss, stats["reconstruction"], stats["kl"] = vae_loss(
                output.logits, images, output.means, output.log_variances,
                reconstruction=model.config.reconstruction, beta=model.config.beta,
            )  # fmt: skip
        else:
            logits = model.decode(model.encode(images, labels).latents, decoder_labels)  # labels used if needed
            loss = stats["reconstruction"] = reconstruction_loss(logits, images)
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

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.auxiliary(images), labels)


class DiscriminatorStep(nn.Module):
    """Phase 2a: the discriminator learns prior draws = real, codes = fake (one pass over both)."""

    def __init__(self, model: AAE) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, real_codes: torch.Tensor, codes: torch.Tensor, slots: torch.Tensor | None
    ) -> tuple[torch.Tensor, Stats]:
        both_slots = torch.cat([slots, slots]) if slots is not None else None
        logits = self.model.discriminate(torch.cat([real_codes, codes]), both_slots)
        real_logits, fake_logits = logits.chunk(2)
        accuracy = ((real_logits > 0).float().mean() + (fake_logits < 0).float().mean()) / 2
        loss = discriminator_loss(real_logits, fake_logits)
        return loss, {"discriminator": loss, "discriminator_accuracy": accuracy}


class GeneratorStep(nn.Module):
    """Phase 2b: the encoder learns to make the discriminator call its codes real."""

    def __init__(self, model: AAE) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor, labels: torch.Tensor, slots: torch.Tensor | None) -> torch.Tensor:
        return generator_loss(self.model.discriminate(self.model.encode(images, labels).latents, slots))

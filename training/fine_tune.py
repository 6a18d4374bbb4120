"""The second stage: the decoder learns to draw, from a per-class ex-post density, images a classifier
recognises as the class asked for, without forgetting how to reconstruct.

After the family's own training, the encoder is frozen and one Gaussian mixture per class is fitted to the
training codes (`training.ex_post.fit_class_mixture`). The decoder is then fine-tuned on reconstruction
plus an auxiliary classifier's cross-entropy on images decoded from draws of those mixtures (AC-GAN's
auxiliary loss, Odena et al. 2017, with Ghosh et al. 2020's ex-post density as the sampler). The auxiliary
classifier is trained first, on real training images only, and is never an evaluation judge. Where the
config asks for it, an image-space adversary trains beside the decoder: a discriminator learns real training
images from draws, and the decoder matches the real images' mean features in it. The fitted mixture becomes
the checkpoint's sampler; the family's prior stays beside it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from models import Autoencoder, Classifier, Prior
from models.losses import reconstruction_loss
from models.nets import ImageDiscriminator
from training.classifiers import auxiliary_classifier
from training.config import FineTuneConfig
from training.data import ImageData
from training.ex_post import encode_all
from training.loop import run_phases
from training.phases import Phase
from training.steps import Batch, auxiliary_labels

log = logging.getLogger(__name__)


def fine_tune_decoder(
    model: Autoencoder,
    density: Prior,
    data: ImageData,
    config: FineTuneConfig,
    *,
    device: torch.device | str = "cpu",
    auxiliary_kept_in: Path | None = None,
) -> list[dict[str, Any]]:
    """Fine-tune `model.decoder` in place (the encoder stays as it is); one stats dict per epoch. With
    `auxiliary_kept_in`, the auxiliary classifier is kept in that folder and reused by runs on the same images
    and labels (`training.classifiers.auxiliary_classifier`); without, it is trained afresh."""
    if not config.epochs:  # the fitted density alone
        return []
    auxiliary = auxiliary_classifier(
        data, epochs=config.auxiliary_epochs, seed=config.seed + 7919, device=str(device), kept_in=auxiliary_kept_in
    )
    auxiliary.requires_grad_(False)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)  # the batches' order and the density's draws
    # the encoder stays frozen in eval mode, so every image's code is the same in every epoch: computed once
    decoder = DecoderStep(model, density, auxiliary, config, *encode_all(model.to(device), data))
    model.decoder.train()
    phases = [Phase("decoder", decoder, (model.decoder,), config.learning_rate)]
    if config.adversary_weight:
        discriminator = ImageDiscriminator(image_shape=data.image_shape).to(device)
        decoder.discriminator = discriminator
        phases.append(
            Phase("image discriminator", ImageDiscriminatorStep(decoder), (discriminator,),
                  config.adversary_learning_rate, betas=(0.5, 0.999), decays=False)  # a constant rate, as tuned
        )  # fmt: skip
    history = run_phases(
        phases, data, lambda epoch: torch.randperm(len(data), generator=generator), len(data), epochs=config.epochs,
        batch_size=config.batch_size, generator=generator, device=device, name="fine-tune",
    )  # fmt: skip
    model.eval()
    history = [{key: round(value, 1 if "second" in key else 5) for key, value in stats.items()} for stats in history]
    for stats in history:
        log.info("fine-tune epoch %d: %s", stats["epoch"], stats)
    return history


class DecoderStep(nn.Module):
    """Reconstruction of the training images from their (frozen) codes, plus the auxiliary classifier's
    cross-entropy on images decoded from the density's draws, plus, with an image discriminator, the gap
    between the real images' and the draws' mean features in it."""

    def __init__(
        self, model: Autoencoder, density: Prior, auxiliary: Classifier, config: FineTuneConfig,
        latents: torch.Tensor, head_labels: torch.Tensor | None,
    ) -> None:  # fmt: skip
        super().__init__()
        self.model, self.density, self.auxiliary, self.config = model, density, auxiliary, config
        self.latents, self.head_labels = latents, head_labels  # every training image's code (and y), by index
        self.discriminator: ImageDiscriminator | None = None
        self.drawn: tuple[torch.Tensor, torch.Tensor] | None = None  # this batch's draws and real logits

    def forward(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        model, images, labels, config = self.model, batch.images, batch.labels, self.config
        decoder_labels = labels if model.takes_labels_to_decode else None
        if self.head_labels is not None:  # a categorical head reconstructs from y, as it was trained to
            decoder_labels = self.head_labels[batch.indices]
        reconstruction = reconstruction_loss(model.decode(self.latents[batch.indices], decoder_labels), images)
        drawn = auxiliary_labels(labels)
        drawn_codes = self.density.sample(len(drawn), drawn.cpu(), batch.generator).to(images.device)
        drawn_images = torch.sigmoid(model.decode(drawn_codes, drawn if model.takes_labels_to_decode else None))
        recognised = F.cross_entropy(self.auxiliary(drawn_images), drawn)  # in eval mode throughout
        loss = reconstruction + config.auxiliary_weight * recognised
        stats = {"reconstruction": reconstruction, "auxiliary": recognised}
        if self.discriminator is not None:
            real_logits, real_features = self.discriminator(images[: len(drawn)])
            drawn_features = self.discriminator(drawn_images)[1]
            stats["adversary"] = (real_features.detach().mean(0) - drawn_features.mean(0)).pow(2).sum()
            loss = loss + config.adversary_weight * stats["adversary"]
            self.drawn = drawn_images.detach(), real_logits
        return loss, stats


class ImageDiscriminatorStep(nn.Module):
    """The image discriminator learns the batch's real images from the decoder step's draws."""

    def __init__(self, decoder: DecoderStep) -> None:
        super().__init__()
        self.decoder = [decoder]  # not a submodule: the decoder's phase owns it

    def forward(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        decoder = self.decoder[0]
        assert decoder.discriminator is not None and decoder.drawn is not None, "runs after the decoder step"
        drawn_images, real_logits = decoder.drawn
        decoder.drawn = None
        told_apart = F.softplus(-real_logits).mean() + F.softplus(decoder.discriminator(drawn_images)[0]).mean()
        return told_apart, {"discriminator": told_apart}

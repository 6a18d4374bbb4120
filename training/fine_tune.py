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
import time
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F
from tqdm import tqdm

from models import Autoencoder, Prior
from models.losses import reconstruction_loss
from models.nets import ImageDiscriminator
from models.pixels import to_unit
from training.classifiers import auxiliary_classifier
from training.config import FineTuneConfig
from training.data import ImageData
from training.ex_post import encode_all
from training.steps import auxiliary_labels

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
    generator = torch.Generator().manual_seed(config.seed)
    # the encoder stays frozen in eval mode, so every image's code is the same in every epoch: computed once
    latents, head_labels = encode_all(model.to(device), data)
    model.decoder.train()
    optimiser = torch.optim.Adam(model.decoder.parameters(), lr=config.learning_rate)
    steps = config.epochs * -(-len(data) // config.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=steps)
    discriminator = ImageDiscriminator(image_shape=data.image_shape).to(device) if config.adversary_weight else None
    if discriminator is not None:
        discriminator_optimiser = torch.optim.Adam(
            discriminator.parameters(), lr=config.adversary_learning_rate, betas=(0.5, 0.999)
        )
    history = []
    for epoch in range(config.epochs):
        started = time.perf_counter()
        losses = ["reconstruction", "auxiliary"] + (["adversary", "discriminator"] if discriminator else [])
        totals = dict.fromkeys(losses, 0.0)
        batches = torch.randperm(len(data), generator=generator).split(config.batch_size)
        for indices in tqdm(batches, desc=f"fine-tune {epoch + 1}/{config.epochs}", leave=False, disable=None):
            images = to_unit(data.images[indices].to(device))
            labels = data.labels[indices].to(device)
            decoder_labels = labels if model.takes_labels_to_decode else None
            if head_labels is not None:  # a categorical head reconstructs from y, as it was trained to
                decoder_labels = head_labels[indices]
            reconstruction = reconstruction_loss(model.decode(latents[indices], decoder_labels), images)
            drawn = auxiliary_labels(labels)
            drawn_codes = density.sample(len(drawn), drawn.cpu(), generator).to(device)
            drawn_logits = model.decode(drawn_codes, drawn if model.takes_labels_to_decode else None)
            drawn_images = torch.sigmoid(drawn_logits)
            recognised = F.cross_entropy(auxiliary(drawn_images), drawn)  # in eval mode throughout
            loss = reconstruction + config.auxiliary_weight * recognised
            if discriminator is not None:
                real_logits, real_features = discriminator(images[: len(drawn)])
                drawn_features = discriminator(drawn_images)[1]
                feature_gap = (real_features.detach().mean(0) - drawn_features.mean(0)).pow(2).sum()
                loss = loss + config.adversary_weight * feature_gap
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            if discriminator is not None:
                drawn_judged = discriminator(drawn_images.detach())[0]
                told_apart = F.softplus(-real_logits).mean() + F.softplus(drawn_judged).mean()
                discriminator_optimiser.zero_grad(set_to_none=True)  # also drops what the decoder's loss left
                told_apart.backward()
                discriminator_optimiser.step()
                totals["adversary"] += float(feature_gap.detach())
                totals["discriminator"] += float(told_apart.detach())
            totals["reconstruction"] += float(reconstruction.detach())
            totals["auxiliary"] += float(recognised.detach())
        stats = {name: round(total / len(batches), 5) for name, total in totals.items()}
        stats |= {"epoch": epoch + 1, "seconds": round(time.perf_counter() - started, 1)}
        log.info("fine-tune epoch %d: %s", epoch + 1, stats)
        history.append(stats)
    model.eval()
    return history

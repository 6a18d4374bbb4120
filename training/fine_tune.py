"""The second stage: the decoder learns to draw, from a per-class ex-post density, images a classifier
recognises as the class asked for, without forgetting how to reconstruct.

After the family's own training, the encoder is frozen and one Gaussian mixture per class is fitted to the
training codes (`training.ex_post.fit_class_mixture`). The decoder is then fine-tuned on reconstruction
plus an auxiliary classifier's cross-entropy on images decoded from draws of those mixtures (AC-GAN's
auxiliary loss, Odena et al. 2017, with Ghosh et al. 2020's ex-post density as the sampler). The auxiliary
classifier is trained first, on real training images only, and is never an evaluation judge. The fitted
mixture becomes the checkpoint's sampler; the family's prior stays beside it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch.nn import functional as F
from tqdm import tqdm

from models import Autoencoder, Prior
from models.losses import reconstruction_loss
from models.pixels import to_unit
from training.classifiers import train_classifier
from training.data import ImageData
from training.steps import auxiliary_labels

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class FineTuneConfig:
    epochs: int = 3  # passes over the training images, decoder only
    # what the draws come from: a per-class ex-post density fitted to the codes (which then becomes the
    # model's sampler), or the family's prior where its components already follow the labels (label-prior AAEs)
    density: Literal["class_mixture", "prior"] = "class_mixture"
    components: int = 3  # Gaussians per class in the ex-post density
    auxiliary_weight: float = 30.0  # weight of the auxiliary classifier's cross-entropy (reconstruction: nats)
    auxiliary_epochs: int = 4  # training of the auxiliary classifier, before the decoder's
    learning_rate: float = 5e-4  # Adam, decaying to 0 along a cosine
    batch_size: int = 128
    seed: int = 0


def fine_tune_decoder(
    model: Autoencoder,
    density: Prior,
    data: ImageData,
    config: FineTuneConfig,
    *,
    device: torch.device | str = "cpu",
) -> list[dict[str, Any]]:
    """Fine-tune `model.decoder` in place (the encoder stays as it is); one stats dict per epoch."""
    if not config.epochs:  # the fitted density alone
        return []
    auxiliary = train_classifier(data, epochs=config.auxiliary_epochs, seed=config.seed + 7919, device=str(device))
    auxiliary.requires_grad_(False)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    model.to(device).eval()
    model.decoder.train()
    optimiser = torch.optim.Adam(model.decoder.parameters(), lr=config.learning_rate)
    steps = config.epochs * -(-len(data) // config.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=steps)
    history = []
    for epoch in range(config.epochs):
        started, totals = time.perf_counter(), {"reconstruction": 0.0, "auxiliary": 0.0}
        batches = torch.randperm(len(data), generator=generator).split(config.batch_size)
        for indices in tqdm(batches, desc=f"fine-tune {epoch + 1}/{config.epochs}", leave=False, disable=None):
            images = to_unit(data.images[indices].to(device))
            labels = data.labels[indices].to(device)
            with torch.no_grad():
                encoding = model.encode(images, labels if model.takes_labels_to_encode else None)
            decoder_labels = labels if model.takes_labels_to_decode else None
            if encoding.class_logits is not None:  # a categorical head reconstructs from y, as it was trained to
                decoder_labels = torch.softmax(encoding.class_logits, dim=1)
            reconstruction = reconstruction_loss(model.decode(encoding.latents, decoder_labels), images)
            drawn = auxiliary_labels(labels)
            drawn_codes = density.sample(len(drawn), drawn.cpu(), generator).to(device)
            drawn_logits = model.decode(drawn_codes, drawn if model.takes_labels_to_decode else None)
            recognised = F.cross_entropy(auxiliary(torch.sigmoid(drawn_logits)), drawn)  # in eval mode throughout
            optimiser.zero_grad(set_to_none=True)
            (reconstruction + config.auxiliary_weight * recognised).backward()
            optimiser.step()
            schedule.step()
            totals["reconstruction"] += float(reconstruction.detach())
            totals["auxiliary"] += float(recognised.detach())
        stats = {name: round(total / len(batches), 5) for name, total in totals.items()}
        stats |= {"epoch": epoch + 1, "seconds": round(time.perf_counter() - started, 1)}
        log.info("fine-tune epoch %d: %s", epoch + 1, stats)
        history.append(stats)
    model.eval()
    return history

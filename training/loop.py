"""The training loop: one function for every family, the AAE's two phases included.

Per mini-batch:
1. Reconstruction phase (all families): encoder + decoder minimise the reconstruction loss (plus the
   KL term for a VAE). For conditional models an auxiliary classifier, trained beside the model on
   real images only, scores images decoded from prior draws, and its cross-entropy against the
   requested label teaches the decoder to draw recognisable classes (AC-GAN style). It is a separate
   network from the evaluation classifier, so the evaluation stays honest.
2. Regularisation phase (AAE only): the discriminator learns prior draws = real, codes = fake; then
   the encoder learns to fool it.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn import functional as F
from tqdm import tqdm

from models import AAE, VAE, Autoencoder, Classifier, ClassifierConfig, Prior
from models.losses import discriminator_loss, generator_loss, reconstruction_loss, vae_loss
from models.sampling import draw_codes
from training.data import ImageData


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    epochs: int = 10  # passes over the training images
    batch_size: int = 128
    learning_rate: float = 1e-3  # Adam, reconstruction phase; every rate decays to 0 along a cosine
    discriminator_learning_rate: float = 2e-4  # Adam, AAE discriminator
    generator_learning_rate: float = 1e-3  # Adam, AAE encoder fooling the discriminator
    auxiliary_weight: float = 0.0  # weight of the auxiliary classifier's loss on prior draws (conditional only)
    unlabelled_fraction: float = 0.0  # label-prior AAE: share of codes the discriminator sees as "no label"
    seed: int = 0


EpochStats = dict[str, float]


def train(
    model: Autoencoder,
    prior: Prior,
    data: ImageData,
    config: TrainConfig,
    *,
    device: torch.device | str = "cpu",
    start_epoch: int = 0,
    on_epoch_end: Callable[[int, EpochStats], None] | None = None,
) -> list[EpochStats]:
    """Train `model` in place from `start_epoch` to `config.epochs`; return one stats dict per epoch."""
    torch.manual_seed(config.seed + start_epoch)
    generator = torch.Generator().manual_seed(config.seed + start_epoch)  # prior draws and shuffling
    model.to(device).train()

    decoder_labels = model.takes_labels_to_decode
    auxiliary = None
    if config.auxiliary_weight > 0 and model.samples_by_label:
        auxiliary = Classifier(
            ClassifierConfig(image_shape=model.config.image_shape, num_classes=model.config.num_classes)
        )
        auxiliary.to(device).train()
    optimiser = torch.optim.Adam([*model.encoder.parameters(), *model.decoder.parameters()], lr=config.learning_rate)
    optimisers = [optimiser]
    if auxiliary is not None:
        auxiliary_optimiser = torch.optim.Adam(auxiliary.parameters(), lr=config.learning_rate)
        optimisers.append(auxiliary_optimiser)
    if isinstance(model, AAE):
        betas = (0.5, 0.9)  # the usual choice for adversarial games: less momentum, fewer oscillations
        discriminator_optimiser = torch.optim.Adam(
            model.discriminator.parameters(), lr=config.discriminator_learning_rate, betas=betas
        )
        generator_optimiser = torch.optim.Adam(
            model.encoder.parameters(), lr=config.generator_learning_rate, betas=betas
        )
        optimisers += [discriminator_optimiser, generator_optimiser]
    groups = [group for each in optimisers for group in each.param_groups]
    base_rates = [group["lr"] for group in groups]
    steps_per_epoch = -(-len(data) // config.batch_size)
    total_steps = config.epochs * steps_per_epoch

    history: list[EpochStats] = []
    for epoch in range(start_epoch, config.epochs):
        started = time.perf_counter()
        order = torch.randperm(len(data), generator=generator)
        batches = order.split(config.batch_size)
        totals: defaultdict[str, float] = defaultdict(float)
        progress = tqdm(batches, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False, disable=None)
        for step, indices in enumerate(progress, start=1):
            # cosine decay of every learning rate over the whole run: a resumed run picks up where it was
            decay = 0.5 * (1 + math.cos(math.pi * (epoch * steps_per_epoch + step - 1) / total_steps))
            for group, base in zip(groups, base_rates, strict=True):
                group["lr"] = base * decay
            images = data.images[indices].to(device).float().div_(255)  # (B, C, H, W) in [0, 1]
            labels = data.labels[indices].to(device)  # (B,)
            stats: dict[str, torch.Tensor] = {}

            # 1. reconstruction phase
            if isinstance(model, VAE):
                output = model(images, labels if model.takes_labels_to_encode else None)
                loss, stats["reconstruction"], stats["kl"] = vae_loss(
                    output.logits, images, output.means, output.log_variances,
                    reconstruction=model.config.reconstruction, beta=model.config.beta,
                )  # fmt: skip
            else:
                logits = model.decode(model.encode(images).latents, labels if decoder_labels else None)
                loss = stats["reconstruction"] = reconstruction_loss(logits, images)
            if auxiliary is not None:
                # half a batch of draws teaches the decoder as well as a whole one, at half the cost
                drawn_labels = labels[: len(labels) // 2 or 1]
                codes, _ = draw_codes(model, prior, len(drawn_labels), drawn_labels, generator)
                drawn_logits = model.decode(codes.to(device), drawn_labels if decoder_labels else None)
                stats["auxiliary"] = F.cross_entropy(auxiliary(torch.sigmoid(drawn_logits)), drawn_labels)
                loss = loss + config.auxiliary_weight * stats["auxiliary"]
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()

            if auxiliary is not None:  # the auxiliary classifier learns from real images only
                auxiliary_optimiser.zero_grad(set_to_none=True)
                F.cross_entropy(auxiliary(images[: len(drawn_labels)]), drawn_labels).backward()
                auxiliary_optimiser.step()

            # 2. regularisation phase
            if isinstance(model, AAE):
                slots = _discriminator_labels(model, labels, config.unlabelled_fraction, generator)
                prior_labels = None if slots is None else _fill_unlabelled(slots, prior.num_labels, generator)
                real_codes = prior.sample(len(labels), prior_labels, generator).to(device)
                with torch.no_grad():
                    codes = model.encode(images).latents
                real_logits, fake_logits = model.discriminate(real_codes, slots), model.discriminate(codes, slots)
                stats["discriminator"] = discriminator_loss(real_logits, fake_logits)
                discriminator_optimiser.zero_grad(set_to_none=True)
                stats["discriminator"].backward()
                discriminator_optimiser.step()
                stats["discriminator_accuracy"] = (
                    (real_logits > 0).float().mean() + (fake_logits < 0).float().mean()
                ) / 2

                stats["generator"] = generator_loss(model.discriminate(model.encode(images).latents, slots))
                generator_optimiser.zero_grad(set_to_none=True)
                stats["generator"].backward()
                generator_optimiser.step()

            for name, value in stats.items():
                totals[name] += float(value.detach())
            progress.set_postfix({name: f"{total / step:.3g}" for name, total in totals.items()}, refresh=False)

        seconds = time.perf_counter() - started
        epoch_stats = {name: total / len(batches) for name, total in totals.items()}
        epoch_stats |= {"epoch": epoch + 1, "seconds": seconds, "images_per_second": len(data) / seconds}
        history.append(epoch_stats)
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, epoch_stats)
    model.eval()
    return history


def _discriminator_labels(
    model: AAE, labels: torch.Tensor, unlabelled_fraction: float, generator: torch.Generator
) -> torch.Tensor | None:
    """The label slot the discriminator sees per code: the class, or -1 ("no label") for a random share."""
    if model.config.variant != "label-prior":
        return None
    hidden = torch.rand(len(labels), generator=generator).to(labels.device) < unlabelled_fraction
    return torch.where(hidden, torch.full_like(labels, -1), labels)


def _fill_unlabelled(slots: torch.Tensor, num_labels: int, generator: torch.Generator) -> torch.Tensor:
    """Prior draws for "no label" codes come from a random component: the whole prior."""
    random_labels = torch.randint(0, num_labels, slots.shape, generator=generator)
    return torch.where(slots.cpu() < 0, random_labels, slots.cpu())

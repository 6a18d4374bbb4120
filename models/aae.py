"""Adversarial autoencoder (Makhzani et al., 2015) and its label-conditioned variants.

A discriminator on the latent code makes the codes match any prior we can sample. One training
step is two phases per mini-batch (run by `training`, since the model holds no optimiser):
reconstruction (encoder + decoder), then regularisation (the discriminator learns prior samples =
real and codes = fake; the encoder learns to fool it).

Variants:
- "plain": unconditional.
- "supervised": the one-hot label goes to the decoder, so z only has to carry style (paper §5);
  with `standardise_per_class` it goes to the encoder too.
- "label-prior": the discriminator also sees a one-hot label slot, so a label chooses the prior's
  component or segment; an extra slot means "no label" (the paper's semi-supervised regulariser, §2.3).
- "categorical": the encoder has a categorical head beside the code: class logits y (softmax over
  `num_classes`) and a continuous style z; the decoder draws from (y, z). A second discriminator drives y
  toward one-hot draws of a uniform categorical, the first drives z toward N(0, I). Trained with a few
  labels (cross-entropy of y on a labelled mini-batch) it is the paper's semi-supervised classifier (§5);
  without labels, with `num_classes` clusters, its unsupervised clustering (§6). A label given to `decode`
  is y as one-hot: the same style redrawn as another class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from torch import nn

from models.base import Autoencoder, AutoencoderConfig, Encoding
from models.nets import ClassStandardise, Discriminator, one_hot


@dataclass(frozen=True, kw_only=True)
class AAEConfig(AutoencoderConfig):
    variant: Literal["plain", "supervised", "label-prior", "categorical"] = "plain"
    discriminator_hidden: int = 512  # width of the discriminator's two hidden layers
    # For a standard Gaussian prior: a BatchNorm without scale or shift on the codes gives them zero mean and
    # unit variance per dimension by construction, so the adversary only has the shape left to match (and the
    # encoder cannot widen its codes against it, as it otherwise does to keep reconstructions sharp)
    standardise_codes: bool = False
    # "supervised" only, instead of standardise_codes: standardise the codes within each class (the label then
    # goes to the encoder too), so every class's codes have the prior's mean and variance, not only all codes
    # together. A label-free encoder keeps each class's codes in a region of their own, and a prior draw with
    # label y then often falls where only other classes' codes lie, which the decoder never learnt to draw as y
    standardise_per_class: bool = False


class AAEOutput(NamedTuple):
    latents: torch.Tensor  # (B, latent_dim)
    logits: torch.Tensor  # (B, C, H, W) reconstruction logits


class AAE(Autoencoder):
    kind = "aae"

    def __init__(self, config: AAEConfig) -> None:
        super().__init__()
        self.config: AAEConfig = config
        if config.standardise_per_class and (config.variant != "supervised" or config.standardise_codes):
            raise ValueError("standardise_per_class is for the supervised variant, instead of standardise_codes")
        if config.standardise_codes and config.variant == "categorical":
            raise ValueError("standardise_codes would standardise the categorical head's logits too")
        categorical = config.variant == "categorical"
        encoder = self._encoder(config.num_classes + config.latent_dim if categorical else config.latent_dim)
        if config.standardise_codes:
            encoder.head.append(nn.BatchNorm1d(config.latent_dim, affine=False))
        self.encoder = encoder
        if config.standardise_per_class:
            self.class_standardise = ClassStandardise(num_classes=config.num_classes, dim=config.latent_dim)
        self.decoder = self._decoder(config.num_classes if self.takes_labels_to_decode else 0)
        # num_classes slots for the labels plus one for "no label"
        label_slots = config.num_classes + 1 if config.variant == "label-prior" else 0
        self.discriminator = Discriminator(
            latent_dim=config.latent_dim, hidden=config.discriminator_hidden, label_slots=label_slots
        )
        if categorical:  # the second adversary: y's softmax against one-hot draws
            self.category_discriminator = Discriminator(
                latent_dim=config.num_classes, hidden=config.discriminator_hidden
            )

    @property
    def takes_labels_to_encode(self) -> bool:
        return self.config.standardise_per_class

    @property
    def takes_labels_to_decode(self) -> bool:
        return self.config.variant in ("supervised", "categorical")

    @property
    def classifies(self) -> bool:
        return self.config.variant == "categorical"

    def discriminate(self, latents: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Logit (B,) that each code was drawn from the prior.

        For "label-prior", `labels` holds a class index per code, or -1 for "no label".
        """
        if self.config.variant != "label-prior":
            return self.discriminator(latents)
        if labels is None:
            labels = torch.full((latents.shape[0],), -1, device=latents.device)
        slots = torch.where(labels < 0, self.config.num_classes, labels)  # -1 -> the "no label" slot
        return self.discriminator(latents, one_hot(slots, self.config.num_classes + 1))

    def discriminate_categories(self, probabilities: torch.Tensor) -> torch.Tensor:
        """Logit (B,) that each class-probability vector (B, num_classes) was a one-hot draw ("categorical")."""
        return self.category_discriminator(probabilities)

    def encode(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> Encoding:
        if self.classifies:
            class_logits, latents = self.encoder(images).split([self.config.num_classes, self.config.latent_dim], 1)
            return Encoding(latents, None, class_logits)
        if not self.config.standardise_per_class:
            return super().encode(images, labels)
        labels_one_hot = self._labels(labels, needed=True)
        assert labels_one_hot is not None
        return Encoding(self.class_standardise(self.encoder(images), labels_one_hot), None)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> AAEOutput:
        return AAEOutput(self.encode(images, labels).latents, self.reconstruct(images, labels))

"""What a training run is asked to do, as data: the loop's settings, the second stage's, and a preset (a
family, its variant and prior, and both settings). The presets themselves are in `training.presets`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


class TrainingMistake(ValueError):
    """How a run was asked for cannot work (a checkpoint of another run to resume, a folder it cannot write):
    the message says what to change."""


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    epochs: int = 10  # passes over the training images
    batch_size: int = 128
    learning_rate: float = 1e-3  # Adam, reconstruction phase; every rate decays to 0 along a cosine
    discriminator_learning_rate: float = 2e-4  # Adam, AAE discriminator
    generator_learning_rate: float = 1e-3  # Adam, AAE encoder fooling the discriminator
    auxiliary_weight: float = 0.0  # weight of the auxiliary classifier's loss on prior draws (0: no classifier)
    unlabelled_fraction: float = 0.0  # label-prior AAE: share of codes the discriminator sees as "no label"
    labelled_learning_rate: float = 1e-3  # Adam, the semi-supervised and neighbour phases (categorical AAE)
    category_balance: float = 0.0  # categorical AAE: weight of the batch's mean y's divergence from uniform
    # categorical AAE: y agrees with one of each image's k nearest by HOG features (0: no phase); its term keeping
    # the mean y near uniform weighs category_balance, without which the phase puts every image in a few classes
    neighbours: int = 0
    only_phases: tuple[str, ...] = ()  # run just these phases (training.phases names); empty: all of them
    seed: int = 0


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
    # an image-space adversary on the draws (0: none): a discriminator learns to tell real training images
    # from decoded draws, and the decoder learns to draw images whose mean features in it match the real
    # ones' (feature matching, Salimans et al. 2016), which the blur of a reconstruction loss never asks for
    adversary_weight: float = 0.0
    adversary_learning_rate: float = 2e-4  # Adam with beta1 0.5, as GANs are trained
    batch_size: int = 128
    seed: int = 0


PriorName = Literal["gaussian", "mixture", "swiss_roll", "ex_post"]


@dataclass(frozen=True)
class ModelPreset:
    name: str
    kind: Literal["ae", "vae", "aae"]
    variant: str
    prior: PriorName
    model: dict[str, Any] = field(default_factory=dict)  # overrides of the family's config fields
    train: TrainConfig = field(default_factory=TrainConfig)
    fine_tune: FineTuneConfig | None = None  # the second stage (training.fine_tune); None: the prior samples
    # labels the training may use, per class (a seeded, class-balanced choice; every other image is unlabelled);
    # 0: none (clustering: the classes are then the model's clusters); None: every label
    labels_per_class: int | None = None

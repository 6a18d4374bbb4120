"""How unlike its training data an image looks to a model, from what the model already holds (the signals
that `POST /score` and the anomaly evaluation combine):

- the reconstruction error through the code, per image and per pixel;
- the code's negative log-density under the model's density over codes (its fitted sampler, else its
  prior), where that density has one in closed form (the swiss roll has none);
- for a VAE, the negative ELBO in nats (reconstruction through the posterior mean, plus the KL term).

Densities are `torch.distributions` built from the priors' parameters, so no density is written twice.

A `Calibration`, stored in the checkpoint, makes them one score and a p-value: each signal is standardised
by its mean and spread over held-out normal images (the validation split, or a user's own folder), the score
is their sum or their maximum (whichever told synthetic outliers apart better at calibration:
`training.anomaly`), and an image's p-value is the share of those held-out images scoring at least as high (a
conformal p-value: below `alpha` for about `alpha` of normal images, whatever the score's distribution).
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import numpy as np
import pydantic
import torch
from torch import distributions as D
from torch.nn import functional as F

from models.base import Autoencoder
from models.losses import kl_to_standard_normal
from models.priors import ClassMixtureDensity, GaussianMixtureDensity, GaussianPrior, MixturePrior, Prior
from models.vae import VAE


class Signals(NamedTuple):
    reconstruction: torch.Tensor  # (n,) mean squared error per pixel, images in [0, 1]
    pixel_errors: torch.Tensor  # (n, C, H, W) squared error of each pixel
    code_nll: torch.Tensor | None  # (n,) nats; None where the density has no closed form
    negative_elbo: torch.Tensor | None  # (n,) nats, VAEs only


SignalName = Literal["reconstruction", "code_nll", "negative_elbo"]
# What the score combines. Not the ELBO: a likelihood ranks simpler images than the training data's as more
# likely (Nalisnick et al. 2019); the vae's ELBO scores scikit-learn's digits against Fashion-MNIST at AUROC 0.24
COMBINED: tuple[SignalName, ...] = ("reconstruction", "code_nll")


class Calibration(pydantic.BaseModel):
    """How a model's signals make its anomaly score, and that score over held-out normal images."""

    model_config = pydantic.ConfigDict(strict=True, frozen=True, extra="forbid")

    signals: list[SignalName] = pydantic.Field(min_length=1)  # combined, each standardised
    combine: Literal["sum", "max"] = "sum"  # the standardised signals' (calibrations stored before it: sum)
    means: list[float]  # per signal, over the held-out images
    stds: list[float]
    scores: list[float] = pydantic.Field(min_length=1)  # the held-out images' scores, ascending
    alpha: float = pydantic.Field(0.01, gt=0, lt=1)  # p-values below it are flagged
    held_out: str  # what the held-out images were, in words

    @pydantic.model_validator(mode="after")
    def _fits(self) -> Calibration:
        if not len(self.signals) == len(self.means) == len(self.stds) or min(self.stds) <= 0:
            raise ValueError("one mean and one positive spread per signal")
        if any(later < earlier for earlier, later in zip(self.scores, self.scores[1:], strict=False)):
            raise ValueError("the held-out scores must be in ascending order")
        return self

    def score(self, found: dict[str, np.ndarray]) -> np.ndarray:
        """The combined score of each image, from its signals by name."""
        standardised = [
            (found[name] - mean) / std for name, mean, std in zip(self.signals, self.means, self.stds, strict=True)
        ]
        return np.sum(standardised, 0) if self.combine == "sum" else np.max(standardised, 0)

    def p_values(self, scores: np.ndarray) -> np.ndarray:
        """The share of held-out images scoring at least as high, counting the image itself among them."""
        held = np.asarray(self.scores)
        at_least = len(held) - np.searchsorted(held, scores, side="left")
        return (1 + at_least) / (1 + len(held))


def code_density(density: Prior | None) -> D.Distribution | None:
    """`density` as a torch distribution over codes (labels marginalised), or None where it has no closed form."""
    if isinstance(density, GaussianPrior):
        spread = torch.full((density.dim,), float(density.std), dtype=torch.float64)
        return D.Independent(D.Normal(torch.zeros_like(spread), spread), 1)
    if isinstance(density, MixturePrior):  # each component elongated along its angle
        angles = 2 * math.pi * torch.arange(density.num_labels, dtype=torch.float64) / density.num_labels
        cos, sin = angles.cos(), angles.sin()
        rotations = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)  # (K, 2, 2)
        factors = rotations @ torch.diag(
            torch.tensor([density.radial_std, density.tangential_std], dtype=torch.float64)
        )
        means = density.component_means().double()
        return _mixture(torch.ones(density.num_labels), means, factors @ factors.transpose(1, 2))
    if isinstance(density, GaussianMixtureDensity):
        return _mixture(density.weights, density.means, density.covariances)
    if isinstance(density, ClassMixtureDensity):  # every class alike, as unlabelled draws choose them
        parts = density.classes
        weights = torch.cat([part.weights / len(parts) for part in parts])
        return _mixture(
            weights, torch.cat([part.means for part in parts]), torch.cat([part.covariances for part in parts])
        )
    return None


def signals(
    model: Autoencoder, density: D.Distribution | None, images: torch.Tensor, labels: torch.Tensor | None = None
) -> Signals:
    """The signals of `images` (n, C, H, W) in [0, 1]; `labels` where the model takes them to encode or decode."""
    encoding = model.encode(images, labels if model.takes_labels_to_encode else None)
    decoder_labels = labels if model.takes_labels_to_decode else None
    if encoding.class_logits is not None:  # a categorical head decodes its own class probabilities
        decoder_labels = torch.softmax(encoding.class_logits, dim=1)
    logits = model.decode(encoding.latents, decoder_labels)
    pixel_errors = (torch.sigmoid(logits) - images) ** 2
    code_nll = -density.log_prob(encoding.latents.double().cpu()).float().to(images.device) if density else None
    negative_elbo = None
    if isinstance(model, VAE) and encoding.log_variances is not None:
        reconstruction = F.binary_cross_entropy_with_logits(logits, images, reduction="none").flatten(1).sum(1)
        negative_elbo = reconstruction + kl_to_standard_normal(encoding.latents, encoding.log_variances)
    return Signals(pixel_errors.flatten(1).mean(1), pixel_errors, code_nll, negative_elbo)


def _mixture(weights: torch.Tensor, means: torch.Tensor, covariances: torch.Tensor) -> D.Distribution:
    components = D.MultivariateNormal(means.double(), covariance_matrix=covariances.double())
    return D.MixtureSameFamily(D.Categorical(probs=weights.double()), components)


def calibrate(
    found: dict[str, np.ndarray], *, held_out: str, alpha: float = 0.01, combine: Literal["sum", "max"] = "sum"
) -> Calibration:
    """The calibration from held-out normal images' signals by name: the COMBINED signals among them, standardised
    and combined."""
    names = [name for name in COMBINED if name in found]
    draft = Calibration(
        signals=names, combine=combine, means=[float(found[name].mean()) for name in names],
        stds=[float(found[name].std()) for name in names], scores=[0.0], alpha=alpha, held_out=held_out,
    )  # fmt: skip
    return draft.model_copy(update={"scores": np.sort(draft.score(found)).tolist()})

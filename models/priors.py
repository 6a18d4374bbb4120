"""Priors over the latent code: what the AAE's discriminator matches and what `sample` draws from.

Every prior can `sample(n)`; a prior with components or segments (`num_labels > 0`) can also sample
for given labels, which is how a label chooses the class of an AAE sample. Each prior describes
itself as JSON-ready metadata (`to_metadata`), and `prior_from_metadata` rebuilds it, so the
checkpoint stores priors, fitted ones included, as plain JSON.

The mixture and swiss-roll layouts follow the public reference implementations of Makhzani et al.
(a 10-component mixture of elongated 2-D Gaussians arranged around the origin; a swiss roll cut into
one segment per label).
"""

from __future__ import annotations

import math
from typing import Any

import torch


class PriorError(ValueError):
    """A prior's description or a sampling request is not valid."""


class Prior:
    name: str = ""
    dim: int
    num_labels: int = 0  # components/segments a label can choose; 0 when labels do not apply

    def sample(
        self,
        n: int,
        labels: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
    ) -> torch.Tensor:
        """Draw n codes (n, dim) on the CPU; with `labels` (n,), from those components.

        `temperature` scales each draw's distance from the centre of its component (Kingma & Dhariwal 2018's
        temperature, StyleGAN's truncation): below 1 the draws are more typical of their class and less
        varied, 0 gives the centres themselves. The random numbers drawn do not depend on it, so a seed gives
        the same draws at any temperature, moved toward their centres."""
        if not math.isfinite(temperature) or temperature < 0:
            raise PriorError(f"temperature must be a finite number >= 0, got {temperature}")
        if labels is not None:
            if not self.num_labels:
                raise PriorError(f"the {self.name} prior has no components for a label to choose")
            if labels.shape != (n,):
                raise PriorError(f"expected {n} labels, got shape {tuple(labels.shape)}")
            if n and (int(labels.min()) < 0 or int(labels.max()) >= self.num_labels):
                raise PriorError(f"labels must lie in [0, {self.num_labels}), got {labels.tolist()}")
        return self._sample(n, labels, generator, temperature)

    def _sample(
        self, n: int, labels: torch.Tensor | None, generator: torch.Generator | None, temperature: float
    ) -> torch.Tensor:
        raise NotImplementedError

    def _random_labels(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        return torch.randint(0, self.num_labels, (n,), generator=generator)

    def to_metadata(self) -> dict[str, Any]:
        raise NotImplementedError


class GaussianPrior(Prior):
    """N(0, std^2 I) in any dimension."""

    name = "gaussian"

    def __init__(self, dim: int, std: float = 1.0) -> None:
        self.dim, self.std = dim, std

    def _sample(
        self, n: int, labels: torch.Tensor | None, generator: torch.Generator | None, temperature: float
    ) -> torch.Tensor:
        return temperature * self.std * torch.randn(n, self.dim, generator=generator)

    def to_metadata(self) -> dict[str, Any]:
        return {"name": self.name, "dim": self.dim, "std": self.std}


class MixturePrior(Prior):
    """K elongated 2-D Gaussians around the origin: component k lies along the angle 2*pi*k/K."""

    name = "mixture"
    dim = 2

    def __init__(
        self, num_components: int = 10, radius: float = 1.4, radial_std: float = 0.5, tangential_std: float = 0.05
    ) -> None:
        self.num_labels = num_components
        self.radius, self.radial_std, self.tangential_std = radius, radial_std, tangential_std

    def component_means(self) -> torch.Tensor:
        """(K, 2) centre of each component."""
        angles = 2 * math.pi * torch.arange(self.num_labels) / self.num_labels
        return self.radius * torch.stack([angles.cos(), angles.sin()], dim=1)

    def _sample(
        self, n: int, labels: torch.Tensor | None, generator: torch.Generator | None, temperature: float
    ) -> torch.Tensor:
        if labels is None:
            labels = self._random_labels(n, generator)
        radial = self.radius + temperature * self.radial_std * torch.randn(n, generator=generator)
        tangential = temperature * self.tangential_std * torch.randn(n, generator=generator)
        angles = 2 * math.pi * labels.float() / self.num_labels
        cos, sin = angles.cos(), angles.sin()
        return torch.stack([radial * cos - tangential * sin, radial * sin + tangential * cos], dim=1)

    def to_metadata(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "num_components": self.num_labels,
            "radius": self.radius,
            "radial_std": self.radial_std,
            "tangential_std": self.tangential_std,
        }


class SwissRollPrior(Prior):
    """A 2-D swiss roll; label k draws uniformly from the k-th of `num_segments` equal stretches.

    `noise` (isotropic, well under half the gap between turns) gives the roll some thickness: a
    discriminator can push codes onto a band much faster than onto a curve of zero width.
    """

    name = "swiss_roll"
    dim = 2

    def __init__(self, num_segments: int = 10, scale: float = 3.0, turns: float = 2.0, noise: float = 0.0) -> None:
        self.num_labels = num_segments
        self.scale, self.turns, self.noise = scale, turns, noise

    def _sample(
        self, n: int, labels: torch.Tensor | None, generator: torch.Generator | None, temperature: float
    ) -> torch.Tensor:
        if labels is None:
            labels = self._random_labels(n, generator)
        within = torch.rand(n, generator=generator)  # a draw's place in its segment, pulled toward the middle
        if temperature != 1:  # (0.5 + (x - 0.5) is not always x in floating point)
            within = 0.5 + temperature * (within - 0.5)
        position = (labels.float() + within) / self.num_labels  # in [0, 1)
        radius = self.scale * position.sqrt()
        angle = 2 * math.pi * self.turns * position.sqrt()
        jitter = temperature * self.noise * torch.randn(n, 2, generator=generator) if self.noise else 0.0
        return torch.stack([radius * angle.cos(), radius * angle.sin()], dim=1) + jitter

    def to_metadata(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "num_segments": self.num_labels,
            "scale": self.scale,
            "turns": self.turns,
            "noise": self.noise,
        }


class GaussianMixtureDensity(Prior):
    """A fitted Gaussian mixture with full covariances: the plain AE's ex-post density."""

    name = "gaussian_mixture"

    def __init__(self, weights: torch.Tensor, means: torch.Tensor, covariances: torch.Tensor) -> None:
        k, dim = means.shape
        if weights.shape != (k,) or covariances.shape != (k, dim, dim):
            raise PriorError(
                f"mixture parameters disagree: weights {tuple(weights.shape)}, means {tuple(means.shape)}, "
                f"covariances {tuple(covariances.shape)}"
            )
        self.dim = dim
        self.weights = weights.double() / weights.double().sum()
        self.means = means.double()
        self.covariances = covariances.double()
        try:
            self._cholesky = torch.linalg.cholesky(self.covariances)
        except RuntimeError as error:
            raise PriorError(f"mixture covariances must be positive definite: {error}") from error

    def _sample(
        self, n: int, labels: torch.Tensor | None, generator: torch.Generator | None, temperature: float
    ) -> torch.Tensor:
        components = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        noise = torch.randn(n, self.dim, 1, generator=generator, dtype=torch.float64)
        draws = self.means[components] + temperature * (self._cholesky[components] @ noise).squeeze(2)
        return draws.float()

    def to_metadata(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "weights": self.weights.tolist(),
            "means": self.means.tolist(),
            "covariances": self.covariances.tolist(),
        }


class ClassMixtureDensity(Prior):
    """One fitted Gaussian mixture per class (full covariances): a label-conditioned ex-post density over a
    model's codes (Ghosh et al. 2020 fit one mixture to all codes; one per class lets a label choose where
    its draws fall). Label k draws from class k's mixture; no label draws the class uniformly first."""

    name = "class_mixture"

    def __init__(self, weights: torch.Tensor, means: torch.Tensor, covariances: torch.Tensor) -> None:
        classes, k, dim = means.shape
        if weights.shape != (classes, k) or covariances.shape != (classes, k, dim, dim):
            raise PriorError(
                f"class mixture parameters disagree: weights {tuple(weights.shape)}, means {tuple(means.shape)}, "
                f"covariances {tuple(covariances.shape)}"
            )
        self.dim, self.num_labels = dim, classes
        self.classes = [GaussianMixtureDensity(*parts) for parts in zip(weights, means, covariances, strict=True)]

    def _sample(
        self, n: int, labels: torch.Tensor | None, generator: torch.Generator | None, temperature: float
    ) -> torch.Tensor:
        if labels is None:
            labels = self._random_labels(n, generator)
        codes = torch.empty(n, self.dim)
        for label, density in enumerate(self.classes):  # in class order, so a seed gives the same draws
            chosen = torch.nonzero(labels == label).squeeze(1)
            if len(chosen):
                codes[chosen] = density.sample(len(chosen), generator=generator, temperature=temperature)
        return codes

    def to_metadata(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "weights": [density.weights.tolist() for density in self.classes],
            "means": [density.means.tolist() for density in self.classes],
            "covariances": [density.covariances.tolist() for density in self.classes],
        }


def prior_from_metadata(metadata: dict[str, Any]) -> Prior:
    """Rebuild a prior from `Prior.to_metadata()`; raise PriorError saying what is wrong."""
    try:
        match metadata:
            case {"name": "gaussian", "dim": int(dim), "std": float(std) | int(std)}:
                return GaussianPrior(dim, float(std))
            case {"name": "mixture"}:
                return MixturePrior(
                    int(metadata["num_components"]),
                    float(metadata["radius"]),
                    float(metadata["radial_std"]),
                    float(metadata["tangential_std"]),
                )
            case {"name": "swiss_roll"}:
                return SwissRollPrior(
                    int(metadata["num_segments"]),
                    float(metadata["scale"]),
                    float(metadata["turns"]),
                    float(metadata["noise"]),
                )
            case {"name": "gaussian_mixture"}:
                return GaussianMixtureDensity(
                    torch.tensor(metadata["weights"], dtype=torch.float64),
                    torch.tensor(metadata["means"], dtype=torch.float64),
                    torch.tensor(metadata["covariances"], dtype=torch.float64),
                )
            case {"name": "class_mixture"}:
                return ClassMixtureDensity(
                    torch.tensor(metadata["weights"], dtype=torch.float64),
                    torch.tensor(metadata["means"], dtype=torch.float64),
                    torch.tensor(metadata["covariances"], dtype=torch.float64),
                )
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise PriorError(f"prior metadata {str(metadata)[:200]} is not valid: {error}") from error
    raise PriorError(
        f"unknown prior {str(metadata)[:200]}: "
        "expected gaussian, mixture, swiss_roll, gaussian_mixture or class_mixture"
    )

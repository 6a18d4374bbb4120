"""Priors: stated mean and spread, label-conditional draws landing in their component, round trips."""

import math

import pytest
import torch

from models import ClassMixtureDensity, GaussianMixtureDensity, GaussianPrior, MixturePrior, PriorError, SwissRollPrior
from models.priors import prior_from_metadata


def test_gaussian_has_the_stated_mean_and_spread():
    draws = GaussianPrior(dim=5, std=2.0).sample(100_000, generator=torch.Generator().manual_seed(0))
    assert draws.shape == (100_000, 5)
    assert draws.mean(0).abs().max() < 0.03
    assert draws.std(0).sub(2.0).abs().max() < 0.03


def test_gaussian_has_no_components_for_labels():
    with pytest.raises(PriorError, match="no components"):
        GaussianPrior(2).sample(2, torch.tensor([0, 1]))


def test_mixture_components_sit_at_their_angle_with_the_stated_spread():
    prior = MixturePrior(num_components=10)
    generator = torch.Generator().manual_seed(0)
    for label in (0, 3, 7):
        draws = prior.sample(20_000, torch.full((20_000,), label), generator)
        angle = 2 * math.pi * label / 10
        radial_axis = torch.tensor([math.cos(angle), math.sin(angle)])
        tangential_axis = torch.tensor([-math.sin(angle), math.cos(angle)])
        assert draws.mean(0).sub(prior.component_means()[label]).norm() < 0.02
        assert (draws @ radial_axis).std().item() == pytest.approx(0.5, rel=0.03)
        assert (draws @ tangential_axis).std().item() == pytest.approx(0.05, rel=0.03)


def test_mixture_draws_are_nearest_to_their_own_component():
    prior = MixturePrior(num_components=10)
    labels = torch.arange(10).repeat(500)
    draws = prior.sample(len(labels), labels, torch.Generator().manual_seed(1))
    nearest = torch.cdist(draws, prior.component_means()).argmin(1)
    assert (nearest == labels).float().mean() > 0.9


def test_swiss_roll_segments_follow_the_label():
    prior = SwissRollPrior(num_segments=10)
    generator = torch.Generator().manual_seed(0)
    for label in (0, 4, 9):
        draws = prior.sample(5000, torch.full((5000,), label), generator)
        position = (draws.norm(dim=1) / prior.scale) ** 2  # radius = scale * sqrt(position)
        assert position.min() >= label / 10 - 1e-5
        assert position.max() <= (label + 1) / 10 + 1e-5


def test_unconditional_draws_cover_every_component():
    prior = MixturePrior(num_components=10)
    draws = prior.sample(10_000, generator=torch.Generator().manual_seed(0))
    nearest = torch.cdist(draws, prior.component_means()).argmin(1)
    assert torch.bincount(nearest, minlength=10).min() > 800


def test_labels_out_of_range_are_refused():
    with pytest.raises(PriorError, match=r"labels must lie in \[0, 10\)"):
        MixturePrior(10).sample(1, torch.tensor([10]))


def test_fitted_mixture_samples_its_parameters():
    density = GaussianMixtureDensity(
        torch.tensor([0.25, 0.75]),
        torch.tensor([[-10.0, 0.0], [10.0, 1.0]]),
        torch.stack([torch.eye(2), 4 * torch.eye(2)]),
    )
    draws = density.sample(100_000, generator=torch.Generator().manual_seed(0))
    right = draws[:, 0] > 0
    assert right.float().mean().item() == pytest.approx(0.75, abs=0.01)
    assert draws[right].mean(0).tolist() == pytest.approx([10.0, 1.0], abs=0.03)
    assert draws[right].std(0).tolist() == pytest.approx([2.0, 2.0], abs=0.03)


def test_class_mixture_draws_each_label_from_its_own_class():
    means = torch.zeros(3, 2, 2)
    means[:, :, 0] = 10 * torch.arange(3)[:, None]  # class k's two components around (10 k, 0)
    means[:, 1, 1] = 1.0
    density = ClassMixtureDensity(torch.tensor([[1.0, 3.0]] * 3), means, 0.01 * torch.eye(2).repeat(3, 2, 1, 1))
    labels = torch.tensor([2, 0, 1] * 1000)
    draws = density.sample(len(labels), labels, torch.Generator().manual_seed(0))
    assert draws[:, 0].round().tolist() == (10 * labels).tolist()
    assert (draws[labels == 1, 1] > 0.5).float().mean().item() == pytest.approx(0.75, abs=0.03)  # the weights
    unlabelled = density.sample(3000, generator=torch.Generator().manual_seed(0))
    assert sorted(set((unlabelled[:, 0] / 10).round().int().tolist())) == [0, 1, 2]
    with pytest.raises(PriorError, match="disagree"):
        ClassMixtureDensity(torch.ones(3, 2), means, torch.eye(2).repeat(3, 1, 1, 1))


@pytest.mark.parametrize(
    "prior",
    [
        GaussianPrior(3, 0.5),
        MixturePrior(6, radius=2.0),
        SwissRollPrior(4, scale=2.5, noise=0.2),
        GaussianMixtureDensity(torch.tensor([1.0, 3.0]), torch.randn(2, 3), torch.eye(3).repeat(2, 1, 1) * 0.3),
        ClassMixtureDensity(torch.ones(4, 2), torch.randn(4, 2, 3), torch.eye(3).repeat(4, 2, 1, 1) * 0.3),
    ],
    ids=["gaussian", "mixture", "swiss_roll", "gaussian_mixture", "class_mixture"],
)
def test_metadata_round_trip_gives_identical_draws(prior):
    rebuilt = prior_from_metadata(prior.to_metadata())
    first = prior.sample(50, generator=torch.Generator().manual_seed(3))
    second = rebuilt.sample(50, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first, second)


PRIORS = {
    "gaussian": GaussianPrior(3, 0.5),
    "mixture": MixturePrior(6, radius=2.0),
    "swiss_roll": SwissRollPrior(4, scale=2.5, noise=0.2),
    "gaussian_mixture": GaussianMixtureDensity(
        torch.tensor([1.0, 3.0]), torch.tensor([[0.0, 0.0, 0.0], [5.0, 5.0, 5.0]]), torch.eye(3).repeat(2, 1, 1) * 0.3
    ),
    "class_mixture": ClassMixtureDensity(
        torch.ones(4, 2), 4 * torch.arange(8.0).reshape(4, 2, 1).expand(4, 2, 3), torch.eye(3).repeat(4, 2, 1, 1) * 0.3
    ),
}


def _centres(name: str, prior, draws: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """The centre of the component each draw came from: for a mixture, the nearest of its label's means."""
    if name == "gaussian":
        return torch.zeros_like(draws)
    if name == "mixture":
        return prior.component_means()[labels]
    if name == "swiss_roll":  # the middle of the label's segment
        root = ((labels + 0.5) / prior.num_labels).sqrt()
        angle = 2 * math.pi * prior.turns * root
        return prior.scale * root[:, None] * torch.stack([angle.cos(), angle.sin()], dim=1)
    if name == "gaussian_mixture":
        means = prior.means.float().expand(len(draws), -1, -1)
    else:
        means = torch.stack([density.means.float() for density in prior.classes])[labels]
    nearest = (draws[:, None] - means).norm(dim=2).argmin(1)
    return means[torch.arange(len(draws)), nearest]


@pytest.mark.parametrize("name", list(PRIORS))
def test_temperature_scales_each_draw_s_distance_from_its_component_s_centre(name):
    """The same seed at temperature t gives the same draws, moved toward their centres: at 0.5 the mean distance
    is half of that at 1, at 0 the draws are the centres."""
    prior, n = PRIORS[name], 2000
    labels = torch.arange(n) % prior.num_labels if prior.num_labels else None  # every component alike

    def distance(temperature: float) -> float:
        draws = prior.sample(n, labels, torch.Generator().manual_seed(5), temperature=temperature)
        return float((draws - _centres(name, prior, draws, labels)).norm(dim=1).mean())

    full, half, none = distance(1.0), distance(0.5), distance(0.0)
    assert full > 0.05
    assert half == pytest.approx(full / 2, rel=0.02 if name != "swiss_roll" else 0.15)
    assert none == pytest.approx(0.0, abs=1e-5)
    default = prior.sample(n, labels, torch.Generator().manual_seed(5))
    assert torch.equal(default, prior.sample(n, labels, torch.Generator().manual_seed(5), temperature=1.0))


@pytest.mark.parametrize("temperature", [-0.5, math.nan, math.inf])
def test_a_temperature_below_0_or_not_finite_is_refused(temperature):
    with pytest.raises(PriorError, match="temperature must be a finite number >= 0"):
        GaussianPrior(2).sample(3, temperature=temperature)


def test_bad_metadata_says_what_is_wrong():
    with pytest.raises(PriorError, match="unknown prior"):
        prior_from_metadata({"name": "uniform"})
    with pytest.raises(PriorError, match="not valid"):
        prior_from_metadata({"name": "mixture", "radius": 1.0})
    with pytest.raises(PriorError, match="positive definite"):
        GaussianMixtureDensity(torch.ones(1), torch.zeros(1, 2), -torch.eye(2)[None])

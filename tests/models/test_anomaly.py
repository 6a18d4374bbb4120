"""The signals a model scores an image by: each density's log-density, the reconstruction error, the ELBO."""

import numpy as np
import pytest
import torch

from models import VAE, VAEConfig
from models.anomaly import Calibration, calibrate, code_density, signals
from models.priors import ClassMixtureDensity, GaussianMixtureDensity, GaussianPrior, MixturePrior, SwissRollPrior

generator = torch.Generator().manual_seed(0)
DENSITIES = {
    "gaussian": GaussianPrior(3, std=2.0),
    "mixture": MixturePrior(),
    "gaussian_mixture": GaussianMixtureDensity(
        torch.tensor([1.0, 3.0]), torch.tensor([[0.0, 0.0], [5.0, 1.0]]), torch.tensor([[[1.0, 0.3], [0.3, 0.5]]] * 2)
    ),
    "class_mixture": ClassMixtureDensity(
        torch.ones(3, 2), torch.randn(3, 2, 2, generator=generator) * 4, torch.eye(2).repeat(3, 2, 1, 1) * 0.3
    ),
}


@pytest.mark.parametrize("name", DENSITIES)
def test_a_priors_own_draws_score_as_the_density_expects(name):
    """The density's mean log-density of the prior's own draws is its negative entropy, as for draws the
    distribution makes itself: a density built wrong (a component turned, a weight lost) scores them lower."""
    prior = DENSITIES[name]
    density = code_density(prior)
    drawn = prior.sample(20_000, generator=torch.Generator().manual_seed(1)).double()
    own = density.sample((20_000,))
    assert float(density.log_prob(drawn).mean()) == pytest.approx(float(density.log_prob(own).mean()), abs=0.05)
    far = drawn + 3 * drawn.std(0)  # the same spread, off the density's mass
    assert density.log_prob(far).mean() < density.log_prob(drawn).mean() - 1


def test_the_swiss_roll_has_no_density_in_closed_form():
    assert code_density(SwissRollPrior()) is None


def test_the_signals_of_a_vae_are_per_image_and_its_elbo_is_reconstruction_plus_kl():
    torch.manual_seed(0)
    model = VAE(VAEConfig(architecture="mlp", hidden=16, latent_dim=4)).eval()
    images = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        found = signals(model, code_density(GaussianPrior(4)), images)
        twice = signals(model, code_density(GaussianPrior(4)), images.repeat(2, 1, 1, 1))
    assert found.pixel_errors.shape == images.shape and found.reconstruction.shape == (5,)
    torch.testing.assert_close(found.reconstruction, found.pixel_errors.flatten(1).mean(1))
    torch.testing.assert_close(
        twice.negative_elbo[:5], twice.negative_elbo[5:]
    )  # no noise: the same image, the same score
    assert found.code_nll is not None and found.negative_elbo is not None
    assert (found.negative_elbo > 0).all()


HELD_OUT = {"reconstruction": np.array([0.01, 0.02, 0.03]), "code_nll": np.array([4.0, 5.0, 6.0])}


def test_a_calibration_standardises_each_signal_on_the_held_out_images_and_sums_or_takes_the_maximum():
    summed = calibrate(HELD_OUT, held_out="three images")
    maxed = calibrate(HELD_OUT, held_out="three images", combine="max")
    spread = np.sqrt(2 / 3)  # of -1, 0, 1
    assert summed.means == pytest.approx([0.02, 5.0]) and summed.stds == pytest.approx([0.01 * spread, spread])
    image = {"reconstruction": np.array([0.02 + 0.02 * spread]), "code_nll": np.array([5.0 - spread])}
    assert summed.score(image) == pytest.approx([1.0]) and maxed.score(image) == pytest.approx([2.0])
    assert summed.scores == pytest.approx([-2 / spread, 0, 2 / spread])
    # a p-value counts the held-out images scoring at least as high, and the image itself
    assert maxed.p_values(np.array([-10.0, 0.0, 10.0])) == pytest.approx([1.0, 0.75, 0.25])


def test_a_calibration_stored_before_the_choice_of_combination_sums():
    stored = {"signals": ["reconstruction", "code_nll"], "means": [0.01, 5.0], "stds": [0.005, 1.0], "scores": [0.0],
              "alpha": 0.01, "held_out": "an earlier version"}  # fmt: skip
    calibration = Calibration.model_validate(stored)
    assert calibration.combine == "sum"
    assert calibration.score({"reconstruction": np.array([0.02]), "code_nll": np.array([6.0])}) == pytest.approx([3.0])

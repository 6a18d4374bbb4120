"""Losses: the closed-form KL against Monte Carlo, reconstruction in nats, the adversarial pair, class confidence."""

import math

import pytest
import torch

from models.losses import (
    class_confidence_loss,
    discriminator_loss,
    generator_loss,
    kl_to_standard_normal,
    reconstruction_loss,
    vae_loss,
)


def test_kl_matches_a_monte_carlo_estimate():
    torch.manual_seed(0)
    means = torch.tensor([[0.5, -1.0, 2.0]])
    log_variances = torch.tensor([[0.0, -1.5, 0.7]])
    std = torch.exp(0.5 * log_variances)
    z = means + std * torch.randn(400_000, 3)
    log_q = torch.distributions.Normal(means, std).log_prob(z).sum(1)
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1)
    assert kl_to_standard_normal(means, log_variances).item() == pytest.approx((log_q - log_p).mean().item(), rel=0.01)


def test_kl_is_zero_for_the_prior_itself():
    assert kl_to_standard_normal(torch.zeros(2, 4), torch.zeros(2, 4)).tolist() == [0.0, 0.0]


def test_reconstruction_is_summed_per_image_and_averaged_over_the_batch():
    images = torch.full((2, 1, 2, 2), 0.5)
    logits = torch.zeros(2, 1, 2, 2)  # sigmoid(0) = 0.5
    assert reconstruction_loss(logits, images, "bce").item() == pytest.approx(4 * math.log(2))
    assert reconstruction_loss(logits, images, "mse").item() == pytest.approx(0.0)


def test_vae_loss_weights_the_kl_by_beta():
    images, logits = torch.rand(3, 1, 4, 4), torch.randn(3, 1, 4, 4)
    means, log_variances = torch.randn(3, 2), torch.randn(3, 2)
    loss, reconstruction, kl = vae_loss(logits, images, means, log_variances, beta=4.0)
    assert loss.item() == pytest.approx(reconstruction.item() + 4.0 * kl.item())


def test_adversarial_losses_reward_the_right_side():
    confident_right = discriminator_loss(torch.full((4,), 10.0), torch.full((4,), -10.0))
    confident_wrong = discriminator_loss(torch.full((4,), -10.0), torch.full((4,), 10.0))
    assert confident_right < 0.01 < confident_wrong
    assert generator_loss(torch.full((4,), 10.0)) < 0.01 < generator_loss(torch.full((4,), -10.0))


def test_class_confidence_prefers_sure_images_of_every_class():
    sure_and_balanced = torch.eye(4) * 20  # each image certain of its own class
    blends = torch.zeros(4, 4)  # each image unsure among all four
    one_class = torch.zeros(4, 4).index_fill_(1, torch.tensor([2]), 20.0)  # all certain of class 2
    assert class_confidence_loss(sure_and_balanced).item() == pytest.approx(-math.log(4), abs=1e-4)
    assert class_confidence_loss(blends).item() == pytest.approx(0.0, abs=1e-6)
    assert class_confidence_loss(one_class).item() == pytest.approx(0.0, abs=1e-4)

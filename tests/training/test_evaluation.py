"""The evaluation measures what it claims, on real Fashion-MNIST and the committed evaluation classifier:
real images against real images score near 0, fresh noise near 1, blurred images worse than sharp ones,
and a model whose samples ignore their label scores the chance label accuracy."""

from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

import models
from training.evaluate import classifier_accuracy, evaluate, frechet_figures, label_accuracy

ROOT = Path(__file__).resolve().parents[2]
N = 2000


@pytest.fixture(scope="module")
def classifier():
    return models.load(ROOT / "checkpoints" / "classifiers" / "fashion-mnist.safetensors").model


@pytest.fixture(scope="module")
def halves(fashion):
    """Two disjoint sets of N real test images, as floats in [0, 1]."""
    images = fashion.test.images.float() / 255
    return images[:N], images[N : 2 * N]


def blur(images: torch.Tensor, size: int) -> torch.Tensor:
    return F.avg_pool2d(F.pad(images, [size // 2] * 4, mode="replicate"), size, stride=1)


def figures(images, real, classifier):
    return frechet_figures(images, real, classifier, torch.Generator().manual_seed(0))


def test_real_images_against_other_real_images_score_near_zero(halves, classifier):
    assert figures(halves[1], halves[0], classifier)["frechet_ratio_to_noise"] < 0.01


def test_fresh_noise_scores_the_noise_reference(halves, classifier):
    noise = torch.rand(halves[0].shape, generator=torch.Generator().manual_seed(1))  # not the reference's draw
    assert figures(noise, halves[0], classifier)["frechet_ratio_to_noise"] == pytest.approx(1.0, abs=0.02)


def test_blurred_images_score_worse_the_more_they_are_blurred(halves, classifier):
    ratios = [figures(blur(halves[1], size), halves[0], classifier)["frechet_ratio_to_noise"] for size in (1, 3, 5)]
    assert ratios[0] < ratios[1] < ratios[2], ratios


def test_real_images_get_the_classifiers_own_accuracy_as_label_accuracy(fashion, classifier):
    images, labels = fashion.test.images.float() / 255, fashion.test.labels
    assert label_accuracy(images, labels, classifier) == pytest.approx(classifier_accuracy(classifier, fashion.test))


def test_a_model_that_ignores_its_label_scores_chance_label_accuracy(fashion, classifier):
    checkpoint = models.load(ROOT / "checkpoints" / "cvae.safetensors")
    model = checkpoint.model
    assert model.takes_labels_to_decode
    with torch.no_grad():  # the decoder's first layer takes (code, one-hot label): cut the label's weights
        model.decoder.net[0][0].weight[:, model.config.latent_dim :] = 0
    scores = evaluate(model, checkpoint.prior, fashion.test.subset(N), classifier, num_samples=N)
    assert scores["label_accuracy"] == pytest.approx(0.1, abs=0.04)  # ten classes, drawn evenly
    assert scores["label_accuracy_ratio"] < 0.2

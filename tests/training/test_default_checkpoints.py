"""The committed default set: every preset is there, small, loads, and its stored figures meet the bar."""

from pathlib import Path

import pytest

import models
from training.defaults import PRESETS

CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"


@pytest.fixture(scope="module")
def defaults():
    return {name: models.load(CHECKPOINTS / f"{name}.safetensors") for name in PRESETS}


def test_every_preset_is_committed_small_and_trained_on_fashion_mnist(defaults):
    for name, checkpoint in defaults.items():
        assert (CHECKPOINTS / f"{name}.safetensors").stat().st_size < 5_000_000, name
        assert checkpoint.training["dataset"] == "fashion-mnist"
        assert checkpoint.training["epochs_done"] == PRESETS[name].train.epochs
        assert checkpoint.class_names[0] == "T-shirt/top"


def test_the_plain_ae_reconstructs_within_0_012_mse(defaults):
    assert defaults["ae"].evaluation["reconstruction_mse"] <= 0.012


@pytest.mark.parametrize("name", ["ae", "vae", "cvae", "aae", "aae-supervised"])
def test_samples_of_models_with_8_or_more_latents_are_within_a_tenth_of_noise(defaults, name):
    assert defaults[name].model.config.latent_dim >= 8
    assert defaults[name].evaluation["frechet_ratio_to_noise"] <= 0.1


def test_every_model_with_8_or_more_latents_is_checked_above(defaults):
    assert {name for name, c in defaults.items() if c.model.config.latent_dim >= 8} == {
        "ae", "vae", "cvae", "aae", "aae-supervised",
    }  # fmt: skip


def test_the_best_conditional_model_is_as_recognisable_as_real_images(defaults):
    ratios = {name: c.evaluation["label_accuracy_ratio"] for name, c in defaults.items() if c.model.samples_by_label}
    assert set(ratios) == {"cvae", "aae-supervised", "aae-mixture", "aae-swissroll"}
    assert max(ratios.values()) >= 1.0


@pytest.mark.parametrize(
    "name",
    [
        "cvae",
        "aae-supervised",
        "aae-mixture",
        "aae-swissroll",
    ],
)
def test_every_conditional_model_is_at_least_90_percent_as_recognisable(defaults, name):
    assert defaults[name].evaluation["label_accuracy_ratio"] >= 0.9


def test_the_evaluation_classifier_is_kept_apart_from_the_served_models():
    classifier = models.load(CHECKPOINTS / "classifiers" / "fashion-mnist.safetensors")
    assert classifier.kind == "classifier" and classifier.evaluation["test_accuracy"] > 0.85

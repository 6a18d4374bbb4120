"""The committed default set: every preset is there, small, loads, and its stored test figures hold the targets
of issue #15 that the set meets, in BOTH judges' feature spaces where the target is met in both (settings were
chosen on the validation split; docs/quality.md lists the targets not met yet)."""

import json
from pathlib import Path

import pytest

import models
from training.defaults import PRESETS
from training.run import JUDGES

ROOT = Path(__file__).resolve().parents[2]
CHECKPOINTS = ROOT / "checkpoints"
# the set before issue #15, evaluated on the test split by today's judges
BEFORE = json.loads((ROOT / "docs" / "benchmarks" / "quality-before.json").read_text())
WIDE = ["ae", "ae-conditional", "vae", "cvae", "aae", "aae-supervised"]  # 8 or more latent dimensions
CONDITIONAL = ["ae-conditional", "cvae", "aae-supervised"]  # the label goes to the decoder
LABEL_PRIOR = ["aae-mixture", "aae-swissroll"]  # 2-D, the label chooses the prior's component
CATEGORICAL = ["aae-semisupervised", "aae-clusters"]  # issue #17: a categorical head beside the style


@pytest.fixture(scope="module")
def defaults():
    return {name: models.load(CHECKPOINTS / f"{name}.safetensors") for name in PRESETS}


def spaces(checkpoint) -> dict:
    assert checkpoint.evaluation["split"] == "test"
    found = checkpoint.evaluation["spaces"]
    assert set(found) == set(JUDGES)
    return found


def test_every_preset_is_committed_small_and_trained_on_fashion_mnist(defaults):
    for name, checkpoint in defaults.items():
        assert (CHECKPOINTS / f"{name}.safetensors").stat().st_size <= 8_000_000, name
        assert checkpoint.training["dataset"] == "fashion-mnist" and checkpoint.training["train_images"] == 55_000
        assert checkpoint.training["epochs_done"] == PRESETS[name].train.epochs
        assert checkpoint.class_names[0] == ("cluster 0" if name == "aae-clusters" else "T-shirt/top")


def test_the_whole_set_retrains_within_an_hour(defaults):
    """Each preset's seconds, and once those of the auxiliary classifier kept for the second stages that share
    it (a preset trained before it was kept counts its own critic's training in its seconds)."""
    critics = [models.load(path).training["seconds"] for path in (CHECKPOINTS / "auxiliary").glob("*.safetensors")]
    assert len(critics) == 1
    assert sum(checkpoint.training["seconds"] for checkpoint in defaults.values()) + sum(critics) <= 3600


def test_the_model_groups_above_are_the_default_set(defaults):
    assert {name for name, c in defaults.items() if c.model.classifies} == set(CATEGORICAL)
    generative = {name: c for name, c in defaults.items() if name not in CATEGORICAL}
    assert {name for name, c in generative.items() if c.model.config.latent_dim >= 8} == set(WIDE)
    assert {name for name, c in generative.items() if c.model.takes_labels_to_decode} == set(CONDITIONAL)
    assert {name for name, c in generative.items() if c.model.config.latent_dim == 2} == set(LABEL_PRIOR)


def test_the_semi_supervised_head_classifies_test_images_from_1000_labels(defaults):
    checkpoint = defaults["aae-semisupervised"]
    assert checkpoint.training["labelled_images"] == 1000
    assert checkpoint.evaluation["classification"]["accuracy"] >= 0.84


def test_the_clustering_head_uses_every_cluster_and_learnt_without_a_label(defaults):
    checkpoint = defaults["aae-clusters"]
    assert checkpoint.training["labelled_images"] == 0 and checkpoint.model.config.num_classes == 30
    figures = checkpoint.evaluation["clustering"]
    assert figures["clusters_used"] >= 30 and figures["accuracy"] >= 0.65


def test_the_categorical_models_sample_their_own_classes_from_a_second_stage(defaults):
    for name in CATEGORICAL:
        checkpoint = defaults[name]
        assert checkpoint.sampler is not None and checkpoint.sampler.name == "class_mixture", name
        assert checkpoint.sampler.num_labels == checkpoint.model.config.num_classes, name
        assert spaces(checkpoint)["resnet"]["frechet_ratio_to_noise"] <= 0.05, name
    semi_supervised = spaces(defaults["aae-semisupervised"])
    assert all(space["label_accuracy_ratio"] >= 1.0 for space in semi_supervised.values())


def test_the_plain_ae_reconstructs_within_0_008_mse(defaults):
    assert defaults["ae"].evaluation["reconstruction_mse"] <= 0.008


@pytest.mark.parametrize("name", WIDE)
def test_samples_of_models_with_8_or_more_latents_are_within_0_06_of_noise_for_the_resnet_judge(defaults, name):
    assert spaces(defaults[name])["resnet"]["frechet_ratio_to_noise"] <= 0.06


@pytest.mark.parametrize("name", ["ae", "ae-conditional", "cvae"])
def test_samples_of_the_aes_and_the_cvae_are_within_0_06_of_noise_for_both_judges(defaults, name):
    assert all(space["frechet_ratio_to_noise"] <= 0.06 for space in spaces(defaults[name]).values())


@pytest.mark.parametrize("name", CONDITIONAL)
def test_every_conditional_model_draws_as_recognisably_as_real_images_for_both_judges(defaults, name):
    assert all(space["label_accuracy_ratio"] >= 1.0 for space in spaces(defaults[name]).values())
    assert spaces(defaults[name])["resnet"]["frechet_ratio_to_noise"] <= 0.05


def test_a_conditional_model_draws_more_recognisably_than_real_images_by_5_percent_for_both_judges(defaults):
    assert any(
        all(space["label_accuracy_ratio"] >= 1.05 for space in spaces(defaults[name]).values()) for name in CONDITIONAL
    )


def test_the_wide_models_sample_by_label_from_a_fitted_density_and_keep_their_prior(defaults):
    for name in WIDE:
        checkpoint = defaults[name]
        assert checkpoint.sampler is not None and checkpoint.sampler.name == "class_mixture", name
        assert checkpoint.prior is not None and checkpoint.evaluation["sampled_from"] == "class_mixture"
    for name in LABEL_PRIOR:  # their prior's components follow the labels better than a fitted mixture
        assert defaults[name].sampler is None and defaults[name].training["fine_tune_history"]


@pytest.mark.parametrize("name", ["ae", "vae", "cvae", "aae", "aae-supervised", *LABEL_PRIOR])
def test_precision_and_coverage_are_higher_than_before_for_both_judges(defaults, name):
    for judge, space in spaces(defaults[name]).items():
        before = BEFORE[name]["spaces"][judge]
        assert space["precision"] > before["precision"] and space["coverage"] > before["coverage"], judge


@pytest.mark.parametrize("name", LABEL_PRIOR)
def test_label_prior_models_are_at_least_92_percent_as_recognisable_as_real_images_for_both_judges(defaults, name):
    for judge, space in spaces(defaults[name]).items():
        assert space["label_accuracy_ratio"] >= 0.92, judge

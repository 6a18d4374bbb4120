"""Short real training runs: every preset learns, the AAE's codes move toward the prior, labels take hold."""

import dataclasses

import pytest
import torch

import models
from models import draw_samples
from training.defaults import PRESETS
from training.evaluate import classifier_accuracy, evaluate, frechet_distance, train_classifier
from training.loop import TrainConfig, train
from training.run import build, train_to_checkpoint


def short(preset_name: str, epochs: int = 1, **changes):
    preset = PRESETS[preset_name]
    return dataclasses.replace(preset, train=dataclasses.replace(preset.train, epochs=epochs, **changes))


@pytest.fixture(scope="module")
def classifier(small):
    return train_classifier(small.train, epochs=2)


def test_the_evaluation_classifier_learns(classifier, small):
    assert classifier_accuracy(classifier, small.test) > 0.7


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_one_epoch_lowers_the_loss_and_writes_a_checkpoint_that_loads(name, small, classifier, tmp_path):
    preset = short(name, epochs=2)
    out = tmp_path / f"{name}.safetensors"
    evaluation = train_to_checkpoint(preset, small, out, dataset="fashion-mnist", classifier=classifier)
    checkpoint = models.load(out)
    history = checkpoint.training["history"]
    assert len(history) == 2 and history[1]["reconstruction"] < history[0]["reconstruction"]
    assert checkpoint.evaluation == evaluation and evaluation["reconstruction_mse"] < 0.1
    assert checkpoint.class_names[0] == "T-shirt/top"
    assert checkpoint.prior is not None and checkpoint.prior.dim == checkpoint.model.config.latent_dim
    if name == "ae":
        assert checkpoint.prior.name == "gaussian_mixture"  # the fitted ex-post density
    if checkpoint.model.config.latent_dim == 2:  # the explorer's latent map: every test image's code
        assert checkpoint.latent_map is not None and checkpoint.latent_map.labels.tolist() == small.test.labels.tolist()
        with torch.no_grad():
            codes = checkpoint.model.encode(small.test.images[:10].float() / 255).latents
        torch.testing.assert_close(checkpoint.latent_map.codes[:10], codes)
        assert checkpoint.latent_map.prior_codes.shape[1] == 2
    else:
        assert checkpoint.latent_map is None
    if preset.kind == "aae":
        assert 0.2 < history[-1]["discriminator_accuracy"] < 0.95  # neither side has won


def test_resume_continues_from_the_saved_epoch(small, classifier, tmp_path):
    out = tmp_path / "vae.safetensors"
    train_to_checkpoint(
        short("vae", epochs=1), dataclasses.replace(small), out, dataset="fashion-mnist", classifier=classifier
    )
    train_to_checkpoint(short("vae", epochs=2), small, out, dataset="fashion-mnist", classifier=classifier, resume=True)
    history = models.load(out).training["history"]
    assert [entry["epoch"] for entry in history] == [1, 2]
    assert history[1]["reconstruction"] < history[0]["reconstruction"]


def test_resume_refuses_another_kind(small, classifier, tmp_path):
    out = tmp_path / "model.safetensors"
    train_to_checkpoint(short("vae"), small, out, dataset="fashion-mnist", classifier=classifier)
    with pytest.raises(ValueError, match="holds a vae"):
        train_to_checkpoint(short("aae"), small, out, dataset="fashion-mnist", classifier=classifier, resume=True)


def test_same_seed_same_model(small):  # initial weights included
    weights = []
    for _ in range(2):
        model, prior = build(short("aae-mixture", seed=5), small)
        train(model, prior, small.train.subset(512), TrainConfig(epochs=1, seed=5))
        weights.append(model.decoder.net[0][0].weight.clone())
    assert torch.equal(weights[0], weights[1])


def _distance_to_prior(model, prior, images) -> float:
    with torch.no_grad():
        codes = model.encode(images).latents.double().numpy()
    draws = prior.sample(len(codes), generator=torch.Generator().manual_seed(0)).double().numpy()
    return frechet_distance(codes, draws)


def test_aae_codes_move_toward_the_prior(small):
    """The same AAE, the same steps, with and without its regularisation phase's encoder updates.

    Its codes are not standardised here: standardising matches their mean and variance to the prior's by
    construction, and this distance (means and covariances) is meant to show the adversary's work alone.
    """
    images = small.test.images[:1000].float() / 255
    distances = {}
    for label, generator_learning_rate in [("regularised", 1e-3), ("unregularised", 0.0)]:
        preset = short("aae", epochs=2, generator_learning_rate=generator_learning_rate)
        preset = dataclasses.replace(preset, model={**preset.model, "standardise_codes": False})
        model, prior = build(preset, small)
        train(model, prior, small.train, preset.train)
        distances[label] = _distance_to_prior(model, prior, images)
    assert distances["regularised"] < distances["unregularised"] / 2, distances


@pytest.mark.parametrize(
    ("name", "epochs"),
    # the cvae's label takes hold through its auxiliary classifier, which first has to learn the classes itself;
    # a label-prior AAE first has to herd each class into its component: they need more steps
    [("cvae", 3), ("aae-supervised", 2), ("aae-mixture", 8), ("aae-swissroll", 8)],
)
def test_conditional_sampling_follows_the_label_better_than_chance(name, epochs, small, classifier):
    preset = short(name, epochs=epochs)
    model, prior = build(preset, small)
    train(model, prior, small.train, preset.train)
    labels = torch.arange(10).repeat(50)
    samples = draw_samples(model, prior, len(labels), labels, torch.Generator().manual_seed(0))
    with torch.no_grad():
        agreement = (classifier(samples.images).argmax(1) == labels).float().mean().item()
    assert agreement > 0.2  # twice chance (0.1); 500 draws put chance within 0.1 +- 0.015


def test_the_auxiliary_classifier_teaches_an_unconditional_decoder_to_draw_classes_not_blends(small, classifier):
    """The same AAE, the same steps, with and without the auxiliary classifier's confidence loss (weighted
    more than the preset's 10 so that three short epochs show it: in one run 1.19 -> 0.81 nats)."""
    entropies = {}
    for weight in (0.0, 50.0):
        preset = short("aae", epochs=3, auxiliary_weight=weight)
        model, prior = build(preset, small)
        train(model, prior, small.train, preset.train)
        samples = draw_samples(model, prior, 500, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            probabilities = classifier(samples.images).softmax(1)
        entropies[weight] = -(probabilities * probabilities.clamp_min(1e-12).log()).sum(1).mean().item()
    assert entropies[50.0] < 0.85 * entropies[0.0], entropies


def test_evaluate_reports_every_figure(small, classifier):
    preset = short("cvae")
    model, prior = build(preset, small)
    figures = evaluate(model, prior, small.test, classifier, num_samples=500)
    assert {
        "reconstruction_mse", "reconstruction_bce_nats", "negative_elbo_nats", "frechet_distance",
        "frechet_distance_noise", "frechet_ratio_to_noise", "label_accuracy", "classifier_test_accuracy",
        "label_accuracy_ratio",
    } == set(figures)  # fmt: skip
    assert figures["frechet_ratio_to_noise"] == figures["frechet_distance"] / figures["frechet_distance_noise"]

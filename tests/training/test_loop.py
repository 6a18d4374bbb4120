"""Short real training runs: every preset learns, the AAE's codes move toward the prior, labels take hold."""

import copy
import dataclasses
from types import SimpleNamespace

import pytest
import torch

import models
from models import draw_samples
from models.pixels import to_unit
from training.classifiers import auxiliary_classifier, train_classifier
from training.config import TrainConfig
from training.data import ImageData
from training.evaluate import classifier_accuracy, evaluate, features, frechet_distance
from training.ex_post import fit_class_mixture
from training.fine_tune import fine_tune_decoder
from training.loop import train
from training.presets import PRESETS
from training.run import TrainingMistake, build, train_to_checkpoint


def short(preset_name: str, epochs: int = 1, **changes):
    """The preset with fewer epochs, and a one-epoch second stage."""
    preset = PRESETS[preset_name]
    fine_tune = preset.fine_tune and dataclasses.replace(
        preset.fine_tune, epochs=min(1, preset.fine_tune.epochs), auxiliary_epochs=1
    )
    train_config = dataclasses.replace(preset.train, epochs=epochs, **changes)
    return dataclasses.replace(preset, train=train_config, fine_tune=fine_tune)


@pytest.fixture(scope="module")
def classifier(small):
    return train_classifier(small.train, epochs=4)


@pytest.fixture(scope="module")
def judges(classifier):
    return {"strided": classifier}


def test_the_classifier_learns(classifier, small):
    assert classifier_accuracy(classifier, small.test) > 0.7


def test_a_kept_auxiliary_classifier_is_trained_once_per_training_set(small, tmp_path):
    """Kept in a folder, it is the classifier training gives, trained by the first call and loaded by every
    later one on the same images, labels and settings (the file untouched); other labels train another."""
    data = small.train.subset(500)
    first = auxiliary_classifier(data, epochs=1, seed=3, kept_in=tmp_path)
    [kept] = tmp_path.iterdir()
    written = kept.stat().st_mtime_ns
    again = auxiliary_classifier(data, epochs=1, seed=3, kept_in=tmp_path)
    assert kept.stat().st_mtime_ns == written and models.load(kept).training["seconds"] > 0
    fresh = train_classifier(data, epochs=1, seed=3)
    for weights in (first.state_dict(), again.state_dict()):
        assert all(torch.equal(weights[name], tensor) for name, tensor in fresh.state_dict().items())
    auxiliary_classifier(
        ImageData(data.images, data.labels.roll(1), data.class_names), epochs=1, seed=3, kept_in=tmp_path
    )
    auxiliary_classifier(data, epochs=2, seed=3, kept_in=tmp_path)
    assert len(list(tmp_path.iterdir())) == 3


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_one_epoch_lowers_the_loss_and_writes_a_checkpoint_that_loads(name, tiny, judges, tmp_path):
    preset = short(name, epochs=2)
    out = tmp_path / f"{name}.safetensors"
    evaluation = train_to_checkpoint(preset, tiny, out, dataset="fashion-mnist", judges=judges, evaluate_on="test")
    checkpoint = models.load(out)
    history = checkpoint.training["history"]
    assert len(history) == 2 and history[1]["reconstruction"] < history[0]["reconstruction"]
    assert checkpoint.evaluation == evaluation and evaluation["reconstruction_mse"] < 0.1
    clustering = preset.labels_per_class == 0
    assert checkpoint.class_names[0] == ("cluster 0" if clustering else "T-shirt/top")
    assert checkpoint.prior is not None and checkpoint.prior.dim == checkpoint.model.config.latent_dim
    if preset.prior == "ex_post":
        assert checkpoint.prior.name == "gaussian_mixture"  # the fitted ex-post density
    if checkpoint.model.classifies:  # how well its head classifies, or clusters
        figures = evaluation["clustering" if clustering else "classification"]
        assert 0.1 < figures["accuracy"] <= 1
    if preset.fine_tune is None:
        assert checkpoint.sampler is None and checkpoint.training["fine_tune_history"] == []
    elif preset.fine_tune.density == "class_mixture":  # the second stage's sampler
        assert len(checkpoint.training["fine_tune_history"]) == preset.fine_tune.epochs
        assert checkpoint.sampler is not None and checkpoint.sampler.num_labels == len(checkpoint.class_names)
    else:  # it fine-tuned on the prior's draws, and the prior samples
        assert len(checkpoint.training["fine_tune_history"]) == preset.fine_tune.epochs
        assert checkpoint.sampler is None and evaluation["sampled_from"] == checkpoint.prior.name
    if checkpoint.model.config.latent_dim == 2:  # the explorer's latent map: every test image's code
        assert checkpoint.latent_map is not None and checkpoint.latent_map.labels.tolist() == tiny.test.labels.tolist()
        with torch.no_grad():
            codes = checkpoint.model.encode(tiny.test.images[:10].float() / 255).latents
        torch.testing.assert_close(checkpoint.latent_map.codes[:10], codes)
        assert checkpoint.latent_map.prior_codes.shape[1] == 2
    else:
        assert checkpoint.latent_map is None
    if preset.kind == "aae":
        # neither side has won; a 16-D code gives the discriminator more room (0.95 after two epochs here),
        # and those models sample through their fitted class mixtures, not the prior
        assert 0.2 < history[-1]["discriminator_accuracy"] < 0.97


def test_resume_continues_from_the_saved_epoch(small, judges, tmp_path):
    out = tmp_path / "vae.safetensors"
    preset = dataclasses.replace(short("vae", epochs=1), fine_tune=None)
    train_to_checkpoint(preset, small, out, dataset="fashion-mnist", judges=judges, evaluate_on="test")
    preset = dataclasses.replace(short("vae", epochs=2), fine_tune=None)
    train_to_checkpoint(preset, small, out, dataset="fashion-mnist", judges=judges, evaluate_on="test", resume=True)
    history = models.load(out).training["history"]
    assert [entry["epoch"] for entry in history] == [1, 2]
    assert history[1]["reconstruction"] < history[0]["reconstruction"]


def test_resume_refuses_another_kind(small, judges, tmp_path):
    out = tmp_path / "model.safetensors"
    vae = dataclasses.replace(short("vae"), fine_tune=None)
    train_to_checkpoint(vae, small, out, dataset="fashion-mnist", judges=judges, evaluate_on="test")
    with pytest.raises(TrainingMistake, match=r"holds another run \(vae on fashion-mnist, vae plain\), not this aae"):
        train_to_checkpoint(short("aae"), small, out, dataset="fashion-mnist", judges=judges, resume=True)


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
    [("cvae", 3), ("aae-supervised", 4), ("aae-mixture", 16), ("aae-swissroll", 8)],
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


def test_evaluate_reports_every_figure_in_every_judges_space(small, judges):
    preset = short("cvae")
    model, prior = build(preset, small)
    figures = evaluate(model, prior, small.test, {**judges, "again": judges["strided"]}, split="test", num_samples=500)
    assert {
        "split", "reconstruction_mse", "reconstruction_bce_nats", "negative_elbo_nats", "sampled_from", "samples",
        "prdc_k", "spaces",
    } == set(figures)  # fmt: skip
    assert figures["spaces"]["strided"] == figures["spaces"]["again"]
    space = figures["spaces"]["strided"]
    assert {
        "frechet_distance", "frechet_distance_noise", "frechet_ratio_to_noise", "precision", "recall", "density",
        "coverage", "label_accuracy", "real_accuracy", "label_accuracy_ratio", "label_accuracy_per_class",
        "confusion",
    } == set(space)  # fmt: skip
    assert space["frechet_ratio_to_noise"] == space["frechet_distance"] / space["frechet_distance_noise"]
    assert sum(space["confusion"][3]) == 50 and space["label_accuracy_per_class"][3] == space["confusion"][3][3] / 50


@pytest.fixture(scope="session")  # a module's fixtures are set up again after another module's test
def second_stage(small):
    """Where both second-stage tests start: the `ae` preset after two epochs, its per-class mixture and draws of
    every class, fine-tuned once without the image-space adversary."""
    preset = short("ae", epochs=2)
    assert preset.fine_tune is not None
    model, prior = build(preset, small)
    train(model, prior, small.train, preset.train)
    density = fit_class_mixture(model, small.train)
    labels = torch.arange(10).repeat(50)

    def draws(tuned) -> torch.Tensor:
        return draw_samples(tuned, density, len(labels), labels, torch.Generator().manual_seed(0)).images

    def tuned(adversary_weight: float):
        """A copy fine-tuned for six epochs from the same weights, with or without the image-space adversary."""
        copied = copy.deepcopy(model)
        config = dataclasses.replace(preset.fine_tune, epochs=6, adversary_weight=adversary_weight)
        fine_tune_decoder(copied, density, small.train, config)
        return copied

    return SimpleNamespace(model=model, labels=labels, draws=draws, without=tuned(0.0), tuned=tuned)


@pytest.mark.xdist_group("second-stage")  # one worker trains the shared start
def test_fine_tuning_on_the_class_mixture_makes_draws_more_recognisable(second_stage, classifier):
    """The second stage on a briefly trained AE with a label-free decoder: its draws for class k, judged by a
    classifier the fine-tuning never saw, are recognised as k more often afterwards."""

    def agreement(model) -> float:
        with torch.no_grad():
            return (classifier(second_stage.draws(model)).argmax(1) == second_stage.labels).float().mean().item()

    before = agreement(second_stage.model)
    assert agreement(second_stage.without) > before + 0.05, before


@pytest.mark.xdist_group("second-stage")
def test_an_image_space_adversary_brings_the_draws_closer_to_real_images(second_stage, classifier, small):
    """The same second stage from the same weights, with and without the adversary: the draws of the one with
    it lie nearer the real test images in the feature space of a classifier the fine-tuning never saw."""

    real = features(classifier, to_unit(small.test.images[:500]))

    def distance(model) -> float:
        return frechet_distance(features(classifier, second_stage.draws(model)), real)

    without, with_adversary = distance(second_stage.without), distance(second_stage.tuned(30.0))
    assert with_adversary < 0.8 * without, (with_adversary, without)

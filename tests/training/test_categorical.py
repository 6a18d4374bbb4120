"""The semi-supervised and clustering AAEs: their phases, what they learn, and how they are scored."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image

from training import plots
from training.categorical import (
    class_probabilities,
    classification_figures,
    cluster_figures,
    kmeans_figures,
    labelled_by_head,
    mapped_figures,
    pixels,
)
from training.classifiers import rescale_brightness
from training.data import ImageData, keep_labels
from training.ex_post import fit_class_mixture
from training.loop import train
from training.neighbours import nearest_neighbours
from training.phases import phases_for
from training.presets import PRESETS
from training.run import build
from training.study import PAPER_MNIST, _kept, _summary, markdown


def test_each_family_trains_through_its_phases_as_data(small):
    names = {}
    for preset in ("vae", "aae", "aae-semisupervised"):
        model, prior = build(PRESETS[preset], small)
        data = keep_labels(small.train, 2, seed=0) if model.classifies else small.train  # 2 labels a class
        phases = phases_for(model, prior, PRESETS[preset].train, data)
        names[preset] = [phase.name for phase in phases]
        if preset == "aae-semisupervised":
            updates = {phase.name: phase.updates for phase in phases}
            assert updates["category discriminator"] == (model.category_discriminator,)
            assert updates["labelled"] == updates["generator"] == (model.encoder,)
    assert names == {
        "vae": ["reconstruction"],
        "aae": ["reconstruction", "auxiliary", "discriminator", "generator"],
        "aae-semisupervised": [
            "reconstruction", "discriminator", "generator", "category discriminator", "category generator", "labelled",
        ],
    }  # fmt: skip


def test_nearest_neighbours_are_other_images_of_the_same_kind():
    generator = torch.Generator().manual_seed(0)
    stripes = torch.zeros(1, 28, 28).index_fill_(2, torch.arange(0, 28, 4), 200)
    kinds = torch.stack([stripes, stripes.transpose(1, 2), torch.full((1, 28, 28), 100.0)])
    labels = torch.arange(300) % 3
    noisy = (kinds[labels] + 40 * torch.randn(300, 1, 28, 28, generator=generator)).clamp(0, 255).to(torch.uint8)
    neighbours = nearest_neighbours(ImageData(noisy, labels, ["across", "down", "grey"]), k=5)
    assert neighbours.shape == (300, 5)
    assert (neighbours != torch.arange(300)[:, None]).all()  # never an image itself
    assert (labels[neighbours] == labels[:, None]).all()


def test_the_neighbour_phase_sees_each_image_lighter_or_darker_on_a_background_still_black():
    images = torch.zeros(64, 1, 28, 28).index_fill_(2, torch.arange(8, 20), 0.8)  # a grey band across black
    seen = rescale_brightness(images, torch.Generator().manual_seed(0))
    assert seen[:, :, :8].eq(0).all() and seen[:, :, 20:].eq(0).all()
    band = seen[:, 0, 10, 10]
    assert band.min() < 0.5 and band.max() == 1.0  # darker in some images, clipped to white in others
    assert seen[:, :, 8:20].eq(band[:, None, None, None]).all()  # one factor over each whole image
    assert images[:, :, 8:20].eq(0.8).all()  # the images given are left as they were


def test_the_neighbour_phase_gives_neighbours_one_cluster_without_putting_everything_in_one(small):
    preset = PRESETS["aae-clusters"]
    model, prior = build(dataclasses.replace(preset, model={**preset.model, "num_classes": 16}), small)
    data = keep_labels(small.train, 0)
    neighbours = nearest_neighbours(data, k=10)

    def agreement() -> float:
        """How much more often an image shares its neighbours' cluster than a random image's."""
        clusters = class_probabilities(model, data).argmax(1)
        by_chance = (torch.bincount(clusters, minlength=16) / len(clusters)).square().sum()
        return float((clusters[neighbours] == clusters[:, None]).float().mean() / by_chance)

    before = agreement()
    config = dataclasses.replace(preset.train, epochs=1, neighbours=10, only_phases=("neighbours",))
    assert set(train(model, prior, data, config)[0]) >= {"neighbours", "neighbour_imbalance"}
    assert agreement() > 2 * before
    assert cluster_figures(model, small.train, small.test)["clusters_used"] >= 12


def test_the_supervised_only_baseline_trains_the_encoder_on_the_labels_alone(small):
    preset = PRESETS["aae-semisupervised"]
    model, prior = build(preset, small)
    decoder = {name: value.clone() for name, value in model.decoder.state_dict().items()}
    config = dataclasses.replace(preset.train, epochs=1, only_phases=("labelled",))
    history = train(model, prior, keep_labels(small.train, 10), config)
    assert set(history[0]) == {"labelled", "epoch", "seconds", "images_per_second"}
    assert all(torch.equal(value, decoder[name]) for name, value in model.decoder.state_dict().items())
    with pytest.raises(ValueError, match="no phase"):
        train(model, prior, small.train, dataclasses.replace(config, only_phases=("labeled",)))


def test_a_few_labels_teach_the_categorical_head_the_classes(small):
    preset = PRESETS["aae-semisupervised"]
    model, prior = build(preset, small)
    train(model, prior, keep_labels(small.train, 30), dataclasses.replace(preset.train, epochs=3))
    figures = classification_figures(model, small.test)
    assert figures["accuracy"] > 0.6 and figures["error"] == pytest.approx(1 - figures["accuracy"])
    assert len(figures["accuracy_per_class"]) == 10


def test_without_labels_the_heads_clusters_hold_mostly_one_class_each(small):
    preset = PRESETS["aae-clusters"]
    model, prior = build(dataclasses.replace(preset, model={**preset.model, "num_classes": 16}), small)
    history = train(model, prior, keep_labels(small.train, 0), dataclasses.replace(preset.train, epochs=3))
    assert "labelled" not in history[-1]  # no labels, no semi-supervised phase
    figures = cluster_figures(model, small.train, small.test)
    assert figures["clusters"] == 16 and figures["clusters_used"] >= 8
    assert figures["accuracy"] > 0.4 and figures["nmi"] > 0.3


def test_the_second_stage_sees_only_the_labels_training_kept_and_the_heads_guesses_elsewhere(small):
    preset = PRESETS["aae-clusters"]
    model, _ = build(preset, small)
    data = keep_labels(small.train.subset(500), 2)  # 20 labels kept
    clusters = [f"cluster {k}" for k in range(30)]
    relabelled = labelled_by_head(model, data, clusters)
    kept = data.labels >= 0
    assert relabelled.class_names == clusters and torch.equal(relabelled.images, data.images)
    assert torch.equal(relabelled.labels[kept], data.labels[kept])
    assert torch.equal(relabelled.labels[~kept], class_probabilities(model, data).argmax(1)[~kept])


def test_a_cluster_with_too_few_images_for_its_own_density_draws_from_every_codes(small):
    model, _ = build(PRESETS["aae-clusters"], small)
    data = small.train.subset(300)
    labels = torch.where(torch.arange(300) < 2, 29, torch.arange(300) % 29)  # cluster 29: 2 images, 3 components
    density = fit_class_mixture(model, ImageData(data.images, labels, [f"cluster {k}" for k in range(30)]))
    draws = density.sample(50, torch.full((50,), 29), torch.Generator().manual_seed(0))
    assert density.num_labels == 30 and torch.isfinite(draws).all()


def test_mapped_figures_score_pure_clusters_perfectly_and_label_blind_ones_at_chance():
    labels = torch.arange(1000) % 4
    data = ImageData(torch.zeros(1000, 1, 2, 2, dtype=torch.uint8), labels, ["a", "b", "c", "d"])
    pure = (labels * 2 + torch.arange(1000) // 4 % 2).numpy()  # two clusters per class
    figures = mapped_figures(pure, data, pure, data, clusters=8)
    assert figures["accuracy"] == 1 and figures["nmi"] > 0.6
    assert figures["majority_class"] == ["a", "a", "b", "b", "c", "c", "d", "d"] and figures["clusters_used"] == 8
    blind = np.random.default_rng(0).integers(0, 8, 1000)
    figures = mapped_figures(blind, data, blind, data, clusters=8)
    assert figures["accuracy"] < 0.4 and figures["nmi"] < 0.05


def test_kmeans_on_pixels_finds_well_separated_classes(small):
    data = small.test.subset(400)
    bright = ImageData((data.labels[:, None, None, None] * 25).expand(-1, 1, 28, 28).to(torch.uint8), data.labels,
                       data.class_names)  # fmt: skip
    figures = kmeans_figures(pixels(bright), bright, pixels(bright), bright, clusters=10)
    assert figures["accuracy"] == 1


def test_the_study_summarises_each_measure_over_seeds_and_writes_it_as_a_table():
    runs = {
        "100 labels": [
            {"semi_supervised": 0.70, "supervised_only": 0.66}, {"semi_supervised": 0.74, "supervised_only": 0.68},
        ],
        "30 clusters": [
            {"aae": {"accuracy": 0.8, "nmi": 0.7, "clusters_used": 30}, "kmeans_pixels": {"accuracy": 0.66, "nmi": 0.5},
             "kmeans_ae_codes": {"accuracy": 0.68, "nmi": 0.55}},
        ],
    }  # fmt: skip
    summary = {name: _summary(results) for name, results in runs.items()}
    assert summary["100 labels"]["semi_supervised"] == pytest.approx((0.72, 0.02))
    assert summary["30 clusters"]["aae.accuracy"] == (0.8, 0.0)
    seconds = {"semi-supervised": 5, "clustering": None}
    report = {"split": "test", "seeds": [0, 1], "seconds": seconds, "summary": summary}
    report["paper_mnist_error_percent"] = PAPER_MNIST
    text = markdown(report)
    assert "(semi-supervised 5 s, clustering in an earlier run)" in text
    assert "| 100 | 0.7200 ± 0.0200 | 0.6700 ± 0.0100 | +5.0 | yes |" in text
    assert "| 30 | 0.8000 ± 0.0000 | 0.6600 ± 0.0000 | 0.6800 ± 0.0000 |" in text and "1.90 ± 0.10" in text


def test_a_study_of_one_part_keeps_the_other_parts_runs_from_the_same_split_and_seeds(tmp_path):
    out = tmp_path / "study.json"
    with pytest.raises(ValueError, match="no earlier report"):
        _kept(out, "test", [0, 1], ["semi-supervised"])
    labels, clusters = [{"semi_supervised": 0.7, "supervised_only": 0.6}], [{"aae": {"accuracy": 0.7}}]
    runs = {"100 labels": labels, "1000 labels": labels, "16 clusters": clusters, "30 clusters": clusters}
    out.write_text(json.dumps({"split": "test", "seeds": [0, 1], "seconds": 2338, "runs": runs}))
    assert _kept(out, "test", [0, 1], ["semi-supervised"]) == (
        {"100 labels": labels, "1000 labels": labels},
        {"semi-supervised": None},
    )
    for split, seeds in (("validation", [0, 1]), ("test", [0])):
        with pytest.raises(ValueError, match="run every part"):
            _kept(out, split, seeds, ["semi-supervised"])


def test_the_pictures_of_a_categorical_model_show_its_clusters_and_its_styles_as_every_class(small, tmp_path):
    for name in ("aae-semisupervised", "aae-clusters"):
        model, _ = build(PRESETS[name], small)
        model.eval()
        if name == "aae-clusters":
            plots.cluster_grid(model, small.test, [f"class of {k}" for k in range(30)], tmp_path)
        else:
            plots.style_content_grid(model, small.test, tmp_path)
    for picture in ("clusters.png", "style_content.png"):
        width, height = Image.open(tmp_path / picture).size
        assert width > 200 and height > 200, picture

"""The evaluation measures what it claims, on real Fashion-MNIST and in both committed judges' feature spaces:
real images against other real images score near 0, fresh noise near 1, blurred images a worse distance and
a lower precision than sharp ones, real images their judge's own accuracy, and a model whose samples ignore
their label the chance label accuracy."""

import ast
import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import models
from training.evaluate import classifier_accuracy, evaluate, judged, judged_reference, sample_figures
from training.run import JUDGES

ROOT = Path(__file__).resolve().parents[2]
FASHION_MNIST = "b85b769f9e47af0b"  # the digest of its training split: the committed judges are keyed by it
N = 2000


@pytest.fixture(scope="module", params=sorted(JUDGES))
def judge(request):
    return models.load(
        ROOT / "checkpoints" / "classifiers" / f"fashion-mnist-{FASHION_MNIST}-{request.param}.safetensors"
    ).model


@pytest.fixture(scope="module")
def halves(fashion):
    """Two disjoint sets of N real test images: the reference, and images to score against it."""
    return fashion.test.subset(N), fashion.test.images[N : 2 * N].float() / 255


def blur(images: torch.Tensor, size: int) -> torch.Tensor:
    return F.avg_pool2d(F.pad(images, [size // 2] * 4, mode="replicate"), size, stride=1)


def figures(images, reference, judge, labels=None):
    noise = torch.rand(reference.images.shape, generator=torch.Generator().manual_seed(0))
    return sample_figures(images, labels, reference, judge, noise)


def test_the_judges_are_accurate_and_kept_apart_from_the_served_models():
    for name in JUDGES:
        judge = models.load(ROOT / "checkpoints" / "classifiers" / f"fashion-mnist-{FASHION_MNIST}-{name}.safetensors")
        assert judge.kind == "classifier" and judge.evaluation["test_accuracy"] >= 0.92, name


def test_real_images_against_other_real_images_score_near_zero_and_high_precision(halves, judge):
    scores = figures(halves[1], halves[0], judge)
    assert scores["frechet_ratio_to_noise"] < 0.01
    assert scores["precision"] > 0.7 and scores["coverage"] > 0.9


def test_fresh_noise_scores_the_noise_reference_and_no_precision(halves, judge):
    noise = torch.rand(halves[1].shape, generator=torch.Generator().manual_seed(1))  # not the reference's draw
    scores = figures(noise, halves[0], judge)
    assert scores["frechet_ratio_to_noise"] == pytest.approx(1.0, abs=0.02)
    # noise lands in few real images' neighbourhoods (0.23 for cnn: it sits near the real images whose
    # 5-NN balls are widest), and in the neighbourhood of no real image but a handful
    assert scores["precision"] < 0.3 and scores["coverage"] < 0.01


def test_blurred_images_score_worse_distance_and_precision_the_more_they_are_blurred(halves, judge):
    scores = [figures(blur(halves[1], size), halves[0], judge) for size in (1, 3, 5)]
    ratios = [each["frechet_ratio_to_noise"] for each in scores]
    precisions = [each["precision"] for each in scores]
    assert ratios[0] < ratios[1] < ratios[2], ratios
    assert precisions[0] > precisions[1] > precisions[2], precisions


def test_real_images_get_the_judges_own_accuracy_as_label_accuracy(fashion, halves, judge):
    real = fashion.test.subset(N)
    scores = figures(real.images.float() / 255, real, judge, labels=real.labels)
    assert scores["label_accuracy"] == pytest.approx(classifier_accuracy(judge, real))
    assert scores["label_accuracy_ratio"] == pytest.approx(1.0)
    assert sum(map(sum, scores["confusion"])) == N and len(scores["label_accuracy_per_class"]) == 10


def test_the_reference_images_are_judged_once_and_afresh_for_other_weights_or_images(halves, judge):
    real = halves[0].images[:200].float() / 255
    remembered = judged_reference(judge, real)[0]
    assert judged_reference(judge, real.clone())[0] is remembered  # the same weights and images: not judged again
    assert np.array_equal(remembered, judged(judge, real)[0])
    assert judged_reference(judge, real[:100])[0].shape[0] == 100
    trained_further = copy.deepcopy(judge)
    with torch.no_grad():
        next(trained_further.parameters()).mul_(2)
    assert not np.allclose(judged_reference(trained_further, real)[0], remembered)


def test_a_model_that_ignores_its_label_scores_chance_label_accuracy(fashion, judge):
    checkpoint = models.load(ROOT / "checkpoints" / "cvae.safetensors")
    model = checkpoint.model
    assert model.takes_labels_to_decode
    with torch.no_grad():  # the decoder's first layer takes (code, one-hot label): cut the label's weights
        model.decoder.net[0][0].weight[:, model.config.latent_dim :] = 0
    scores = evaluate(model, checkpoint.prior, fashion.test.subset(N), {"judge": judge}, split="test", num_samples=N)[
        "spaces"
    ]["judge"]
    assert scores["label_accuracy"] == pytest.approx(0.1, abs=0.04)  # ten classes, drawn evenly
    assert scores["label_accuracy_ratio"] < 0.2


def test_no_training_path_imports_the_evaluation_or_reads_the_judges():
    """What trains a model (the loop, its phases, the second stage, the auxiliary classifiers, the ex-post
    densities) never imports the evaluation and never names the judges' files."""
    for module in ("loop", "phases", "steps", "fine_tune", "classifiers", "ex_post"):
        source = (ROOT / "training" / f"{module}.py").read_text()
        imported = {
            node.module if isinstance(node, ast.ImportFrom) else alias.name
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }
        assert not {"training.evaluate", "training.run", "training.categorical", "training.study"} & imported, module
        assert "classifiers/" not in source and "JUDGES" not in source, module

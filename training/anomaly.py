"""The anomaly score's calibration and its false-positive rate: `python -m training calibrate CHECKPOINT`, and
the last step of every training run.

The held-out normal images are the validation split (never trained on), or a user's own folder of normal
images; the realised false-positive rate at the calibration's `alpha` is measured on the test split.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

import models
from models import Autoencoder
from models.anomaly import Calibration, calibrate, code_density, signals
from models.pixels import from_pil, to_unit
from training.config import TrainingMistake
from training.data import ImageData, Splits, hold_out_validation

BATCH = 500
# images per outlier set in the stored figures, and normal test images beside them: scikit-learn's 1,797 digits,
# every other one, the rest choosing each model's combination
OUTLIERS = 898
COMBINATIONS: tuple[Literal["sum", "max"], ...] = ("sum", "max")


def calibration_of(
    model: Autoencoder, density: models.Prior | None, normal: ImageData, held_out: str, alpha: float = 0.01
) -> Calibration:
    """Standardised on `normal` (held-out normal images), and summed or maxed: whichever tells them better from
    synthetic outliers made from them (the digits `detection_figures` leaves, themselves upside down, noise of
    another seed), by mean AUROC."""
    found = _signals_of(model, density, normal)
    candidates = [calibrate(found, held_out=held_out, alpha=alpha, combine=combine) for combine in COMBINATIONS]
    normal = normal.subset(OUTLIERS)
    ours = _signals_of(model, density, normal, best_label=True)
    theirs = [
        _signals_of(model, density, data, best_label=True)
        for data in outlier_sets(normal, len(normal), seed=1, digits="choosing").values()
    ]
    return max(candidates, key=lambda candidate: float(np.mean([_auroc(candidate, ours, one) for one in theirs])))


def _auroc(calibration: Calibration, normal: dict[str, np.ndarray], outliers: dict[str, np.ndarray]) -> float:
    truth = np.r_[np.zeros(len(normal["reconstruction"])), np.ones(len(outliers["reconstruction"]))]
    return float(roc_auc_score(truth, np.r_[calibration.score(normal), calibration.score(outliers)]))


def scores_of(
    model: Autoencoder, density: models.Prior | None, calibration: Calibration, data: ImageData
) -> np.ndarray:
    """The calibrated score of every image of `data`."""
    return calibration.score(_signals_of(model, density, data))


def _signals_of(
    model: Autoencoder, density: models.Prior | None, data: ImageData, *, best_label: bool = False
) -> dict[str, np.ndarray]:
    """The signals of every image; with `best_label`, a model that reconstructs with labels gets each image's
    best-fitting one (the lowest reconstruction error), as for images that come with none."""
    found: dict[str, list[np.ndarray]] = {}
    distribution = code_density(density) if density is not None else None
    takes_labels = (model.takes_labels_to_encode or model.takes_labels_to_decode) and not model.classifies
    classes = model.config.num_classes if best_label and takes_labels else 0  # a categorical head picks its own
    with torch.no_grad():
        for images, labels in _batches(model, data):
            if classes:
                each = [signals(model, distribution, images, torch.full_like(labels, k)) for k in range(classes)]  # type: ignore[arg-type]
                best = torch.stack([one.reconstruction for one in each]).argmin(0)
                values = {}
                for name in ("reconstruction", "code_nll", "negative_elbo"):
                    stacked = [getattr(one, name) for one in each]
                    values[name] = None if stacked[0] is None else torch.stack(stacked)[best, torch.arange(len(best))]
            else:
                values = signals(model, distribution, images, labels)._asdict()
            for name, value in values.items():
                if name != "pixel_errors" and value is not None:
                    found.setdefault(name, []).append(value.double().cpu().numpy())
    return {name: np.concatenate(parts) for name, parts in found.items()}


def outlier_sets(
    like: ImageData, count: int, seed: int = 0, digits: Literal["reported", "choosing"] = "reported"
) -> dict[str, ImageData]:
    """`count` images each unlike `like`'s: scikit-learn's 8x8 handwritten digits (odd-numbered ones reported, the
    others choosing), white on black and scaled into the middle of the image as MNIST's are; `like`'s own images
    upside down; uniform noise."""
    shape = like.image_shape
    drawn = load_digits().images[1 if digits == "reported" else 0 :: 2][:count] * (255 / 16)
    bilinear = Image.Resampling.BILINEAR
    framed = [Image.fromarray(np.pad(digit, 1).astype(np.uint8)).resize((20, 20), bilinear) for digit in drawn]
    centred = [from_pil(Image.fromarray(np.pad(np.asarray(image), 4)), shape) for image in framed]
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randint(0, 256, (count, *shape), generator=generator, dtype=torch.uint8)
    unlabelled = torch.full((count,), -1)
    return {
        "digits": ImageData(torch.from_numpy(np.stack(centred)), unlabelled[: len(centred)], like.class_names),
        "flipped": ImageData(like.images[:count].flip(-2), like.labels[:count], like.class_names),
        "noise": ImageData(noise, unlabelled, like.class_names),
    }


def detection_figures(
    model: Autoencoder, density: models.Prior | None, calibration: Calibration, normal: ImageData,
    outliers: dict[str, ImageData],
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Per outlier set, how well the score tells its images from `normal` ones: AUROC, AUPRC (outliers positive),
    the false-positive rate at 95 % true positives, and each signal's AUROC alone. No image brings a label: a model
    that reconstructs with labels scores each under its best-fitting one."""
    ours = _signals_of(model, density, normal, best_label=True)
    figures = {}
    for name, data in outliers.items():
        theirs = _signals_of(model, density, data, best_label=True)
        truth = np.r_[np.zeros(len(normal)), np.ones(len(data))]
        score = np.r_[calibration.score(ours), calibration.score(theirs)]
        false_positives, true_positives, _ = roc_curve(truth, score)
        figures[name] = {
            "auroc": round(float(roc_auc_score(truth, score)), 4),
            "auprc": round(float(average_precision_score(truth, score)), 4),
            "fpr_at_95_tpr": round(float(false_positives[np.searchsorted(true_positives, 0.95)]), 4),
            "auroc_by_signal": {
                signal: round(float(roc_auc_score(truth, np.r_[ours[signal], theirs[signal]])), 4) for signal in ours
            },
        }
    return figures


def false_positive_rate(
    model: Autoencoder, density: models.Prior | None, calibration: Calibration, normal: ImageData
) -> float:
    """The share of `normal` images (not those calibrated on) flagged at the calibration's alpha."""
    return float((calibration.p_values(scores_of(model, density, calibration, normal)) < calibration.alpha).mean())


def calibrate_checkpoint(
    path: Path, normal: ImageData, held_out: str, *, test: ImageData | None = None, alpha: float = 0.01,
    device: str = "cpu",
) -> dict[str, Any]:  # fmt: skip
    """Calibrate the checkpoint at `path` on `normal` images and store it there, with the false-positive rate on
    `test` (normal images too) in its evaluation; return what was stored about it."""
    checkpoint = models.load(path, device)
    model = checkpoint.model
    assert isinstance(model, Autoencoder), "checkpoints hold autoencoders"
    calibration = calibration_of(model, checkpoint.density, normal, held_out, alpha)
    figures: dict[str, Any] = {"calibrated_on": held_out, "calibration_images": len(normal), "alpha": alpha,
                               "signals": calibration.signals, "combine": calibration.combine}  # fmt: skip
    if test is not None:
        figures["false_positive_rate"] = false_positive_rate(model, checkpoint.density, calibration, test)
        figures["false_positive_rate_images"] = len(test)
        normal = test.subset(OUTLIERS)  # as many outliers of each kind as normal images
        outliers = outlier_sets(normal, len(normal))
        figures["against"] = detection_figures(model, checkpoint.density, calibration, normal, outliers)
    evaluation = {**checkpoint.evaluation, "anomaly": {**checkpoint.evaluation.get("anomaly", {}), **figures}}
    models.rewrite(path, dataclasses.replace(checkpoint, calibration=calibration, evaluation=evaluation))
    return figures


def calibrate_command(
    path: Path, splits: Splits, folder: Path | None, dataset: str, *, alpha: float, limit: int | None, device: str
) -> str:
    """`calibrate CHECKPOINT`: on every image of a user's `folder` (its `splits`), else on the data set's validation
    split with the false-positive rate on its test split; what was stored, in a line."""
    if not 0 < alpha < 1:
        raise TrainingMistake(f"--alpha must lie between 0 and 1, got {alpha}")
    if not path.is_file():
        raise TrainingMistake(f"{path}: no such checkpoint file")
    if folder is not None:
        every = ImageData(torch.cat([splits.train.images, splits.test.images]),
                          torch.cat([splits.train.labels, splits.test.labels]), splits.train.class_names)  # fmt: skip
        figures = calibrate_checkpoint(path, every, str(folder), alpha=alpha, device=device)
    else:
        splits = hold_out_validation(splits)
        assert splits.validation is not None
        figures = calibrate_checkpoint(
            path, splits.validation.subset(limit), f"the {dataset} validation split", test=splits.test.subset(limit),
            alpha=alpha, device=device,
        )  # fmt: skip
    return f"{path}: " + ", ".join(f"{key} {value}" for key, value in figures.items())


def _batches(model: Autoencoder, data: ImageData) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    device = next(model.parameters()).device
    takes_labels = model.takes_labels_to_encode or model.takes_labels_to_decode
    return [
        (to_unit(data.images[start : start + BATCH].to(device)),
         data.labels[start : start + BATCH].to(device) if takes_labels else None)
        for start in range(0, len(data), BATCH)
    ]  # fmt: skip

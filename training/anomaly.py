"""The anomaly score's calibration and its false-positive rate: `python -m training calibrate CHECKPOINT`, and
the last step of every training run.

The held-out normal images are the validation split (never trained on), or a user's own folder of normal
images; the realised false-positive rate at the calibration's `alpha` is measured on the test split.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

import models
from models import Autoencoder
from models.anomaly import Calibration, calibrate, code_density, signals
from models.pixels import to_unit
from training.config import TrainingMistake
from training.data import ImageData, Splits, hold_out_validation

BATCH = 500


def calibration_of(
    model: Autoencoder, density: models.Prior | None, normal: ImageData, held_out: str, alpha: float = 0.01
) -> Calibration:
    return calibrate(model, density, _batches(model, normal), held_out=held_out, alpha=alpha)


def scores_of(
    model: Autoencoder, density: models.Prior | None, calibration: Calibration, data: ImageData
) -> np.ndarray:
    """The calibrated score of every image of `data`."""
    found: dict[str, list[np.ndarray]] = {}
    distribution = code_density(density) if density is not None else None
    with torch.no_grad():
        for images, labels in _batches(model, data):
            for name, value in signals(model, distribution, images, labels)._asdict().items():
                if name != "pixel_errors" and value is not None:
                    found.setdefault(name, []).append(value.double().cpu().numpy())
    return calibration.score({name: np.concatenate(parts) for name, parts in found.items()})


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
                               "signals": calibration.signals}  # fmt: skip
    if test is not None:
        figures["false_positive_rate"] = false_positive_rate(model, checkpoint.density, calibration, test)
        figures["false_positive_rate_images"] = len(test)
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

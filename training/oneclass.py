"""`python -m training oneclass`: the one-class protocol of the anomaly-detection literature. For each class, a
model trained on that class's training images alone scores the other classes' images as anomalies: per-class
and mean AUROC, the protocol GEOM (Golan & El-Yaniv 2018), ARNet and Deep SAD report on Fashion-MNIST.

Settings are chosen on validation: the class's held-out training images are the normal side and the held-out
images of the other classes the anomalies; the test split (the class's 1,000 test images against the other
9,000) is reported once. The score is `POST /score`'s: reconstruction error and the code's density under a
mixture fitted to the class's codes, each standardised on the class's held-out images, summed or maxed as the
calibration chooses (against synthetic outliers, never the other classes).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from training.anomaly import calibration_of, scores_of
from training.data import ImageData, Splits
from training.ex_post import fit_ex_post_density
from training.loop import train
from training.presets import PRESETS
from training.run import build

# what each normal class is trained with: the ae preset's network, no auxiliary classifier (one class has no
# classes to tell apart), no second stage (nothing is sampled)
PRESET = "ae"


def one_class_study(
    held: Splits, *, split: str, epochs: int, docs_dir: Path | None = None, preset_name: str = PRESET, seed: int = 0
) -> str:
    """Per class of `held` (its validation split held out), the AUROC of a model trained on that class alone, on
    `split` ("validation" or "test"), and the mean; written under `docs_dir` if given; the summary in a line."""
    assert held.validation is not None, "hold the validation split out first"
    evaluated = held.validation if split == "validation" else held.test
    preset = PRESETS[preset_name]
    preset = dataclasses.replace(
        preset, train=dataclasses.replace(preset.train, epochs=epochs, auxiliary_weight=0.0, seed=seed)
    )
    classes: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    for label, name in enumerate(held.train.class_names):
        began = time.perf_counter()
        normal = _only(held.train, label)
        model, prior = build(preset, Splits(normal, normal))
        train(model, prior, normal, preset.train)
        density = fit_ex_post_density(model, normal, seed=seed)
        calibration = calibration_of(model, density, _only(held.validation, label), f"held-out {name}")
        truth = (evaluated.labels != label).numpy()  # the other classes are the anomalies
        classes[name] = {
            "auroc": round(100 * float(roc_auc_score(truth, scores_of(model, density, calibration, evaluated))), 2),
            "combine": calibration.combine,
            "seconds": round(time.perf_counter() - began, 1),
        }
    aurocs = [figures["auroc"] for figures in classes.values()]
    report = {
        "split": split, "preset": preset_name, "epochs": epochs, "signals": calibration.signals,
        "classes": classes, "mean_auroc": round(float(np.mean(aurocs)), 2), "worst_auroc": min(aurocs),
        "seconds": round(time.perf_counter() - started, 1),
    }  # fmt: skip
    if docs_dir is not None:
        write(report, docs_dir / "benchmarks" / "oneclass.json", docs_dir / "oneclass.md")
    return json.dumps({key: value for key, value in report.items() if key != "classes"})


def write(report: dict[str, Any], out: Path, doc: Path) -> None:
    """The figures as JSON, and as a markdown page beside the published means."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    rows = [
        f"| {name} | {figures['auroc']:.1f} | {figures.get('combine', 'sum')} | {figures['seconds']:.0f} |"
        for name, figures in report["classes"].items()
    ]
    doc.write_text("\n".join([
        "# One class at a time", "",
        "`python -m training oneclass`: for each Fashion-MNIST class, a model trained on that class's training",
        "images alone scores the whole split, the other classes being the anomalies (the protocol of GEOM, ARNet",
        f"and Deep SAD). Model: the `{report['preset']}` preset's network, {report['epochs']} epochs, no auxiliary",
        f"classifier, no second stage. Score: `POST /score`'s ({', '.join(report['signals'])}, each standardised on",
        "the class's held-out training images, summed or maxed as the calibration chose against synthetic outliers).",
        f"Split: {report['split']}; {report['seconds']:.0f} s for all ten classes on 2 CPU cores.", "",
        "| class | AUROC (%) | score | s |", "|---|---|---|---|", *rows,
        f"| **mean** | **{report['mean_auroc']:.1f}** | | |", "",
        "Published means on this protocol: GEOM 93.5, ARNet 93.9, Deep SAD 89.2.", "",
    ]))  # fmt: skip


def _only(data: ImageData, label: int) -> ImageData:
    chosen = data.labels == label
    return ImageData(data.images[chosen], data.labels[chosen], data.class_names)

"""docs/models.md: the default set's figures, read back from the checkpoints, beside the figures of the set
before issue #15 (docs/benchmarks/quality-before.json) where that file exists, and its pictures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import models
from training.targets import check

SPACE_COLUMNS = [("FD/noise", "frechet_ratio_to_noise"), ("precision", "precision"), ("recall", "recall"),
                 ("density", "density"), ("coverage", "coverage"), ("label/real", "label_accuracy_ratio")]  # fmt: skip


JUDGE_KINDS = {"cnn": "a plain VGG-style CNN", "resnet": "a small residual CNN with global pooling"}


def _figure(figures: dict[str, Any], key: str, digits: int = 3) -> str:
    return f"{figures[key]:.{digits}g}" if key in figures else "–"


QUALITY_BEFORE = Path("benchmarks") / "quality-before.json"  # under docs/: the set before issue #15


def stale_or_missed(checkpoints_dir: Path, docs_dir: Path) -> list[str]:
    """The targets (training/targets.py) the stored figures miss, and a docs/models.md that is not their table."""
    missed = check(checkpoints_dir)
    table, out = models_table(checkpoints_dir, docs_dir, docs_dir / QUALITY_BEFORE), docs_dir / "models.md"
    if not out.exists() or out.read_text() != table:
        missed.append(f"{out} is not the table of {checkpoints_dir}: run python -m training report")
    return missed


def write_models_table(checkpoints_dir: Path, out: Path, before: Path | None = None) -> None:
    out.write_text(models_table(checkpoints_dir, out.parent, before))


def models_table(checkpoints_dir: Path, docs_dir: Path, before: Path | None = None) -> str:
    """docs/models.md's text for the checkpoints in `checkpoints_dir`, with the pictures under `docs_dir`."""
    checkpoints = {path.stem: models.load(path) for path in sorted(checkpoints_dir.glob("*.safetensors"))}
    judges = {
        path.stem.rsplit("-", 1)[1]: models.load(path)
        for path in sorted((checkpoints_dir / "classifiers").glob("*.safetensors"))
    }
    spaces = sorted({space for c in checkpoints.values() for space in c.evaluation.get("spaces", {})})
    earlier = json.loads(before.read_text()) if before is not None and before.exists() else {}
    text = [
        "# The default models",
        "",
        "Trained on Fashion-MNIST by `python -m training defaults` on 2 CPU cores, from the 55,000 training images",
        "left after 5,000 were held out for validation (settings were chosen on those). Every figure below was",
        "measured once on the 10,000 test images by `training.evaluate` and is stored in the checkpoint itself",
        "(`GET /models/NAME` serves it).",
        "",
        'Two evaluation classifiers ("judges") give two independent feature spaces; neither is ever a training',
        "signal, and neither shares weights with the auxiliary classifiers that training uses:",
        "",
        *[
            f"- **{name}**: {JUDGE_KINDS.get(judge.training.get('architecture', ''), 'a classifier')}, seed "
            f"{judge.training.get('seed', '?')}, {judge.training.get('epochs', '?')} epochs; test accuracy "
            f"{judge.evaluation['test_accuracy']:.4f}."
            for name, judge in judges.items()
        ],
        "",
        "- **MSE**: mean squared reconstruction error per pixel (pixels in [0, 1]); **−ELBO**: the VAE's negative",
        "  evidence lower bound, nats per image (one-sample estimate).",
        "- **FD/noise**: Fréchet distance between 5,000 samples (500 per class where a label can choose) and 5,000",
        "  test images in the judge's penultimate features, divided by that of uniform-noise images (0: the test",
        "  images' own statistics, 1: noise).",
        "- **precision, recall, density, coverage**: Naeem et al. 2020 (the `prdc` package), k = 5, on the same",
        "  5,000 + 5,000 feature vectors. Precision: share of samples inside the test images' 5-NN balls; recall:",
        "  share of test images inside the samples' balls; coverage: share of test images whose ball holds a sample.",
        "- **label/real**: share of samples the judge assigns to the class asked for, divided by its accuracy on",
        "  the real test images.",
        "- **samples from**: `class_mixture` is the per-class ex-post density the second stage fits",
        "  (`training.fine_tune`); `/sample` uses it, and `/sample?sampler=prior` the family's own prior.",
        "",
        "## Figures (test split)",
        "",
        "| model | kind | variant | latent | samples from | MSE | −ELBO | epochs (+ second stage) | train s | MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, checkpoint in checkpoints.items():
        evaluation, training = checkpoint.evaluation, checkpoint.training
        config: Any = checkpoint.model.config
        cells = [
            f"`{name}`", checkpoint.kind, checkpoint.variant, str(config.latent_dim),
            evaluation.get("sampled_from", "–"), _figure(evaluation, "reconstruction_mse", 4),
            _figure(evaluation, "negative_elbo_nats", 5),
            f"{training.get('epochs_done', '–')} + {len(training.get('fine_tune_history') or [])}",
            str(training.get("seconds", "–")), f"{(checkpoints_dir / f'{name}.safetensors').stat().st_size / 1e6:.1f}",
        ]  # fmt: skip
        text.append("| " + " | ".join(cells) + " |")
    header = "| model | " + " | ".join(label for label, _ in SPACE_COLUMNS) + " |"
    rule = "|---" * (1 + len(SPACE_COLUMNS)) + "|"
    for space in spaces:
        text += ["", f"### Samples judged by `{space}`", "", header, rule]
        for name, checkpoint in checkpoints.items():
            figures = checkpoint.evaluation.get("spaces", {}).get(space, {})
            text.append(f"| `{name}` | " + " | ".join(_figure(figures, key) for _, key in SPACE_COLUMNS) + " |")
    if earlier:
        text += [
            "",
            "## Before and after (test split, both judges)",
            "",
            "Before: the default set as it was before issue #15 (trained on all 60,000 training images, sampled",
            "from each family's prior), evaluated afresh by today's judges. Before → after:",
        ]
        for space in spaces:
            text += ["", f"### `{space}`", "", header, rule]
            for name, checkpoint in checkpoints.items():
                old = earlier.get(name, {}).get("spaces", {}).get(space, {})
                new = checkpoint.evaluation.get("spaces", {}).get(space, {})
                cells = [f"{_figure(old, key)} → {_figure(new, key)}" for _, key in SPACE_COLUMNS]
                text.append(f"| `{name}`{'' if name in earlier else ' (new)'} | " + " | ".join(cells) + " |")
    class_names = next(iter(checkpoints.values())).class_names or [] if checkpoints else []
    text += [
        "",
        "## Per-class label accuracy (test split)",
        "",
        "The share of samples drawn for each class that the judge assigns to it (cnn / resnet); the full",
        "confusion matrices are in each checkpoint's evaluation.",
        "",
        "| model | " + " | ".join(class_names) + " |",
        "|---" * (1 + len(class_names)) + "|",
    ]
    for name, checkpoint in checkpoints.items():
        found = checkpoint.evaluation.get("spaces", {})
        if not all("label_accuracy_per_class" in found.get(space, {}) for space in spaces):
            continue
        per_class = zip(*(found[space]["label_accuracy_per_class"] for space in spaces), strict=True)
        text.append(f"| `{name}` | " + " | ".join(" / ".join(f"{v:.2f}" for v in each) for each in per_class) + " |")
    categorical = {
        name: c.evaluation for name, c in checkpoints.items() if {"classification", "clustering"} & set(c.evaluation)
    }
    if categorical:
        text += [
            "",
            "## Classifying and clustering (test split)",
            "",
            "Models with a categorical head (`POST /classify`): the accuracy of y's argmax as the class, or for a",
            "clustering model after mapping each cluster to the majority class of its training images, and the NMI",
            "of clusters and classes. Three seeds and the baselines: [semi-supervised.md](semi-supervised.md).",
            "",
            "| model | labels used in training | accuracy | NMI | clusters used |",
            "|---|---|---|---|---|",
        ]
        for name, evaluation in categorical.items():
            figures = evaluation.get("classification") or evaluation["clustering"]
            labels = checkpoints[name].training.get("labelled_images", "–")
            cells = [_figure(figures, "accuracy", 4), _figure(figures, "nmi"), str(figures.get("clusters_used", "–"))]
            text.append(f"| `{name}` | {labels} | " + " | ".join(cells) + " |")
    text += _anomaly_table(checkpoints)
    text += ["", "## Pictures", "", "Samples at the same seed (0) before issue #15 and now; a row per class.", ""]
    for name in checkpoints:
        pictures = docs_dir / "models" / name
        before_cell = (
            f"![samples before](models/{name}/samples-before.png)"
            if (pictures / "samples-before.png").exists()
            else "–"
        )
        text += [
            f"### `{name}`",
            "",
            "| samples before | samples now | reconstructions |",
            "|---|---|---|",
            f"| {before_cell} | ![samples](models/{name}/samples.png) "
            f"| ![reconstructions](models/{name}/reconstructions.png) |",
            "",
            "| test codes | losses |",
            "|---|---|",
            f"| ![latents](models/{name}/latents.png) | ![losses](models/{name}/losses.png) |",
            "",
        ]
        for picture, caption in (("clusters", "test images per cluster"), ("style_content", "style and content")):
            if (pictures / f"{picture}.png").exists():
                text += [f"{caption}:", "", f"![{caption}](models/{name}/{picture}.png)", ""]
    return "\n".join(text)


def _anomaly_table(checkpoints: dict[str, models.Checkpoint]) -> list[str]:
    """POST /score's detection figures (`training.anomaly`), where the checkpoints store them."""
    rows = [
        (name, c.evaluation["anomaly"])
        for name, c in checkpoints.items()
        if "against" in c.evaluation.get("anomaly", {})
    ]
    if not rows:
        return []
    text = [
        "", "## Anomaly scores", "",
        "`POST /score` against 898 normal test images and as many of each kind of outlier: scikit-learn's 8x8",
        "digits (the odd-numbered half) scaled into the middle of the image, the test images upside down, uniform",
        "noise (AUROC, and in brackets each signal's alone; a model that reconstructs with labels scores each image",
        "under its best-fitting one). The calibration (5,000 validation images) standardises each signal and sums",
        "them or takes their maximum, whichever told validation images from the other half of the digits, from",
        "themselves upside down and from other noise apart better (mean AUROC). It flags at alpha 0.01; the",
        "false-positive rate is measured on the 10,000 test images.", "",
        "Which signal wins: the code density catches the digits for the AEs and AAEs, whose reconstructions miss",
        "them (thin strokes on black reconstruct easily), so most take the maximum; reconstruction catches noise",
        "everywhere; images upside down fool both (their codes land among normal ones and they reconstruct nearly",
        "as well); the VAEs' ELBO rates the digits likelier than clothes (Nalisnick et al. 2019's trap), so it is",
        "reported and never combined.", "",
        "| model | score combines | digits | flipped | noise | FPR at 95 % TPR (digits) | false positives at 0.01 |",
        "|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for name, anomaly in rows:
        against = anomaly["against"]
        cells = [_detection_cell(against[kind]) for kind in ("digits", "flipped", "noise")]
        text.append(
            f"| `{name}` | {anomaly.get('combine', 'sum')} of {', '.join(anomaly['signals'])} | {' | '.join(cells)} "
            f"| {against['digits']['fpr_at_95_tpr']:.3f} | {anomaly['false_positive_rate']:.4f} |"
        )
    return text


def _detection_cell(figures: dict[str, Any]) -> str:
    alone = ", ".join(f"{signal} {auroc:.3f}" for signal, auroc in figures["auroc_by_signal"].items())
    return f"{figures['auroc']:.3f} ({alone})"


def one_line(name: str, figures: dict[str, Any]) -> str:
    """The headline figures on one line: reconstruction, then per judge FD/noise, precision, coverage, label acc."""
    parts = [f"{key}={figures[key]:.4g}" for key in ("reconstruction_mse", "negative_elbo_nats") if key in figures]
    for judge, space in figures.get("spaces", {}).items():
        shown = ("frechet_ratio_to_noise", "precision", "recall", "coverage", "label_accuracy_ratio")
        parts.append(f"{judge}: " + " ".join(f"{key}={space[key]:.4g}" for key in shown if key in space))
    for key in ("classification", "clustering"):
        if key in figures:
            parts.append(
                f"{key}: accuracy={figures[key]['accuracy']:.4f}"
                + (f" nmi={figures[key]['nmi']:.4f}" if "nmi" in figures[key] else "")
            )
    return f"{name} [{figures.get('split')}]: " + ", ".join(parts)

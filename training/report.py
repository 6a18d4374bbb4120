"""docs/models.md: the default set's figures, read back from the checkpoints, and its pictures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import models


def _figure(evaluation: dict[str, float], key: str, digits: int = 4) -> str:
    return f"{evaluation[key]:.{digits}g}" if key in evaluation else "–"


def write_models_table(checkpoints_dir: Path, out: Path) -> None:
    rows, sections = [], []
    for path in sorted(checkpoints_dir.glob("*.safetensors")):
        checkpoint = models.load(path)
        evaluation, training = checkpoint.evaluation, checkpoint.training
        config: Any = checkpoint.model.config
        name = path.stem
        rows.append(
            f"| `{name}` | {checkpoint.kind} | {checkpoint.variant} | {config.architecture} | {config.latent_dim} "
            f"| {checkpoint.prior.name if checkpoint.prior else '–'} "
            f"| {_figure(evaluation, 'reconstruction_mse')} | {_figure(evaluation, 'reconstruction_bce_nats', 5)} "
            f"| {_figure(evaluation, 'negative_elbo_nats', 5)} | {_figure(evaluation, 'frechet_distance')} "
            f"| {_figure(evaluation, 'frechet_ratio_to_noise', 3)} | {_figure(evaluation, 'label_accuracy', 3)} "
            f"| {_figure(evaluation, 'label_accuracy_ratio', 3)} | {training.get('epochs_done', '–')} "
            f"| {training.get('seconds', '–')} | {path.stat().st_size / 1e6:.1f} |"
        )
        sections.append(
            f"### `{name}`\n\n| samples | reconstructions |\n|---|---|\n"
            f"| ![samples](models/{name}/samples.png) | ![reconstructions](models/{name}/reconstructions.png) |\n\n"
            f"| test codes | losses |\n|---|---|\n"
            f"| ![latents](models/{name}/latents.png) | ![losses](models/{name}/losses.png) |\n"
        )
    classifier = checkpoints_dir / "classifiers" / "fashion-mnist.safetensors"
    accuracy = models.load(classifier).evaluation.get("test_accuracy") if classifier.exists() else None
    text = [
        "# The default models",
        "",
        "Trained on Fashion-MNIST by `python -m training defaults` on 2 CPU cores; every figure below was",
        "measured on the 10,000 test images by `training.evaluate` and is stored in the checkpoint itself.",
        "",
        "- **MSE**: mean squared reconstruction error per pixel (pixels in [0, 1]); **BCE**: nats per image.",
        "- **−ELBO**: the VAE's negative evidence lower bound, nats per image (one-sample estimate).",
        "- **FD**: Fréchet distance between 5,000 samples and 5,000 test images in the evaluation classifier's",
        "  feature space; **FD/noise**: the same divided by the distance of uniform-noise images (target ≤ 0.1).",
        "- **label acc.**: share of label-conditioned samples the evaluation classifier assigns to the requested",
        "  class; **vs real**: that share divided by the classifier's accuracy on real test images"
        + (f" ({accuracy:.4f})." if accuracy else "."),
        "",
        "| model | kind | variant | nets | latent | prior | MSE | BCE | −ELBO | FD | FD/noise | label acc. | vs real "
        "| epochs | train s | MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "## Pictures",
        "",
        *sections,
    ]
    out.write_text("\n".join(text))

"""Pictures of a trained model: sample grid, reconstructions, latent scatter, loss curves; for a categorical
head, its clusters or its style/content grid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.decomposition import PCA

from models import Autoencoder, Prior, by_label, draw_samples
from models.pixels import to_unit
from training.categorical import class_probabilities
from training.data import ImageData


def image_grid(images: torch.Tensor, rows: int) -> np.ndarray:
    """(N, C, H, W) in [0, 1] -> one (rows*H, cols*W[, C]) array, 1-pixel gutters."""
    count, channels, height, width = images.shape
    cols = -(-count // rows)
    grid = np.ones((rows * (height + 1) - 1, cols * (width + 1) - 1, channels), dtype=np.float32)
    for index, image in enumerate(images.clamp(0, 1).cpu().numpy()):
        row, col = divmod(index, cols)
        grid[row * (height + 1) : row * (height + 1) + height, col * (width + 1) : col * (width + 1) + width] = (
            image.transpose(1, 2, 0)
        )
    return grid[..., 0] if channels == 1 else grid


def _save_grid(grid: np.ndarray, path: Path, title: str, row_labels: list[str] | None = None) -> None:
    height, width = grid.shape[:2]
    figure, axis = plt.subplots(figsize=(width / 40 + (1.2 if row_labels else 0), height / 40 + 0.4), dpi=100)
    axis.imshow(grid, cmap="gray", vmin=0, vmax=1)
    axis.set_title(title, fontsize=9)
    axis.set_xticks([])
    if row_labels:
        step = height / len(row_labels)
        axis.set_yticks([step * (i + 0.5) for i in range(len(row_labels))], row_labels, fontsize=7)
    else:
        axis.set_yticks([])
    figure.tight_layout()
    figure.savefig(path, bbox_inches="tight")  # long row labels (a cluster and its class) stay whole
    plt.close(figure)


def model_pictures(
    model: Autoencoder,
    prior: Prior,
    test: ImageData,
    class_names: list[str],
    history: list[dict[str, Any]],
    out_dir: Path,
    *,
    seed: int = 0,
) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    per_row = 10
    if by_label(model, prior):
        labels = torch.arange(len(class_names)).repeat_interleave(per_row)
        samples = draw_samples(model, prior, len(labels), labels, generator).images
        _save_grid(
            image_grid(samples, len(class_names)), out_dir / "samples.png", "samples, a row per class", class_names
        )
    else:
        samples = draw_samples(model, prior, 100, None, generator).images
        _save_grid(image_grid(samples, 10), out_dir / "samples.png", "samples from the prior")

    with torch.no_grad():
        originals = to_unit(test.images[:16])
        outputs = model.images_from_logits(model.reconstruct(originals.to(device), test.labels[:16].to(device)))
    _save_grid(
        image_grid(torch.cat([originals, outputs.cpu()]), 2),
        out_dir / "reconstructions.png",
        "originals above, reconstructions below",
    )

    with torch.no_grad():
        codes = torch.cat([
            model.encode(to_unit(test.images[s : s + 500].to(device)),
                         test.labels[s : s + 500].to(device) if model.takes_labels_to_encode else None).latents.cpu()
            for s in range(0, min(len(test), 5000), 500)
        ]).numpy()  # fmt: skip
    title = "test codes" if codes.shape[1] == 2 else f"test codes, PCA of {codes.shape[1]}-D"
    points = codes if codes.shape[1] == 2 else PCA(2).fit_transform(codes)
    figure, axis = plt.subplots(figsize=(6.5, 5), dpi=100)
    scatter = axis.scatter(points[:, 0], points[:, 1], c=test.labels[: len(points)].numpy(), cmap="tab10", s=2)
    handles, _ = scatter.legend_elements(num=len(test.class_names))
    axis.legend(handles, test.class_names, fontsize=7, markerscale=0.8, loc="center left", bbox_to_anchor=(1, 0.5))
    axis.set_title(title)
    figure.tight_layout()
    figure.savefig(out_dir / "latents.png")
    plt.close(figure)

    figure, axis = plt.subplots(figsize=(6, 3.5), dpi=100)
    epochs = [entry["epoch"] for entry in history]
    for key in sorted({key for entry in history for key in entry} - {"epoch", "seconds", "images_per_second"}):
        axis.plot(epochs, [entry.get(key, np.nan) for entry in history], marker="o", label=key)
    axis.set_yscale("symlog")
    axis.set_xlabel("epoch")
    axis.set_title("training losses (epoch means)")
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(out_dir / "losses.png")
    plt.close(figure)


def style_content_grid(model: Autoencoder, test: ImageData, out_dir: Path, *, styles: int = 10) -> None:
    """`style_content.png`: one test image per class (left column), then its style code decoded as every class:
    rows keep a style, columns keep a class. The model's label must be the decoder's class (supervised and
    semi-supervised AAEs)."""
    device = next(model.parameters()).device
    chosen = torch.stack([torch.nonzero(test.labels == label)[0, 0] for label in range(styles)])
    originals = to_unit(test.images[chosen])
    classes = model.config.num_classes
    with torch.no_grad():
        labels = test.labels[chosen].to(device) if model.takes_labels_to_encode else None
        latents = model.encode(originals.to(device), labels).latents
        redrawn = model.images_from_logits(
            model.decode(latents.repeat_interleave(classes, 0), torch.arange(classes, device=device).repeat(styles))
        ).cpu()
    rows = torch.cat([originals[:, None], redrawn.view(styles, classes, *redrawn.shape[1:])], dim=1)
    _save_grid(
        image_grid(rows.flatten(0, 1), styles), out_dir / "style_content.png",
        f"a test image (left), its style drawn as {', '.join(test.class_names[:classes])}",
    )  # fmt: skip


def cluster_grid(
    model: Autoencoder, test: ImageData, majority_class: list[str], out_dir: Path, *, per_cluster: int = 12
) -> None:
    """`clusters.png`: a row per cluster of the test images its head is surest of, named by the cluster's
    majority class."""
    probabilities = class_probabilities(model, test)
    assigned = probabilities.argmax(1)
    rows, names = [], []
    for cluster in range(model.config.num_classes):
        members = torch.nonzero(assigned == cluster).squeeze(1)
        surest = members[probabilities[members, cluster].argsort(descending=True)[:per_cluster]]
        images = to_unit(test.images[surest])
        blank = torch.ones(per_cluster - len(images), *images.shape[1:])  # a cluster with few test images
        rows.append(torch.cat([images, blank]))
        names.append(f"{cluster}: {majority_class[cluster]} ({len(members)})")
    _save_grid(
        image_grid(torch.cat(rows), len(rows)), out_dir / "clusters.png",
        "test images per cluster (surest first); cluster: majority class (test images)", names,
    )  # fmt: skip

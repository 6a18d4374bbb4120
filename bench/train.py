"""Training throughput per default model, and whether the data path is what limits it.

Run: .venv/bin/python bench/train.py   (prints a table, writes docs/benchmarks/train.json)

For each default preset: images per second of the real training loop (`training.loop.train`) on
Fashion-MNIST, after a warm-up. Then the same reconstruction step fed two ways, in one run:
- ours: the whole data set as one uint8 tensor, a batch is one index operation and one division;
- naive: a torch Dataset returning one float tensor per item (per-item transform), batched by a
  DataLoader, as many tutorials do.
The data-only rows time the data path alone: if it is a small share of a step, it is not the
bottleneck. The wall time of `python -m training defaults` is read from the committed checkpoints.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

import models
from training.data import FASHION_MNIST_CLASSES, ImageData, read_mnist_layout
from training.loop import train
from training.presets import PRESETS
from training.run import build
from training.steps import Batch, ReconstructionStep

# config
DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
WARMUP_IMAGES = 1024
MEASURED_IMAGES = 8192  # per preset: 64 batches of 128
BATCH_SIZE = 128
PIPELINE_STEPS = 60
OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks" / "train.json"


class NaiveDataset(Dataset[tuple[torch.Tensor, int]]):
    """One item at a time, with a per-item transform: the pipeline we compare against."""

    def __init__(self, data: ImageData) -> None:
        self.images, self.labels = data.images.numpy(), data.labels.tolist()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(self.images[index]).float().div(255), self.labels[index]


def loop_throughput(data: ImageData) -> dict[str, float]:
    rates = {}
    for name, preset in PRESETS.items():
        model, prior = build(preset, _splits(data))
        warm = dataclasses.replace(preset.train, epochs=1)
        train(model, prior, data.subset(WARMUP_IMAGES), warm)
        history = train(model, prior, data.subset(MEASURED_IMAGES), warm)
        rates[name] = history[0]["images_per_second"]
        print(f"{name:16s} {rates[name]:8.0f} images/s", flush=True)
    return rates


def pipeline_comparison(data: ImageData) -> dict[str, float]:
    preset = PRESETS["ae"]
    model, prior = build(preset, _splits(data))
    step = ReconstructionStep(model.train(), prior, None, 0.0)
    optimiser = torch.optim.Adam(model.parameters())
    generator = torch.Generator().manual_seed(0)

    def ours():
        order = torch.randperm(len(data), generator=generator)
        for indices in order.split(BATCH_SIZE):
            yield data.images[indices].float().div_(255), data.labels[indices]

    def naive():
        yield from DataLoader(NaiveDataset(data), batch_size=BATCH_SIZE, shuffle=True)

    figures = {}
    for label, batches in [("ours", ours), ("naive", naive)]:
        for with_model in (False, True):
            iterator = batches()
            for _ in range(5):  # warm-up
                next(iterator)
            started = time.perf_counter()
            for _ in range(PIPELINE_STEPS):
                images, labels = next(iterator)
                if with_model:
                    loss, _ = step(Batch(images, labels, generator))
                    optimiser.zero_grad()
                    loss.backward()
                    optimiser.step()
            rate = PIPELINE_STEPS * BATCH_SIZE / (time.perf_counter() - started)
            key = f"{label}_{'step' if with_model else 'data_only'}_images_per_second"
            figures[key] = rate
            print(f"{key:40s} {rate:10.0f}", flush=True)
    figures["naive_data_share_of_step"] = (
        figures["naive_step_images_per_second"] / figures["naive_data_only_images_per_second"]
    )
    figures["ours_data_share_of_step"] = (
        figures["ours_step_images_per_second"] / figures["ours_data_only_images_per_second"]
    )
    figures["step_speedup_ours_over_naive"] = (
        figures["ours_step_images_per_second"] / figures["naive_step_images_per_second"]
    )
    return figures


def _splits(data: ImageData):  # build() only reads the training split's shape and classes
    from training.data import Splits

    return Splits(data, data)


def main() -> None:
    torch.manual_seed(0)
    data = read_mnist_layout(DATA_DIR, FASHION_MNIST_CLASSES).train
    checkpoints = Path(__file__).resolve().parents[1] / "checkpoints"
    committed = {name: models.load(checkpoints / f"{name}.safetensors").training["seconds"] for name in PRESETS}
    print(f"# training loop, {MEASURED_IMAGES} images per preset after {WARMUP_IMAGES} to warm up")
    rates = loop_throughput(data)
    print(f"# data path, the ae preset, {PIPELINE_STEPS} steps of {BATCH_SIZE}")
    pipeline = pipeline_comparison(data)
    print(f"# default set as committed: {sum(committed.values()):.0f} s of training (per model: {committed})")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({
        "machine": {"processor": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                    "torch": torch.__version__},
        "loop_images_per_second": rates,
        "pipeline": pipeline,
        "committed_training_seconds": committed,
    }, indent=2))  # fmt: skip
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

"""The default model set as data: each named preset's family, variant, prior and hyperparameters.

`python -m training train --model NAME` starts from the preset NAME; `python -m training defaults`
trains every preset into `checkpoints/NAME.safetensors`. Sizes keep each file under 5 MB, and the
epochs keep retraining the whole set within 30 minutes on 2 CPU cores (see docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from training.loop import TrainConfig

PriorName = Literal["gaussian", "mixture", "swiss_roll", "ex_post"]


@dataclass(frozen=True)
class ModelPreset:
    name: str
    kind: Literal["ae", "vae", "aae"]
    variant: str
    prior: PriorName
    model: dict[str, Any] = field(default_factory=dict)  # overrides of the family's config fields
    train: TrainConfig = field(default_factory=TrainConfig)


_CONV = {"architecture": "conv", "hidden": 128}
_MLP_2D = {"architecture": "mlp", "hidden": 256, "latent_dim": 2, "discriminator_hidden": 256}

PRESETS: dict[str, ModelPreset] = {
    preset.name: preset
    for preset in [
        ModelPreset("ae", "ae", "plain", "ex_post", {**_CONV, "latent_dim": 32}, TrainConfig(epochs=6)),
        ModelPreset("vae", "vae", "plain", "gaussian", {**_CONV, "latent_dim": 16}, TrainConfig(epochs=6)),
        ModelPreset(
            "cvae", "vae", "conditional", "gaussian", {**_CONV, "latent_dim": 16},
            TrainConfig(epochs=6, auxiliary_weight=10.0),
        ),
        ModelPreset(
            "aae", "aae", "plain", "gaussian", {**_CONV, "latent_dim": 8, "discriminator_hidden": 256},
            TrainConfig(epochs=6),
        ),
        ModelPreset(
            "aae-supervised", "aae", "supervised", "gaussian",
            {**_CONV, "latent_dim": 8, "discriminator_hidden": 256}, TrainConfig(epochs=6, auxiliary_weight=10.0),
        ),
        ModelPreset(
            "aae-mixture", "aae", "label-prior", "mixture", _MLP_2D,
            TrainConfig(epochs=10, auxiliary_weight=10.0, unlabelled_fraction=0.1),
        ),
        ModelPreset(
            "aae-swissroll", "aae", "label-prior", "swiss_roll", _MLP_2D,
            TrainConfig(epochs=10, auxiliary_weight=10.0, unlabelled_fraction=0.1),
        ),
    ]
}  # fmt: skip

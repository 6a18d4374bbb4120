"""Kind name -> (model class, config class), so loading a checkpoint never branches per model."""

from __future__ import annotations

from typing import Any, NamedTuple

from torch import nn

from models.aae import AAE, AAEConfig
from models.ae import AE, AEConfig
from models.classifier import Classifier, ClassifierConfig
from models.vae import VAE, VAEConfig


class ModelEntry(NamedTuple):
    model_class: type[nn.Module]
    config_class: type[Any]


MODELS: dict[str, ModelEntry] = {
    "ae": ModelEntry(AE, AEConfig),
    "vae": ModelEntry(VAE, VAEConfig),
    "aae": ModelEntry(AAE, AAEConfig),
    "classifier": ModelEntry(Classifier, ClassifierConfig),
}

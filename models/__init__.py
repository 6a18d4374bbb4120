"""aeserve's models: the autoencoder families, their priors and losses, and the checkpoint format.

The only package that `training` and `service` import.
"""

from models.aae import AAE, AAEConfig
from models.ae import AE, AEConfig
from models.base import Autoencoder, AutoencoderConfig, Encoding
from models.checkpoint import Checkpoint, CheckpointError, LatentMap, load, rewrite, save
from models.classifier import Classifier, ClassifierConfig
from models.priors import (
    ClassMixtureDensity,
    GaussianMixtureDensity,
    GaussianPrior,
    MixturePrior,
    Prior,
    PriorError,
    SwissRollPrior,
)
from models.sampling import Samples, by_label, draw_codes, draw_samples
from models.vae import VAE, VAEConfig

__all__ = [
    "AAE",
    "AE",
    "VAE",
    "AAEConfig",
    "AEConfig",
    "Autoencoder",
    "AutoencoderConfig",
    "Checkpoint",
    "CheckpointError",
    "ClassMixtureDensity",
    "Classifier",
    "ClassifierConfig",
    "Encoding",
    "GaussianMixtureDensity",
    "GaussianPrior",
    "LatentMap",
    "MixturePrior",
    "Prior",
    "PriorError",
    "Samples",
    "SwissRollPrior",
    "VAEConfig",
    "by_label",
    "draw_codes",
    "draw_samples",
    "load",
    "rewrite",
    "save",
]

"""Shared fixtures: tiny models with fixed weights saved as real checkpoints."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import models
from models import (
    AAE,
    AE,
    VAE,
    AAEConfig,
    AEConfig,
    ClassMixtureDensity,
    GaussianMixtureDensity,
    GaussianPrior,
    LatentMap,
    MixturePrior,
    VAEConfig,
)
from tests.servers import running_service

CLASSES = ["zero", "one", "two", "three"]


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, each worker (and every process its tests start) gets its share of the cores: torch's
    threads would otherwise contend for them, every worker's with every other's."""
    if workers := int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0")):
        threads = max(1, (os.cpu_count() or 1) // workers)
        os.environ["OMP_NUM_THREADS"] = str(threads)
        torch.set_num_threads(threads)


def save_tiny_models(folder: Path) -> None:
    """Five small checkpoints covering the ways a model can use labels."""
    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    tiny = {"architecture": "mlp", "hidden": 16, "latent_dim": 4}
    ae = AE(AEConfig(**tiny))
    # a per-class ex-post sampler whose class k lies around (10 k, 0, 0, 0), and an unconditional prior
    class_means = torch.zeros(4, 1, 4)
    class_means[:, 0, 0] = 10 * torch.arange(4)
    models.save(
        folder / "tiny-ae.safetensors",
        ae,
        prior=GaussianMixtureDensity(torch.ones(2), torch.randn(2, 4), torch.eye(4).repeat(2, 1, 1)),
        sampler=ClassMixtureDensity(torch.ones(4, 1), class_means, 0.01 * torch.eye(4).repeat(4, 1, 1, 1)),
        class_names=CLASSES,
    )
    vae = VAE(VAEConfig(**tiny))
    models.save(folder / "tiny-vae.safetensors", vae, prior=GaussianPrior(4), evaluation={"reconstruction_mse": 0.5})
    cvae = VAE(VAEConfig(**tiny, variant="conditional", num_classes=4))
    models.save(folder / "tiny-cvae.safetensors", cvae, prior=GaussianPrior(4), class_names=CLASSES)
    mixture = AAE(
        AAEConfig(
            architecture="mlp", hidden=16, latent_dim=2, variant="label-prior", num_classes=4, discriminator_hidden=8
        )
    )
    prior = MixturePrior(4)
    components = torch.arange(20) % 4
    latent_map = LatentMap(torch.randn(50, 2), torch.arange(50) % 4, prior.sample(20, components), components)
    models.save(folder / "tiny-mixture.safetensors", mixture, prior=prior, class_names=CLASSES, latent_map=latent_map)
    categorical = AAE(
        AAEConfig(
            architecture="mlp", hidden=16, latent_dim=3, variant="categorical", num_classes=4, discriminator_hidden=8
        )
    )
    models.save(folder / "tiny-categorical.safetensors", categorical, prior=GaussianPrior(3), class_names=CLASSES)


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("checkpoints")
    save_tiny_models(folder)
    return folder


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="session")
def default_service() -> Iterator[str]:
    """The real service process on the committed default checkpoints; its base URL."""
    with running_service("checkpoints") as (base, _):
        yield base

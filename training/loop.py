"""The training loop: one function for every family. Each mini-batch goes through the family's phases
(`training.phases`: reconstruction, the AAE's adversaries, the semi-supervised phase...) in order, each
stepping its own optimiser; every learning rate follows one cosine schedule.

The second stage, after this loop (decoder only, on draws from a density fitted to the codes), is
`training.fine_tune`.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch
from torch import distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler
from tqdm import tqdm

from models import Autoencoder, Classifier, ClassifierConfig, Prior
from models.pixels import to_unit
from training.config import TrainConfig
from training.data import ImageData
from training.neighbours import nearest_neighbours
from training.phases import phases_for
from training.steps import Batch

log = logging.getLogger(__name__)


EpochStats = dict[str, float]


def train(
    model: Autoencoder,
    prior: Prior,
    data: ImageData,
    config: TrainConfig,
    *,
    device: torch.device | str = "cpu",
    start_epoch: int = 0,
    state: dict[str, Any] | None = None,
    on_epoch_end: Callable[[int, EpochStats, dict[str, Any]], None] | None = None,
) -> list[EpochStats]:
    """Train `model` in place from `start_epoch` to `config.epochs`; return one stats dict per epoch.

    `on_epoch_end(epoch, stats, state)` gets the run's whole state after each epoch (optimisers,
    schedulers, the auxiliary classifier, random generators); passed back as `state` with the same
    `start_epoch`, the run continues exactly as if it had not stopped. Under torchrun (an initialised
    process group) each rank trains on its shard of every epoch and DistributedDataParallel averages
    the gradients, so all ranks hold the same weights.
    """
    distributed = dist.is_available() and dist.is_initialized()
    rank, world_size = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    torch.manual_seed(config.seed + start_epoch)
    generator = torch.Generator().manual_seed(config.seed + start_epoch + 1000 * rank)  # prior draws
    model.to(device).train()

    auxiliary = None
    if config.auxiliary_weight > 0:
        auxiliary = Classifier(
            ClassifierConfig(image_shape=model.config.image_shape, num_classes=model.config.num_classes)
        )
        auxiliary.to(device).train()
    neighbours = (data, nearest_neighbours(data, config.neighbours)) if model.classifies and config.neighbours else None
    phases = phases_for(
        model, prior, learning_rate=config.learning_rate, generator_learning_rate=config.generator_learning_rate,
        discriminator_learning_rate=config.discriminator_learning_rate, auxiliary=auxiliary,
        auxiliary_weight=config.auxiliary_weight, unlabelled_fraction=config.unlabelled_fraction,
        labelled_learning_rate=config.labelled_learning_rate, category_balance=config.category_balance,
        labelled=data.labelled() if model.classifies else None, batch_size=config.batch_size,
        neighbours=neighbours,
    )  # fmt: skip
    if unknown := set(config.only_phases) - {phase.name for phase in phases}:
        raise ValueError(f"no phase {sorted(unknown)} in this {model.kind}; its phases: {[p.name for p in phases]}")
    phases = [phase for phase in phases if not config.only_phases or phase.name in config.only_phases]
    losses = [_parallel(phase.loss, distributed) for phase in phases]
    optimisers = [
        torch.optim.Adam([p for module in phase.updates for p in module.parameters()], lr=phase.learning_rate,
                         betas=phase.betas)
        for phase in phases
    ]  # fmt: skip
    # every rank sees a disjoint shard of each epoch, reshuffled per epoch from the seed
    sampler: DistributedSampler[int] = DistributedSampler(
        range(len(data)),  # type: ignore[arg-type]  # the sampler only needs len()
        num_replicas=world_size, rank=rank, seed=config.seed, drop_last=True,
    )  # fmt: skip
    steps_per_epoch = -(-len(sampler) // config.batch_size)
    total_steps = config.epochs * steps_per_epoch
    # every learning rate decays to 0 along a cosine over the whole run, stepped once a batch; a run resumed
    # without its state (weights only) starts the curve where its epochs left it
    skipped = 0 if state is not None else start_epoch * steps_per_epoch
    schedulers = [
        torch.optim.lr_scheduler.LambdaLR(
            each, lambda step: 0.5 * (1 + math.cos(math.pi * min(skipped + step, total_steps) / total_steps))
        )
        for each in optimisers
    ]
    if state is not None:
        for each_optimiser, saved in zip(optimisers, state["optimisers"], strict=True):
            each_optimiser.load_state_dict(saved)
        for scheduler, saved in zip(schedulers, state["schedulers"], strict=True):
            scheduler.load_state_dict(saved)
        if auxiliary is not None:
            auxiliary.load_state_dict(state["auxiliary"])
        torch.set_rng_state(state["torch_rng"])
        generator.set_state(state["generator"])

    def snapshot() -> dict[str, Any]:
        return {
            "optimisers": [each.state_dict() for each in optimisers],
            "schedulers": [each.state_dict() for each in schedulers],
            "auxiliary": auxiliary.state_dict() if auxiliary is not None else None,
            "torch_rng": torch.get_rng_state(),
            "generator": generator.get_state(),
        }

    history: list[EpochStats] = []
    for epoch in range(start_epoch, config.epochs):
        started = time.perf_counter()
        sampler.set_epoch(epoch)
        shard = torch.tensor(list(sampler))
        if distributed:
            log.info(
                "rank %d/%d, epoch %d: %d images, starting %s",
                rank,
                world_size,
                epoch + 1,
                len(shard),
                shard[:8].tolist(),
            )
        batches = shard.split(config.batch_size)
        totals: defaultdict[str, float] = defaultdict(float)
        progress = tqdm(
            batches, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False, disable=None if rank == 0 else True
        )
        for step, indices in enumerate(progress, start=1):
            batch = Batch(to_unit(data.images[indices].to(device)), data.labels[indices].to(device), generator, indices)
            stats: dict[str, torch.Tensor] = {}
            for loss_of, optimiser in zip(losses, optimisers, strict=True):
                loss, phase_stats = loss_of(batch)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                stats |= phase_stats
            for scheduler in schedulers:
                scheduler.step()
            for name, value in stats.items():
                totals[name] += float(value.detach())
            progress.set_postfix({name: f"{total / step:.3g}" for name, total in totals.items()}, refresh=False)

        seconds = time.perf_counter() - started
        epoch_stats = {name: total / len(batches) for name, total in totals.items()}
        epoch_stats |= {
            "epoch": epoch + 1,
            "seconds": seconds,
            "images_per_second": len(sampler) * world_size / seconds,
        }
        history.append(epoch_stats)
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, epoch_stats, snapshot())
    model.eval()
    return history


def _parallel(step: nn.Module, distributed: bool) -> nn.Module:
    """Wrap a phase in DDP under torchrun. Each phase uses only part of the model (the discriminator
    sits out the reconstruction), hence find_unused_parameters."""
    if not distributed:
        return step
    device_ids = [torch.cuda.current_device()] if next(step.parameters()).is_cuda else None
    return DistributedDataParallel(step, device_ids=device_ids, find_unused_parameters=True)

"""The training loop, one for every family and for the second stage: each mini-batch goes through the
phases (`training.phases`: reconstruction, the AAE's adversaries, the semi-supervised phase...; the second
stage's are in `training.fine_tune`) in order, each stepping its own optimiser, and every learning rate
follows one cosine schedule over the run.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler
from tqdm import tqdm

from models import Autoencoder, Prior
from models.pixels import to_unit
from training.config import TrainConfig
from training.data import ImageData
from training.phases import Phase, phases_for
from training.steps import Batch

log = logging.getLogger(__name__)

EpochStats = dict[str, float]
EpochEnd = Callable[[int, EpochStats, dict[str, Any]], None]  # (epoch, its stats, the run's whole state)


def train(
    model: Autoencoder,
    prior: Prior,
    data: ImageData,
    config: TrainConfig,
    *,
    device: torch.device | str = "cpu",
    start_epoch: int = 0,
    state: dict[str, Any] | None = None,
    on_epoch_end: EpochEnd | None = None,
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
    phases = _chosen(phases_for(model, prior, config, data, device=device), config.only_phases)
    # every rank sees a disjoint shard of each epoch, reshuffled per epoch from the seed
    sampler: DistributedSampler[int] = DistributedSampler(
        range(len(data)),  # type: ignore[arg-type]  # the sampler only needs len()
        num_replicas=world_size, rank=rank, seed=config.seed, drop_last=True,
    )  # fmt: skip

    def shard(epoch: int) -> torch.Tensor:
        sampler.set_epoch(epoch)
        indices = torch.tensor(list(sampler))
        if distributed:
            log.info("rank %d/%d, epoch %d: %d images, starting %s", rank, world_size, epoch + 1, len(indices),
                     indices[:8].tolist())  # fmt: skip
        return indices

    history = run_phases(
        phases, data, shard, len(sampler), epochs=config.epochs, batch_size=config.batch_size, generator=generator,
        device=device, start_epoch=start_epoch, state=state, on_epoch_end=on_epoch_end, distributed=distributed,
    )  # fmt: skip
    model.eval()
    return history


def run_phases(
    phases: Sequence[Phase],
    data: ImageData,
    order: Callable[[int], torch.Tensor],
    images_per_epoch: int,
    *,
    epochs: int,
    batch_size: int,
    generator: torch.Generator,
    device: torch.device | str,
    start_epoch: int = 0,
    state: dict[str, Any] | None = None,
    on_epoch_end: EpochEnd | None = None,
    distributed: bool = False,
    name: str = "epoch",
) -> list[EpochStats]:
    """Run `phases` on every mini-batch of `order(epoch)` (the epoch's image indices) for epochs `start_epoch`
    to `epochs`; one Adam per phase, every rate on one cosine schedule (a phase's `decays` aside)."""
    losses = [_parallel(phase.loss, distributed) for phase in phases]
    quiet = distributed and dist.get_rank() != 0  # one progress bar under torchrun
    optimisers = [
        torch.optim.Adam([p for module in phase.updates for p in module.parameters()], lr=phase.learning_rate,
                         betas=phase.betas)
        for phase in phases
    ]  # fmt: skip
    steps_per_epoch = -(-images_per_epoch // batch_size)
    # decays to 0 along a cosine over the whole run, stepped once a batch; a run resumed without its state
    # (weights only) starts the curve where its epochs left it
    skipped = 0 if state is not None else start_epoch * steps_per_epoch
    decaying = [each for each, phase in zip(optimisers, phases, strict=True) if phase.decays]
    schedulers = _cosine(decaying, epochs * steps_per_epoch, skipped)
    kept = [module for phase in phases for module in phase.kept]  # trained here, saved with the state
    if state is not None:
        _restore(state, optimisers, schedulers, kept, generator)

    history: list[EpochStats] = []
    for epoch in range(start_epoch, epochs):
        started = time.perf_counter()
        batches = order(epoch).split(batch_size)
        totals: defaultdict[str, float] = defaultdict(float)
        progress = tqdm(batches, desc=f"{name} {epoch + 1}/{epochs}", leave=False, disable=True if quiet else None)
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
            for key, value in stats.items():
                totals[key] += float(value.detach())
            progress.set_postfix({key: f"{total / step:.3g}" for key, total in totals.items()}, refresh=False)
        seconds = time.perf_counter() - started
        epoch_stats = {key: total / len(batches) for key, total in totals.items()}
        images = images_per_epoch * (dist.get_world_size() if distributed else 1)
        epoch_stats |= {"epoch": epoch + 1, "seconds": seconds, "images_per_second": images / seconds}
        history.append(epoch_stats)
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, epoch_stats, _snapshot(optimisers, schedulers, kept, generator))
    return history


def _chosen(phases: list[Phase], only: tuple[str, ...]) -> list[Phase]:
    if unknown := set(only) - {phase.name for phase in phases}:
        raise ValueError(f"no phase {sorted(unknown)} here; the phases: {[phase.name for phase in phases]}")
    return [phase for phase in phases if not only or phase.name in only]


def _cosine(
    optimisers: Sequence[torch.optim.Optimizer], total: int, skipped: int
) -> list[torch.optim.lr_scheduler.LRScheduler]:
    def factor(step: int) -> float:
        return 0.5 * (1 + math.cos(math.pi * min(skipped + step, total) / total))

    return [torch.optim.lr_scheduler.LambdaLR(each, factor) for each in optimisers]


def _snapshot(
    optimisers: Sequence[torch.optim.Optimizer],
    schedulers: list[Any],
    kept: list[nn.Module],
    generator: torch.Generator,
) -> dict[str, Any]:
    return {
        "optimisers": [each.state_dict() for each in optimisers],
        "schedulers": [each.state_dict() for each in schedulers],
        "auxiliary": kept[0].state_dict() if kept else None,
        "torch_rng": torch.get_rng_state(),
        "generator": generator.get_state(),
    }


def _restore(
    state: dict[str, Any],
    optimisers: list[Any],
    schedulers: list[Any],
    kept: list[nn.Module],
    generator: torch.Generator,
) -> None:
    for optimiser, saved in zip(optimisers, state["optimisers"], strict=True):
        optimiser.load_state_dict(saved)
    for scheduler, saved in zip(schedulers, state["schedulers"], strict=True):
        scheduler.load_state_dict(saved)
    for module in kept:
        module.load_state_dict(state["auxiliary"])
    torch.set_rng_state(state["torch_rng"])
    generator.set_state(state["generator"])


def _parallel(step: nn.Module, distributed: bool) -> nn.Module:
    """Wrap a phase in DDP under torchrun. Each phase uses only part of the model (the discriminator
    sits out the reconstruction), hence find_unused_parameters."""
    if not distributed:
        return step
    device_ids = [torch.cuda.current_device()] if next(step.parameters()).is_cuda else None
    return DistributedDataParallel(step, device_ids=device_ids, find_unused_parameters=True)

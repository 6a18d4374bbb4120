"""What one `train` or `evaluate` command does, end to end: data, model, loop, density, evaluation,
checkpoint, pictures."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import torch
from torch import distributed as dist

import models
from models import Autoencoder, Classifier, GaussianPrior, MixturePrior, Prior, SwissRollPrior
from models.registry import MODELS
from training import plots
from training.data import Splits
from training.defaults import ModelPreset
from training.evaluate import classifier_accuracy, evaluate, train_classifier
from training.ex_post import fit_ex_post_density
from training.latent_map import compute_latent_map
from training.loop import TrainConfig, train
from training.resume import ResumeError, load_state, save_state, state_path

log = logging.getLogger(__name__)


def build(preset: ModelPreset, splits: Splits) -> tuple[Autoencoder, Prior]:
    """A fresh model and its prior for `preset` on this data (image shape and classes from the data)."""
    entry = MODELS[preset.kind]
    torch.manual_seed(preset.train.seed)  # the initial weights, too, follow the seed
    config = entry.config_class(
        image_shape=splits.train.image_shape,
        num_classes=len(splits.train.class_names),
        variant=preset.variant,
        **preset.model,
    )
    model = entry.model_class(config)
    assert isinstance(model, Autoencoder), f"{preset.kind} is not an autoencoder"
    num_classes = len(splits.train.class_names)
    prior: Prior
    match preset.prior:
        case "mixture":
            prior = MixturePrior(num_classes)
        case "swiss_roll":
            prior = SwissRollPrior(num_classes)
        case _:  # "ex_post" starts Gaussian and is replaced by the fitted density after training
            prior = GaussianPrior(config.latent_dim)
    if prior.dim != config.latent_dim:
        raise ValueError(f"the {preset.prior} prior is {prior.dim}-D but latent_dim is {config.latent_dim}")
    return model, prior


def train_to_checkpoint(
    preset: ModelPreset,
    splits: Splits,
    out: Path,
    *,
    dataset: str,
    classifier: Classifier | None,
    resume: bool = False,
    device: str = "cpu",
    docs_dir: Path | None = None,
) -> dict[str, float]:
    """Train (or resume) `preset`, save after every epoch, then evaluate and save the final checkpoint."""
    model, prior = build(preset, splits)
    class_names = splits.train.class_names
    history: list[dict[str, Any]] = []
    start_epoch, state = 0, None
    if resume and out.exists():
        previous = models.load(out, device)
        if (previous.kind, previous.variant) != (preset.kind, preset.variant):
            raise ValueError(f"{out} holds a {previous.kind} ({previous.variant}), not a {preset.name}")
        model.load_state_dict(previous.model.state_dict())
        history = previous.training.get("history", [])
        start_epoch = int(previous.training.get("epochs_done", 0))
        state = _saved_state(state_path(out), start_epoch)
        log.info("resuming %s from epoch %d%s", out, start_epoch, "" if state else " (weights only: no matching state)")
    started = time.perf_counter()

    def summary() -> dict[str, Any]:
        return {
            "preset": preset.name,
            "dataset": dataset,
            "epochs_done": len(history),
            "train_config": dataclasses.asdict(preset.train),
            "train_images": len(splits.train),
            "world_size": dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1,
            "seconds": round(time.perf_counter() - started, 1),
            "history": history,
        }

    def save_progress(epoch: int, stats: dict[str, float], state: dict[str, Any]) -> None:
        history.append({key: round(value, 5) for key, value in stats.items()})
        log.info("%s epoch %d: %s", preset.name, epoch, ", ".join(f"{k}={v:.4g}" for k, v in stats.items()))
        if rank == 0:  # under torchrun, rank 0 alone writes
            # the state first, then the checkpoint: a kill between the two leaves a state one epoch ahead
            # of the checkpoint, which resuming sees by the epoch number and does not use
            save_state(state_path(out), {**state, "epoch": epoch})
            models.save(out, model, prior=prior, class_names=class_names, training=summary())

    rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
    train(
        model, prior, splits.train, preset.train, device=device, start_epoch=start_epoch, state=state,
        on_epoch_end=save_progress,
    )  # fmt: skip
    if rank != 0:
        return {}
    assert classifier is not None, "rank 0 evaluates, so it needs the evaluation classifier"
    if preset.prior == "ex_post":
        prior = fit_ex_post_density(model, splits.train, seed=preset.train.seed)
    evaluation = evaluate(model, prior, splits.test, classifier, seed=preset.train.seed)
    models.save(
        out, model, prior=prior, class_names=class_names, training=summary(), evaluation=evaluation,
        latent_map=compute_latent_map(model, prior, splits.test, seed=preset.train.seed),
    )  # fmt: skip
    if docs_dir is not None:
        plots.model_pictures(model, prior, splits.test, class_names, history, docs_dir / preset.name)
    return evaluation


def _saved_state(path: Path, epochs_done: int) -> dict[str, Any] | None:
    """The state saved with the checkpoint's last epoch, or None (none saved, or from another epoch)."""
    if not path.exists():
        return None
    try:
        state = load_state(path)
    except ResumeError as error:
        log.warning("%s", error)
        return None
    return state if state.get("epoch") == epochs_done else None


def classifier_for(splits: Splits, path: Path, *, device: str = "cpu", seed: int = 0) -> Classifier:
    """The evaluation classifier stored at `path`, trained and saved there first if it is missing."""
    if path.exists():
        checkpoint = models.load(path, device)
        assert isinstance(checkpoint.model, Classifier), f"{path} is not a classifier checkpoint"
        return checkpoint.model
    classifier = train_classifier(splits.train, seed=seed, device=device)
    accuracy = classifier_accuracy(classifier, splits.test)
    log.info("evaluation classifier test accuracy %.4f", accuracy)
    models.save(path, classifier, class_names=splits.train.class_names, evaluation={"test_accuracy": accuracy})
    return classifier


def reevaluate(path: Path, splits: Splits, classifier: Classifier, *, device: str = "cpu") -> dict[str, float]:
    """`evaluate CHECKPOINT`: recompute the figures (and a 2-D model's latent map) and write them back."""
    checkpoint = models.load(path, device)
    model = checkpoint.model
    if not isinstance(model, Autoencoder) or checkpoint.prior is None:
        raise ValueError(f"{path} is not an autoencoder checkpoint with a prior")
    evaluation = evaluate(model, checkpoint.prior, splits.test, classifier)
    models.save(
        path, model, prior=checkpoint.prior, class_names=checkpoint.class_names,
        training=checkpoint.training, evaluation=evaluation,
        latent_map=compute_latent_map(model, checkpoint.prior, splits.test),
    )  # fmt: skip
    return evaluation


def with_overrides(preset: ModelPreset, model: dict[str, Any], train_config: dict[str, Any]) -> ModelPreset:
    """`preset` with the command line's non-None values on top."""
    model_fields = {**preset.model, **{key: value for key, value in model.items() if value is not None}}
    train_fields = {key: value for key, value in train_config.items() if value is not None}
    return dataclasses.replace(preset, model=model_fields, train=dataclasses.replace(preset.train, **train_fields))


__all__ = ["TrainConfig", "build", "classifier_for", "reevaluate", "train_to_checkpoint", "with_overrides"]

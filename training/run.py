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
from models.classifier import ClassifierArchitecture
from models.registry import MODELS
from training import plots
from training.anomaly import calibrate_checkpoint
from training.categorical import classification_figures, cluster_figures, labelled_by_head
from training.classifiers import train_classifier
from training.config import ModelPreset, TrainConfig, TrainingMistake
from training.data import ImageData, Splits, keep_labels
from training.evaluate import classifier_accuracy, evaluate
from training.ex_post import fit_class_mixture, fit_ex_post_density
from training.fine_tune import fine_tune_decoder
from training.latent_map import compute_latent_map
from training.loop import train
from training.resume import ResumeError, load_state, save_state, state_path

log = logging.getLogger(__name__)


def build(preset: ModelPreset, splits: Splits) -> tuple[Autoencoder, Prior]:
    """A fresh model and its prior for `preset` on this data (image shape and classes from the data)."""
    entry = MODELS[preset.kind]
    torch.manual_seed(preset.train.seed)  # the initial weights, too, follow the seed
    fields = {"image_shape": splits.train.image_shape, "num_classes": len(splits.train.class_names), **preset.model}
    config = entry.config_class(variant=preset.variant, **fields)
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
    judges: dict[str, Classifier] | None,
    evaluate_on: str = "validation",
    resume: bool = False,
    device: str = "cpu",
    docs_dir: Path | None = None,
    auxiliary_kept_in: Path | None = None,
) -> dict[str, Any]:
    """Train (or resume) `preset`, save after every epoch, fine-tune its decoder on a fitted per-class density
    where the preset says so, then evaluate on the `evaluate_on` split and save the final checkpoint. With
    `auxiliary_kept_in`, the second stage's auxiliary classifier is kept in and reused from that folder."""
    model, prior = build(preset, splits)
    class_names = class_names_of(preset, splits)
    train_data = splits.train
    if preset.labels_per_class is not None:  # semi-supervised or clustering: most labels (or all) hidden
        train_data = keep_labels(splits.train, preset.labels_per_class, seed=preset.train.seed)
    history: list[dict[str, Any]] = []
    fine_tuning: list[dict[str, Any]] = []
    done_sampler: Prior | None = None  # the sampler of a resumed run that had finished its second stage
    start_epoch, state = 0, None
    if resume and out.exists():
        previous = models.load(out, device)
        theirs = (previous.kind, previous.variant, previous.model.config, previous.class_names)
        if theirs != (preset.kind, preset.variant, model.config, class_names):
            raise TrainingMistake(
                f"{out} holds another run ({previous.training.get('preset')} on {previous.training.get('dataset')}, "
                f"{previous.kind} {previous.variant}), not this {preset.name} on {dataset}: "
                "resume with that run's settings, or choose another --out"
            )
        model.load_state_dict(previous.model.state_dict())
        history = previous.training.get("history", [])
        start_epoch = int(previous.training.get("epochs_done", 0))
        state = _saved_state(state_path(out), start_epoch)
        if previous.training.get("fine_tune_history"):  # the second stage ran too
            done_sampler, fine_tuning = previous.sampler, previous.training["fine_tune_history"]
        log.info("resuming %s from epoch %d%s", out, start_epoch, "" if state else " (weights only: no matching state)")
    started = time.perf_counter()

    def summary() -> dict[str, Any]:
        return {
            "preset": preset.name,
            "dataset": dataset,
            "epochs_done": len(history),
            "train_config": dataclasses.asdict(preset.train),
            "train_images": len(splits.train),
            "labelled_images": int((train_data.labels >= 0).sum()),
            "world_size": dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1,
            "seconds": round(time.perf_counter() - started, 1),
            "history": history,
            "fine_tune": dataclasses.asdict(preset.fine_tune) if preset.fine_tune else None,
            "fine_tune_history": fine_tuning,
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
        model, prior, train_data, preset.train, device=device, start_epoch=start_epoch, state=state,
        on_epoch_end=save_progress,
    )  # fmt: skip
    if rank != 0:
        return {}
    assert judges is not None, "rank 0 evaluates, so it needs the evaluation judges"
    if preset.prior == "ex_post":
        prior = fit_ex_post_density(model, splits.train, seed=preset.train.seed)
    sampler = done_sampler
    if preset.fine_tune is not None and not fine_tuning:  # one process: the second stage is short
        # a categorical model's classes (or clusters) are those its head gives, where its labels were hidden
        classes = labelled_by_head(model, train_data, class_names) if model.classifies else splits.train
        if preset.fine_tune.density == "class_mixture":
            components, seed = preset.fine_tune.components, preset.train.seed
            sampler = fit_class_mixture(model, classes, components=components, seed=seed)
        # a categorical model's critic learns its own head's labels, which no other run shares: not kept
        kept_in = None if model.classifies else auxiliary_kept_in
        fine_tuning += fine_tune_decoder(
            model, sampler or prior, classes, preset.fine_tune, device=device, auxiliary_kept_in=kept_in
        )
    data = _split(splits, evaluate_on)
    evaluation = evaluate(
        model, sampler or prior, data, judges, split=evaluate_on, seed=preset.train.seed,
        judge_labels=class_names == data.class_names,
    )  # fmt: skip
    evaluation |= categorical_evaluation(model, class_names, splits.train, data)
    models.save(
        out, model, prior=prior, sampler=sampler, class_names=class_names, training=summary(), evaluation=evaluation,
        latent_map=compute_latent_map(model, sampler or prior, splits.test, seed=preset.train.seed),
    )  # fmt: skip
    if splits.validation is not None:  # the anomaly score's calibration, on images training never saw
        evaluation["anomaly"] = calibrate_checkpoint(out, splits.validation, "the validation split", test=splits.test)
    if docs_dir is not None:
        plots.model_pictures(model, sampler or prior, splits.test, class_names, history, docs_dir / preset.name)
        if "clustering" in evaluation:
            plots.cluster_grid(model, splits.test, evaluation["clustering"]["majority_class"], docs_dir / preset.name)
        elif model.takes_labels_to_decode and class_names == splits.test.class_names:
            plots.style_content_grid(model, splits.test, docs_dir / preset.name)
    return evaluation


def class_names_of(preset: ModelPreset, splits: Splits) -> list[str]:
    """The names of the model's labels: the data's classes, or for a clustering model its clusters."""
    if preset.labels_per_class == 0:
        return [f"cluster {index}" for index in range(preset.model.get("num_classes", len(splits.train.class_names)))]
    return splits.train.class_names


def categorical_evaluation(
    model: Autoencoder, class_names: list[str], train: ImageData, data: ImageData
) -> dict[str, Any]:
    """For a categorical head: its classification figures where its labels are the data's classes, else its
    clustering figures (clusters mapped to classes by the training images' labels: evaluation only)."""
    if not model.classifies:
        return {}
    if class_names == data.class_names:
        return {"classification": classification_figures(model, data)}
    return {"clustering": cluster_figures(model, train, data)}


def _split(splits: Splits, name: str) -> ImageData:
    data = {"test": splits.test, "validation": splits.validation}[name]
    if data is None:
        raise ValueError(f"no {name} split: hold one out of the training images first")
    return data


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


# the evaluation judges: two architectures, each with its own seed (and so its own data order)
JUDGES: dict[str, tuple[ClassifierArchitecture, int, int]] = {"cnn": ("cnn", 1, 10), "resnet": ("resnet", 2, 8)}


class JudgeError(TrainingMistake):
    """An evaluation judge that does not belong to the data it was asked to judge."""


def judges_for(splits: Splits, folder: Path, dataset: str, *, device: str = "cpu") -> dict[str, Classifier]:
    """The evaluation judges of this data, `folder/DATASET-DIGEST-NAME.safetensors` with DIGEST that of the
    training images (`ImageData.digest`), so that other data never meets them; each trained on those images and
    saved there first if it is missing (its test accuracy goes in the file). A judge file whose classes or
    input shape are not the data's raises JudgeError."""
    data = splits.train
    judges = {}
    for name, (architecture, seed, epochs) in JUDGES.items():
        path = folder / f"{dataset}-{data.digest()}-{name}.safetensors"
        if not path.exists():
            trained = train_classifier(data, architecture=architecture, epochs=epochs, seed=seed, device=device)
            accuracy = classifier_accuracy(trained, splits.test)
            log.info("evaluation judge %s: test accuracy %.4f", name, accuracy)
            training = {"architecture": architecture, "seed": seed, "epochs": epochs, "train_images": len(data)}
            folder.mkdir(parents=True, exist_ok=True)
            models.save(
                path, trained, class_names=data.class_names, training=training,
                evaluation={"test_accuracy": accuracy},
            )  # fmt: skip
        checkpoint = models.load(path, device)
        judged = (checkpoint.class_names, tuple(checkpoint.image_shape))
        if not isinstance(checkpoint.model, Classifier) or judged != (data.class_names, data.image_shape):
            raise JudgeError(
                f"{path} judges {judged[0]} in images of shape {judged[1]}, not this data's {data.class_names} in "
                f"{data.image_shape}: remove the file, or choose another --judges-dir"
            )
        judges[name] = checkpoint.model
    return judges


def reevaluate(
    path: Path, splits: Splits, judges: dict[str, Classifier], *, split: str = "test", device: str = "cpu"
) -> dict[str, Any]:
    """`evaluate CHECKPOINT`: recompute the figures (and a 2-D model's latent map) and write them back."""
    checkpoint = models.load(path, device)
    model = checkpoint.model
    if not isinstance(model, Autoencoder) or checkpoint.density is None:
        raise ValueError(f"{path} is not an autoencoder checkpoint with a prior")
    data, class_names = _split(splits, split), checkpoint.class_names or []
    evaluation = evaluate(
        model, checkpoint.density, data, judges, split=split, judge_labels=class_names == data.class_names
    )
    evaluation |= categorical_evaluation(model, class_names, splits.train, data)
    evaluation |= {key: checkpoint.evaluation[key] for key in ("anomaly",) if key in checkpoint.evaluation}
    latent_map = compute_latent_map(model, checkpoint.density, splits.test)
    models.rewrite(path, dataclasses.replace(checkpoint, evaluation=evaluation, latent_map=latent_map))
    return evaluation


def with_overrides(preset: ModelPreset, model: dict[str, Any], train_config: dict[str, Any]) -> ModelPreset:
    """`preset` with the command line's non-None values on top."""
    model_fields = {**preset.model, **{key: value for key, value in model.items() if value is not None}}
    train_fields = {key: value for key, value in train_config.items() if value is not None}
    return dataclasses.replace(preset, model=model_fields, train=dataclasses.replace(preset.train, **train_fields))


__all__ = [
    "JUDGES",
    "JudgeError",
    "TrainConfig",
    "TrainingMistake",
    "build",
    "judges_for",
    "reevaluate",
    "train_to_checkpoint",
    "with_overrides",
]

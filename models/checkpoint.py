"""The one checkpoint format, shared by training (which writes) and serving (which reads).

A checkpoint is one safetensors file: the model's tensors, and in the header one metadata entry,
"aeserve", holding JSON with the format version, kind, variant, full config, prior (fitted densities
included), sampler (a density fitted to the codes that sampling uses instead of the prior, if any),
class names, image shape, training summary and evaluation figures. A 2-D model may also carry its
latent map (the test images' codes and draws from its sampler) as tensors named `latent_map.*`.
Tensors and JSON only, so loading a checkpoint never runs code. Saving is atomic: a crash mid-write
leaves the previous file as it was. Loading is strict and every failure is one `CheckpointError`
that says what is wrong.
"""

from __future__ import annotations

import dataclasses
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
import safetensors
import safetensors.torch
import torch
from torch import nn

from models.anomaly import Calibration
from models.base import Autoencoder
from models.files import write_atomically
from models.priors import Prior, PriorError, prior_from_metadata
from models.registry import MODELS
from models.validation import in_words

FORMAT_VERSION = 1
METADATA_KEY = "aeserve"
LATENT_MAP_PREFIX = "latent_map."  # no model parameter is named so: the map's tensors sit beside the weights


class _Header(pydantic.BaseModel):
    """The JSON header's shape (what each field must be before it is read): checked as a whole first."""

    model_config = pydantic.ConfigDict(strict=True, extra="allow")

    kind: str
    variant: str
    config: dict[str, Any]
    prior: dict[str, Any] | None
    sampler: dict[str, Any] | None = None
    class_names: list[str] | None
    image_shape: list[int]
    training: dict[str, Any]
    evaluation: dict[str, Any]
    calibration: Calibration | None = None


class CheckpointError(ValueError):
    """A checkpoint cannot be read or written; the message says which file and why."""


@dataclass(frozen=True)
class LatentMap:
    """Where a model puts real images in its latent space, and where its prior puts draws (for plotting)."""

    codes: torch.Tensor  # (N, latent_dim) float32: the codes (a VAE's means) of the test images
    labels: torch.Tensor  # (N,) int64: the class of each of those images
    prior_codes: torch.Tensor  # (M, latent_dim) float32: draws from the prior
    prior_labels: torch.Tensor | None  # (M,) int64: the component of each draw, for priors that have them

    def tensors(self) -> dict[str, torch.Tensor]:
        named = {"codes": self.codes, "labels": self.labels, "prior_codes": self.prior_codes}
        if self.prior_labels is not None:
            named["prior_labels"] = self.prior_labels
        return {LATENT_MAP_PREFIX + name: tensor for name, tensor in named.items()}

    @classmethod
    def from_tensors(cls, path: Path, tensors: dict[str, torch.Tensor], latent_dim: int) -> LatentMap:
        """The map from a file's `latent_map.*` tensors; CheckpointError when they do not fit together."""
        named = {name.removeprefix(LATENT_MAP_PREFIX): tensor for name, tensor in tensors.items()}
        if unknown := sorted(set(named) - {"codes", "labels", "prior_codes", "prior_labels"}):
            raise CheckpointError(f"{path}: unknown latent map tensors {unknown}")
        if missing := [name for name in ("codes", "labels", "prior_codes") if name not in named]:
            raise CheckpointError(f"{path}: the latent map lacks {', '.join(missing)}")
        codes, labels, prior_codes = named["codes"], named["labels"], named["prior_codes"]
        prior_labels = named.get("prior_labels")
        fits = (
            codes.ndim == 2 and codes.shape[1] == latent_dim and codes.is_floating_point()
            and labels.shape == codes.shape[:1] and not labels.is_floating_point()
            and prior_codes.ndim == 2 and prior_codes.shape[1] == latent_dim and prior_codes.is_floating_point()
            and (prior_labels is None or (prior_labels.shape == prior_codes.shape[:1]
                                          and not prior_labels.is_floating_point()))
        )  # fmt: skip
        if not fits:
            shapes = {name: tuple(tensor.shape) for name, tensor in named.items()}
            raise CheckpointError(f"{path}: the latent map's tensors do not fit a {latent_dim}-D model: {shapes}")
        return cls(
            codes.float(), labels.long(), prior_codes.float(), prior_labels.long() if prior_labels is not None else None
        )


@dataclass
class Checkpoint:
    model: nn.Module  # in eval mode, on the device asked for
    kind: str
    variant: str
    prior: Prior | None
    class_names: list[str] | None
    image_shape: tuple[int, int, int]
    training: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    latent_map: LatentMap | None = None
    # a density fitted to the model's codes after training, which sampling uses in place of the family's
    # prior (which stays, for the adversary's target and for sampling "from the prior" on request)
    sampler: Prior | None = None
    calibration: Calibration | None = None  # the anomaly score's (models.anomaly), where it was calibrated

    @property
    def density(self) -> Prior | None:
        """What new images are drawn from by default: the sampler where there is one, else the prior."""
        return self.sampler or self.prior


def save(
    path: str | Path,
    model: nn.Module,
    *,
    prior: Prior | None = None,
    sampler: Prior | None = None,
    class_names: list[str] | None = None,
    training: dict[str, Any] | None = None,
    evaluation: dict[str, Any] | None = None,
    latent_map: LatentMap | None = None,
    calibration: Calibration | None = None,
) -> None:
    """Write `model` and its description to `path` atomically (temporary file, fsync, rename)."""
    path = Path(path)
    kind = getattr(model, "kind", None)
    if kind not in MODELS:
        raise CheckpointError(f"cannot save {type(model).__name__}: its kind {kind!r} is not in the registry")
    config: Any = model.config
    header = {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "variant": config.variant,
        "config": dataclasses.asdict(config),
        "prior": prior.to_metadata() if prior is not None else None,
        "sampler": sampler.to_metadata() if sampler is not None else None,
        "class_names": class_names,
        "image_shape": list(config.image_shape),
        "training": training or {},
        "evaluation": evaluation or {},
        "calibration": calibration.model_dump() if calibration is not None else None,
    }
    named = {**model.state_dict(), **(latent_map.tensors() if latent_map is not None else {})}
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in named.items()}
    try:
        payload = safetensors.torch.save(tensors, metadata={METADATA_KEY: json.dumps(header, allow_nan=False)})
    except ValueError as error:  # e.g. a NaN figure in the summary
        raise CheckpointError(f"cannot save {path}: {error}") from error
    write_atomically(path, payload)


def rewrite(path: str | Path, checkpoint: Checkpoint) -> None:
    """Write a loaded checkpoint back (changed with `dataclasses.replace`), everything it holds kept."""
    save(
        path, checkpoint.model, prior=checkpoint.prior, sampler=checkpoint.sampler, class_names=checkpoint.class_names,
        training=checkpoint.training, evaluation=checkpoint.evaluation, latent_map=checkpoint.latent_map,
        calibration=checkpoint.calibration,
    )  # fmt: skip


def load(source: str | Path | bytes, device: str | torch.device = "cpu", *, weights: bool = True) -> Checkpoint:
    """Read and validate a checkpoint from a file or its bytes; the model comes in eval mode on `device`.

    `weights=False` builds the model on PyTorch's meta device: its config, flags and tensor shapes, without
    memory for the weights (what a process that only describes and validates a model needs).
    """
    path = Path(source) if not isinstance(source, bytes) else Path("<checkpoint bytes>")
    tensors, metadata = _read(source, path)
    header = _parse_header(path, metadata)
    kind = header["kind"]
    entry = MODELS[kind]
    try:
        config = pydantic.TypeAdapter(entry.config_class).validate_python(header["config"])
    except (pydantic.ValidationError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: the {kind} config is not valid: {error}") from error
    # built on the meta device first: a header asking for absurd sizes is refused by the shape check below,
    # before any memory is taken for it
    try:
        with torch.device("meta"):
            model = entry.model_class(config)
    except (RuntimeError, ValueError, OverflowError) as error:  # e.g. sizes no tensor can have
        raise CheckpointError(f"{path}: the {kind} its config describes cannot be built: {error}") from error
    map_tensors = {name: tensors.pop(name) for name in list(tensors) if name.startswith(LATENT_MAP_PREFIX)}
    latent_map = None
    if map_tensors:
        if not isinstance(model, Autoencoder):
            raise CheckpointError(f"{path}: a {kind} has no latent space, yet the file holds a latent map")
        latent_map = LatentMap.from_tensors(path, map_tensors, model.config.latent_dim)
    _check_tensors(path, model, tensors)
    if weights:
        model = model.to_empty(device="cpu")
        model.load_state_dict(tensors, strict=True)  # every parameter and buffer, checked above
        model = model.to(device)
    try:
        prior = prior_from_metadata(header["prior"]) if header["prior"] is not None else None
        sampler = prior_from_metadata(header["sampler"]) if header.get("sampler") is not None else None
    except PriorError as error:
        raise CheckpointError(f"{path}: {error}") from error
    class_names = header["class_names"]
    if class_names is not None and (
        not isinstance(class_names, list) or not all(isinstance(name, str) for name in class_names)
    ):
        raise CheckpointError(f"{path}: class_names must be a list of strings, got {class_names!r}")
    return Checkpoint(
        model=model.eval(),
        kind=kind,
        variant=config.variant,
        prior=prior,
        class_names=class_names,
        image_shape=tuple(config.image_shape),
        training=header["training"],
        evaluation=header["evaluation"],
        latent_map=latent_map,
        sampler=sampler,
        calibration=Calibration.model_validate(header["calibration"]) if header.get("calibration") else None,
    )


# helpers


def _read(source: str | Path | bytes, path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and string metadata of a safetensors file or its bytes."""
    if not isinstance(source, bytes) and not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        if isinstance(source, bytes):
            # safetensors' bytes API has no metadata reader: the header is its documented first bytes
            # (8-byte little-endian length, then JSON), parsed only after safetensors accepted the whole
            tensors = safetensors.torch.load(source)
            (length,) = struct.unpack_from("<Q", source)
            metadata = json.loads(source[8 : 8 + length]).get("__metadata__") or {}
        else:
            with safetensors.safe_open(str(path), framework="pt") as file:
                metadata = file.metadata() or {}
                tensors = {name: file.get_tensor(name) for name in file.keys()}  # noqa: SIM118 (not a dict)
    except Exception as error:  # safetensors raises its own error types for a bad header or body
        raise CheckpointError(f"{path}: not a readable safetensors file ({error})") from error
    return tensors, metadata


def _parse_header(path: Path, metadata: dict[str, str]) -> dict[str, Any]:
    if METADATA_KEY not in metadata:
        raise CheckpointError(f"{path}: no {METADATA_KEY!r} metadata in the header: not an aeserve checkpoint")
    try:
        header = json.loads(metadata[METADATA_KEY])
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path}: the {METADATA_KEY!r} metadata is not valid JSON ({error})") from error
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: the {METADATA_KEY!r} metadata must be a JSON object")
    if header.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: unknown format version {header.get('format_version')!r}; "
            f"this aeserve reads version {FORMAT_VERSION}"
        )
    required = ("kind", "variant", "config", "prior", "class_names", "image_shape", "training", "evaluation")
    if missing := [key for key in required if key not in header]:
        raise CheckpointError(f"{path}: the header lacks {', '.join(missing)}")
    try:
        _Header.model_validate(header)
    except pydantic.ValidationError as error:
        raise CheckpointError(f"{path}: the header's fields have the wrong types ({in_words(error)})") from error
    if header["kind"] not in MODELS:
        raise CheckpointError(f"{path}: unknown kind {header['kind']!r}; known kinds: {', '.join(MODELS)}")
    return header


def _check_tensors(path: Path, model: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    mismatched = [
        f"{name} (file {tuple(tensors[name].shape)}, model {tuple(expected[name].shape)})"
        for name in sorted(set(expected) & set(tensors))
        if tensors[name].shape != expected[name].shape
    ]
    problems = [
        f"{label}: {', '.join(names)}"
        for label, names in (
            ("missing tensors", missing),
            ("unexpected tensors", unexpected),
            ("shape mismatch", mismatched),
        )
        if names
    ]
    if problems:
        raise CheckpointError(f"{path}: tensors do not match the model its header describes; " + "; ".join(problems))

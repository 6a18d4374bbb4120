"""The served models: every checkpoint in the models folder, loaded onto the device with its worker.

Model names are the checkpoint file stems; requests look names up in this catalog and never build a
path from them, so nothing outside the models folder can be reached.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import models
from models import Autoencoder, CheckpointError
from service import inference
from service.metrics import Metrics
from service.settings import Settings
from service.worker import ModelWorker

log = logging.getLogger(__name__)
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def resolve_device(setting: str) -> torch.device:
    """ "auto" -> CUDA when available; a named CUDA device must exist."""
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(setting)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {setting!r} asked for, but CUDA is not available here")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {setting!r} asked for, but there are {torch.cuda.device_count()} CUDA devices")
    return device


def file_version(path: Path) -> str:
    """A checkpoint's version: the start of its file's sha256, so any change to the file is a new version."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


@dataclass
class ServedModel:
    name: str
    checkpoint: models.Checkpoint
    worker: ModelWorker
    version: str  # file_version of the checkpoint it was loaded from

    @property
    def model(self) -> Autoencoder:
        assert isinstance(self.checkpoint.model, Autoencoder)
        return self.checkpoint.model

    def class_index(self, label: int | str) -> int:
        """A label given as an index or a class name -> the index; ValueError saying what is valid."""
        names = self.checkpoint.class_names or [str(i) for i in range(self.model.config.num_classes)]
        if isinstance(label, str) and label in names:
            return names.index(label)
        if isinstance(label, str) and label.isdigit():  # query strings carry indices as text
            label = int(label)
        if isinstance(label, int) and not isinstance(label, bool):
            if 0 <= label < len(names):
                return label
            raise ValueError(f"label {label} is out of range: model {self.name} has classes 0..{len(names) - 1}")
        raise ValueError(f"unknown label {label!r}: use an index 0..{len(names) - 1} or one of {names}")

    def describe(self, *, default: bool, device: torch.device) -> dict[str, Any]:
        config = self.model.config
        prior = self.checkpoint.prior
        return {
            "name": self.name,
            "version": self.version,
            "kind": self.checkpoint.kind,
            "variant": self.checkpoint.variant,
            "latent_dim": config.latent_dim,
            "image_shape": list(self.checkpoint.image_shape),
            "conditional": self.model.samples_by_label,
            "labels_to_encode": self.model.takes_labels_to_encode,
            "labels_to_decode": self.model.takes_labels_to_decode,
            "classes": self.checkpoint.class_names
            if self.model.samples_by_label or self.model.takes_labels_to_encode
            else None,
            "prior": {"name": prior.name, "dim": prior.dim, "components": prior.num_labels} if prior else None,
            "device": str(device),
            "default": default,
            "evaluation": self.checkpoint.evaluation,
            "latent_map": self.checkpoint.latent_map is not None,
        }

    @functools.cached_property
    def latent_map_json(self) -> bytes | None:
        """The stored latent map as JSON (schemas.LatentMap; 4 decimals: a map's pixels need no more), or None.

        Built once: 10,000 codes make ~250 kB that never change while the model is served."""
        stored = self.checkpoint.latent_map
        if stored is None:
            return None
        return json.dumps({
            "model": self.name,
            "classes": self.checkpoint.class_names,
            "codes": stored.codes.double().round(decimals=4).tolist(),
            "labels": stored.labels.tolist(),
            "prior_codes": stored.prior_codes.double().round(decimals=4).tolist(),
            "prior_labels": stored.prior_labels.tolist() if stored.prior_labels is not None else None,
        }, separators=(",", ":")).encode()  # fmt: skip


@dataclass
class Catalog:
    settings: Settings
    metrics: Metrics
    device: torch.device
    served: dict[str, ServedModel] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # name -> why it is not served
    draining: bool = False
    png_executor: ThreadPoolExecutor = field(init=False)  # PNG coding of uploads and grids, in parallel
    inference: inference.Runner | None = None  # one batch at a time on the device

    def __post_init__(self) -> None:
        self.png_executor = ThreadPoolExecutor(self.settings.png_threads, thread_name_prefix="png")

    def load_all(self) -> None:
        """Load every checkpoint in the folder; log and record the ones that fail, serve the rest."""
        folder = self.settings.models_dir
        paths = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
        if not paths:
            log.warning("no checkpoints in %s", folder)
        loaded: dict[str, tuple[Path, models.Checkpoint, str]] = {}
        for path in paths:
            name = path.stem
            try:
                if not NAME_PATTERN.fullmatch(name):
                    raise CheckpointError(f"{path.name}: the name must match {NAME_PATTERN.pattern}")
                version = file_version(path)
                checkpoint = models.load(path, self.device)
                if not isinstance(checkpoint.model, Autoencoder) or checkpoint.prior is None:
                    raise CheckpointError(f"{path.name}: a {checkpoint.kind} checkpoint is not a servable autoencoder")
            except (CheckpointError, OSError) as error:  # OSError: a file this user cannot read
                log.error("not serving %s: %s", path.name, error)
                self.failed[name] = str(error).replace(str(path), path.name)  # clients need no server paths
                continue
            inference.for_inference(checkpoint.model)  # in a thread these objects run the batches
            loaded[name] = (path, checkpoint, version)
        self.inference = inference.runner(
            self.device, {name: path for name, (path, _, _) in loaded.items()},
            own_process=self.settings.inference_process, threads=self.settings.torch_threads,
        )  # fmt: skip
        for name, (_, checkpoint, version) in loaded.items():
            assert isinstance(checkpoint.model, Autoencoder)
            worker = ModelWorker(
                name, checkpoint.model, checkpoint.prior, device=self.device, runner=self.inference,
                metrics=self.metrics, max_batch_size=self.settings.batch_size_for(self.device),
                max_wait_s=self.settings.max_wait_ms / 1000, queue_size=self.settings.queue_size,
                timeout_s=self.settings.request_timeout_s,
            )  # fmt: skip
            worker.start()
            self.served[name] = ServedModel(name, checkpoint, worker, version)
            log.info("serving %s %s (%s, %s) on %s", name, version, checkpoint.kind, checkpoint.variant, self.device)
        self.metrics.models_loaded.set(len(self.served))
        self.metrics.models_failed.set(len(self.failed))

    async def close(self) -> None:
        """Stop taking requests, let admitted ones finish, stop the inference process or thread."""
        self.draining = True
        for served in self.served.values():
            await served.worker.stop()
        if self.inference is not None:
            await self.inference.close()
        self.png_executor.shutdown(wait=True)

    @property
    def ready(self) -> bool:
        return bool(self.served) and not self.draining and not any(s.worker.broken for s in self.served.values())

    def default_name(self) -> str | None:
        if self.settings.default_model in self.served:
            return self.settings.default_model
        return next(iter(self.served), None)

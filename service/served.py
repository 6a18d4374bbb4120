"""One version of one served model: what the catalog hands a request (its card, its worker, its version)
and what the routes ask of it (its description, its densities, its latent map)."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

import torch

import models
from models import Autoencoder, Prior
from service.schemas import AnomalyInfo, ModelInfo
from service.worker import ModelWorker


@dataclass(eq=False)
class ServedModel:
    """One version of one model: its card (the checkpoint with the network on the meta device: config, prior,
    flags, evaluation; no weights, which live in the runner under `key`) and its worker."""

    name: str
    checkpoint: models.Checkpoint
    worker: ModelWorker
    version: str  # version_of the checkpoint file it was loaded from
    key: str  # what the runner holds its network under
    leases: int = 0  # requests using it now: a replaced version retires once none are left

    @property
    def model(self) -> Autoencoder:
        assert isinstance(self.checkpoint.model, Autoencoder)
        return self.checkpoint.model

    def class_name(self, index: int) -> str:
        return (self.checkpoint.class_names or [str(i) for i in range(self.model.config.num_classes)])[index]

    def describe(self, *, default: bool, device: torch.device) -> ModelInfo:
        config = self.model.config
        conditional = self.by_label(None)
        return ModelInfo(
            name=self.name,
            version=self.version,
            kind=self.checkpoint.kind,
            variant=self.checkpoint.variant,
            latent_dim=config.latent_dim,
            image_shape=list(self.checkpoint.image_shape),
            conditional=conditional,
            labels_to_encode=self.model.takes_labels_to_encode,
            labels_to_decode=self.model.takes_labels_to_decode,
            classes=self.checkpoint.class_names
            if conditional or self.model.takes_labels_to_encode or self.model.takes_labels_to_decode
            else None,
            classifies=self.model.classifies,
            categories=config.num_classes if self.model.classifies else None,
            prior=_density_info(self.checkpoint.prior),
            sampler=_density_info(self.checkpoint.sampler),
            device=str(device),
            default=default,
            evaluation=self.checkpoint.evaluation,
            anomaly=self._anomaly(),
            latent_map=self.checkpoint.latent_map is not None,
        )

    def _anomaly(self) -> AnomalyInfo:
        calibration = self.checkpoint.calibration
        if calibration is None:
            return AnomalyInfo(
                calibrated=False, signals=["reconstruction"], combine=None, alpha=None, calibration_size=None,
                calibrated_on=None,
                why_not="not calibrated: scores are reconstruction errors, with no p-value; store a calibration with "
                "python -m training calibrate CHECKPOINT [--folder DIR]",
            )  # fmt: skip
        return AnomalyInfo(
            calibrated=True, signals=list(calibration.signals), combine=calibration.combine, alpha=calibration.alpha,
            calibration_size=len(calibration.scores), calibrated_on=calibration.held_out, why_not=None,
        )  # fmt: skip

    def density(self, sampler: str | None) -> Prior:
        """What /sample draws from: "prior", "ex_post" (the fitted sampler), or None for the default (the sampler
        where there is one); ValueError saying why for a sampler this model lacks."""
        if sampler == "ex_post" and self.checkpoint.sampler is None:
            raise ValueError(f"model {self.name} has no ex-post sampler; leave sampler out or ask for the prior")
        density = self.checkpoint.prior if sampler == "prior" else self.checkpoint.density
        assert density is not None, "a served model has a prior"
        return density

    def by_label(self, sampler: str | None) -> bool:
        """Whether a label can choose what `sampler` (see `density`) draws."""
        return models.by_label(self.model, self.density(sampler))

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


def _density_info(density: Prior | None) -> dict[str, Any] | None:
    return {"name": density.name, "dim": density.dim, "components": density.num_labels} if density else None

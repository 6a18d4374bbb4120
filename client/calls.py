"""Each API call as data: the HTTP request to make and how to read its answer.

`Client` and `AsyncClient` differ only in how they send a request, so both build their calls here.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx
import numpy as np

from client.images import Images, from_base64_pngs, pngs_of

T = TypeVar("T")
Label = int | str  # a class index or a class name


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    options: dict[str, Any]  # httpx's request keywords: params, json, files, data
    read: Callable[[httpx.Response], T]


def _known_fields(cls: type, body: dict[str, Any]) -> dict[str, Any]:
    """Only the fields this client knows: a newer service may send more."""
    names = {field.name for field in dataclasses.fields(cls)}
    return {key: value for key, value in body.items() if key in names}


@dataclass(frozen=True)
class Model:
    """A served model, as `GET /models/NAME` describes it."""

    name: str
    kind: str  # "ae", "vae" or "aae"
    variant: str
    latent_dim: int
    image_shape: list[int]  # (channels, height, width)
    conditional: bool  # whether `sample` takes a label
    labels_to_encode: bool
    labels_to_decode: bool
    classes: list[str] | None
    prior: dict[str, Any] | None  # the family's prior: sample(sampler="prior") draws from it
    device: str
    default: bool
    evaluation: dict[str, Any]  # reconstruction, and per evaluation classifier ("spaces") the samples' figures
    latent_map: bool = False  # whether `latent_map(name)` has the test images' codes
    version: str | None = None  # the start of the checkpoint file's sha256
    sampler: dict[str, Any] | None = None  # the fitted per-class density that sample() draws from by default
    classifies: bool = False  # whether `classify` answers for it (a categorical head)
    categories: int | None = None  # how many classes (or clusters) it classifies into
    anomaly: dict[str, Any] | None = None  # how `score` scores: its signals, alpha, calibration (or why none)


@dataclass(frozen=True)
class Readiness:
    status: str  # "ready", "not ready" or "shutting down"
    models: list[str]
    failed: dict[str, str]  # checkpoints that did not load, with the reason
    reason: str | None = None  # why nothing is served: no models folder, or no checkpoint in it


@dataclass(frozen=True)
class Sampled:
    model: str
    images: np.ndarray  # (n, H, W) uint8, or (n, H, W, C) for colour models
    latents: np.ndarray  # (n, latent_dim) float32
    labels: list[int] | None  # the class of each image; None for unconditional models
    seed: int  # pass it again to draw the same images


@dataclass(frozen=True)
class Encoded:
    model: str
    latents: np.ndarray  # (n, latent_dim) float32: the codes (a VAE's posterior means)
    log_variances: np.ndarray | None  # (n, latent_dim) for VAEs
    class_probabilities: np.ndarray | None = None  # (n, classes) for models with a categorical head


@dataclass(frozen=True)
class Scored:
    model: str
    scores: np.ndarray  # (n,) float64: higher is more anomalous
    p_values: np.ndarray | None  # (n,) the share of held-out normal images scoring as high; None if not calibrated
    is_anomaly: np.ndarray | None  # (n,) bool: p-value below `alpha`
    alpha: float | None
    signals: dict[str, np.ndarray]  # "reconstruction", and "code_nll" / "negative_elbo" where the model has them
    maps: np.ndarray | None  # with maps=True: per-pixel squared error, (n, H, W), or (n, H, W, C) for colour


@dataclass(frozen=True)
class Classified:
    model: str
    probabilities: np.ndarray  # (n, classes) float32: the probability of each class (or cluster)
    predicted: list[int]  # the most probable class (or cluster) per image
    names: list[str]  # its name per image


@dataclass(frozen=True)
class LatentMap:
    model: str
    classes: list[str] | None
    codes: np.ndarray  # (N, 2) float32: the test images' codes
    labels: np.ndarray  # (N,) int64: their classes
    prior_codes: np.ndarray  # (M, 2) float32: draws from the prior
    prior_labels: np.ndarray | None  # (M,) int64: the component of each draw


# calls


def ready() -> Call[Readiness]:
    # 503 while loading is an answer here, not an error: the body says what is not ready
    return Call("GET", "/readyz", {}, lambda response: Readiness(**response.json()))


def models() -> Call[list[Model]]:
    return Call(
        "GET", "/models", {}, lambda response: [Model(**_known_fields(Model, m)) for m in response.json()["models"]]
    )


def model(name: str) -> Call[Model]:
    return Call("GET", f"/models/{_segment(name)}", {}, lambda response: Model(**_known_fields(Model, response.json())))


def latent_map(name: str) -> Call[LatentMap]:
    def read(response: httpx.Response) -> LatentMap:
        body = response.json()
        prior_labels = body["prior_labels"]
        return LatentMap(
            model=body["model"],
            classes=body["classes"],
            codes=np.asarray(body["codes"], dtype=np.float32),
            labels=np.asarray(body["labels"], dtype=np.int64),
            prior_codes=np.asarray(body["prior_codes"], dtype=np.float32),
            prior_labels=np.asarray(prior_labels, dtype=np.int64) if prior_labels is not None else None,
        )

    return Call("GET", f"/models/{_segment(name)}/latent-map", {}, read)


def sample(
    model: str | None,
    n: int,
    label: Label | None,
    seed: int | None,
    sampler: str | None = None,
    temperature: float | None = None,
) -> Call[Sampled]:
    params = {"model": model, "n": n, "label": label, "seed": seed, "sampler": sampler, "temperature": temperature}

    def read(response: httpx.Response) -> Sampled:
        body = response.json()
        return Sampled(
            model=body["model"],
            images=from_base64_pngs(body["images"]),
            latents=np.asarray(body["latents"], dtype=np.float32),
            labels=body["labels"],
            seed=body["seed"],
        )

    return Call("GET", "/sample", {"params": {k: v for k, v in params.items() if v is not None}}, read)


def encode(images: Images, model: str | None, labels: Sequence[Label] | None) -> Call[Encoded]:
    def read(response: httpx.Response) -> Encoded:
        body = response.json()
        log_variances, probabilities = body["log_variances"], body.get("class_probabilities")
        return Encoded(
            model=body["model"],
            latents=np.asarray(body["latents"], dtype=np.float32),
            log_variances=np.asarray(log_variances, dtype=np.float32) if log_variances is not None else None,
            class_probabilities=np.asarray(probabilities, dtype=np.float32) if probabilities is not None else None,
        )

    return Call("POST", "/encode", _uploads(images, model, labels), read)


def classify(images: Images, model: str | None) -> Call[Classified]:
    def read(response: httpx.Response) -> Classified:
        body = response.json()
        return Classified(
            model=body["model"], probabilities=np.asarray(body["probabilities"], dtype=np.float32),
            predicted=body["predicted"], names=body["names"],
        )  # fmt: skip

    return Call("POST", "/classify", _uploads(images, model, None), read)


def score(images: Images, model: str | None, labels: Sequence[Label] | None, maps: bool) -> Call[Scored]:
    def read(response: httpx.Response) -> Scored:
        body = response.json()
        each = body["scores"]
        calibrated = body["alpha"] is not None

        def column(name: str) -> np.ndarray:
            return np.asarray([one[name] for one in each], dtype=np.float64)

        maps_out = None
        if maps:  # the service's (C, H, W) per image, as the client's images are laid out
            stacked = np.asarray([one["map"] for one in each], dtype=np.float32)
            maps_out = stacked[:, 0] if stacked.shape[1] == 1 else stacked.transpose(0, 2, 3, 1)
        return Scored(
            model=body["model"], scores=column("score"), p_values=column("p_value") if calibrated else None,
            is_anomaly=np.asarray([one["is_anomaly"] for one in each], dtype=bool) if calibrated else None,
            alpha=body["alpha"], maps=maps_out,
            signals={name: column(name) for name in ("reconstruction", "code_nll", "negative_elbo")
                     if each and each[0][name] is not None},
        )  # fmt: skip

    options = _uploads(images, model, labels)
    options["params"] = {**options["params"], "maps": "true"} if maps else options["params"]
    return Call("POST", "/score", options, read)


def _uploads(images: Images, model: str | None, labels: Sequence[Label] | None) -> dict[str, Any]:
    """Images as a multipart upload: raw PNG bytes, a third smaller than base64 in JSON."""
    files = [("files", (f"{index}.png", png, "image/png")) for index, png in enumerate(pngs_of(images))]
    data = {"labels": [str(label) for label in labels]} if labels is not None else None
    return {"params": {"model": model} if model is not None else {}, "files": files, "data": data}


def decode(
    latents: np.ndarray | Sequence[Sequence[float]], model: str | None, labels: Sequence[Label] | None
) -> Call[np.ndarray]:
    rows = np.asarray(latents, dtype=np.float64)
    if rows.ndim != 2:
        raise ValueError(f"latents are (n, latent_dim); got shape {rows.shape}")
    body: dict[str, Any] = {"latents": rows.tolist()}
    if model is not None:
        body["model"] = model
    if labels is not None:
        body["labels"] = list(labels)
    return Call("POST", "/decode", {"json": body}, lambda response: from_base64_pngs(response.json()["images"]))


def _segment(name: str) -> str:
    """A model name as one path segment: a name with '/' or '?' cannot reach another route."""
    return urllib.parse.quote(name, safe="")

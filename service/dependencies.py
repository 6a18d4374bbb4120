"""What a request asks for, looked up and validated (FastAPI dependencies): the model, its labels, the counts.

A model is looked up in the catalog only, never built into a path, and leased for the whole request: a
version replaced by a reload retires only once the requests that looked it up have finished. The lease
ends in the middleware that closes every request (`service.middleware.PerRequest`): a dependency with
`yield` cost a fifth of /decode's throughput. Every dependency raises `ProblemError` (4xx) saying what
is wrong, so a route receives inputs it can use as they are. All async: FastAPI would run a plain `def`
on its thread pool, a thread hop per request. They read the catalog from the app rather than through
`Depends(get_catalog)`: each nested dependency costs FastAPI's resolver several microseconds a request
(py-spy under bench/compare.py's load)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, NamedTuple

import numpy as np
from fastapi import Depends, Path, Query, Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from models import Prior
from models.validation import in_words
from service import images
from service.auth import get_catalog
from service.catalog import Catalog, UnknownModel
from service.errors import ProblemError
from service.schemas import DecodeRequest, EncodeJSON
from service.served import ServedModel
from service.settings import Settings

CatalogDep = Annotated[Catalog, Depends(get_catalog)]
ModelQuery = Annotated[
    str | None, Query(max_length=64, description="model name; the default model when absent", examples=["cvae"])
]


class EncodeCall(NamedTuple):
    served: ServedModel
    blobs: list[bytes]  # the uploaded image files, not yet decoded
    labels: list[int] | None


class ScoreCall(NamedTuple):
    uploads: EncodeCall  # labels where the model takes them to encode or to decode
    maps: bool  # the per-pixel error maps too
    picture: bool  # the maps as one heat-map PNG over the images (Accept: image/png)


class DecodeCall(NamedTuple):
    served: ServedModel
    latents: np.ndarray  # (n, latent_dim) float32
    labels: list[int] | None
    grid: bool  # one PNG grid (Accept: image/png) rather than JSON


class SampleCall(NamedTuple):
    served: ServedModel
    n: int
    labels: list[int] | None
    seed: int | None
    density: Prior
    grid: bool
    temperature: float


def until_gone(request: Request) -> Callable[[], Awaitable[None]]:
    """What resolves when the request's client disconnects: the worker awaits it for a request that waits."""

    async def gone() -> None:
        while (await request.receive())["type"] != "http.disconnect":  # the one way a server tells
            pass

    return gone


def _leased(request: Request, name: str | None) -> ServedModel:
    catalog: Catalog = request.app.state.catalog
    try:
        served = catalog.lookup(name)
    except UnknownModel as error:
        raise ProblemError(404, str(error)) from error
    served.leases += 1
    request.state.lease = served  # released, and named in the metrics, when the request ends
    return served


async def path_model(request: Request, name: Annotated[str, Path(max_length=64)]) -> ServedModel:
    return _leased(request, name)


def _labels(served: ServedModel, labels: list[Any] | None, count: int, *, needed: bool, what: str) -> list[int] | None:
    if not needed:
        if labels is not None:
            raise ProblemError(422, f"model {served.name} takes no labels to {what}; leave labels out")
        return None
    if labels is None:
        raise ProblemError(422, f"model {served.name} needs one label per item to {what} (index or class name)")
    if len(labels) != count:
        raise ProblemError(422, f"got {len(labels)} labels for {count} items; give exactly one per item")
    try:
        return [class_index(served, label) for label in labels]
    except ValueError as error:
        raise ProblemError(422, str(error)) from error


def class_index(served: ServedModel, label: int | str) -> int:
    """A label given as an index or a class name -> the index; ValueError saying what is valid."""
    names = served.checkpoint.class_names or [str(i) for i in range(served.model.config.num_classes)]
    if isinstance(label, str) and label in names:
        return names.index(label)
    # query strings carry indices as text; ASCII digits only: "²" passes isdigit() but int() refuses it
    if isinstance(label, str) and label.isascii() and label.isdecimal():
        label = int(label)
    if isinstance(label, int) and not isinstance(label, bool):
        if 0 <= label < len(names):
            return label
        raise ValueError(f"label {label} is out of range: model {served.name} has classes 0..{len(names) - 1}")
    raise ValueError(f"unknown label {label!r}: use an index 0..{len(names) - 1} or one of {names}")


def _count(count: int, request: Request) -> None:
    limit = request.app.state.settings.max_items
    if count > limit:
        raise ProblemError(413, f"{count} items in one request; the limit is {limit}")


def wants_png(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "image/png" in accept and "application/json" not in accept


async def decode_call(body: DecodeRequest, request: Request) -> DecodeCall:
    _count(len(body.latents), request)
    served = _leased(request, body.model)
    latent_dim = served.model.config.latent_dim
    if wrong := [index for index, row in enumerate(body.latents) if len(row) != latent_dim]:
        raise ProblemError(
            422, f"model {served.name} takes latents of {latent_dim} numbers; rows {wrong[:10]} have another length"
        )
    needed = served.model.takes_labels_to_decode
    labels = _labels(served, body.labels, len(body.latents), needed=needed, what="decode")
    return DecodeCall(served, np.asarray(body.latents, dtype=np.float32), labels, wants_png(request))


async def sample_call(
    request: Request,
    model: ModelQuery = None,
    n: Annotated[int, Query(ge=1, description="how many images", examples=[4])] = 1,
    label: Annotated[
        str | None,
        Query(max_length=64, description="class index or name (conditional models)", examples=["3", "Sneaker"]),
    ] = None,
    seed: Annotated[
        int | None, Query(ge=0, lt=2**63, description="the same seed gives the same images", examples=[7])
    ] = None,
    format: Annotated[
        str | None,
        Query(
            pattern="^(json|png)$",
            description="json, or png for one grid image; left out, `Accept: image/png` asks for the grid",
            examples=["png"],
        ),
    ] = None,
    sampler: Annotated[
        str | None,
        Query(
            pattern="^(ex_post|prior)$",
            description="what to draw from: ex_post (the density fitted to the training codes, the default where "
            "the model has one) or prior (the family's prior)",
            examples=["prior"],
        ),
    ] = None,
    temperature: Annotated[
        float,
        Query(
            ge=0,
            le=2,
            description="scales each draw's distance from the centre of the component (Gaussian or segment) it "
            "comes from: below 1, images more typical and less varied (0: the centres); the same seed moves the "
            "same draws",
            examples=[0.8],
        ),
    ] = 1.0,
) -> SampleCall:
    _count(n, request)
    served = _leased(request, model)
    try:
        density = served.density(sampler)
    except ValueError as error:
        raise ProblemError(422, str(error)) from error
    if label is not None and not served.by_label(sampler):
        raise ProblemError(
            422, f"model {served.name} is not conditional (sampling from its {density.name}); leave label out"
        )
    labels = _labels(served, [label] * n, n, needed=True, what="sample") if label is not None else None
    png = format == "png" if format is not None else wants_png(request)
    return SampleCall(served, n, labels, seed, density, png, temperature)


UploadModel = Annotated[
    str | None, Query(max_length=64, description="model name (multipart uploads)", examples=["vae"])
]


async def encode_call(request: Request, model: UploadModel = None) -> EncodeCall:
    return await _uploads(request, model, classify=False)


async def classify_call(request: Request, model: UploadModel = None) -> EncodeCall:
    """/encode's inputs, for a model with a categorical head (a 422 naming those that have one otherwise)."""
    return await _uploads(request, model, classify=True)


async def score_call(
    request: Request, model: UploadModel = None,
    maps: Annotated[bool, Query(description="also each image's per-pixel squared error")] = False,
) -> ScoreCall:  # fmt: skip
    """/encode's inputs, with labels wherever the model reconstructs with them."""
    return ScoreCall(await _uploads(request, model, classify=False, score=True), maps, wants_png(request))


async def _uploads(request: Request, model: str | None, *, classify: bool, score: bool = False) -> EncodeCall:
    content_type = request.headers.get("content-type", "")
    labels: list[Any] | None
    if content_type.startswith("multipart/form-data"):
        blobs, labels = await _read_multipart(request)
    elif content_type.startswith("application/json"):
        try:
            body = EncodeJSON.model_validate_json(await request.body())
        except ValidationError as error:
            raise ProblemError(422, in_words(error)) from error
        _count(len(body.images), request)
        model, labels = body.model or model, body.labels
        try:
            blobs = [images.decode_base64(text) for text in body.images]
        except images.ImageError as error:
            raise ProblemError(422, str(error)) from error
    else:
        raise ProblemError(415, "send multipart/form-data (field 'files') or application/json")
    served = _leased(request, model)
    if classify and not served.model.classifies:
        catalog: Catalog = request.app.state.catalog
        classifying = [name for name, each in catalog.served.items() if each.model.classifies]
        raise ProblemError(
            422, f"model {served.name} ({served.checkpoint.kind}, {served.checkpoint.variant}) has no categorical "
            f"head to classify with; models that classify: {', '.join(classifying) or 'none'}",
        )  # fmt: skip
    network = served.model
    needed = network.takes_labels_to_encode or (score and network.takes_labels_to_decode and not network.classifies)
    what = "score" if score else "encode"
    return EncodeCall(served, blobs, _labels(served, labels, len(blobs), needed=needed, what=what))


async def _read_multipart(request: Request) -> tuple[list[bytes], list[Any] | None]:
    settings: Settings = request.app.state.settings
    try:
        form = await request.form(max_files=settings.max_items + 1, max_fields=settings.max_items + 1)
    except Exception as error:  # starlette raises its own parse errors for malformed multipart bodies
        raise ProblemError(422, f"malformed multipart body: {error}") from error
    uploads = [item for item in form.getlist("files") if isinstance(item, UploadFile)]
    if not uploads:
        raise ProblemError(422, "no images: send them as multipart files in the field 'files'")
    _count(len(uploads), request)
    raw_labels = [value for value in form.getlist("labels") if isinstance(value, str)]
    return [await upload.read() for upload in uploads], (raw_labels or None)


PathModel = Annotated[ServedModel, Depends(path_model)]
Decoding = Annotated[DecodeCall, Depends(decode_call)]
Sampling = Annotated[SampleCall, Depends(sample_call)]
Encoding = Annotated[EncodeCall, Depends(encode_call)]
Classifying = Annotated[EncodeCall, Depends(classify_call)]
Scoring = Annotated[ScoreCall, Depends(score_call)]

"""The HTTP routes. They validate and convert only: tensors and models live behind the worker."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from service import answers, images
from service.catalog import Catalog
from service.deps import get_catalog, get_settings, require_token
from service.errors import ProblemError
from service.lookup import check_count, resolve_labels, resolve_model
from service.schemas import (
    DecodeRequest,
    EncodeJSON,
    EncodeResponse,
    ImagesResponse,
    LatentMap,
    ModelInfo,
    ModelList,
    Problem,
    Readiness,
    SampleResponse,
)
from service.settings import Settings
from service.worker import InferenceFailed, Overloaded, ShuttingDown, TimedOut

T = TypeVar("T")
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {"application/problem+json": {}}, "description": description}
    for status, description in [
        (401, "missing or wrong bearer token"), (404, "unknown model"), (413, "too many items or too large a body"),
        (422, "invalid input; the detail says what"), (503, "queue full (Retry-After) or shutting down"),
        (504, "not answered within the request timeout"),
    ]
}  # fmt: skip
PNG_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}}
}

health = APIRouter(tags=["health"])
api = APIRouter(dependencies=[Depends(require_token)], responses=ERRORS)


# helpers


async def through_worker(call: Awaitable[T]) -> T:
    try:
        return await call
    except Overloaded as error:
        raise ProblemError(503, f"{error}; retry shortly", headers={"Retry-After": "1"}) from error
    except ShuttingDown as error:
        raise ProblemError(503, str(error), headers={"Retry-After": "5"}) from error
    except TimedOut as error:
        raise ProblemError(504, str(error)) from error
    except InferenceFailed as error:  # the worker has logged the cause once
        raise ProblemError(500, str(error)) from error


# health


@health.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@health.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}}, summary="Models are loaded")
async def readyz(catalog: CatalogDep) -> JSONResponse:
    status = "ready" if catalog.ready else ("shutting down" if catalog.draining else "not ready")
    body = Readiness(status=status, models=list(catalog.served), failed=catalog.failed)
    return JSONResponse(body.model_dump(), status_code=200 if catalog.ready else 503)


# models


@api.get("/models", response_model=ModelList, summary="The served models and the ones that failed to load")
async def list_models(catalog: CatalogDep) -> ModelList:
    default = catalog.default_name()
    infos = [ModelInfo(**s.describe(default=s.name == default, device=catalog.device)) for s in catalog.served.values()]
    return ModelList(models=infos, failed=catalog.failed)


@api.get("/models/{name}", response_model=ModelInfo, summary="One served model")
async def get_model(name: str, request: Request, catalog: CatalogDep) -> ModelInfo:
    served = resolve_model(request, catalog, name)
    return ModelInfo(**served.describe(default=name == catalog.default_name(), device=catalog.device))


@api.get(
    "/models/{name}/latent-map",
    response_model=LatentMap,
    summary="A 2-D model's latent map: the test images' codes by class, and draws from its prior",
)
async def get_latent_map(name: str, request: Request, catalog: CatalogDep) -> Response:
    served = resolve_model(request, catalog, name)
    if (latent_map := served.latent_map_json) is None:
        raise ProblemError(404, f"model {name} has no latent map: only models with 2-D codes store one")
    return Response(latent_map, media_type="application/json")


# encode / decode / sample


@api.post(
    "/encode",
    response_model=EncodeResponse,
    summary="Images to latent codes",
    description="Send images as multipart/form-data (field `files`, repeated; optional `labels` fields) "
    "with `?model=NAME`, or as JSON `{model, images: [base64...], labels}`.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": EncodeJSON.model_json_schema()},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                            "labels": {"type": "array", "items": {"type": "string"}},
                        },
                        "required": ["files"],
                    }
                },
            },
        }
    },
)
async def encode(
    request: Request,
    catalog: CatalogDep,
    settings: SettingsDep,
    model: Annotated[
        str | None, Query(max_length=64, description="model name (multipart uploads)", examples=["vae"])
    ] = None,
) -> Response:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        uploads, labels = await _read_multipart(request, settings)
        blobs = [await upload.read() for upload in uploads]
    elif content_type.startswith("application/json"):
        try:
            body = EncodeJSON.model_validate_json(await request.body())
        except ValidationError as error:
            detail = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors()[:5])
            raise ProblemError(422, detail) from error
        check_count(len(body.images), settings)
        model = body.model or model
        labels = body.labels
        try:
            blobs = [images.decode_base64(text) for text in body.images]
        except images.ImageError as error:
            raise ProblemError(422, str(error)) from error
    else:
        raise ProblemError(415, "send multipart/form-data (field 'files') or application/json")
    served = resolve_model(request, catalog, model)
    label_indices = resolve_labels(
        served, labels, len(blobs), needed=served.model.takes_labels_to_encode, what="encode"
    )
    shape, limit = served.checkpoint.image_shape, settings.max_image_pixels

    def decode_one(numbered: tuple[int, bytes]) -> np.ndarray:
        try:
            return images.decode_image(numbered[1], shape, limit)
        except images.ImageError as error:
            status = 413 if isinstance(error, images.ImageTooLarge) else 422
            raise ProblemError(status, f"image {numbered[0]}: {error}") from error

    arrays = await answers.in_threads(catalog, decode_one, list(enumerate(blobs)))
    encoded = await through_worker(served.worker.encode(np.stack(arrays), label_indices))
    return answers.as_json(
        EncodeResponse(
            model=served.name,
            latents=encoded.latents.tolist(),
            log_variances=encoded.log_variances.tolist() if encoded.log_variances is not None else None,
        ),
        served,
    )


async def _read_multipart(request: Request, settings: Settings) -> tuple[list[UploadFile], list[Any] | None]:
    try:
        form = await request.form(max_files=settings.max_items + 1, max_fields=settings.max_items + 1)
    except Exception as error:  # starlette raises its own parse errors for malformed multipart bodies
        raise ProblemError(422, f"malformed multipart body: {error}") from error
    uploads = [item for item in form.getlist("files") if isinstance(item, UploadFile)]
    if not uploads:
        raise ProblemError(422, "no images: send them as multipart files in the field 'files'")
    check_count(len(uploads), settings)
    raw_labels = [value for value in form.getlist("labels") if isinstance(value, str)]
    return uploads, (raw_labels or None)


@api.post(
    "/decode",
    response_model=ImagesResponse,
    responses=PNG_RESPONSE,
    summary="Latent codes to images",
    description="With `Accept: image/png` the answer is one PNG: the image, or a grid of all of them.",
)
async def decode(body: DecodeRequest, request: Request, catalog: CatalogDep, settings: SettingsDep) -> Response:
    check_count(len(body.latents), settings)
    served = resolve_model(request, catalog, body.model)
    latent_dim = served.model.config.latent_dim
    if wrong := [index for index, row in enumerate(body.latents) if len(row) != latent_dim]:
        raise ProblemError(
            422, f"model {served.name} takes latents of {latent_dim} numbers; rows {wrong[:10]} have another length"
        )
    labels = resolve_labels(
        served, body.labels, len(body.latents), needed=served.model.takes_labels_to_decode, what="decode"
    )
    grid = answers.wants_png(request)
    latents = np.asarray(body.latents, dtype=np.float32)
    decoded = await through_worker(served.worker.decode(latents, labels, png=not grid))
    if grid:
        assert decoded.images is not None
        return await answers.png_grid(catalog, served, decoded.images)
    assert decoded.pngs is not None
    return answers.as_json(ImagesResponse(model=served.name, images=decoded.pngs), served)


@api.get("/sample", response_model=SampleResponse, responses=PNG_RESPONSE, summary="New images from the model's prior")
async def sample(
    request: Request,
    catalog: CatalogDep,
    settings: SettingsDep,
    model: Annotated[
        str | None, Query(max_length=64, description="model name; the default model when absent", examples=["cvae"])
    ] = None,
    n: Annotated[int, Query(ge=1, description="how many images", examples=[4])] = 1,
    label: Annotated[
        str | None,
        Query(max_length=64, description="class index or name (conditional models)", examples=["3", "Sneaker"]),
    ] = None,
    seed: Annotated[
        int | None, Query(ge=0, lt=2**63, description="the same seed gives the same images", examples=[7])
    ] = None,
    format: Annotated[
        str, Query(pattern="^(json|png)$", description="json, or png for one grid image", examples=["png"])
    ] = "json",
) -> Response:
    check_count(n, settings)
    served = resolve_model(request, catalog, model)
    if label is not None and not served.model.samples_by_label:
        raise ProblemError(422, f"model {served.name} is not conditional; leave label out")
    labels = resolve_labels(served, [label] * n, n, needed=True, what="sample") if label is not None else None
    drawn = await through_worker(served.worker.sample(n, labels, seed, png=format == "json"))
    if format == "png":
        assert drawn.images is not None
        return await answers.png_grid(catalog, served, drawn.images)
    assert drawn.pngs is not None
    return answers.as_json(
        SampleResponse(
            model=served.name, images=drawn.pngs, latents=drawn.latents.tolist(), labels=drawn.labels, seed=drawn.seed
        ),
        served,
    )

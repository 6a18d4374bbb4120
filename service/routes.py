"""The HTTP routes. They validate and convert only: tensors and models live behind the worker, and what
a request names is looked up by the dependencies in `service.dependencies`."""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from service import images, responses
from service.auth import require_admin, require_token
from service.dependencies import (
    CatalogDep,
    Classifying,
    Decoding,
    EncodeCall,
    Encoding,
    PathModel,
    Sampling,
    Scoring,
    until_gone,
)  # fmt: skip
from service.errors import ProblemError
from service.messages import Encoded
from service.schemas import (
    ClassifyResponse,
    EncodeJSON,
    EncodeResponse,
    ImagesResponse,
    LatentMap,
    ModelInfo,
    ModelList,
    Problem,
    Readiness,
    ReloadReport,
    SampleResponse,
    ScoreResponse,
)

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {"application/problem+json": {}}, "description": description}
    for status, description in [
        (401, "missing or wrong bearer token"), (404, "unknown model"), (413, "too many items or too large a body"),
        (422, "invalid input; the detail says what"),
        (503, "too much work waiting, device out of memory, or shutting down (Retry-After)"),
        (504, "not answered within the request timeout"),
    ]
}  # fmt: skip
PNG_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}}
}

health = APIRouter(tags=["health"])
api = APIRouter(dependencies=[Depends(require_token)], responses=ERRORS)
ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: ERRORS[401],
    403: {"model": Problem, "description": "no token is set, and the client is not on the loopback interface"},
}
admin = APIRouter(tags=["admin"], dependencies=[Depends(require_admin)], responses=ADMIN_ERRORS)


# health


@health.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@health.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}}, summary="Models are loaded")
async def readyz(catalog: CatalogDep) -> JSONResponse:
    status = "ready" if catalog.ready else ("shutting down" if catalog.draining else "not ready")
    body = Readiness(status=status, models=list(catalog.served), failed=catalog.failed, reason=catalog.empty_reason)
    return JSONResponse(body.model_dump(), status_code=200 if catalog.ready else 503)


# models


@api.get("/models", response_model=ModelList, summary="The served models and the ones that failed to load")
async def list_models(catalog: CatalogDep) -> ModelList:
    default = catalog.default_name()
    infos = [s.describe(default=s.name == default, device=catalog.device) for s in catalog.served.values()]
    return ModelList(models=infos, failed=catalog.failed)


@api.get("/models/{name}", response_model=ModelInfo, summary="One served model")
async def get_model(served: PathModel, catalog: CatalogDep) -> ModelInfo:
    return served.describe(default=served.name == catalog.default_name(), device=catalog.device)


@api.get(
    "/models/{name}/latent-map",
    response_model=LatentMap,
    summary="A 2-D model's latent map: the test images' codes by class, and draws from its prior",
)
async def get_latent_map(served: PathModel) -> Response:
    if (latent_map := served.latent_map_json) is None:
        raise ProblemError(404, f"model {served.name} has no latent map: only models with 2-D codes store one")
    return Response(latent_map, media_type="application/json")


@admin.post(
    "/admin/reload",
    response_model=ReloadReport,
    summary="Rescan the models folder: serve added and changed checkpoints, retire removed ones",
    description="Also on SIGHUP, and on every change to the folder with AESERVE_WATCH_MODELS=true. An unchanged "
    "file is left alone; a file that fails to load leaves its previous version serving. Requests in flight "
    "are answered throughout.",
)
async def reload(catalog: CatalogDep) -> ReloadReport:
    return await catalog.reload()


# /encode and /classify take the same bodies: JSON with base64 images, or multipart uploads
ENCODE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": EncodeJSON.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary", "contentMediaType": "image/*"},
                        },
                        "labels": {"type": "array", "items": {"type": "string"}},
                    },
                    "required": ["files"],
                }
            },
        },
    }
}


# encode / decode / sample


@api.post(
    "/encode",
    response_model=EncodeResponse,
    summary="Images to latent codes",
    description="Send images as multipart/form-data (field `files`, repeated; optional `labels` fields) "
    "with `?model=NAME`, or as JSON `{model, images: [base64...], labels}`.",
    openapi_extra=ENCODE_BODY,
)
async def encode(call: Encoding, request: Request) -> Response:
    served = call.served
    encoded = await _encoded(call, request)
    probabilities = encoded.class_probabilities
    return responses.as_json(
        EncodeResponse(
            model=served.name,
            latents=encoded.latents.tolist(),
            log_variances=encoded.log_variances.tolist() if encoded.log_variances is not None else None,
            class_probabilities=probabilities.tolist() if probabilities is not None else None,
        ),
        served,
    )


@api.post(
    "/classify",
    response_model=ClassifyResponse,
    summary="Images to class (or cluster) probabilities",
    description="For models with a categorical head (`classifies` in GET /models/NAME): the same inputs as "
    "/encode, batched with its requests; the answer is y's probabilities and the most probable class.",
    openapi_extra=ENCODE_BODY,
)
async def classify(call: Classifying, request: Request) -> Response:
    served = call.served
    probabilities = (await _encoded(call, request)).class_probabilities
    assert probabilities is not None, "a categorical head gives class probabilities"
    predicted = probabilities.argmax(1).tolist()
    return responses.as_json(
        ClassifyResponse(
            model=served.name, probabilities=probabilities.tolist(), predicted=predicted,
            names=[served.class_name(index) for index in predicted],
        ),
        served,
    )  # fmt: skip


@api.post(
    "/score",
    response_model=ScoreResponse,
    responses=PNG_RESPONSE,
    summary="How unlike the model's training images each image is",
    description="The same inputs as /encode (labels where the model reconstructs with them), batched like its "
    "requests. Each image's score (higher: more anomalous), its signals, and with the model's calibration a p-value "
    "and a flag (GET /models/NAME says how it scores). `?maps=true` adds each per-pixel error map; with "
    "`Accept: image/png` the answer is the maps as heat maps over the images, one PNG.",
    openapi_extra=ENCODE_BODY,
)
async def score(call: Scoring, request: Request) -> Response:
    uploads, served, catalog = call.uploads, call.uploads.served, request.app.state.catalog
    arrays = await _uploaded(uploads, request)
    scored = await served.worker.score(arrays, uploads.labels, maps=call.maps or call.picture, gone=until_gone(request))
    if call.picture:
        assert scored.maps is not None
        return await responses.png_grid(catalog, served, images.heat_map(arrays, scored.maps))
    return responses.as_json(responses.scores(served, scored, with_maps=call.maps), served)


async def _uploaded(call: EncodeCall, request: Request) -> np.ndarray:
    """The uploads decoded to the model's image shape, each failure a 4xx naming the image."""
    served, catalog = call.served, request.app.state.catalog
    shape, limit = served.checkpoint.image_shape, catalog.settings.max_image_pixels

    def decode_one(numbered: tuple[int, bytes]) -> np.ndarray:
        try:
            return images.decode_image(numbered[1], shape, limit)
        except images.ImageError as error:
            status = 413 if isinstance(error, images.ImageTooLarge) else 422
            raise ProblemError(status, f"image {numbered[0]}: {error}") from error

    return np.stack(await responses.in_threads(catalog, decode_one, list(enumerate(call.blobs))))


async def _encoded(call: EncodeCall, request: Request) -> Encoded:
    """The uploads through the worker."""
    return await call.served.worker.encode(await _uploaded(call, request), call.labels, gone=until_gone(request))


@api.post(
    "/decode",
    response_model=ImagesResponse,
    responses=PNG_RESPONSE,
    summary="Latent codes to images",
    description="With `Accept: image/png` the answer is one PNG: the image, or a grid of all of them.",
)
async def decode(call: Decoding, request: Request) -> Response:
    served, catalog = call.served, request.app.state.catalog
    decoded = await served.worker.decode(call.latents, call.labels, png=not call.grid, gone=until_gone(request))
    if call.grid:
        assert decoded.images is not None
        return await responses.png_grid(catalog, served, decoded.images)
    assert decoded.pngs is not None
    return responses.as_json(ImagesResponse(model=served.name, images=decoded.pngs), served)


@api.get(
    "/sample",
    response_model=SampleResponse,
    responses=PNG_RESPONSE,
    summary="New images from the model's sampler or prior",
)
async def sample(call: Sampling, request: Request) -> Response:
    served, catalog = call.served, request.app.state.catalog
    drawn = await served.worker.sample(
        call.n, call.labels, call.seed, call.density, temperature=call.temperature, png=not call.grid,
        gone=until_gone(request),
    )  # fmt: skip
    if call.grid:
        assert drawn.images is not None
        return await responses.png_grid(catalog, served, drawn.images)
    assert drawn.pngs is not None
    return responses.as_json(
        SampleResponse(
            model=served.name, images=drawn.pngs, latents=drawn.latents.tolist(), labels=drawn.labels, seed=drawn.seed
        ),
        served,
    )

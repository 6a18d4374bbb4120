"""Building answers off the hot path's costs: JSON written by pydantic-core, PNGs coded on threads, and the
version header every answer computed by a model carries."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from fastapi.responses import Response
from pydantic import BaseModel

from service import images
from service.catalog import Catalog
from service.messages import Scored
from service.schemas import ImageScore, ScoreResponse
from service.served import ServedModel

T = TypeVar("T")


async def in_threads(catalog: Catalog, function: Callable[[Any], T], items: list[Any]) -> list[T]:
    """`function` over items on the PNG threads, a contiguous chunk per thread (Pillow releases the GIL)."""
    loop = asyncio.get_running_loop()
    chunk = -(-len(items) // catalog.settings.png_threads)
    parts = [items[start : start + chunk] for start in range(0, len(items), chunk)]

    def run(part: list[Any]) -> list[T]:
        return [function(item) for item in part]

    done = await asyncio.gather(*(loop.run_in_executor(catalog.png_executor, run, part) for part in parts))
    return [result for part in done for result in part]


def version_header(served: ServedModel) -> dict[str, str]:
    """The header every answer computed by a model carries: which version of it answered."""
    return {"X-Model-Version": served.version}


async def png_grid(catalog: Catalog, served: ServedModel, arrays: np.ndarray) -> Response:
    loop = asyncio.get_running_loop()
    body = await loop.run_in_executor(catalog.png_executor, images.encode_png, images.grid(arrays))
    return Response(body, media_type="image/png", headers=version_header(served))


def as_json(body: BaseModel, served: ServedModel) -> Response:
    """pydantic-core writes the JSON itself: faster than model_dump() and then json.dumps."""
    return Response(body.model_dump_json(), media_type="application/json", headers=version_header(served))


def scores(served: ServedModel, scored: Scored, *, with_maps: bool) -> ScoreResponse:
    """Each image's score from its signals: combined and given a p-value by the model's calibration, where it has one;
    else its reconstruction error."""
    found = {name: value for name, value in scored._asdict().items() if name != "maps" and value is not None}
    calibration = served.checkpoint.calibration
    values = calibration.score(found) if calibration is not None else scored.reconstruction
    p_values = calibration.p_values(values) if calibration is not None else None

    def one(index: int) -> ImageScore:
        p_value = float(p_values[index]) if p_values is not None else None
        return ImageScore(
            score=float(values[index]), p_value=p_value,
            is_anomaly=p_value < calibration.alpha if calibration is not None and p_value is not None else None,
            reconstruction=float(scored.reconstruction[index]),
            code_nll=float(scored.code_nll[index]) if scored.code_nll is not None else None,
            negative_elbo=float(scored.negative_elbo[index]) if scored.negative_elbo is not None else None,
            map=scored.maps[index].tolist() if with_maps and scored.maps is not None else None,
        )  # fmt: skip

    return ScoreResponse(
        model=served.name, signals=list(calibration.signals) if calibration else ["reconstruction"],
        alpha=calibration.alpha if calibration else None, scores=[one(index) for index in range(len(values))],
    )  # fmt: skip

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

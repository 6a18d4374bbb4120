"""create_app: the FastAPI application, its lifespan (load models, start and drain workers) and middleware."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Response
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from service.auth import require_token
from service.catalog import Catalog, resolve_device
from service.errors import install_error_handlers
from service.metrics import Metrics
from service.middleware import BodyLimit, PerRequest
from service.openapi import served_openapi
from service.routes import admin, api, health
from service.settings import Settings

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"  # the explorer page: plain HTML, CSS and JavaScript, no build step


@asynccontextmanager
async def reloads(catalog: Catalog) -> AsyncIterator[None]:
    """Rescan the models folder on SIGHUP, and with AESERVE_WATCH_MODELS=true whenever it changes."""
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[Any]] = set()

    def rescan() -> None:
        task = loop.create_task(catalog.reload(), name="reload")
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):  # not the main thread (tests, Ray)
        loop.add_signal_handler(signal.SIGHUP, rescan)
    stop = asyncio.Event()
    if catalog.settings.watch_models:
        tasks.add(loop.create_task(catalog.watch(stop), name="watch-models"))
    try:
        yield
    finally:
        stop.set()
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            loop.remove_signal_handler(signal.SIGHUP)
        await asyncio.gather(*tasks, return_exceptions=True)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    metrics = Metrics()
    catalog = Catalog(settings=settings, metrics=metrics, device=resolve_device(settings.device))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await catalog.start()
        # Everything alive now (torch, FastAPI, the models: about a million objects) lives as long as the
        # process. Frozen, the collector stops walking it: each full collection otherwise stalled every
        # request for ~115 ms, about every half second under load (py-spy and gc.callbacks, bench/serve.py).
        gc.freeze()
        # Requests in flight hold objects across event-loop turns (the ceiling's requests never do), so
        # the default young-generation threshold of 700 ran ~600 collections a second under load, most of
        # them promoting live requests to older generations that were then collected again: about a tenth
        # of the event loop's CPU (gc.callbacks, bench/serve.py). 50,000 lets request objects die first.
        gc.set_threshold(50_000, 20, 100)
        async with reloads(catalog):
            yield
        await catalog.close()

    # FastAPIOffline: FastAPI whose /docs and /redoc load Swagger UI and ReDoc from files in the installed
    # package, not from a CDN, so the docs render on machines without internet
    app = FastAPIOffline(
        title="aeserve",
        version="0.1.0",
        summary="Generative autoencoders (AE, VAE, AAE) over HTTP: encode images, decode latents, sample new images.",
        lifespan=lifespan,
        # the routes themselves, not include_router: FastAPI >= 0.137 keeps included routers as a tree and
        # matches a request through it twice, ~17 µs a request (py-spy under bench/serve.py's load)
        routes=[*api.routes, *admin.routes, *health.routes],
    )
    app.openapi = served_openapi(app, catalog)  # type: ignore[method-assign]  # FastAPI's documented override
    app.state.settings = settings
    app.state.catalog = catalog  # empty, so not ready, until the lifespan has loaded the models
    install_error_handlers(app)

    # behind the token like the API (model names and traffic are not for everyone); Prometheus sends it
    # with `authorization: {credentials: TOKEN}` in its scrape config
    @app.get(
        "/metrics", tags=["health"], summary="Prometheus metrics", response_class=Response,
        dependencies=[Depends(require_token)],
    )  # fmt: skip
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/", include_in_schema=False)
    async def explorer() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(PerRequest, metrics=metrics)  # outermost: it also counts the 413s of BodyLimit
    return app

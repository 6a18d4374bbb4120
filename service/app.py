"""create_app: the FastAPI application, its lifespan (load models, start and drain workers) and middleware."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.catalog import Catalog, resolve_device
from service.errors import install_error_handlers, problem
from service.metrics import Metrics
from service.routes import api, health
from service.settings import Settings

log = logging.getLogger(__name__)


class BodyLimit:
    """Refuse request bodies over `limit` bytes with 413, declared (Content-Length) or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await self._refuse(scope, receive, send)
        if declared is not None:
            return await self.app(scope, receive, send)
        # no length declared (chunked): read the body up to the limit first, then replay it
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                return await self._refuse(scope, receive, send)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(413, f"request body over the limit of {self.limit} bytes")
        await response(scope, receive, send)


class RecordMetrics:
    """Count and time every request by route template, model and status (pure ASGI: cheap per request)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            model = scope.get("state", {}).get("model", "")  # set by the route once the name is known
            labels = (route, model, str(status))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.latency.labels(*labels).observe(time.perf_counter() - started)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    metrics = Metrics()
    catalog = Catalog(settings=settings, metrics=metrics, device=resolve_device(settings.device))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        catalog.load_all()
        yield
        await catalog.close()

    app = FastAPI(
        title="aeserve",
        version="0.1.0",
        summary="Generative autoencoders (AE, VAE, AAE) over HTTP: encode images, decode latents, sample new images.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.catalog = catalog  # empty, so not ready, until the lifespan has loaded the models
    install_error_handlers(app)
    app.include_router(health)
    app.include_router(api)

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics", response_class=Response)
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    app.add_middleware(RecordMetrics, metrics=metrics)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    return app

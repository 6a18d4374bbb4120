"""The HTTP ceiling for bench/serve.py: the aeserve app, served the same way, plus one route that
answers a /decode request without model work.

    python bench/ceiling_server.py --port 8200   (AESERVE_* settings apply as for python -m service)

POST /bench/ceiling takes the body /decode takes, validates it and resolves the model as /decode does,
and answers with one PNG per latent, decoded and encoded once at the first request: everything but the batching
worker, the forward pass and the PNG encoding. Not part of the service.
"""

from __future__ import annotations

import argparse

import numpy as np
import uvicorn
from fastapi import Depends, Response

from service.app import create_app
from service.auth import require_token
from service.dependencies import Decoding
from service.schemas import ImagesResponse
from service.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8200)
    args = parser.parse_args()
    app = create_app(Settings(port=args.port, log_level="warning"))
    pngs: dict[str, str] = {}

    # the same dependencies as /decode (token check, the body's validation and the model lookup), so only the
    # model work differs
    @app.post("/bench/ceiling", dependencies=[Depends(require_token)])
    async def ceiling(call: Decoding) -> Response:
        served = call.served
        if served.name not in pngs:  # a real decoded image, so the response is as large as /decode's
            latent = np.zeros((1, served.model.config.latent_dim), dtype=np.float32)
            pngs[served.name] = (await served.worker.decode(latent, None, png=True)).pngs[0]
        images = [pngs[served.name]] * len(call.latents)
        return Response(
            ImagesResponse(model=served.name, images=images).model_dump_json(), media_type="application/json"
        )

    # where /decode is in the routes, so that finding it costs the same
    routes = app.router.routes
    routes.insert(next(i for i, route in enumerate(routes) if getattr(route, "path", "") == "/decode"), routes.pop())
    settings = app.state.settings
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning", log_config=None)
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()

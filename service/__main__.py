"""`python -m service`: run the API with uvicorn; SIGTERM turns readiness to 503, drains, then exits."""

from __future__ import annotations

import argparse
import logging
import sys
from types import FrameType

import uvicorn
from fastapi import FastAPI

from service.app import create_app
from service.settings import Settings


class _DrainingServer(uvicorn.Server):
    """Readiness turns 503 the moment SIGTERM arrives; uvicorn then lets admitted requests finish."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        catalog = getattr(self._app.state, "catalog", None)
        if catalog is not None:
            catalog.draining = True
        super().handle_exit(sig, frame)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m service", description="Serve the checkpoints in a folder over HTTP."
    )
    parser.add_argument("--host", help="address to bind [env AESERVE_HOST, default 127.0.0.1]")
    parser.add_argument("--port", type=int, help="port [env AESERVE_PORT, default 8000]")
    parser.add_argument("--models-dir", help="folder of *.safetensors checkpoints [env AESERVE_MODELS_DIR]")
    parser.add_argument("--device", help="auto, cpu, cuda or cuda:N [env AESERVE_DEVICE, default auto]")
    args = parser.parse_args(argv)
    overrides = {key: value for key, value in vars(args).items() if value is not None}
    settings = Settings(**overrides)
    # one format, all on stdout (what container runtimes collect); uvicorn's loggers propagate to it
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stdout
    )
    app = create_app(settings)
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level=settings.log_level, log_config=None,
        timeout_graceful_shutdown=30,  # within the 35 s stop grace period of docker-compose.yml
    )  # fmt: skip
    _DrainingServer(config, app).run()


if __name__ == "__main__":
    main()

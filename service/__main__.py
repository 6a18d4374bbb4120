"""`python -m service`: run the API with uvicorn; SIGTERM turns readiness to 503, drains, then exits 0;
SIGHUP rescans the models folder.

Mistakes in how it is started (no CUDA where it was asked for, the port taken, a models folder that is
missing or unreadable, a setting that does not parse) end it at once with one line saying what to change.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
from types import FrameType

import pydantic
import uvicorn
from fastapi import FastAPI

from models.validation import in_words
from service.app import create_app
from service.catalog import resolve_device
from service.read_timeout import with_read_timeout
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
        if sig == signal.SIGTERM:
            # uvicorn raises the signal again once it has drained, so that the process ends "killed by
            # SIGTERM" (-15; 143 in Docker), which orchestrators report as a crash. A drained SIGTERM is a
            # clean stop: exit 0. (Ctrl+C still ends as an interrupt.)
            self._captured_signals.remove(sig)


def startup_mistake(settings: Settings) -> str | None:
    """What is wrong with how the service was started, as one line saying what to change; None if nothing."""
    try:
        resolve_device(settings.device)
    except ValueError as error:
        return f"{error}: start with --device cpu (AESERVE_DEVICE=cpu) or auto"
    folder = settings.models_dir
    if not folder.is_dir():
        return (
            f"the models folder {folder} does not exist: "
            "point --models-dir (AESERVE_MODELS_DIR) at a folder of *.safetensors"
        )
    if not os.access(folder, os.R_OK | os.X_OK):
        return f"the models folder {folder} is not readable by this user: fix its permissions or choose another"
    if settings.port:
        with socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            try:
                probe.bind((settings.host, settings.port))
            except OSError as error:
                return (
                    f"cannot listen on {settings.host}:{settings.port} ({error.strerror}): "
                    "choose another port with --port (AESERVE_PORT) or stop what holds it"
                )
    return None


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
    try:
        settings = Settings(**overrides)
    except pydantic.ValidationError as error:
        wrong = in_words(error, limit=50)
        sys.exit(f"aeserve: a setting is not valid ({wrong}); see python -m service --help and AESERVE_* variables")
    if (mistake := startup_mistake(settings)) is not None:
        sys.exit(f"aeserve: {mistake}")
    # one format, all on stdout (what container runtimes collect); uvicorn's loggers propagate to it
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stdout
    )
    app = create_app(settings)
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level=settings.log_level, log_config=None,
        timeout_graceful_shutdown=30,  # within the 35 s stop grace period of docker-compose.yml
        http=with_read_timeout(settings.read_timeout_s),  # 408 for clients that trickle their request
    )  # fmt: skip
    _DrainingServer(config, app).run()


if __name__ == "__main__":
    main()

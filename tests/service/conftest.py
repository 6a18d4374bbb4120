"""An app over the tiny checkpoints with its lifespan running, and an httpx client on it."""

import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from service.app import create_app
from service.settings import Settings


@pytest.fixture
def models_dir(tiny_models_dir, tmp_path):
    folder = tmp_path / "served"
    shutil.copytree(tiny_models_dir, folder)
    return folder


@pytest.fixture
def make_client(models_dir) -> Callable:
    """`async with make_client(**settings) as (client, app)`: the app's lifespan runs for the block."""

    @asynccontextmanager
    async def make(**overrides) -> AsyncIterator[tuple[httpx.AsyncClient, object]]:
        # inference in a thread unless a test asks for the process: a process start costs seconds
        defaults = {"models_dir": models_dir, "default_model": "tiny-cvae", "device": "cpu", "inference_process": False}
        settings = Settings(**{**defaults, **overrides})
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield client, app

    return make


@pytest.fixture
async def client(make_client):
    async with make_client() as (client, _):
        yield client

"""Ray Serve: a local Ray instance, two replicas of the app, requests through Ray's HTTP proxy."""

import asyncio
import socket
from pathlib import Path

import httpx
import pytest
import yaml

from service.settings import Settings

pytestmark = [pytest.mark.ray, pytest.mark.xdist_group("ray")]  # one local Ray instance at a time
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ray_serve(tiny_models_dir):
    ray = pytest.importorskip("ray")
    from ray import serve

    from service.ray_app import deployment

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    settings = Settings(models_dir=tiny_models_dir, default_model="tiny-cvae", device="cpu", ray_replicas=2)
    serve.run(deployment(settings), route_prefix="/")
    yield f"http://127.0.0.1:{port}", serve
    serve.shutdown()
    ray.shutdown()


def test_two_replicas_serve_the_app_through_the_proxy(ray_serve):
    base, serve = ray_serve
    assert serve.status().applications["default"].deployments["aeserve"].replica_states == {"RUNNING": 2}
    served = ["tiny-ae", "tiny-categorical", "tiny-cvae", "tiny-mixture", "tiny-vae"]
    assert httpx.get(f"{base}/readyz").json()["models"] == served

    async def burst():
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            return await asyncio.gather(*(client.get("/sample", params={"label": i % 4, "seed": i}) for i in range(40)))

    responses = asyncio.run(burst())
    assert [r.status_code for r in responses] == [200] * 40
    assert [r.json()["labels"] for r in responses[:4]] == [[0], [1], [2], [3]]
    problem = httpx.get(f"{base}/sample", params={"model": "nope"})
    assert problem.status_code == 404 and problem.headers["content-type"] == "application/problem+json"


def test_autoscaling_comes_from_the_same_settings():
    from service.ray_app import deployment

    app = deployment(Settings(ray_replicas=2, ray_max_replicas=6, ray_target_ongoing_requests=32))
    config = app._bound_deployment._deployment_config.autoscaling_config
    assert (config.min_replicas, config.max_replicas, config.target_ongoing_requests) == (2, 6, 32)


def test_the_serve_config_points_at_the_app():
    config = yaml.safe_load((ROOT / "deploy" / "serve.yaml").read_text())
    assert config["applications"][0]["import_path"] == "service.ray_app:app"

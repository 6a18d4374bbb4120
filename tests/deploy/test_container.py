"""The images, built and run for real: `make image`'s script, the container under the compose file's
hardening, Compose itself (api, a training run into the shared volume, down), and Ray Serve in the Ray image.

Marker `container` (left out of the plain test command; `make test-container` or `pytest -m container`).
Without a Docker engine these skip with the reason; AESERVE_CONTAINER_TESTS=required (CI) makes that a failure.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.servers import free_port, running_service

# a cold build (the Debian base, the wheelhouse, every stage) takes minutes, past the suite's 300 s per test
pytestmark = [pytest.mark.container, pytest.mark.timeout(1200)]
ROOT = Path(__file__).resolve().parents[2]
# docker-compose.yml's x-hardening, as `docker run` flags
HARDENING = [
    "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true",
    "--user", "10001:10001",
]  # fmt: skip


def docker(*arguments: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["docker", *arguments], capture_output=True, text=True, timeout=timeout)
    assert not check or result.returncode == 0, f"docker {' '.join(arguments)}:\n{result.stdout}{result.stderr}"
    return result


def engine_problem() -> str | None:
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        return "no docker command here"
    return None if info.returncode == 0 else f"no Docker engine answers: {info.stderr.strip().splitlines()[-1:]}"


def build(*arguments: str) -> str:
    """scripts/image.sh with these options; the tag it built."""
    result = subprocess.run(
        ["bash", "scripts/image.sh", *arguments], cwd=ROOT, capture_output=True, text=True, timeout=1200
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def engine() -> None:
    if (problem := engine_problem()) is not None:
        if os.environ.get("AESERVE_CONTAINER_TESTS") == "required":
            pytest.fail(problem)
        pytest.skip(problem)


@pytest.fixture(scope="module")
def images(engine) -> dict[str, str]:
    return {"service": build(), "train": build("--target", "train")}


def test_a_base_that_cannot_be_made_is_one_line(engine):
    made = subprocess.run(
        ["bash", "scripts/debian-base.sh", "aeserve-base:never"], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "DEBIAN_MIRROR": "http://127.0.0.1:9/debian/"}, timeout=300,
    )  # fmt: skip
    assert made.returncode == 2 and made.stdout == ""
    last = made.stderr.splitlines()[-1]  # after the one progress line
    assert last.startswith("debian-base: debootstrap could not make the base from http://127.0.0.1:9/debian/ (")
    assert last.endswith("): set DEBIAN_MIRROR to a Debian mirror")
    assert docker("image", "inspect", "aeserve-base:never", check=False).returncode != 0


def wait_until_ready(base: str, container: str, deadline_s: float = 90) -> float:
    """Seconds until /readyz answered 200."""
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        state = json.loads(docker("inspect", "--format", "{{json .State}}", container).stdout)
        assert state["Running"], docker("logs", container, check=False).stdout[-4000:]
        time.sleep(0.1)
    pytest.fail(f"not ready in {deadline_s} s:\n{docker('logs', container, check=False).stdout[-4000:]}")


def health(container: str) -> str:
    return docker("inspect", "--format", "{{.State.Health.Status}}", container).stdout.strip()


def run_service(image: str, *flags: str) -> tuple[str, str]:
    """The service image under the compose hardening, on a free port of 127.0.0.1: (base URL, container)."""
    port = free_port()
    container = docker("run", "-d", *HARDENING, "-p", f"127.0.0.1:{port}:8000", *flags, image).stdout.strip()
    return f"http://127.0.0.1:{port}", container


@pytest.fixture(scope="module")
def service(images) -> Iterator[tuple[str, str]]:
    base, container = run_service(images["service"], "-e", "AESERVE_DEVICE=cpu")
    try:
        wait_until_ready(base, container)
        yield base, container
    finally:
        docker("rm", "-f", container, check=False)


def pixels(png_base64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(png_base64))))


def test_the_service_image_is_small_and_holds_only_what_serving_needs(images):
    size = int(docker("image", "inspect", "--format", "{{.Size}}", images["service"]).stdout)
    assert size < 1.2e9, f"{size / 1e9:.2f} GB"
    looked = docker(
        "run", "--rm", "--entrypoint", "sh", images["service"], "-c",
        "command -v gcc cc c++ git; ls -d /src /wheels /ca /app/tests /app/.git /root/.cache/pip "
        "/home/aeserve/.cache/pip 2>/dev/null; find / -xdev -name ca-bundle.crt 2>/dev/null;"
        "python -c 'import sklearn' 2>/dev/null && echo sklearn; ls /app",
        check=False,
    ).stdout.split()  # fmt: skip
    # no compiler, build sources, wheels, CA, tests, pip cache or training extra: the code to serve, the checkpoints
    assert looked == ["checkpoints", "deploy", "models", "service"]


def test_the_container_turns_ready_and_healthy(service):
    base, container = service
    assert httpx.get(f"{base}/readyz").json()["status"] == "ready"
    deadline = time.monotonic() + 60
    while health(container) == "starting" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert health(container) == "healthy"


def test_it_runs_as_uid_10001_and_cannot_write_its_root_filesystem(service):
    _, container = service
    assert docker("exec", container, "id", "-u").stdout.strip() == "10001"
    refused = docker("exec", container, "touch", "/app/checkpoints/x.safetensors", check=False)
    assert refused.returncode != 0 and "Read-only file system" in refused.stderr
    assert docker("exec", container, "touch", "/tmp/scratch").returncode == 0  # the tmpfs


def test_it_answers_as_the_service_on_the_host_does(service):
    base, _ = service
    with running_service("checkpoints") as (host, _):
        for model in ("cvae", "aae-mixture", "aae-semisupervised"):
            params = {"model": model, "n": 4, "seed": 7, "label": 3}
            there, here = (httpx.get(f"{b}/sample", params=params).json() for b in (base, host))
            assert [pixels(i).tolist() for i in there["images"]] == [pixels(i).tolist() for i in here["images"]]
            np.testing.assert_allclose(there["latents"], here["latents"], rtol=1e-5, atol=1e-6)
            card = httpx.get(f"{host}/models/{model}").json()
            body = {"model": model, "images": here["images"]} | (
                {"labels": [3] * 4} if card["labels_to_encode"] else {}
            )
            encoded = [httpx.post(f"{b}/encode", json=body).json() for b in (base, host)]
            np.testing.assert_allclose(encoded[0]["latents"], encoded[1]["latents"], rtol=1e-4, atol=1e-5)
            body = {"model": model, "latents": here["latents"]} | (
                {"labels": [3] * 4} if card["labels_to_decode"] else {}
            )
            decoded = [httpx.post(f"{b}/decode", json=body).json()["images"] for b in (base, host)]
            assert [pixels(i).tolist() for i in decoded[0]] == [pixels(i).tolist() for i in decoded[1]]


def test_docker_stop_under_load_drains_every_admitted_request_and_exits_0(images):
    base, container = run_service(images["service"], "-e", "AESERVE_DEVICE=cpu")
    try:
        wait_until_ready(base, container)

        async def load_then_stop() -> tuple[list[int], subprocess.CompletedProcess[str]]:
            async with httpx.AsyncClient(base_url=base, timeout=60) as client:
                requests = [
                    asyncio.create_task(client.get("/sample", params={"model": "vae", "n": 1024, "seed": i}))
                    for i in range(16)
                ]
                while True:  # every request admitted: their images wait in the model's queue
                    metrics = (await client.get("/metrics")).text
                    depth = next(
                        line for line in metrics.splitlines() if line.startswith('aeserve_queue_depth{model="vae"}')
                    )
                    if float(depth.split()[-1]) > 8 * 1024:
                        break
                stop = asyncio.to_thread(docker, "stop", "--time", "35", container)
                responses, stopped = await asyncio.gather(asyncio.gather(*requests), stop)
                return [r.status_code for r in responses], stopped

        statuses, _ = asyncio.run(load_then_stop())
        assert statuses == [200] * 16
        state = json.loads(docker("inspect", "--format", "{{json .State}}", container).stdout)
        assert state["ExitCode"] == 0 and not state["OOMKilled"], docker("logs", container).stdout[-2000:]
    finally:
        docker("rm", "-f", container, check=False)


def test_compose_serves_trains_into_the_shared_volume_hot_reloads_and_keeps_the_volume(images):
    project = f"aeserve-test-{os.getpid()}"
    port = free_port()
    environment = {**os.environ, "AESERVE_PUBLISH": f"127.0.0.1:{port}"}

    def compose(*arguments: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["docker-compose", "--project-name", project, *arguments],
            cwd=ROOT, env=environment, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    base, api = f"http://127.0.0.1:{port}", f"{project}_api_1"
    try:
        compose("up", "-d", "api")
        wait_until_ready(base, api)
        deadline = time.monotonic() + 60
        while health(api) != "healthy" and time.monotonic() < deadline:
            time.sleep(0.5)
        assert health(api) == "healthy"
        before = httpx.get(f"{base}/models/vae").json()["version"]
        compose(
            "run", "--rm", "train", "train", "--model", "vae", "--epochs", "1", "--limit", "2000",
            "--eval-limit", "500", "--device", "cpu",
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while (answer := httpx.get(f"{base}/sample", params={"model": "vae"})).headers[
            "x-model-version"
        ] == before and time.monotonic() < deadline:
            time.sleep(0.2)
        assert answer.status_code == 200 and answer.headers["x-model-version"] != before
        assert httpx.get(f"{base}/models/vae").json()["evaluation"]["samples"] == 500  # the new one's figures
        compose("down")
        volume = f"{project}_checkpoints"
        listing = docker("run", "--rm", "-v", f"{volume}:/c:ro", "--entrypoint", "ls", images["service"], "/c").stdout
        assert "vae.safetensors" in listing.split()
    finally:
        subprocess.run(
            ["docker-compose", "--project-name", project, "down", "--volumes"],
            cwd=ROOT, env=environment, capture_output=True, timeout=120,
        )  # fmt: skip


def test_ray_serve_in_the_ray_image_answers_on_the_serve_config(images):
    image = build("--extras", "ray", "--tag", "aeserve:ray")
    port = free_port()
    container = docker(
        "run", "-d", "--shm-size", "512m", "-p", f"127.0.0.1:{port}:8000", "--entrypoint", "serve", image,
        "run", "deploy/serve.yaml",
    ).stdout.strip()  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base, container, deadline_s=180)
        assert len(httpx.get(f"{base}/readyz").json()["models"]) == 10
        sample = httpx.get(f"{base}/sample", params={"label": "Sneaker", "seed": 1}, timeout=30)
        assert sample.status_code == 200 and sample.json()["labels"] == [7]
    finally:
        docker("rm", "-f", container, check=False)

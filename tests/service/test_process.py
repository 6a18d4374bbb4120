"""End to end: the real `python -m service` process on the committed default checkpoints, over real HTTP."""

import base64
import signal

import httpx
import pytest

from tests.servers import running_service


@pytest.fixture(scope="module")
def server():
    with running_service("checkpoints") as running:
        yield running


def test_serves_every_default_model(server):
    base, _ = server
    listed = httpx.get(f"{base}/models").json()
    assert {"ae", "vae", "cvae", "aae", "aae-supervised", "aae-mixture", "aae-swissroll"} <= {
        m["name"] for m in listed["models"]
    }
    assert listed["failed"] == {}
    assert [m["name"] for m in listed["models"] if m["default"]] == ["cvae"]


def test_sample_decode_encode_over_http(server):
    base, _ = server
    sampled = httpx.get(f"{base}/sample", params={"label": "Sneaker", "n": 2, "seed": 7}).json()
    assert sampled["model"] == "cvae" and sampled["labels"] == [7, 7]
    decoded = httpx.post(
        f"{base}/decode", json={"model": "cvae", "latents": sampled["latents"], "labels": [7, 7]}
    ).json()
    assert decoded["images"] == sampled["images"]  # the same codes and labels give the same images
    image = base64.b64decode(decoded["images"][0])
    encoded = httpx.post(f"{base}/encode?model=ae", files=[("files", ("sneaker.png", image, "image/png"))]).json()
    assert len(encoded["latents"][0]) == 32
    png = httpx.get(f"{base}/sample", params={"model": "aae-mixture", "n": 10, "label": 3, "format": "png"})
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


def test_sigterm_drains_and_exits_cleanly(server):
    base, process = server
    process.send_signal(signal.SIGTERM)
    # uvicorn drains, then re-raises SIGTERM so that the exit status says how it ended
    assert process.wait(timeout=30) in (0, -signal.SIGTERM)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base}/healthz", timeout=1)

"""End to end: the real `python -m service` process on the committed default checkpoints, over real HTTP."""

import base64
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = free_port()
    env = {**os.environ, "AESERVE_DEVICE": "cpu", "AESERVE_LOG_LEVEL": "warning"}
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "--port", str(port), "--models-dir", "checkpoints"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the service did not become ready:\n{process.communicate()[0]}")
        time.sleep(0.2)
    yield base, process
    if process.poll() is None:
        process.kill()
        process.wait()


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

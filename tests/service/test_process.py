"""End to end: the real `python -m service` process on the committed default checkpoints, over real HTTP."""

import base64
import os
import signal
import socket
import subprocess
import sys

import httpx
import pytest
import torch

from tests.servers import ROOT, running_service


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
    # a drained SIGTERM is a clean stop: status 0, not "killed by SIGTERM" (-15, 143 in Docker)
    assert process.wait(timeout=30) == 0
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base}/healthz", timeout=1)


@pytest.mark.parametrize(
    ("arguments", "environment", "says"),
    [
        (["--device", "cuda"], {}, "CUDA is not available here: start with --device cpu"),
        (["--models-dir", "no/such/folder"], {}, "the models folder no/such/folder does not exist"),
        ([], {"AESERVE_PORT": "eighty"}, "a setting is not valid (port: Input should be a valid integer"),
        (["--port", "{taken}"], {}, "Address already in use): choose another port with --port"),
    ],
)
def test_a_startup_mistake_is_one_line_saying_what_to_change(arguments, environment, says):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        finished = subprocess.run(
            [sys.executable, "-m", "service", *(a.replace("{taken}", port) for a in arguments)],
            cwd=ROOT, env={**os.environ, **environment}, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    if not torch.cuda.is_available() or "cuda" not in arguments:
        assert finished.returncode == 1
        assert finished.stdout == "" and finished.stderr.count("\n") == 1, finished.stderr
        assert says in finished.stderr and finished.stderr.startswith("aeserve: ")

"""The default inference runs in a process of its own: it answers exactly as the in-thread inference
does, and if that process dies, requests fail with a clear 500 and readiness turns 503."""

import os
import signal

import pytest

pytestmark = pytest.mark.anyio
LATENT = [0.0, 0.5, -0.5, 1.0]


async def answers(client):
    decoded = await client.post("/decode", json={"model": "tiny-vae", "latents": [LATENT, LATENT[::-1]]})
    sampled = await client.get("/sample", params={"model": "tiny-cvae", "n": 3, "label": 2, "seed": 7})
    encoded = await client.post("/encode", json={"model": "tiny-vae", "images": decoded.json()["images"]})
    classified = await client.post("/classify", json={"model": "tiny-categorical", "images": decoded.json()["images"]})
    categorical = await client.post("/encode", json={"model": "tiny-categorical", "images": decoded.json()["images"]})
    answered = [response.json() for response in (decoded, sampled, encoded, classified, categorical)]
    assert len(answered[-1]["class_probabilities"]) == 2  # the head's probabilities come back from either
    return answered


async def test_the_inference_process_answers_as_the_thread_does(make_client):
    async with make_client(inference_process=False) as (client, _):
        in_thread = await answers(client)
    async with make_client(inference_process=True) as (client, app):
        in_process = await answers(client)
        inference_pid = app.state.catalog.runner.process.pid
    assert inference_pid != os.getpid()  # it really ran elsewhere
    assert in_process == in_thread


async def test_a_burst_of_first_requests_shares_one_connection_to_the_inference_process(make_client):
    # the first batches can reach the runner together, before its connection is open: each once opened
    # its own stream over the one socket, and the process's answers went to a closed one
    import asyncio

    async with make_client(inference_process=True) as (client, _):
        latents = [[[index / 64, 0.0, 0.5, -0.5]] for index in range(64)]
        responses = await asyncio.gather(
            *(client.post("/decode", json={"model": "tiny-vae", "latents": rows}) for rows in latents)
        )
        assert [response.status_code for response in responses] == [200] * 64
        assert (await client.get("/readyz")).status_code == 200


async def test_a_dead_inference_process_fails_requests_clearly_and_readiness(make_client):
    async with make_client(inference_process=True) as (client, app):
        assert (await client.get("/readyz")).status_code == 200
        process = app.state.catalog.runner.process
        os.kill(process.pid, signal.SIGKILL)
        process.join(10)
        response = await client.post("/decode", json={"model": "tiny-vae", "latents": [LATENT]})
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        assert "inference failed on model tiny-vae" in response.json()["detail"]
        assert (await client.get("/readyz")).status_code == 503


def test_frames_to_and_from_the_inference_process_are_safetensors_and_round_trip():
    import numpy as np
    import safetensors.numpy

    from service.messages import Batch, Decoded, Encoded, Failed, Load, Output, Unload, pack, unpack

    batch = Batch("vae", "decode", np.arange(6, dtype=np.float32).reshape(3, 2), None, [1, 2], [True, False], 32)
    output = Output(
        [
            Encoded(np.ones((1, 2), np.float32), None),
            Decoded(None, ["iVBORw0K"]),
            Decoded(np.zeros((1, 1, 2, 2), np.uint8), None),
        ],
        0.004,
        None,
    )
    load = Load("vae@0123#1", np.frombuffer(b"checkpoint bytes", dtype=np.uint8))
    failed = Failed("OutOfMemoryError: CUDA out of memory", True)
    for key, payload in [(1, batch), (2, output), (3, failed), (4, load), (5, Unload("vae@0123#1")), (0, "ready")]:
        data = pack(key, payload)
        assert "frame" in safetensors.numpy.load(data)  # a plain safetensors blob, readable by any reader
        got_key, got = unpack(data)
        assert got_key == key and type(got) is type(payload)
        assert repr(got) == repr(payload)  # numpy arrays compare by repr here: same values, dtypes, shapes

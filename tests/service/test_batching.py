"""Batching and load: concurrent requests share one forward pass, admission is by work (images waiting,
expected wait) and refuses with 503 at once, a request that waits too long gets 504, a request whose
caller gave up is not computed, a device out of memory fails one batch only, and shutdown finishes what
was admitted."""

import asyncio
import threading

import pytest
import torch

from service.worker import IN_FLIGHT

pytestmark = pytest.mark.anyio
LATENT = [0.0, 0.5, -0.5, 1.0]


async def until(condition, *, limit=5.0):
    """Yield to the event loop until `condition()` holds (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not condition():
        assert loop.time() < deadline, "condition never held"
        await asyncio.sleep(0.001)


def block_inference(app):
    """Occupy the device's single inference thread until the returned event is set."""
    release, started = threading.Event(), threading.Event()

    def hold():
        started.set()
        release.wait(10)

    app.state.catalog.runner.executor.submit(hold)
    assert started.wait(5)
    return release


def queued(app, name):
    return len(app.state.catalog.served[name].worker.pending)


def in_flight(app, name):
    """Batches handed to the runner: one running, one waiting behind it."""
    return app.state.catalog.served[name].worker._in_flight


async def test_concurrent_requests_share_one_forward_pass(make_client):
    # the batch closes when 4 images are in, long before the 10 s wait: the batch size is exact
    async with make_client(max_batch_size=4, max_wait_ms=10_000) as (client, _):
        responses = await asyncio.gather(
            *(client.post("/decode", json={"model": "tiny-vae", "latents": [LATENT]}) for _ in range(4))
        )
        assert [response.status_code for response in responses] == [200] * 4
        metrics = (await client.get("/metrics")).text
    assert 'aeserve_batch_size_count{model="tiny-vae",operation="decode"} 1.0' in metrics
    assert 'aeserve_batch_size_sum{model="tiny-vae",operation="decode"} 4.0' in metrics


async def test_batched_answers_equal_unbatched_ones(make_client):
    latents = [[float(i), 0.1 * i, -0.2, 0.3] for i in range(6)]
    async with make_client(max_batch_size=1) as (client, _):
        alone = [(await client.post("/decode", json={"model": "tiny-vae", "latents": [row]})).json() for row in latents]
    async with make_client(max_batch_size=6, max_wait_ms=10_000) as (client, _):
        together = await asyncio.gather(
            *(client.post("/decode", json={"model": "tiny-vae", "latents": [row]}) for row in latents)
        )
    assert [r.json()["images"] for r in together] == [a["images"] for a in alone]


async def test_sample_and_decode_batch_together_but_encode_waits_for_its_own(make_client):
    async with make_client(max_batch_size=3, max_wait_ms=200) as (client, app):
        release = block_inference(app)
        decode = asyncio.create_task(client.post("/decode", json={"model": "tiny-vae", "latents": [LATENT]}))
        sample = asyncio.create_task(client.get("/sample", params={"model": "tiny-vae", "n": 2}))
        import io

        from PIL import Image

        buffer = io.BytesIO()
        Image.new("L", (28, 28)).save(buffer, "PNG")
        encode = asyncio.create_task(
            client.post("/encode?model=tiny-vae", files=[("files", ("a.png", buffer.getvalue()))])
        )
        # decode + sample fill a batch; encode forms its own, which waits behind it
        await until(lambda: queued(app, "tiny-vae") == 0 and len(in_flight(app, "tiny-vae")) == 2)
        release.set()
        results = await asyncio.gather(decode, sample, encode)
        assert [r.status_code for r in results] == [200, 200, 200]
        metrics = (await client.get("/metrics")).text
    assert 'aeserve_batch_size_sum{model="tiny-vae",operation="decode"} 3.0' in metrics
    assert 'aeserve_batch_size_count{model="tiny-vae",operation="decode"} 1.0' in metrics
    assert 'aeserve_batch_size_count{model="tiny-vae",operation="encode"} 1.0' in metrics


async def test_a_full_queue_answers_503_with_retry_after(make_client):
    async with make_client(max_batch_size=1, max_wait_ms=0, max_queued_images=1) as (client, app):
        release = block_inference(app)
        admitted = []  # batches of one: IN_FLIGHT handed to the blocked runner, then one in the queue
        for in_flight_after, queued_after in [*((n, 0) for n in range(1, IN_FLIGHT + 1)), (IN_FLIGHT, 1)]:
            admitted.append(
                asyncio.create_task(client.post("/decode", json={"model": "tiny-vae", "latents": [LATENT]}))
            )
            await until(
                lambda n=in_flight_after, q=queued_after: (
                    len(in_flight(app, "tiny-vae")) == n and queued(app, "tiny-vae") == q
                )
            )
        refused = await client.post("/decode", json={"model": "tiny-vae", "latents": [LATENT]})
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert "1 images wait for model tiny-vae" in refused.json()["detail"]
        assert 'aeserve_queue_depth{model="tiny-vae"} 1.0' in (await client.get("/metrics")).text
        release.set()
        assert [(await each).status_code for each in admitted] == [200] * (IN_FLIGHT + 1)
        other_model = await client.get("/sample?model=tiny-ae")
        assert other_model.status_code == 200


async def test_a_request_waiting_past_the_timeout_gets_504(make_client):
    async with make_client(request_timeout_s=0.2) as (client, app):
        release = block_inference(app)
        response = await client.post("/decode", json={"model": "tiny-vae", "latents": [LATENT]})
        release.set()
        assert response.status_code == 504
        assert "did not answer within 0.2 s" in response.json()["detail"]
        assert (await client.post("/decode", json={"model": "tiny-vae", "latents": [LATENT]})).status_code == 200


async def test_shutdown_turns_readiness_off_and_finishes_admitted_requests(make_client):
    async with make_client() as (client, app):
        release = block_inference(app)
        admitted = asyncio.create_task(client.post("/decode", json={"model": "tiny-vae", "latents": [LATENT]}))
        await until(lambda: in_flight(app, "tiny-vae"))
        closing = asyncio.create_task(app.state.catalog.close())
        await until(lambda: app.state.catalog.draining)
        readiness = await client.get("/readyz")
        assert readiness.status_code == 503 and readiness.json()["status"] == "shutting down"
        late = await client.post("/decode", json={"model": "tiny-vae", "latents": [LATENT]})
        assert late.status_code == 503 and "shutting down" in late.json()["detail"]
        release.set()
        assert (await admitted).status_code == 200
        await closing


async def test_a_failing_batch_fails_its_requests_and_the_worker_goes_on(make_client, caplog, monkeypatch):
    async with make_client() as (client, _):

        def broken(model, density, batch):
            raise RuntimeError("device lost")

        with monkeypatch.context() as patch:
            patch.setattr("service.inference.run", broken)
            failed = await client.post("/decode", json={"model": "tiny-vae", "latents": [LATENT]})
        assert (
            failed.status_code == 500
            and failed.json()["detail"] == "inference failed on model tiny-vae: RuntimeError: device lost"
        )
        assert (await client.post("/decode", json={"model": "tiny-vae", "latents": [LATENT]})).status_code == 200
        assert (await client.get("/readyz")).status_code == 200  # one failed batch does not make it unready
    assert "device lost" in caplog.text


async def test_a_request_that_would_wait_past_the_timeout_is_refused_at_once_with_its_retry_after(make_client):
    async with make_client(max_batch_size=32, request_timeout_s=1.0) as (client, app):
        assert (await client.get("/sample?model=tiny-vae")).status_code == 200
        worker = app.state.catalog.served["tiny-vae"].worker
        worker._seconds_per_image = 0.1  # as a device 100 ms an image would have measured
        release = block_inference(app)
        # nothing ahead of it: admitted, though its own 2 s are over the timeout (refusing would not help)
        first = asyncio.create_task(client.get("/sample?model=tiny-vae&n=20"))
        await until(lambda: worker._running_images == 20)
        refused = await client.get("/sample?model=tiny-vae&n=1")
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "2"  # 21 images x 0.1 s, less the 1 s timeout, rounded up
        assert "would answer in ~2.1 s" in refused.json()["detail"]
        release.set()
        assert (await first).status_code == 200
        metrics = (await client.get("/metrics")).text
    assert 'aeserve_rejected_total{model="tiny-vae",reason="expected_wait"} 1.0' in metrics


async def test_a_request_whose_caller_gave_up_is_dropped_before_its_batch_runs(make_client):
    async with make_client(max_batch_size=1) as (client, app):
        release = block_inference(app)
        pipeline = [asyncio.create_task(client.get("/sample?model=tiny-vae")) for _ in range(IN_FLIGHT)]
        await until(lambda: len(in_flight(app, "tiny-vae")) == IN_FLIGHT)
        gone = [asyncio.create_task(client.get("/sample?model=tiny-vae")) for _ in range(5)]
        await until(lambda: queued(app, "tiny-vae") == 5)
        for task in gone:
            task.cancel()
        await asyncio.gather(*gone, return_exceptions=True)
        release.set()
        assert [(await each).status_code for each in pipeline] == [200] * IN_FLIGHT
        assert (await client.get("/sample?model=tiny-vae")).status_code == 200  # and it keeps serving
        metrics = (await client.get("/metrics")).text
    assert 'aeserve_cancelled_total{model="tiny-vae"} 5.0' in metrics
    assert f'aeserve_batch_size_count{{model="tiny-vae",operation="decode"}} {IN_FLIGHT + 1}.0' in metrics


async def test_a_device_out_of_memory_fails_that_batch_with_503_and_the_next_requests_succeed(make_client, monkeypatch):
    async with make_client() as (client, _):

        def out_of_memory(model, density, batch):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

        with monkeypatch.context() as patch:
            patch.setattr("service.inference.run", out_of_memory)
            failed = await client.post("/decode", json={"model": "tiny-vae", "latents": [LATENT]})
        assert failed.status_code == 503 and failed.headers["retry-after"] == "1"
        assert "ran out of memory" in failed.json()["detail"]
        assert (await client.post("/decode", json={"model": "tiny-vae", "latents": [LATENT]})).status_code == 200
        assert (await client.get("/readyz")).status_code == 200
        metrics = (await client.get("/metrics")).text
    assert 'aeserve_rejected_total{model="tiny-vae",reason="out_of_memory"} 1.0' in metrics

"""Model lifecycle: versions, hot reload (POST /admin/reload, SIGHUP, a watched folder), who may reload,
and the networks living only where the forward passes run."""

import asyncio
import hashlib
import shutil
import signal
import time

import httpx
import pytest

import models
from tests.servers import running_service

pytestmark = pytest.mark.anyio
LATENT = [0.0, 0.5, -0.5, 1.0]


def version(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def write_new_version(path, note: str) -> None:
    """The same model saved again with another training note: another file, so another version."""
    checkpoint = models.load(path)
    models.save(
        path, checkpoint.model, prior=checkpoint.prior, class_names=checkpoint.class_names,
        training={**checkpoint.training, "note": note}, evaluation=checkpoint.evaluation,
    )  # fmt: skip


async def reload(client) -> dict:
    response = await client.post("/admin/reload")
    assert response.status_code == 200, response.text
    return response.json()


async def test_reload_serves_added_and_changed_checkpoints_retires_removed_ones_and_leaves_the_rest(
    make_client, models_dir
):
    async with make_client() as (client, app):
        before = {m["name"]: m["version"] for m in (await client.get("/models")).json()["models"]}
        assert before["tiny-vae"] == version(models_dir / "tiny-vae.safetensors")
        unchanged = app.state.catalog.served["tiny-ae"]

        write_new_version(models_dir / "tiny-vae.safetensors", "retrained")
        shutil.copy(models_dir / "tiny-cvae.safetensors", models_dir / "tiny-cvae-copy.safetensors")
        (models_dir / "tiny-mixture.safetensors").unlink()
        report = await reload(client)
        assert report == {
            "added": ["tiny-cvae-copy"], "updated": ["tiny-vae"], "removed": ["tiny-mixture"],
            "unchanged": ["tiny-ae", "tiny-categorical", "tiny-cvae"], "failed": {},
        }  # fmt: skip

        new_version = version(models_dir / "tiny-vae.safetensors")
        assert new_version != before["tiny-vae"]
        decoded = await client.post("/decode", json={"model": "tiny-vae", "latents": [LATENT]})
        assert decoded.status_code == 200 and decoded.headers["x-model-version"] == new_version
        assert (await client.get("/models/tiny-vae")).json()["version"] == new_version
        assert (await client.get("/sample?model=tiny-cvae-copy&label=two")).status_code == 200
        gone = await client.get("/sample?model=tiny-mixture")
        assert gone.status_code == 404 and "served models:" in gone.json()["detail"]
        assert app.state.catalog.served["tiny-ae"] is unchanged  # not even reloaded
        same = ["tiny-ae", "tiny-categorical", "tiny-cvae", "tiny-cvae-copy", "tiny-vae"]
        assert (await reload(client))["unchanged"] == same

        # the replaced and removed versions retire: their networks leave the runner
        runner = app.state.catalog.runner
        await asyncio.wait_for(asyncio.gather(*app.state.catalog._retiring), 5)
        assert sorted(runner._models) == sorted(served.key for served in app.state.catalog.served.values())


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (lambda data: data[: len(data) // 2], "not a readable safetensors file"),  # a copy still being written
        (lambda data: b"not a checkpoint at all", "not a readable safetensors file"),
    ],
)
async def test_a_broken_new_file_leaves_the_previous_version_serving_and_says_why(
    make_client, models_dir, damage, says
):
    async with make_client() as (client, _):
        path = models_dir / "tiny-vae.safetensors"
        served_version = version(path)
        path.write_bytes(damage(path.read_bytes()))
        report = await reload(client)
        assert report["updated"] == [] and says in report["failed"]["tiny-vae"]
        assert f"version {served_version} is still served" in report["failed"]["tiny-vae"]
        assert str(models_dir) not in report["failed"]["tiny-vae"]  # no server paths for clients

        decoded = await client.post("/decode", json={"model": "tiny-vae", "latents": [LATENT]})
        assert decoded.status_code == 200 and decoded.headers["x-model-version"] == served_version
        listed = (await client.get("/models")).json()
        assert says in listed["failed"]["tiny-vae"] and "tiny-vae" in [m["name"] for m in listed["models"]]
        readiness = await client.get("/readyz")
        assert readiness.status_code == 200 and says in readiness.json()["failed"]["tiny-vae"]


@pytest.mark.parametrize("inference_process", [False, True])
async def test_requests_in_flight_and_arriving_during_reloads_all_succeed(make_client, models_dir, inference_process):
    async with make_client(inference_process=inference_process) as (client, _):
        path = models_dir / "tiny-vae.safetensors"
        versions, statuses, stop, progress = set(), [], asyncio.Event(), asyncio.Condition()

        async def keep_asking() -> None:
            while not stop.is_set():
                for response in await asyncio.gather(
                    client.post("/decode", json={"model": "tiny-vae", "latents": [LATENT] * 3}),
                    client.get("/sample?model=tiny-vae&n=2"),
                ):
                    statuses.append(response.status_code)
                    versions.add(response.headers.get("x-model-version"))
                async with progress:
                    progress.notify_all()

        async def answered(more: int) -> None:  # requests in flight across each swap, whatever the machine's speed
            target = len(statuses) + more
            async with progress:
                await progress.wait_for(lambda: len(statuses) >= target)

        clients = [asyncio.create_task(keep_asking()) for _ in range(8)]
        for round_ in range(5):
            await answered(10)
            write_new_version(path, f"round {round_}")
            assert (await reload(client))["updated"] == ["tiny-vae"]
        await answered(10)
        stop.set()
        await asyncio.gather(*clients)
    assert len(statuses) > 50 and set(statuses) == {200}
    assert len(versions) >= 3  # answers came from several versions, none failed across the swaps


@pytest.mark.parametrize("folder", ["empty", "missing"])
async def test_a_folder_with_nothing_to_serve_says_so_in_readyz_and_in_one_log_line(
    make_client, tmp_path, caplog, folder
):
    models_dir = tmp_path / folder
    if folder == "empty":
        models_dir.mkdir()
    async with make_client(models_dir=models_dir) as (client, _):
        response = await client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready" and body["models"] == []
    says = "no checkpoints (*.safetensors) in" if folder == "empty" else "does not exist"
    assert says in body["reason"] and str(models_dir) in body["reason"]
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [body["reason"]]


async def test_admin_routes_answer_loopback_clients_only_unless_a_token_is_set(make_client):
    async with make_client() as (client, app):
        assert (await client.post("/admin/reload")).status_code == 200  # httpx's ASGI client is 127.0.0.1
        outside = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(transport=outside, base_url="http://test") as remote:
            refused = await remote.post("/admin/reload")
            assert refused.status_code == 403 and "loopback" in refused.json()["detail"]
            assert (await remote.get("/models")).status_code == 200  # the API itself is open without a token
    async with make_client(auth_token="s3cret") as (client, app):
        assert (await client.post("/admin/reload")).status_code == 401  # loopback needs the token too now
        outside = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(transport=outside, base_url="http://test") as remote:
            allowed = await remote.post("/admin/reload", headers={"Authorization": "Bearer s3cret"})
            assert allowed.status_code == 200


async def test_the_api_process_holds_no_weights_when_inference_has_its_own_process(make_client):
    async with make_client(inference_process=True) as (client, app):
        for served in app.state.catalog.served.values():
            assert {parameter.device.type for parameter in served.model.parameters()} == {"meta"}
        assert (await client.post("/decode", json={"model": "tiny-vae", "latents": [LATENT]})).status_code == 200


def wait_for(condition, limit=20.0):
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.1)


def served_version(base: str, name: str) -> str | None:
    response = httpx.get(f"{base}/models/{name}")
    return response.json()["version"] if response.status_code == 200 else None


def test_sighup_and_a_watched_folder_reload_the_real_service(models_dir):
    path = models_dir / "tiny-vae.safetensors"
    with running_service(models_dir, AESERVE_WATCH_MODELS="true") as (base, process):
        assert served_version(base, "tiny-vae") == version(path)
        write_new_version(path, "seen by the watcher")  # written to a temporary file, then renamed
        wait_for(lambda: served_version(base, "tiny-vae") == version(path))
        shutil.copy(path, models_dir / "dropped-in.safetensors")
        wait_for(lambda: served_version(base, "dropped-in") == version(path))
    with running_service(models_dir) as (base, process):
        write_new_version(path, "after SIGHUP")
        assert served_version(base, "tiny-vae") != version(path)  # nothing watches this one
        process.send_signal(signal.SIGHUP)
        wait_for(lambda: served_version(base, "tiny-vae") == version(path))
        assert httpx.post(f"{base}/admin/reload").json()["unchanged"] == sorted(
            p.stem for p in models_dir.glob("*.safetensors")
        )

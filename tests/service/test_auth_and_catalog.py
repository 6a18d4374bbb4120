"""Bearer-token auth, and a models folder with a broken checkpoint in it."""

import pytest

pytestmark = pytest.mark.anyio


async def test_token_is_required_everywhere_but_health(make_client):
    async with make_client(auth_token="s3cret") as (client, _):
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 200
        refused = await client.get("/models")
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        wrong = await client.get("/sample", headers={"authorization": "Bearer guess"})
        assert wrong.status_code == 401 and wrong.json()["detail"] == "missing or wrong bearer token"
        allowed = await client.get("/sample", headers={"authorization": "Bearer s3cret"})
        assert allowed.status_code == 200


# What answers without the token: health for orchestrators, and the page and the API's description, which a
# browser must load before anyone can type the token in (they hold no model data)
OPEN = {"/healthz", "/readyz", "/", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
OPEN_MOUNTS = {"/static": "/static/app.js", "/static-offline-docs": "/static-offline-docs/swagger-ui.css"}


async def test_every_route_but_the_open_ones_needs_the_token(make_client):
    from fastapi.routing import APIRoute
    from starlette.routing import Mount, Route

    async with make_client(auth_token="s3cret") as (client, app):
        routes = [route for route in app.routes if isinstance(route, APIRoute | Route)]
        assert {route.path for route in routes} >= OPEN | {"/metrics", "/models", "/sample", "/encode", "/decode"}
        assert {route.path for route in app.routes if isinstance(route, Mount)} == set(OPEN_MOUNTS)
        for route in routes:
            path = route.path.replace("{name}", "tiny-mixture")
            for method in route.methods - {"HEAD"}:
                anonymous = await client.request(method, path)
                with_token = await client.request(method, path, headers={"authorization": "Bearer s3cret"})
                if route.path in OPEN:
                    assert anonymous.status_code == 200, (method, path)
                else:
                    assert anonymous.status_code == 401, (method, path)
                    assert with_token.status_code != 401, (method, path)
        for file in OPEN_MOUNTS.values():
            assert (await client.get(file)).status_code == 200
        assert (await client.get("/metrics", headers={"authorization": "Bearer s3cret"})).status_code == 200


async def test_a_broken_checkpoint_is_reported_and_the_rest_still_serve(make_client, models_dir):
    (models_dir / "broken.safetensors").write_bytes(b"garbage")
    (models_dir / "notes.txt").write_text("not a checkpoint, ignored")
    async with make_client() as (client, _):
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert "not a readable safetensors file" in ready.json()["failed"]["broken"]
        assert "broken" in (await client.get("/models")).json()["failed"]
        missing = await client.get("/sample?model=broken")
        assert missing.status_code == 404 and "failed to load" in missing.json()["detail"]
        assert (await client.get("/sample?model=tiny-vae")).status_code == 200


async def test_an_empty_folder_is_never_ready(make_client, tmp_path):
    async with make_client(models_dir=tmp_path) as (client, _):
        assert (await client.get("/readyz")).status_code == 503
        assert (await client.get("/sample")).status_code == 404


def test_bad_settings_fail_fast():
    from pydantic import ValidationError

    from service.settings import Settings

    with pytest.raises(ValidationError, match="device must be auto, cpu, cuda or cuda:N"):
        Settings(device="tpu")
    with pytest.raises(ValidationError, match="max_batch_size"):
        Settings(max_batch_size=0)


def test_asking_for_cuda_without_it_says_so():
    import torch

    from service.catalog import resolve_device

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")
    assert resolve_device("auto").type == "cpu"

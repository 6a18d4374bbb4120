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

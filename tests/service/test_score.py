"""POST /score: each image's anomaly signals, its calibrated score, p-value and flag, and its per-pixel map."""

import base64
import gzip
import io
import shutil

import numpy as np
import pytest
from PIL import Image

from tests.servers import ROOT
from tests.service.test_bad_input import CASES

pytestmark = pytest.mark.anyio
FASHION_TEST = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def fashion_test_images(count: int) -> np.ndarray:
    return np.frombuffer(gzip.open(FASHION_TEST).read()[16:], np.uint8).reshape(-1, 28, 28)[:count]


@pytest.fixture
def vae_dir(tmp_path):
    """The committed vae, calibrated on the validation split, beside an uncalibrated tiny model."""
    shutil.copy(ROOT / "checkpoints" / "vae.safetensors", tmp_path / "vae.safetensors")
    return tmp_path


ENCODE_REFUSALS = [case for case in CASES if case[1].startswith("/encode")]


@pytest.mark.parametrize(("method", "url", "kwargs", "status", "detail"), ENCODE_REFUSALS)
async def test_what_encode_refuses_score_refuses_the_same_way(client, method, url, kwargs, status, detail):
    refused = await client.post(url.replace("/encode", "/score"), **kwargs)
    assert refused.status_code == status and refused.headers["content-type"] == "application/problem+json"
    assert detail in refused.json()["detail"]


async def test_the_same_image_gets_the_same_score_from_json_and_multipart(client):
    images = [png(np.full((28, 28), value, np.uint8)) for value in (0, 90, 255)]
    as_json = await client.post(
        "/score", json={"model": "tiny-vae", "images": [base64.b64encode(i).decode() for i in images]}
    )
    as_files = await client.post("/score?model=tiny-vae", files=[("files", image) for image in images])
    assert as_json.status_code == as_files.status_code == 200, as_json.text
    assert as_json.json() == as_files.json() and len(as_json.json()["scores"]) == 3


async def test_a_model_without_calibration_scores_by_reconstruction_and_says_why_there_is_no_p_value(client):
    card = (await client.get("/models/tiny-vae")).json()["anomaly"]
    assert not card["calibrated"] and "python -m training calibrate" in card["why_not"]
    scored = (await client.post("/score?model=tiny-vae", files=[("files", png(np.zeros((28, 28), np.uint8)))])).json()
    [one] = scored["scores"]
    assert one["score"] == one["reconstruction"] and one["p_value"] is None and one["is_anomaly"] is None
    assert one["negative_elbo"] > 0 and one["code_nll"] is not None


async def test_training_images_pass_and_noise_is_flagged_by_the_calibrated_vae(make_client, vae_dir):
    noise = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    files = [("files", png(image)) for image in (*fashion_test_images(5), *noise)]
    async with make_client(models_dir=vae_dir, default_model="vae") as (client, _):
        card = (await client.get("/models/vae")).json()["anomaly"]
        scored = (await client.post("/score", files=files)).json()["scores"]
    assert card["calibrated"] and card["calibration_size"] == 5000 and card["alpha"] == 0.01
    real, drawn = scored[:5], scored[5:]
    assert all(one["p_value"] > 0.05 and not one["is_anomaly"] for one in real), real
    assert all(one["p_value"] < 0.001 and one["is_anomaly"] for one in drawn), drawn


async def test_the_map_has_the_images_shape_and_is_brightest_where_a_patch_was_pasted(make_client, vae_dir):
    images = fashion_test_images(4).copy()
    corners = [(2, 2), (2, 18), (18, 2), (18, 18)]
    for image, (row, column) in zip(images, corners, strict=True):
        image[row : row + 8, column : column + 8] = 255
    files = [("files", png(image)) for image in images]
    async with make_client(models_dir=vae_dir, default_model="vae") as (client, _):
        scored = (await client.post("/score?maps=true", files=files)).json()["scores"]
        picture = await client.post("/score", files=files, headers={"accept": "image/png"})
    for one, (row, column) in zip(scored, corners, strict=True):
        error = np.asarray(one["map"])
        assert error.shape == (1, 28, 28)
        patch = error[0, row : row + 8, column : column + 8]
        assert (
            patch.mean()
            > 3
            * np.delete(
                error[0].ravel(), [r * 28 + c for r in range(row, row + 8) for c in range(column, column + 8)]
            ).mean()
        )
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(picture.content)).mode == "RGB"  # gray images, red where the error is

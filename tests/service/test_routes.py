"""Every route on the tiny models, status first, then the fields."""

import base64
import io

import numpy as np
import pytest
import torch
from PIL import Image

import models
from tests.conftest import CLASSES

pytestmark = pytest.mark.anyio


def png_bytes(size=(28, 28), mode="L", value=128) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, value).save(buffer, "PNG")
    return buffer.getvalue()


def decode_png(text: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(text))))


async def test_health_and_readiness(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "models": ["tiny-ae", "tiny-categorical", "tiny-cvae", "tiny-mixture", "tiny-vae"],
        "failed": {},
        "reason": None,
    }


async def test_not_ready_before_the_models_are_loaded(tiny_models_dir):
    import httpx

    from service.app import create_app
    from service.settings import Settings

    app = create_app(Settings(models_dir=tiny_models_dir, device="cpu"))  # lifespan not run
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "not ready"


async def test_models_lists_every_model_and_marks_the_default(client):
    response = await client.get("/models")
    assert response.status_code == 200
    described = {model["name"]: model for model in response.json()["models"]}
    assert set(described) == {"tiny-ae", "tiny-categorical", "tiny-cvae", "tiny-mixture", "tiny-vae"}
    cvae = described["tiny-cvae"]
    assert cvae["kind"] == "vae" and cvae["variant"] == "conditional"
    assert cvae["latent_dim"] == 4 and cvae["image_shape"] == [1, 28, 28]
    assert cvae["conditional"] and cvae["default"] and cvae["classes"] == ["zero", "one", "two", "three"]
    assert cvae["device"] == "cpu"
    assert described["tiny-vae"]["evaluation"] == {"reconstruction_mse": 0.5}
    assert not described["tiny-vae"]["conditional"] and described["tiny-vae"]["classes"] is None
    assert described["tiny-ae"]["prior"] == {"name": "gaussian_mixture", "dim": 4, "components": 0}
    assert described["tiny-mixture"]["conditional"] and not described["tiny-mixture"]["labels_to_decode"]
    assert described["tiny-categorical"]["classifies"] and described["tiny-categorical"]["categories"] == 4
    assert not any(described[name]["classifies"] for name in described if name != "tiny-categorical")


async def test_one_model(client):
    response = await client.get("/models/tiny-vae")
    assert response.status_code == 200
    assert response.json()["name"] == "tiny-vae" and not response.json()["default"]


async def test_sample_with_only_a_label_uses_the_default_model(client):
    response = await client.get("/sample?label=3")
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "tiny-cvae" and body["labels"] == [3]
    assert len(body["images"]) == 1 and decode_png(body["images"][0]).shape == (28, 28)
    assert len(body["latents"]) == 1 and len(body["latents"][0]) == 4


async def test_sample_label_by_class_name_and_seed_reproduces(client):
    first = (await client.get("/sample", params={"model": "tiny-mixture", "n": 3, "label": "two", "seed": 42})).json()
    second = (await client.get("/sample", params={"model": "tiny-mixture", "n": 3, "label": "2", "seed": 42})).json()
    other = (await client.get("/sample", params={"model": "tiny-mixture", "n": 3, "label": 2, "seed": 43})).json()
    assert first["labels"] == [2, 2, 2] and first["seed"] == 42
    assert first["images"] == second["images"] and first["latents"] == second["latents"]
    assert first["latents"] != other["latents"]


async def test_sample_without_label_on_a_conditional_model_reports_the_labels_drawn(client):
    body = (await client.get("/sample", params={"n": 8, "seed": 1})).json()
    assert len(body["labels"]) == 8 and all(0 <= label < 4 for label in body["labels"])


async def test_sample_as_a_png_grid_by_format_or_by_accept_header_and_format_decides_when_both_come(client):
    png = {"accept": "image/png"}
    for params, headers in (({"format": "png"}, {}), ({}, png), ({"format": "png"}, {"accept": "application/json"})):
        response = await client.get("/sample", params={"model": "tiny-vae", "n": 4, **params}, headers=headers)
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(response.content)).size == (57, 57)  # 2x2 tiles of 28 with a 1-pixel gutter
    response = await client.get("/sample", params={"model": "tiny-vae", "format": "json"}, headers=png)
    assert response.headers["content-type"] == "application/json"


async def test_decode_json_and_png(client):
    latents = [[0.0, 0.1, 0.2, 0.3], [1.0, -1.0, 0.5, 0]]
    response = await client.post("/decode", json={"model": "tiny-cvae", "latents": latents, "labels": [1, "three"]})
    assert response.status_code == 200
    assert [decode_png(image).shape for image in response.json()["images"]] == [(28, 28), (28, 28)]
    png = await client.post(
        "/decode", json={"model": "tiny-vae", "latents": latents[:1]}, headers={"accept": "image/png"}
    )
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).size == (28, 28)


async def test_decode_matches_the_model_exactly(client, models_dir):
    import torch

    import models

    checkpoint = models.load(models_dir / "tiny-vae.safetensors")
    latents = [[0.5, -0.25, 1.0, 0.0]]
    with torch.no_grad():
        expected = (torch.sigmoid(checkpoint.model.decode(torch.tensor(latents))) * 255).round().to(torch.uint8)
    served = (await client.post("/decode", json={"model": "tiny-vae", "latents": latents})).json()["images"][0]
    assert np.array_equal(decode_png(served), expected[0, 0].numpy())


async def test_encode_multipart_and_json_agree(client):
    image = png_bytes(value=200)
    multipart = await client.post(
        "/encode?model=tiny-vae",
        files=[("files", ("a.png", image, "image/png")), ("files", ("b.png", image, "image/png"))],
    )
    assert multipart.status_code == 200
    as_json = await client.post(
        "/encode", json={"model": "tiny-vae", "images": [f"data:image/png;base64,{base64.b64encode(image).decode()}"]}
    )
    assert as_json.status_code == 200
    body = multipart.json()
    assert body["model"] == "tiny-vae" and len(body["latents"]) == 2 and len(body["log_variances"]) == 2
    assert body["latents"][0] == pytest.approx(as_json.json()["latents"][0], abs=1e-6)


async def test_encode_converts_other_sizes_and_modes(client):
    rgb = png_bytes(size=(64, 40), mode="RGB", value=(10, 200, 30))
    response = await client.post("/encode?model=tiny-ae", files=[("files", ("rgb.png", rgb, "image/png"))])
    assert response.status_code == 200
    assert len(response.json()["latents"][0]) == 4 and response.json()["log_variances"] is None


async def test_encode_with_labels_for_a_conditional_encoder(client):
    image = base64.b64encode(png_bytes()).decode()
    response = await client.post("/encode", json={"model": "tiny-cvae", "images": [image], "labels": ["one"]})
    assert response.status_code == 200
    multipart = await client.post(
        "/encode?model=tiny-cvae", files=[("files", ("a.png", png_bytes(), "image/png"))], data={"labels": "1"}
    )
    assert multipart.json()["latents"] == response.json()["latents"]


async def test_metrics_count_requests_by_route_model_and_status(client):
    await client.get("/sample?model=tiny-vae")
    await client.get("/sample?model=nope")
    text = (await client.get("/metrics")).text
    assert 'aeserve_requests_total{model="tiny-vae",route="/sample",status="200"} 1.0' in text
    assert 'aeserve_requests_total{model="",route="/sample",status="404"} 1.0' in text
    assert 'aeserve_batch_size_count{model="tiny-vae",operation="decode"} 1.0' in text
    assert "aeserve_models_loaded 5.0" in text
    assert "aeserve_queue_wait_seconds_bucket" in text and "aeserve_inference_seconds_bucket" in text


async def test_openapi_documents_every_route_with_png_responses(client):
    spec = (await client.get("/openapi.json")).json()
    assert {"/encode", "/decode", "/sample", "/models", "/models/{name}", "/healthz", "/readyz", "/metrics"} <= set(
        spec["paths"]
    )
    assert "image/png" in spec["paths"]["/sample"]["get"]["responses"]["200"]["content"]
    assert "image/png" in spec["paths"]["/decode"]["post"]["responses"]["200"]["content"]
    assert set(spec["paths"]["/encode"]["post"]["requestBody"]["content"]) == {
        "application/json",
        "multipart/form-data",
    }
    assert (await client.get("/docs")).status_code == 200


async def test_a_2d_model_serves_its_latent_map(client, models_dir):
    import models

    stored = models.load(models_dir / "tiny-mixture.safetensors").latent_map
    listed = {m["name"]: m["latent_map"] for m in (await client.get("/models")).json()["models"]}
    assert listed == {name: name == "tiny-mixture" for name in listed} and len(listed) == 5
    response = await client.get("/models/tiny-mixture/latent-map")
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "tiny-mixture" and body["classes"] == ["zero", "one", "two", "three"]
    np.testing.assert_allclose(body["codes"], stored.codes.numpy(), atol=5e-5)  # four decimals
    assert body["labels"] == stored.labels.tolist() and body["prior_labels"] == stored.prior_labels.tolist()
    assert len(body["prior_codes"]) == 20


async def test_a_model_without_a_latent_map_says_why(client):
    response = await client.get("/models/tiny-vae/latent-map")
    assert response.status_code == 404
    assert response.json()["detail"] == "model tiny-vae has no latent map: only models with 2-D codes store one"
    assert (await client.get("/models/nope/latent-map")).status_code == 404


async def test_every_answer_computed_by_a_model_names_its_version(client, models_dir):
    import hashlib

    versions = {m["name"]: m["version"] for m in (await client.get("/models")).json()["models"]}
    expected = hashlib.sha256((models_dir / "tiny-vae.safetensors").read_bytes()).hexdigest()[:12]
    assert versions["tiny-vae"] == expected and len(set(versions.values())) == len(versions) == 5
    assert (await client.get("/models/tiny-vae")).json()["version"] == expected
    answers = [
        await client.get("/sample", params={"model": "tiny-vae", "n": 2}),
        await client.get("/sample", params={"model": "tiny-vae", "format": "png"}),
        await client.post("/decode", json={"model": "tiny-vae", "latents": [[0.0] * 4]}),
        await client.post("/encode", params={"model": "tiny-vae"}, files=[("files", ("a.png", png_bytes()))]),
    ]
    assert [answer.status_code for answer in answers] == [200] * 4
    assert [answer.headers["x-model-version"] for answer in answers] == [expected] * 4


async def test_a_model_with_an_ex_post_sampler_draws_each_label_from_its_class_and_keeps_its_prior(client):
    described = (await client.get("/models/tiny-ae")).json()
    assert described["sampler"] == {"name": "class_mixture", "dim": 4, "components": 4}
    assert described["prior"]["name"] == "gaussian_mixture" and described["conditional"]
    body = (await client.get("/sample", params={"model": "tiny-ae", "n": 5, "label": "two", "seed": 1})).json()
    assert body["labels"] == [2] * 5
    assert all(abs(latent[0] - 20) < 1 for latent in body["latents"])  # class two's mixture, around 20
    again = (await client.get("/sample", params={"model": "tiny-ae", "n": 5, "label": "two", "seed": 1})).json()
    assert again["latents"] == body["latents"]

    prior = await client.get("/sample", params={"model": "tiny-ae", "n": 3, "sampler": "prior", "seed": 1})
    assert prior.status_code == 200 and prior.json()["labels"] is None  # the unconditional prior: no labels
    assert not all(abs(latent[0] - 20) < 1 for latent in prior.json()["latents"])
    refused = await client.get("/sample", params={"model": "tiny-ae", "sampler": "prior", "label": "two"})
    assert refused.status_code == 422 and "not conditional" in refused.json()["detail"]


async def test_a_lower_temperature_draws_the_same_codes_closer_to_their_class_s_centres(client):
    def latents(temperature):
        params = {"model": "tiny-ae", "n": 6, "label": "two", "seed": 9, "temperature": temperature}
        return client.get("/sample", params=params)

    full, half, centres = [np.array((await latents(t)).json()["latents"]) for t in (1, 0.5, 0)]
    assert np.allclose(half, (full + centres) / 2, atol=1e-5)  # halfway between each draw and its centre
    assert not np.allclose(full, centres, atol=1e-3)
    default = (await client.get("/sample", params={"model": "tiny-ae", "n": 6, "label": "two", "seed": 9})).json()
    assert np.array_equal(np.array(default["latents"]), full)
    for bad in (-0.1, 2.5, "warm"):
        refused = await latents(bad)
        assert refused.status_code == 422 and "temperature" in refused.json()["detail"], bad


async def test_asking_for_an_ex_post_sampler_a_model_lacks_is_a_422(client):
    response = await client.get("/sample", params={"model": "tiny-vae", "sampler": "ex_post"})
    assert response.status_code == 422 and "has no ex-post sampler" in response.json()["detail"]
    response = await client.get("/sample", params={"model": "tiny-vae", "sampler": "anything"})
    assert response.status_code == 422


async def test_classify_answers_the_categorical_heads_probabilities_and_its_most_probable_class(client, models_dir):
    image = png_bytes(value=120)
    response = await client.post(
        "/classify?model=tiny-categorical",
        files=[("files", ("a.png", image, "image/png")), ("files", ("b.png", png_bytes(value=30), "image/png"))],
    )
    assert response.status_code == 200
    body = response.json()
    probabilities = np.array(body["probabilities"])
    assert probabilities.shape == (2, 4) and np.allclose(probabilities.sum(1), 1, atol=1e-5)
    assert body["predicted"] == probabilities.argmax(1).tolist()
    assert body["names"] == [CLASSES[index] for index in body["predicted"]]
    model = models.load(models_dir / "tiny-categorical.safetensors").model
    pixels = torch.from_numpy(np.array(Image.open(io.BytesIO(image)))).float().div(255)[None, None]
    with torch.no_grad():
        expected = torch.softmax(model.encode(pixels).class_logits, dim=1)[0]
    assert probabilities[0] == pytest.approx(expected.numpy(), abs=1e-5)
    encoded = await client.post(
        "/encode", json={"model": "tiny-categorical", "images": [base64.b64encode(image).decode()]}
    )
    assert encoded.status_code == 200
    assert len(encoded.json()["latents"][0]) == 3  # the style code
    assert encoded.json()["class_probabilities"][0] == pytest.approx(body["probabilities"][0], abs=1e-6)


async def test_classify_with_a_model_without_a_categorical_head_is_a_422_naming_those_that_have_one(client):
    response = await client.post("/classify?model=tiny-cvae", files=[("files", ("a.png", png_bytes(), "image/png"))])
    assert response.status_code == 422
    assert "no categorical head" in response.json()["detail"] and "tiny-categorical" in response.json()["detail"]


async def test_a_categorical_model_decodes_a_style_as_any_class(client):
    response = await client.post(
        "/decode", json={"model": "tiny-categorical", "latents": [[0.1, 0.2, 0.3]] * 2, "labels": ["zero", 3]}
    )
    assert response.status_code == 200 and len(response.json()["images"]) == 2
    unlabelled = await client.post("/decode", json={"model": "tiny-categorical", "latents": [[0.1, 0.2, 0.3]]})
    assert unlabelled.status_code == 422

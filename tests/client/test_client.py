"""The Python client against the real service process: every call, sync and async, and its one error type."""

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from client import APIError, AsyncClient, Client, to_pil
from tests.servers import ROOT, free_port, running_service
from training.data import FASHION_MNIST_CLASSES, read_mnist_layout


@pytest.fixture
def aeserve(default_service):
    with Client(default_service) as client:
        yield client


def test_models_lists_every_served_model_with_its_description(aeserve):
    listed = {model.name: model for model in aeserve.models()}
    assert {"ae", "vae", "cvae", "aae", "aae-supervised", "aae-mixture", "aae-swissroll"} <= set(listed)
    cvae = aeserve.model("cvae")
    assert cvae == listed["cvae"]
    assert cvae.default and cvae.conditional and cvae.latent_dim == 16 and cvae.image_shape == [1, 28, 28]
    assert cvae.classes is not None and cvae.classes[8] == "Bag"
    assert listed["aae-mixture"].latent_map and not cvae.latent_map
    assert aeserve.ready().status == "ready"


def test_sample_gives_uint8_images_and_the_same_seed_the_same_images(aeserve):
    drawn = aeserve.sample("cvae", n=3, label="Bag", seed=7)
    assert drawn.images.shape == (3, 28, 28) and drawn.images.dtype == np.uint8
    assert drawn.latents.shape == (3, 16) and drawn.latents.dtype == np.float32
    assert drawn.labels == [8, 8, 8] and drawn.seed == 7 and drawn.model == "cvae"
    assert np.array_equal(aeserve.sample("cvae", n=3, label=8, seed=7).images, drawn.images)
    assert not np.array_equal(aeserve.sample("cvae", n=3, label=8, seed=8).images, drawn.images)
    # from cvae's prior, N(0, I), the same seed at temperature 0.5 gives the codes halved
    prior = aeserve.sample("cvae", n=3, label=8, seed=7, sampler="prior")
    cooler = aeserve.sample("cvae", n=3, label=8, seed=7, sampler="prior", temperature=0.5)
    np.testing.assert_allclose(cooler.latents, prior.latents / 2, atol=1e-6)


def test_decoding_a_sample_s_codes_gives_its_images_back(aeserve):
    drawn = aeserve.sample("aae-supervised", n=4, label=3, seed=1)
    assert np.array_equal(aeserve.decode(drawn.latents, "aae-supervised", labels=drawn.labels), drawn.images)


def test_encode_takes_arrays_floats_pil_images_and_file_bytes_alike(aeserve):
    images = aeserve.sample("ae", n=2, seed=3).images
    buffer = io.BytesIO()
    Image.fromarray(images[1]).save(buffer, "PNG")
    from_array = aeserve.encode(images, "ae")
    assert from_array.latents.shape == (2, 32) and from_array.log_variances is None
    as_floats = aeserve.encode(images.astype(np.float32) / 255, "ae")
    from_pil_and_bytes = aeserve.encode([to_pil(images)[0], buffer.getvalue()], "ae")
    np.testing.assert_allclose(as_floats.latents, from_array.latents, atol=1e-5)
    np.testing.assert_allclose(from_pil_and_bytes.latents, from_array.latents, atol=1e-5)
    vae = aeserve.encode(images, "vae")
    assert vae.log_variances is not None and vae.log_variances.shape == (2, 10)


def test_encode_passes_labels_to_models_that_need_them(aeserve):
    drawn = aeserve.sample("cvae", n=2, label="Sneaker", seed=2)
    encoded = aeserve.encode(drawn.images, "cvae", labels=["Sneaker", 7])
    assert encoded.latents.shape == (2, 16)
    with pytest.raises(APIError, match="needs one label per item") as caught:
        aeserve.encode(drawn.images, "cvae")
    assert caught.value.status == 422 and caught.value.problem["title"] == "Unprocessable Entity"


def test_latent_map_of_a_2d_model(aeserve):
    latent_map = aeserve.latent_map("aae-mixture")
    assert latent_map.codes.shape == (10_000, 2) and latent_map.labels.shape == (10_000,)
    assert set(latent_map.labels.tolist()) == set(range(10)) and latent_map.classes is not None
    assert latent_map.prior_codes.shape[1] == 2 and latent_map.prior_labels is not None
    with pytest.raises(APIError, match="only models with 2-D codes") as caught:
        aeserve.latent_map("vae")
    assert caught.value.status == 404


def test_every_error_is_an_api_error_carrying_the_problem(aeserve):
    with pytest.raises(APIError) as caught:
        aeserve.sample("no-such-model")
    assert caught.value.status == 404 and "unknown model 'no-such-model'" in caught.value.detail
    assert caught.value.problem["status"] == 404
    with pytest.raises(APIError, match="takes latents of 10 numbers"):
        aeserve.decode(np.zeros((1, 3)), "vae")
    with pytest.raises(APIError) as caught:  # a name stays one path segment: it never reaches /models/vae
        aeserve.model("../models/vae")
    assert caught.value.status == 404
    with Client(f"http://127.0.0.1:{free_port()}", timeout=2) as nobody, pytest.raises(APIError) as caught:
        nobody.models()
    assert caught.value.status is None and "no answer from the service" in caught.value.detail


def test_the_token_goes_with_every_call(tiny_models_dir):
    with running_service(tiny_models_dir, AESERVE_AUTH_TOKEN="s3cret", AESERVE_INFERENCE_PROCESS="false") as (base, _):
        with Client(base) as anonymous, pytest.raises(APIError) as caught:
            anonymous.models()
        assert caught.value.status == 401
        with Client(base, token="s3cret") as client:
            assert client.sample("tiny-vae", n=2, seed=0).images.shape == (2, 28, 28)


@pytest.mark.anyio
async def test_the_async_client_makes_the_same_calls(default_service):
    async with AsyncClient(default_service) as aeserve:
        assert "cvae" in {model.name for model in await aeserve.models()}
        drawn = await aeserve.sample("cvae", n=2, label=1, seed=5)
        with Client(default_service) as blocking:
            assert np.array_equal(blocking.sample("cvae", n=2, label=1, seed=5).images, drawn.images)
        assert np.array_equal(await aeserve.decode(drawn.latents, "cvae", labels=[1, 1]), drawn.images)
        encoded = await aeserve.encode(drawn.images, "cvae", labels=[1, 1])
        assert encoded.latents.shape == (2, 16)
        assert (await aeserve.latent_map("aae-swissroll")).codes.shape == (10_000, 2)
        assert (await aeserve.model("vae")).latent_dim == 10
        with pytest.raises(APIError, match="unknown model"):
            await aeserve.sample("nope")


def test_the_client_imports_neither_torch_nor_the_server():
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, client; print(' '.join(sorted(sys.modules)))"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert "client" in loaded
    assert not {"torch", "models", "service", "training", "fastapi"} & set(loaded)


def test_classify_names_the_class_of_real_test_images_and_encode_gives_the_same_probabilities(aeserve):
    test = read_mnist_layout(Path("/usr/share/datasets/fashion-mnist"), FASHION_MNIST_CLASSES).test.subset(100)
    images = test.images[:, 0].numpy()
    classified = aeserve.classify(images, "aae-semisupervised")
    assert classified.probabilities.shape == (100, 10) and np.allclose(classified.probabilities.sum(1), 1, atol=1e-4)
    assert classified.names == [FASHION_MNIST_CLASSES[index] for index in classified.predicted]
    assert np.mean(np.array(classified.predicted) == test.labels.numpy()) > 0.7  # trained on 1,000 labels
    encoded = aeserve.encode(images[:5], "aae-semisupervised")
    assert encoded.class_probabilities is not None and encoded.latents.shape == (5, 8)
    np.testing.assert_allclose(encoded.class_probabilities, classified.probabilities[:5], atol=1e-5)
    clusters = aeserve.classify(images[:5], "aae-clusters")
    assert clusters.probabilities.shape == (5, 30) and all(name.startswith("cluster ") for name in clusters.names)
    assert aeserve.model("aae-clusters").classifies and aeserve.model("aae-clusters").categories == 30
    with pytest.raises(APIError) as raised:
        aeserve.classify(images[:1], "cvae")
    assert raised.value.status == 422 and "no categorical head" in raised.value.detail


def test_score_answers_numpy_scores_p_values_flags_and_maps(aeserve):
    real = read_mnist_layout(Path("/usr/share/datasets/fashion-mnist"), FASHION_MNIST_CLASSES).test.images[:3, 0]
    noise = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    scored = aeserve.score(np.concatenate([real.numpy(), noise]), "vae", maps=True)
    assert scored.maps is not None and scored.maps.shape == (6, 28, 28) and scored.maps.dtype == np.float32
    assert scored.is_anomaly is not None and scored.is_anomaly.tolist() == [False] * 3 + [True] * 3
    assert set(scored.signals) == {"reconstruction", "code_nll", "negative_elbo"} and scored.alpha == 0.01
    assert aeserve.model("vae").anomaly["calibrated"]

"""Every bad input gets a 4xx problem-details body that says what is wrong, and the service keeps serving."""

import base64
import io

import pytest
from PIL import Image

pytestmark = pytest.mark.anyio


def png(size=(28, 28)) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", size, 100).save(buffer, "PNG")
    return buffer.getvalue()


def noisy_png_cut_short() -> bytes:
    buffer = io.BytesIO()
    Image.frombytes("L", (28, 28), bytes(range(256)) * 3 + bytes(16)).save(buffer, "PNG")
    return buffer.getvalue()[:-60]  # the image data stops mid-stream


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


CASES = [
    # (method, url, keyword arguments, status, text the detail must contain)
    (
        "post",
        "/encode?model=tiny-vae",
        {"files": [("files", ("t.png", noisy_png_cut_short(), "image/png"))]},
        422,
        "image 0: corrupt or truncated",
    ),
    (
        "post",
        "/encode?model=tiny-vae",
        {"files": [("files", ("x.txt", b"hello, not an image", "text/plain"))]},
        422,
        "not a readable image",
    ),
    ("post", "/encode", {"json": {"model": "tiny-vae", "images": ["***"]}}, 422, "not valid base64"),
    ("post", "/encode", {"json": {"model": "tiny-vae", "images": []}}, 422, "images"),
    (
        "post",
        "/encode",
        {"content": b"raw bytes", "headers": {"content-type": "application/octet-stream"}},
        415,
        "multipart/form-data",
    ),
    (
        "post",
        "/encode?model=tiny-vae",
        {"data": {"other": "field"}, "files": [("nothing", ("a", b"", "x/y"))]},
        422,
        "field 'files'",
    ),
    ("post", "/encode", {"json": {"model": "tiny-cvae", "images": [b64(png())]}}, 422, "needs one label per item"),
    ("post", "/encode", {"json": {"model": "tiny-vae", "images": [b64(png())], "labels": [1]}}, 422, "takes no labels"),
    ("get", "/models/nope", {}, 404, "unknown model 'nope'"),
    ("get", "/sample?model=../checkpoints/tiny-vae", {}, 404, "unknown model"),
    ("get", "/sample?model=%2Fetc%2Fpasswd", {}, 404, "unknown model"),
    ("post", "/decode", {"json": {"model": "tiny-vae", "latents": [[0.0, 1.0]]}}, 422, "latents of 4 numbers"),
    ("post", "/decode", {"json": {"model": "tiny-vae", "latents": [[0, 0, 0, 0], [0, 0, 0]]}}, 422, "rows [1]"),
    ("post", "/decode", {"json": {"model": "tiny-vae", "latents": []}}, 422, "latents"),
    (
        "post",
        "/decode",
        {
            "content": b'{"model": "tiny-vae", "latents": [[NaN, 0, 0, 0]]}',
            "headers": {"content-type": "application/json"},
        },
        422,
        "finite number",
    ),
    (
        "post",
        "/decode",
        {
            "content": b'{"model": "tiny-vae", "latents": [[Infinity, 0, 0, 0]]}',
            "headers": {"content-type": "application/json"},
        },
        422,
        "finite number",
    ),
    ("post", "/decode", {"json": {"model": "tiny-vae", "latents": [["a", 0, 0, 0]]}}, 422, "latents.0.0"),
    ("post", "/decode", {"json": {"model": "tiny-vae", "latents": [[True, 0, 0, 0]]}}, 422, "latents.0.0"),
    ("post", "/decode", {"content": b"{not json", "headers": {"content-type": "application/json"}}, 422, "JSON"),
    ("post", "/decode", {"json": {"model": "tiny-cvae", "latents": [[0, 0, 0, 0]]}}, 422, "needs one label per item"),
    (
        "post",
        "/decode",
        {"json": {"model": "tiny-cvae", "latents": [[0, 0, 0, 0]], "labels": [4]}},
        422,
        "out of range",
    ),
    (
        "post",
        "/decode",
        {"json": {"model": "tiny-cvae", "latents": [[0, 0, 0, 0]], "labels": ["four"]}},
        422,
        "unknown label 'four'",
    ),
    (
        "post",
        "/decode",
        {"json": {"model": "tiny-cvae", "latents": [[0, 0, 0, 0]], "labels": [1, 2]}},
        422,
        "2 labels for 1 items",
    ),
    (
        "post",
        "/decode",
        {"json": {"model": "tiny-vae", "latents": [[0, 0, 0, 0]], "labels": [1]}},
        422,
        "takes no labels",
    ),
    ("post", "/decode", {"json": {"model": "tiny-vae", "latents": [[0, 0, 0, 0]], "extra": 1}}, 422, "extra"),
    ("post", "/decode", {"json": {"model": "tiny-vae", "latents": [[0, 0, 0, 0]] * 5000}}, 413, "limit is 4096"),
    ("get", "/sample?n=5000", {}, 413, "limit is 4096"),
    ("get", "/sample?n=0", {}, 422, "n"),
    ("get", "/sample?n=abc", {}, 422, "n"),
    ("get", "/sample?label=7", {}, 422, "out of range"),
    ("get", "/sample?label=hat", {}, 422, "unknown label 'hat'"),
    ("get", "/sample?model=tiny-vae&label=1", {}, 422, "not conditional"),
    ("get", "/sample?seed=-1", {}, 422, "seed"),
    ("get", f"/sample?seed={2**63}", {}, 422, "seed"),
    ("get", "/sample?seed=1.5", {}, 422, "seed"),
    ("get", "/sample?format=gif", {}, 422, "format"),
]


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status", "detail"), CASES, ids=[f"{c[3]}-{i}" for i, c in enumerate(CASES)]
)
async def test_bad_input_gets_a_clear_4xx(client, method, url, kwargs, status, detail):
    response = await getattr(client, method)(url, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"]
    assert detail in body["detail"]
    assert (await client.get("/sample?model=tiny-vae")).status_code == 200  # still serving


async def test_body_over_the_size_limit_is_refused(make_client):
    async with make_client(max_body_bytes=2048) as (client, _):
        response = await client.post("/decode", json={"model": "tiny-vae", "latents": [[0.0, 0.0, 0.0, 0.0]] * 200})
        assert response.status_code == 413
        assert "over the limit of 2048 bytes" in response.json()["detail"]

        async def chunked():  # no Content-Length: the limit still holds while streaming
            for _ in range(10):
                yield b" " * 1000

        streamed = await client.post("/decode", content=chunked(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413


async def test_a_decompression_bomb_is_refused_before_it_is_decoded(make_client):
    bomb = io.BytesIO()
    Image.new("L", (3000, 3000), 0).save(bomb, "PNG")  # 9 Mpixel, a few kB compressed
    async with make_client(max_image_pixels=1_000_000) as (client, _):
        response = await client.post(
            "/encode?model=tiny-vae", files=[("files", ("bomb.png", bomb.getvalue(), "image/png"))]
        )
    assert response.status_code == 413
    assert "3000x3000 pixels exceeds the limit of 1000000" in response.json()["detail"]

"""PNG in and out: exact round trips for any pixels, grids laid out as promised, and any bytes either
decoded or refused with an ImageError."""

import contextlib

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from service import images

shapes = st.sampled_from([(1, 28, 28), (3, 8, 12), (1, 4, 4)])


@settings(max_examples=40, deadline=None)
@given(data=st.data(), shape=shapes)
def test_png_round_trip_is_exact(data, shape):
    pixels = data.draw(arrays(np.uint8, shape))
    assert np.array_equal(images.decode_image(images.encode_png(pixels), shape, max_pixels=10_000), pixels)


@given(count=st.integers(1, 30))
def test_grid_holds_every_image_in_order(count):
    tiles = np.stack([np.full((1, 3, 3), index, dtype=np.uint8) for index in range(count)])
    canvas = images.grid(tiles)
    columns = int(np.ceil(np.sqrt(count)))
    for index in range(count):
        row, column = divmod(index, columns)
        assert canvas[0, row * 4, column * 4] == index


def test_base64_and_data_uris():
    png = images.encode_png(np.zeros((1, 2, 2), np.uint8))
    plain = images.encode_png_base64(np.zeros((1, 2, 2), np.uint8))
    assert images.decode_base64(plain) == png
    assert images.decode_base64(f"data:image/png;base64,{plain}") == png


def _png(pixels: np.ndarray) -> bytes:
    return images.encode_png(pixels)


@settings(max_examples=200, deadline=2000)
@given(
    data=st.binary(max_size=4096)
    | st.builds(
        lambda png, cut: png[: max(1, cut)], st.just(_png(np.zeros((1, 28, 28), np.uint8))), st.integers(0, 200)
    )
    | st.builds(
        lambda png, at, value: png[:at] + bytes([value]) + png[at + 1 :],
        st.just(_png(np.full((3, 9, 7), 128, np.uint8))),
        st.integers(0, 120),
        st.integers(0, 255),
    )
)
def test_any_upload_decodes_or_is_refused_with_an_image_error(data):
    """Arbitrary, truncated or altered bytes: an array of the model's shape, or ImageError, nothing else."""
    try:
        decoded = images.decode_image(data, (1, 28, 28), max_pixels=4096 * 4096)
    except images.ImageError:
        return
    assert decoded.shape == (1, 28, 28) and decoded.dtype == np.uint8


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_any_base64_text_decodes_or_is_refused_with_an_image_error(text):
    with contextlib.suppress(images.ImageError):
        images.decode_base64(text)

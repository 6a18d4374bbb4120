"""Request validation over arbitrary input (Hypothesis): a /decode body parses or raises pydantic's
ValidationError, and a label resolves to a valid class index or raises ValueError saying why."""

import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import models
from service.dependencies import class_index
from service.schemas import DecodeRequest
from service.served import ServedModel

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=30,
)
LABEL = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=70) | st.lists(st.integers())


@settings(max_examples=300, deadline=None)
@given(body=st.dictionaries(st.sampled_from(["model", "latents", "labels", "other"]), JSON) | JSON)
def test_a_decode_body_parses_or_is_refused_with_a_validation_error(body):
    try:
        parsed = DecodeRequest.model_validate_json(json.dumps(body))
    except ValidationError:
        return
    assert parsed.latents and all(isinstance(x, float) for row in parsed.latents for x in row)


@pytest.fixture(scope="module")
def served(tiny_models_dir):
    card = models.load(tiny_models_dir / "tiny-cvae.safetensors", weights=False)
    return ServedModel("tiny-cvae", card, worker=None, version="0", key="tiny-cvae")  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(label=LABEL)
@example(label="²")  # a digit to str.isdigit(), not to int()
@example(label="٣")  # an Arabic-Indic three: int() reads it, but an index is given in ASCII
def test_a_label_resolves_to_a_class_index_or_is_refused_with_a_value_error(served, label):
    try:
        index = class_index(served, label)
    except ValueError as error:
        assert "label" in str(error)
        return
    assert 0 <= index < 4 and not isinstance(label, bool)

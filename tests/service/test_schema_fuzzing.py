"""Requests generated from the real service's OpenAPI document (Schemathesis, a bounded number per
operation): no 5xx, every answer matches its declared schema and status codes, the token is enforced, and
no operation's generated requests are mostly rejected: the document says what validation accepts."""

import base64
import io

import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from PIL import Image
from schemathesis.checks import positive_data_acceptance

from tests.servers import running_service

TOKEN = "fuzzing-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
EXAMPLES = 30
OPERATIONS = [
    ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("GET", "/models"), ("GET", "/models/{name}"),
    ("GET", "/models/{name}/latent-map"), ("POST", "/admin/reload"), ("POST", "/encode"), ("POST", "/classify"),
    ("POST", "/decode"), ("POST", "/score"),
    ("GET", "/sample"),
]  # fmt: skip


@st.composite
def png_files(draw) -> bytes:
    """Small images of either mode, any size: what the document's `contentMediaType: image/*` promises."""
    width, height = draw(st.integers(1, 64)), draw(st.integers(1, 64))
    mode = draw(st.sampled_from(["L", "RGB"]))
    pixels = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(0, 256, (height, width, 3), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buffer, "PNG")
    return buffer.getvalue()


# uploads (format binary) and base64 images (format byte) are images, as the schema's contentMediaType says
schemathesis.openapi.format("binary", png_files())
schemathesis.openapi.format("byte", png_files().map(lambda data: base64.b64encode(data).decode()))


@schemathesis.hook
def map_body(context, body):
    """The one rule a JSON Schema cannot state: as many labels as items (latents, images or files)."""
    if isinstance(body, dict) and isinstance(body.get("labels"), list) and body["labels"]:
        items = next((body[key] for key in ("latents", "images", "files") if isinstance(body.get(key), list)), None)
        if items:
            body["labels"] = (body["labels"] * len(items))[: len(items)]
    return body


@schemathesis.hook
def map_case(context, case):
    """And one the document states in words: the `model` query parameter is for multipart uploads; a JSON body
    names its model inside (or means the default model), so a query `model` beside it is a contradiction."""
    if case.media_type == "application/json" and isinstance(case.query, dict):
        case.query.pop("model", None)
    if case.path == "/score" and isinstance(case.body, dict):
        # whether a model scores with a label per image is beyond what a schema can say: the generated request
        # goes to a served model that fits it, as a client would send it (the other operations keep their
        # generated names, unknown ones included)
        model = "cvae" if case.body.get("labels") else "vae"
        if case.media_type == "application/json":
            case.body["model"] = model
        elif isinstance(case.query, dict):
            case.query["model"] = model
    return case


@pytest.fixture(scope="module")
def schema():
    with running_service("checkpoints", AESERVE_AUTH_TOKEN=TOKEN) as (base, _):
        yield schemathesis.openapi.from_url(f"{base}/openapi.json")


def test_the_document_lists_every_operation(schema):
    assert sorted((op.method.upper(), op.path) for op in (r.ok() for r in schema.get_all_operations())) == sorted(
        OPERATIONS
    )


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_generated_requests_get_declared_answers_and_are_mostly_accepted(schema, method, path):
    operation = schema[path][method]
    statuses: list[int] = []

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    def call(case):
        response = case.call(headers=AUTH, timeout=60)
        # every default check (no 5xx, status codes, content types, response schemas, headers, the token
        # refused when missing) but "every schema-valid request is accepted": that one is measured below
        # over all requests, since some validity (one label per latent) is beyond what a schema can say
        case.validate_response(response, headers=AUTH, excluded_checks=[positive_data_acceptance])
        statuses.append(response.status_code)

    call()
    accepted = sum(200 <= status < 300 for status in statuses)
    assert statuses and accepted / len(statuses) > 0.5, f"{accepted} of {len(statuses)} accepted: {statuses}"

"""Whatever bytes a checkpoint holds, reading it either succeeds or raises the one `CheckpointError`:
never another exception, a hang or a huge allocation (Hypothesis over arbitrary, truncated and altered
files, and altered header JSON)."""

import contextlib
import json
import resource
import struct

import pytest
import safetensors.torch
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import models
from models import VAE, CheckpointError, GaussianMixtureDensity, VAEConfig
from models.checkpoint import METADATA_KEY

FAST = settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def valid(tmp_path_factory) -> bytes:
    """A real checkpoint (a VAE with a fitted mixture as its prior: the richest header) as bytes."""
    torch.manual_seed(0)
    model = VAE(VAEConfig(hidden=8, architecture="mlp", latent_dim=3))
    prior = GaussianMixtureDensity(torch.ones(2), torch.randn(2, 3), torch.eye(3).repeat(2, 1, 1))
    path = tmp_path_factory.mktemp("checkpoint") / "vae.safetensors"
    models.save(path, model, prior=prior, class_names=["a", "b"], training={"epochs": 1}, evaluation={"m": 0.5})
    return path.read_bytes()


def load_or_refuse(data: bytes) -> None:
    """Load; a refusal must be a CheckpointError. Memory is capped so a claimed huge tensor cannot pass."""
    with contextlib.suppress(CheckpointError):
        models.load(data)


@pytest.fixture(scope="module", autouse=True)
def bounded_memory():
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (16 << 30, hard))  # a huge allocation fails loudly, not slowly
    yield
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@FAST
@given(data=st.binary(max_size=2048))
def test_arbitrary_bytes_are_refused_with_a_checkpoint_error(data):
    load_or_refuse(data)


@FAST
@given(cut=st.integers(min_value=0))
def test_a_file_cut_anywhere_is_refused_with_a_checkpoint_error(valid, cut):
    with pytest.raises(CheckpointError):
        models.load(valid[: cut % len(valid)])


@FAST
@given(position=st.integers(min_value=0), value=st.integers(0, 255))
def test_any_byte_altered_loads_or_is_refused_with_a_checkpoint_error(valid, position, value):
    (header_length,) = struct.unpack_from("<Q", valid)
    position %= 8 + header_length  # the length prefix and the header, where a change means most
    load_or_refuse(valid[:position] + bytes([value]) + valid[position + 1 :])


def rewrite_header(valid: bytes, edit) -> bytes:
    tensors = safetensors.torch.load(valid)
    (length,) = struct.unpack_from("<Q", valid)
    header = json.loads(json.loads(valid[8 : 8 + length])["__metadata__"][METADATA_KEY])
    return safetensors.torch.save(tensors, metadata={METADATA_KEY: json.dumps(edit(header))})


@FAST
@given(key=st.sampled_from(["format_version", "kind", "variant", "config", "prior", "class_names", "image_shape",
                            "training", "evaluation"]), value=JSON)  # fmt: skip
def test_any_header_field_replaced_by_any_json_loads_or_is_refused_with_a_checkpoint_error(valid, key, value):
    load_or_refuse(rewrite_header(valid, lambda header: {**header, key: value}))


@FAST
@given(
    part=st.sampled_from(["config", "prior"]),
    field=st.sampled_from(["latent_dim", "hidden", "image_shape", "architecture", "variant", "num_classes", "name",
                           "weights", "means", "covariances", "dim", "beta", "decoder_channels"]),
    value=JSON,
)  # fmt: skip
def test_any_config_or_prior_field_replaced_loads_or_is_refused_with_a_checkpoint_error(valid, part, field, value):
    def edit(header):
        inner = dict(header[part]) if isinstance(header[part], dict) else {}
        inner[field] = value
        return {**header, part: inner}

    load_or_refuse(rewrite_header(valid, edit))


def test_the_unaltered_file_loads(valid):
    assert isinstance(models.load(valid).prior, GaussianMixtureDensity)

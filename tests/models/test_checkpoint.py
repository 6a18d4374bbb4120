"""The checkpoint format: exact round trips for every kind, one clear error per corruption, atomic saves."""

import json
import os
import struct

import pytest
import safetensors.torch
import torch

import models
from models import (
    AAE,
    AE,
    VAE,
    AAEConfig,
    AEConfig,
    CheckpointError,
    Classifier,
    ClassifierConfig,
    ClassMixtureDensity,
    GaussianMixtureDensity,
    GaussianPrior,
    LatentMap,
    MixturePrior,
    SwissRollPrior,
    VAEConfig,
    draw_samples,
)
from models.checkpoint import METADATA_KEY

CLASSES = [f"class {i}" for i in range(10)]


def _mixture_density():
    return GaussianMixtureDensity(torch.ones(2), torch.randn(2, 16), torch.eye(16).repeat(2, 1, 1))


SMALL = {"hidden": 32}
KINDS = [
    pytest.param(lambda: AE(AEConfig(**SMALL)), _mixture_density, id="ae"),
    pytest.param(
        lambda: AE(AEConfig(**SMALL, variant="conditional", num_classes=10, decoder_channels=8)),
        _mixture_density,
        id="ae-conditional",
    ),
    pytest.param(
        lambda: AE(
            AEConfig(**SMALL, variant="conditional", num_classes=10, decoder_channels=8, decoder_refine_channels=4)
        ),
        _mixture_density,
        id="ae-conditional-refined",
    ),
    pytest.param(lambda: VAE(VAEConfig(**SMALL, architecture="mlp")), lambda: GaussianPrior(16), id="vae"),
    pytest.param(
        lambda: VAE(VAEConfig(**SMALL, variant="conditional", num_classes=10)), lambda: GaussianPrior(16), id="cvae"
    ),
    pytest.param(lambda: AAE(AAEConfig(**SMALL, latent_dim=8)), lambda: GaussianPrior(8), id="aae"),
    pytest.param(
        lambda: AAE(AAEConfig(**SMALL, latent_dim=8, standardise_codes=True)),
        lambda: GaussianPrior(8),
        id="aae-standardised",
    ),
    pytest.param(
        lambda: AAE(AAEConfig(**SMALL, variant="supervised", num_classes=10)),
        lambda: GaussianPrior(16),
        id="aae-supervised",
    ),
    pytest.param(
        lambda: AAE(AAEConfig(**SMALL, variant="supervised", num_classes=10, latent_dim=8, standardise_per_class=True)),
        lambda: GaussianPrior(8),
        id="aae-supervised-standardised-per-class",
    ),
    pytest.param(
        lambda: AAE(AAEConfig(**SMALL, variant="label-prior", num_classes=10, latent_dim=2)),
        lambda: MixturePrior(10),
        id="aae-mixture",
    ),
    pytest.param(
        lambda: AAE(AAEConfig(**SMALL, variant="label-prior", num_classes=10, latent_dim=2)),
        lambda: SwissRollPrior(10),
        id="aae-swissroll",
    ),
    pytest.param(
        lambda: AAE(AAEConfig(**SMALL, variant="categorical", num_classes=10, latent_dim=8)),
        lambda: GaussianPrior(8),
        id="aae-categorical",
    ),
]


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = VAE(VAEConfig(hidden=16, architecture="mlp", latent_dim=4)).eval()
    path = tmp_path / "vae.safetensors"
    models.save(
        path, model, prior=GaussianPrior(4), class_names=CLASSES, training={"epochs_done": 3}, evaluation={"mse": 0.01}
    )
    return path, model


@pytest.mark.parametrize(("make_model", "make_prior"), KINDS)
def test_round_trip_reproduces_outputs_exactly(tmp_path, make_model, make_prior):
    torch.manual_seed(0)
    model, prior = make_model().eval(), make_prior()
    path = tmp_path / "model.safetensors"
    models.save(path, model, prior=prior, class_names=CLASSES, training={"epochs_done": 2}, evaluation={"fd": 1.5})
    loaded = models.load(path)
    assert (loaded.kind, loaded.variant) == (model.kind, model.config.variant)
    assert loaded.model.config == model.config
    assert (loaded.class_names, loaded.image_shape) == (CLASSES, (1, 28, 28))
    assert (loaded.training, loaded.evaluation) == ({"epochs_done": 2}, {"fd": 1.5})
    images, labels = torch.rand(3, 1, 28, 28), torch.tensor([1, 5, 9])
    with torch.no_grad():
        for a, b in zip(
            model.encode(images, labels if model.takes_labels_to_encode else None),
            loaded.model.encode(images, labels if model.takes_labels_to_encode else None),
            strict=True,
        ):
            assert (a is None and b is None) or torch.equal(a, b)
    sample_labels = labels if models.by_label(model, prior) else None
    first = draw_samples(model, prior, 3, sample_labels, torch.Generator().manual_seed(7))
    second = draw_samples(loaded.model, loaded.prior, 3, sample_labels, torch.Generator().manual_seed(7))
    assert torch.equal(first.images, second.images)


def test_the_classifier_round_trips_too(tmp_path):
    classifier = Classifier(ClassifierConfig()).eval()
    models.save(tmp_path / "c.safetensors", classifier, evaluation={"test_accuracy": 0.9})
    loaded = models.load(tmp_path / "c.safetensors")
    images = torch.rand(2, 1, 28, 28)
    assert torch.equal(loaded.model(images), classifier(images))


def _latent_map(codes_dim: int = 2, count: int = 30) -> LatentMap:
    prior_labels = torch.arange(12) % 10
    return LatentMap(torch.randn(count, codes_dim), torch.arange(count) % 10, torch.randn(12, 2), prior_labels)


def test_a_latent_map_round_trips_beside_the_weights(tmp_path):
    model = AAE(AAEConfig(**SMALL, latent_dim=2, variant="label-prior", num_classes=10))
    stored = _latent_map()
    models.save(tmp_path / "m.safetensors", model, prior=MixturePrior(10), latent_map=stored)
    loaded = models.load(tmp_path / "m.safetensors")
    assert loaded.latent_map is not None
    for name in ("codes", "labels", "prior_codes", "prior_labels"):
        assert torch.equal(getattr(loaded.latent_map, name), getattr(stored, name))
    models.save(tmp_path / "plain.safetensors", model, prior=MixturePrior(10))
    assert models.load(tmp_path / "plain.safetensors").latent_map is None


def test_a_latent_map_that_does_not_fit_the_model_is_refused(tmp_path):
    model = AAE(AAEConfig(**SMALL, latent_dim=2, variant="label-prior", num_classes=10))
    models.save(tmp_path / "m.safetensors", model, prior=MixturePrior(10), latent_map=_latent_map(codes_dim=3))
    with pytest.raises(CheckpointError, match="latent map's tensors do not fit a 2-D model"):
        models.load(tmp_path / "m.safetensors")
    models.save(tmp_path / "c.safetensors", Classifier(ClassifierConfig()), latent_map=_latent_map())
    with pytest.raises(CheckpointError, match="a classifier has no latent space"):
        models.load(tmp_path / "c.safetensors")


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        models.load(tmp_path / "absent.safetensors")


def test_not_a_safetensors_file(tmp_path):
    path = tmp_path / "junk.safetensors"
    path.write_bytes(b"this is not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        models.load(path)


def test_truncated_file(saved):
    path, _ = saved
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        models.load(path)


def _rewrite_header(path, change):
    """Rewrite the JSON metadata of a valid checkpoint, keeping the tensors."""
    tensors = safetensors.torch.load_file(path)
    with safetensors.safe_open(path, "pt") as file:
        metadata = file.metadata()
    metadata = change(metadata)
    path.write_bytes(safetensors.torch.save(tensors, metadata=metadata))


def _edit_json(edit):
    def change(metadata):
        header = json.loads(metadata[METADATA_KEY])
        edit(header)
        return {METADATA_KEY: json.dumps(header)}

    return change


def test_metadata_that_does_not_parse(saved):
    path, _ = saved
    _rewrite_header(path, lambda metadata: {METADATA_KEY: "{not json"})
    with pytest.raises(CheckpointError, match="not valid JSON"):
        models.load(path)


def test_no_aeserve_metadata(saved):
    path, _ = saved
    _rewrite_header(path, lambda metadata: {"something": "else"})
    with pytest.raises(CheckpointError, match="not an aeserve checkpoint"):
        models.load(path)


def test_unknown_format_version(saved):
    path, _ = saved
    _rewrite_header(path, _edit_json(lambda header: header.update(format_version=99)))
    with pytest.raises(CheckpointError, match="unknown format version 99"):
        models.load(path)


def test_unknown_kind(saved):
    path, _ = saved
    _rewrite_header(path, _edit_json(lambda header: header.update(kind="gan")))
    with pytest.raises(CheckpointError, match="unknown kind 'gan'"):
        models.load(path)


def test_invalid_config(saved):
    path, _ = saved
    _rewrite_header(path, _edit_json(lambda header: header["config"].update(architecture="transformer")))
    with pytest.raises(CheckpointError, match="config is not valid"):
        models.load(path)


def test_missing_and_extra_tensors_are_listed(saved):
    path, model = saved
    tensors = {k: v.contiguous() for k, v in model.state_dict().items() if not k.startswith("decoder.net.0.0")}
    tensors["extra.weight"] = torch.zeros(1)
    with safetensors.safe_open(path, "pt") as file:
        metadata = file.metadata()
    path.write_bytes(safetensors.torch.save(tensors, metadata=metadata))
    with pytest.raises(
        CheckpointError,
        match=r"missing tensors: decoder\.net\.0\.0\.bias, decoder\.net\.0\.0\.weight; "
        r"unexpected tensors: extra\.weight",
    ):
        models.load(path)


def test_shape_mismatch_names_the_tensor(saved):
    path, _ = saved
    _rewrite_header(path, _edit_json(lambda header: header["config"].update(latent_dim=5)))
    with pytest.raises(
        CheckpointError, match=r"shape mismatch: decoder\.net\.0\.0\.weight \(file \(16, 4\), model \(16, 5\)\)"
    ):
        models.load(path)


def test_a_crash_mid_save_leaves_the_old_file_intact(saved, monkeypatch):
    path, model = saved
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk pulled out mid-write")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk pulled out"):
        models.save(path, model, prior=GaussianPrior(4), class_names=CLASSES, evaluation={"mse": 0.5})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert models.load(path).evaluation == {"mse": 0.01}
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind


def test_header_length_prefix_is_what_safetensors_expects(saved):
    path, _ = saved
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    assert json.loads(raw[8 : 8 + length])["__metadata__"][METADATA_KEY].startswith("{")


def test_a_fitted_sampler_round_trips_beside_the_prior_and_files_without_one_still_load(saved, tmp_path):
    path, model = saved
    sampler = ClassMixtureDensity(torch.ones(10, 2), torch.randn(10, 2, 4), 0.5 * torch.eye(4).repeat(10, 2, 1, 1))
    with_sampler = tmp_path / "with-sampler.safetensors"
    models.save(with_sampler, model, prior=GaussianPrior(4), sampler=sampler, class_names=CLASSES)
    loaded = models.load(with_sampler)
    assert loaded.sampler is not None and loaded.density is loaded.sampler and loaded.prior.name == "gaussian"
    labels = torch.arange(10).repeat(3)
    first = sampler.sample(30, labels, torch.Generator().manual_seed(1))
    assert torch.equal(loaded.sampler.sample(30, labels, torch.Generator().manual_seed(1)), first)

    _rewrite_header(path, _edit_json(lambda header: header.pop("sampler")))  # as files from before samplers
    older = models.load(path)
    assert older.sampler is None and older.density is older.prior


def test_a_sampler_that_is_not_valid_is_refused(saved):
    path, _ = saved
    _rewrite_header(path, _edit_json(lambda header: header.update(sampler={"name": "class_mixture", "means": 1})))
    with pytest.raises(CheckpointError, match="not valid"):
        models.load(path)

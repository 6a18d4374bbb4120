"""Every family and variant: shapes, label handling, devices, and the VAE's reparameterisation."""

import pytest
import torch

from models import (
    AAE,
    AE,
    VAE,
    AAEConfig,
    AEConfig,
    ClassMixtureDensity,
    GaussianPrior,
    MixturePrior,
    VAEConfig,
    by_label,
)

FAMILIES = [
    pytest.param(AE, AEConfig(), id="ae"),
    pytest.param(VAE, VAEConfig(), id="vae"),
    pytest.param(VAE, VAEConfig(variant="conditional", num_classes=10), id="cvae"),
    pytest.param(AAE, AAEConfig(), id="aae"),
    pytest.param(AAE, AAEConfig(variant="supervised", num_classes=10), id="aae-supervised"),
    pytest.param(AAE, AAEConfig(variant="label-prior", num_classes=10, latent_dim=2), id="aae-label-prior"),
    pytest.param(AAE, AAEConfig(variant="categorical", num_classes=10, latent_dim=8), id="aae-categorical"),
]


@pytest.mark.parametrize("architecture", ["mlp", "conv"])
@pytest.mark.parametrize(("family", "config"), FAMILIES)
def test_encode_decode_shapes(family, config, architecture):
    config = type(config)(**{**config.__dict__, "architecture": architecture, "hidden": 64})
    model = family(config).eval()
    images, labels = torch.rand(5, 1, 28, 28), torch.randint(0, 10, (5,))
    encoding = model.encode(images, labels if model.takes_labels_to_encode else None)
    assert encoding.latents.shape == (5, config.latent_dim)
    assert (encoding.log_variances is not None) == (family is VAE)
    logits = model.decode(encoding.latents, labels if model.takes_labels_to_decode else None)
    assert logits.shape == (5, 1, 28, 28)
    output = model(images, labels)
    assert output.logits.shape == (5, 1, 28, 28)


def test_other_image_shapes_work_with_both_architectures():
    for architecture in ("mlp", "conv"):
        model = AE(AEConfig(image_shape=(3, 32, 48), architecture=architecture, hidden=32, latent_dim=4))
        assert model(torch.rand(2, 3, 32, 48)).logits.shape == (2, 3, 32, 48)


def test_a_refined_conv_decoder_draws_the_image_with_a_3x3_conv_at_full_resolution():
    plain = AE(AEConfig(hidden=32, decoder_channels=8))
    refined = AE(AEConfig(hidden=32, decoder_channels=8, decoder_refine_channels=4))
    assert isinstance(refined.decoder.net[-1], torch.nn.Conv2d) and refined.decoder.net[-1].kernel_size == (3, 3)
    assert isinstance(plain.decoder.net[-1], torch.nn.ConvTranspose2d)  # unchanged where not asked for
    assert refined.decode(torch.randn(2, 16)).shape == plain.decode(torch.randn(2, 16)).shape == (2, 1, 28, 28)
    with pytest.raises(ValueError, match="decoder_refine_channels"):
        AEConfig(decoder_refine_channels=-1)


def test_conv_rejects_sizes_it_cannot_halve_twice():
    with pytest.raises(ValueError, match="multiples of 4"):
        AE(AEConfig(image_shape=(1, 30, 30), architecture="conv"))


def test_conditional_variants_need_classes_and_labels():
    with pytest.raises(ValueError, match="needs num_classes"):
        VAEConfig(variant="conditional")
    model = VAE(VAEConfig(variant="conditional", num_classes=3, hidden=16))
    with pytest.raises(ValueError, match="needs a label per image"):
        model.decode(torch.zeros(2, 16))


def test_labels_change_a_conditional_decoders_output():
    torch.manual_seed(0)
    model = AAE(AAEConfig(variant="supervised", num_classes=10, hidden=32)).eval()
    latents = torch.zeros(2, 16)
    assert not torch.allclose(
        model.decode(latents, torch.tensor([0, 0])), model.decode(latents, torch.tensor([0, 1]))[1:].repeat(2, 1, 1, 1)
    )


def test_which_models_sample_by_label():
    gaussian = GaussianPrior(16)
    assert not by_label(AE(AEConfig(hidden=8)), gaussian)
    assert not by_label(VAE(VAEConfig(hidden=8)), gaussian)
    assert by_label(VAE(VAEConfig(variant="conditional", num_classes=2, hidden=8)), gaussian)
    assert by_label(AE(AEConfig(variant="conditional", num_classes=2, hidden=8)), gaussian)
    label_prior = AAE(AAEConfig(variant="label-prior", num_classes=2, latent_dim=2, hidden=8))
    assert by_label(label_prior, MixturePrior(2)) and not label_prior.takes_labels_to_decode
    # a per-class density lets a label choose what any decoder draws
    per_class = ClassMixtureDensity(torch.ones(2, 1), torch.zeros(2, 1, 16), torch.eye(16).expand(2, 1, 16, 16))
    assert by_label(AE(AEConfig(hidden=8)), per_class)


def test_reparameterisation_uses_sigma_not_variance():
    torch.manual_seed(0)
    means, log_variances = torch.full((200_000, 1), 2.0), torch.full((200_000, 1), torch.log(torch.tensor(9.0)))
    draws = VAE.reparameterize(means, log_variances)
    assert draws.mean().item() == pytest.approx(2.0, abs=0.03)
    assert draws.std().item() == pytest.approx(3.0, abs=0.03)  # sigma = 3, so not 9


def test_standardised_codes_have_zero_mean_and_unit_variance_per_dimension():
    torch.manual_seed(0)
    model = AAE(AAEConfig(standardise_codes=True, latent_dim=8, hidden=32))
    images = torch.rand(256, 1, 28, 28)
    codes = model.encode(images).latents  # training mode: the batch's own statistics
    assert codes.mean(0).abs().max() < 1e-4 and torch.allclose(codes.var(0, unbiased=False), torch.ones(8), atol=1e-3)
    for _ in range(200):  # the running statistics settle on the same data ...
        model.encode(images)
    model.eval()  # ... and serve every code alike, one image at a time too
    assert torch.allclose(model.encode(images[:1]).latents, model.encode(images).latents[:1], atol=1e-5)
    assert model.encode(images).latents.mean(0).abs().max() < 0.05


def test_codes_standardised_per_class_have_zero_mean_and_unit_variance_within_each_class():
    torch.manual_seed(0)
    model = AAE(AAEConfig(variant="supervised", num_classes=3, standardise_per_class=True, latent_dim=4, hidden=32))
    assert model.takes_labels_to_encode
    images, labels = torch.rand(90, 1, 28, 28), torch.arange(3).repeat(30)
    codes = model.encode(images, labels).latents  # training mode: each class's own batch statistics
    for label in range(3):
        own = codes[labels == label]
        assert own.mean(0).abs().max() < 1e-4 and torch.allclose(own.var(0, unbiased=False), torch.ones(4), atol=1e-3)
    lone = model.encode(images[:3], torch.tensor([0, 0, 1])).latents  # class 1 has one code: running statistics
    assert torch.isfinite(lone).all()
    for _ in range(200):
        model.encode(images, labels)
    model.eval()  # running statistics: the same code one image at a time, and the label matters
    assert torch.allclose(
        model.encode(images[:1], labels[:1]).latents, model.encode(images, labels).latents[:1], atol=1e-4
    )
    assert not torch.allclose(
        model.encode(images[:1], torch.tensor([1])).latents, model.encode(images[:1], labels[:1]).latents
    )
    with pytest.raises(ValueError, match="needs a label"):
        model.encode(images[:1])


def test_per_class_standardisation_is_for_the_supervised_variant_alone():
    with pytest.raises(ValueError, match="supervised"):
        AAE(AAEConfig(standardise_per_class=True, hidden=8))
    with pytest.raises(ValueError, match="instead of standardise_codes"):
        AAE(
            AAEConfig(variant="supervised", num_classes=3, standardise_per_class=True, standardise_codes=True, hidden=8)
        )


def test_label_prior_discriminator_has_a_no_label_slot():
    model = AAE(AAEConfig(variant="label-prior", num_classes=4, latent_dim=2, hidden=8, discriminator_hidden=8))
    codes = torch.zeros(3, 2)
    labelled = model.discriminate(codes, torch.tensor([0, 1, 2]))
    unlabelled = model.discriminate(codes, torch.tensor([-1, -1, -1]))
    assert labelled.shape == unlabelled.shape == (3,)
    assert torch.equal(unlabelled, model.discriminate(codes))  # None means "no label"


def test_a_categorical_head_gives_class_logits_beside_the_style_and_decodes_its_own_probabilities():
    model = AAE(AAEConfig(variant="categorical", num_classes=5, latent_dim=3, hidden=16, discriminator_hidden=8))
    model.eval()
    assert model.classifies and model.takes_labels_to_decode and not model.takes_labels_to_encode
    images = torch.rand(4, 1, 28, 28)
    encoding = model.encode(images)
    assert encoding.latents.shape == (4, 3) and encoding.class_logits.shape == (4, 5)
    probabilities = torch.softmax(encoding.class_logits, dim=1)
    torch.testing.assert_close(model.reconstruct(images), model.decode(encoding.latents, probabilities))
    # a label is y as one-hot: the same style drawn as that class
    torch.testing.assert_close(
        model.decode(encoding.latents, torch.tensor([0, 1, 2, 4])),
        model.decode(encoding.latents, torch.eye(5)[[0, 1, 2, 4]]),
    )
    assert model.discriminate_categories(torch.eye(5)).shape == (5,)
    assert not any(each.classifies for each in (AE(AEConfig(hidden=8)), VAE(VAEConfig(hidden=8)), AAE(AAEConfig())))


def test_a_categorical_head_is_not_standardised():
    with pytest.raises(ValueError, match="categorical"):
        AAE(AAEConfig(variant="categorical", num_classes=3, standardise_codes=True, hidden=8))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_models_run_on_cuda():
    model = VAE(VAEConfig(variant="conditional", num_classes=10)).cuda().eval()
    output = model(torch.rand(4, 1, 28, 28, device="cuda"), torch.tensor([1, 2, 3, 4], device="cuda"))
    assert output.logits.device.type == "cuda"

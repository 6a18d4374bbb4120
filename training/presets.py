"""The default model set as data: each named preset's family, variant, prior and settings.

`python -m training train --model NAME` starts from the preset NAME; `python -m training defaults` trains
every preset into `checkpoints/NAME.safetensors`. Sizes keep each file under 8 MB, and the epochs keep
retraining the whole set within an hour on 2 CPU cores. What each choice bought: docs/findings.md.
"""

from __future__ import annotations

import dataclasses

from training.config import FineTuneConfig, ModelPreset, TrainConfig

_CONV = {"architecture": "conv", "hidden": 128}
_CONV_AAE = {**_CONV, "latent_dim": 16, "discriminator_hidden": 256}  # 16-D: sampled via fitted class mixtures
_MLP_2D = {"architecture": "mlp", "hidden": 384, "latent_dim": 2, "discriminator_hidden": 256}
_LABEL_PRIOR = TrainConfig(
    epochs=10, auxiliary_weight=1.0, generator_learning_rate=5e-3, discriminator_learning_rate=1e-3
)
_CATEGORICAL = {**_CONV, "hidden": 256, "latent_dim": 8, "discriminator_hidden": 256}
_CATEGORICAL_TRAIN = TrainConfig(epochs=6, generator_learning_rate=2e-4, discriminator_learning_rate=2e-4)
_FINE_TUNE = FineTuneConfig(adversary_weight=30.0)  # every preset's second stage, with the image-space adversary

PRESETS: dict[str, ModelPreset] = {
    preset.name: preset
    for preset in [
        ModelPreset(  # no adversary: its textures cost the MSE the plain AE is kept for
            name="ae", kind="ae", variant="plain", prior="ex_post",
            model={**_CONV, "latent_dim": 32, "decoder_channels": 64},
            train=TrainConfig(epochs=8),
            fine_tune=dataclasses.replace(_FINE_TUNE, auxiliary_weight=10.0, adversary_weight=0.0),
        ),
        ModelPreset(  # the label to the decoder only; a 3x3 conv at full resolution ends it
            name="ae-conditional", kind="ae", variant="conditional", prior="ex_post",
            model={**_CONV, "latent_dim": 32, "decoder_channels": 64, "decoder_refine_channels": 16},
            train=TrainConfig(epochs=4),
            fine_tune=_FINE_TUNE,
        ),
        ModelPreset(  # 10-D: wider codes left holes between the classes
            name="vae", kind="vae", variant="plain", prior="gaussian",
            model={**_CONV, "hidden": 160, "latent_dim": 10},
            train=TrainConfig(epochs=24, learning_rate=2e-3),
            fine_tune=_FINE_TUNE,
        ),
        ModelPreset(
            name="cvae", kind="vae", variant="conditional", prior="gaussian",
            model={**_CONV, "latent_dim": 16},
            train=TrainConfig(epochs=8, auxiliary_weight=10.0),
            fine_tune=_FINE_TUNE,
        ),
        ModelPreset(  # a slow encoder keeps reconstructions sharp while a fast discriminator pulls codes to the prior
            name="aae", kind="aae", variant="plain", prior="gaussian",
            model={**_CONV_AAE, "standardise_codes": True},
            train=TrainConfig(
                epochs=6, auxiliary_weight=10.0, generator_learning_rate=2e-4, discriminator_learning_rate=2e-3
            ),
            fine_tune=_FINE_TUNE,
        ),
        ModelPreset(  # codes standardised per class: each class's codes sat apart from the others'
            name="aae-supervised", kind="aae", variant="supervised", prior="gaussian",
            model={**_CONV_AAE, "standardise_per_class": True},
            train=TrainConfig(
                epochs=6, auxiliary_weight=10.0, generator_learning_rate=2e-4, discriminator_learning_rate=1e-3
            ),
            fine_tune=_FINE_TUNE,
        ),
        ModelPreset(  # 2-D: its prior's components draw the classes better than mixtures fitted to its codes
            name="aae-mixture", kind="aae", variant="label-prior", prior="mixture",
            model=_MLP_2D,
            train=_LABEL_PRIOR,
            fine_tune=dataclasses.replace(_FINE_TUNE, density="prior", auxiliary_weight=10.0),
        ),
        ModelPreset(  # conv decoders take a stronger auxiliary classifier than the MLP
            name="aae-swissroll", kind="aae", variant="label-prior", prior="swiss_roll",
            model={**_CONV, "latent_dim": 2, "discriminator_hidden": 256},
            train=dataclasses.replace(_LABEL_PRIOR, auxiliary_weight=6.0),
            fine_tune=dataclasses.replace(_FINE_TUNE, density="prior"),
        ),
        ModelPreset(  # Makhzani et al. 2015 §5: a categorical head beside an 8-D style, 1,000 labels
            name="aae-semisupervised", kind="aae", variant="categorical", prior="gaussian",
            model=_CATEGORICAL,
            train=_CATEGORICAL_TRAIN,
            fine_tune=_FINE_TUNE,
            labels_per_class=100,
        ),
        ModelPreset(  # §6: no labels, 30 clusters; a balance term and HOG neighbours keep every cluster in use
            name="aae-clusters", kind="aae", variant="categorical", prior="gaussian",
            model={**_CATEGORICAL, "num_classes": 30},
            train=dataclasses.replace(_CATEGORICAL_TRAIN, epochs=3, category_balance=3.0, neighbours=20),
            fine_tune=dataclasses.replace(_FINE_TUNE, epochs=1, auxiliary_epochs=2),  # within the set's hour
            labels_per_class=0,
        ),
    ]
}  # fmt: skip

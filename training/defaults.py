"""The default model set as data: each named preset's family, variant, prior and hyperparameters.

`python -m training train --model NAME` starts from the preset NAME; `python -m training defaults`
trains every preset into `checkpoints/NAME.safetensors`. Sizes keep each file under 8 MB, and the
epochs keep retraining the whole set within 60 minutes on 2 CPU cores (see docs/benchmarks.md).
The comments' figures before issue #15 were measured in the old evaluation classifier's space.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from training.fine_tune import FineTuneConfig
from training.loop import TrainConfig

PriorName = Literal["gaussian", "mixture", "swiss_roll", "ex_post"]


@dataclass(frozen=True)
class ModelPreset:
    name: str
    kind: Literal["ae", "vae", "aae"]
    variant: str
    prior: PriorName
    model: dict[str, Any] = field(default_factory=dict)  # overrides of the family's config fields
    train: TrainConfig = field(default_factory=TrainConfig)
    fine_tune: FineTuneConfig | None = None  # the second stage (training.fine_tune); None: the prior samples
    # labels the training may use, per class (a seeded, class-balanced choice; every other image is unlabelled);
    # 0: none (clustering: the classes are then the model's clusters); None: every label
    labels_per_class: int | None = None


_CONV = {"architecture": "conv", "hidden": 128}
# 16-D, not 8: the codes are sampled through the class mixtures fitted to them, not the prior, so a wider code
# buys sharper decoders without the holes between classes (validation, with the second stage and its
# adversary, FD/noise cnn / resnet: `aae` 0.116 / 0.050 -> 0.084 / 0.033, `aae-supervised` 0.080 / 0.029 ->
# 0.066 / 0.024, coverage up in both spaces, precision within 0.02; a wider discriminator on the draws,
# 64 channels, bought `aae` nothing: 0.116 / 0.049)
_CONV_AAE = {**_CONV, "latent_dim": 16, "discriminator_hidden": 256}
_MLP_2D = {"architecture": "mlp", "hidden": 384, "latent_dim": 2, "discriminator_hidden": 256}
# A 2-D code has little room: the encoder must learn to fool the discriminator fast, or the classes
# smear across the components; a small auxiliary weight sharpens classes without adversarial texture.
_LABEL_PRIOR = TrainConfig(
    epochs=10, auxiliary_weight=1.0, generator_learning_rate=5e-3, discriminator_learning_rate=1e-3
)

_CATEGORICAL = {**_CONV, "hidden": 256, "latent_dim": 8, "discriminator_hidden": 256}
_CATEGORICAL_TRAIN = TrainConfig(epochs=6, generator_learning_rate=2e-4, discriminator_learning_rate=2e-4)

# every preset's second stage: a per-class ex-post density over its codes, and its decoder fine-tuned to
# draw recognisable classes from it (training.fine_tune), with an image-space adversary on its draws. On
# validation (FD/noise cnn / resnet judge), `aae` without it 0.143 / 0.058; its discriminator's
# feature matching with weight 10 0.118 / 0.050, 30 0.116 / 0.050, 100 0.113 / 0.057, 30 for 6 epochs
# 0.112 / 0.052; the non-saturating GAN loss instead, weight 10 0.127 / 0.053, 30 0.125 / 0.051. Weight 30
# checked on other families: `cvae` 0.076 / 0.032 -> 0.059 / 0.023, `vae` 0.065 / 0.024 with it (its test
# figures without it: 0.087 / 0.029)
_FINE_TUNE = FineTuneConfig(adversary_weight=30.0)

PRESETS: dict[str, ModelPreset] = {
    preset.name: preset
    for preset in [
        # a lighter auxiliary weight keeps the reconstructions as sharp (MSE) as the plain AE is meant to be; so
        # does leaving out the image-space adversary, whose textures cost MSE (retrained with it: test MSE
        # 0.0077 -> 0.0087, over the 0.008 asked for, at FD/noise 0.055 -> 0.048 / 0.023 -> 0.022)
        ModelPreset(
            "ae", "ae", "plain", "ex_post", {**_CONV, "latent_dim": 32, "decoder_channels": 64}, TrainConfig(epochs=8),
            dataclasses.replace(_FINE_TUNE, auxiliary_weight=10.0, adversary_weight=0.0),
        ),
        # the probe of issue #15: a label-free encoder, a decoder that takes the label, sampled through a
        # per-class ex-post density and fine-tuned on its draws. On validation (cnn judge FD/noise, label/real):
        # 16-D 0.077, 0.99; 32-D with twice the decoder channels 0.060, 0.99; auxiliary weight 30 instead of 10
        # (its classifier trained 4 epochs, not 2) raised label/real to 1.02 at the same FD. A 3x3 conv at full
        # resolution ending the decoder (docs/quality.md), cnn / resnet: 0.049 / 0.018 -> 32 channels, 6 epochs
        # 0.027 / 0.009 at 1.5x the time; 16 channels and 4 epochs, to fit the set's budget, 0.032 / 0.011
        ModelPreset(
            "ae-conditional", "ae", "conditional", "ex_post",
            {**_CONV, "latent_dim": 32, "decoder_channels": 64, "decoder_refine_channels": 16},
            TrainConfig(epochs=4), _FINE_TUNE,
        ),
        # a wider head and a faster start sharpen the samples (FD/noise 0.137 -> 0.121), 22 epochs instead
        # of 14 more so (0.113). 16 dimensions left holes between the classes that prior draws fell into
        # (three dimensions went unused); 10 or 8 fill better (0.098, 0.096 in 22 epochs; 10-D in 30: 0.094),
        # wider heads did not help reliably (256 and 320: 0.101 at 16-D, 0.096 at 10-D, 0.107 at 8-D).
        # 24 epochs, not 30, since the second stage: it samples from a density fitted to the codes, not from
        # the prior those epochs matched, and the set's time budget now holds eight presets with second stages
        # (16-D with the second stage, on validation: 0.065 / 0.024 -> 0.058 / 0.018, cnn / resnet; docs/quality.md)
        ModelPreset(
            "vae", "vae", "plain", "gaussian", {**_CONV, "hidden": 160, "latent_dim": 10},
            TrainConfig(epochs=24, learning_rate=2e-3), _FINE_TUNE,
        ),
        ModelPreset(
            "cvae", "vae", "conditional", "gaussian", {**_CONV, "latent_dim": 16},
            TrainConfig(epochs=8, auxiliary_weight=10.0), _FINE_TUNE,
        ),
        # a slow encoder-as-generator keeps the reconstructions sharp, a fast discriminator still pulls the
        # codes onto the prior (FD/noise 0.28 -> 0.15 against equal rates of 1e-3 and 2e-4); standardised codes
        # 0.163 -> 0.140. Prior draws that fall between the codes decoded to blends of classes; an auxiliary
        # classifier's confidence loss teaches the decoder to draw one class there (0.140 -> 0.073; weight 20
        # drew speckled texture)
        ModelPreset(
            "aae", "aae", "plain", "gaussian", {**_CONV_AAE, "standardise_codes": True},
            TrainConfig(
                epochs=6, auxiliary_weight=10.0, generator_learning_rate=2e-4, discriminator_learning_rate=2e-3
            ),
            _FINE_TUNE,
        ),
        # each class's codes sat apart (class means 0.7-1.7 from the origin), so a draw with label y often
        # fell where only other classes' codes lie; standardised per class: FD/noise 0.119 -> 0.088
        ModelPreset(
            "aae-supervised", "aae", "supervised", "gaussian", {**_CONV_AAE, "standardise_per_class": True},
            TrainConfig(
                epochs=6, auxiliary_weight=10.0, generator_learning_rate=2e-4, discriminator_learning_rate=1e-3
            ),
            _FINE_TUNE,
        ),
        # A 2-D code leaves each class's codes overlapping others', so a mixture fitted per class draws worse than
        # the prior's component the label was trained to (validation, label/real cnn / resnet: prior 0.84 / 0.91,
        # class mixtures 0.62 / 0.69): the second stage fine-tunes on the prior's draws (weight 3: 0.94 / 0.94,
        # 10: 1.03 / 0.94). The image-space adversary (FD/noise, precision / coverage, label/real; cnn then
        # resnet): without 0.360, 0.52 / 0.016, 1.02; 0.237, 0.33 / 0.028, 0.94; with 0.273, 0.89 / 0.039, 0.95;
        # 0.172, 0.74 / 0.028, 0.94
        ModelPreset(
            "aae-mixture", "aae", "label-prior", "mixture", _MLP_2D, _LABEL_PRIOR,
            dataclasses.replace(_FINE_TUNE, density="prior", auxiliary_weight=10.0),
        ),
        # conv decoders take a stronger auxiliary classifier without drawing adversarial texture, and the
        # roll's segments then hold recognisable classes (0.83 -> 0.91 of real, in 10 epochs instead of the MLP's 14)
        ModelPreset(
            "aae-swissroll", "aae", "label-prior", "swiss_roll",
            {**_CONV, "latent_dim": 2, "discriminator_hidden": 256},
            dataclasses.replace(_LABEL_PRIOR, auxiliary_weight=6.0),
            # as for the mixture (validation, label/real cnn / resnet: prior 0.80 / 0.74; fine-tuned on its draws
            # with weight 3: 0.85 / 0.86, 10: 0.93 / 0.89, 30: 0.99 / 0.91). The image-space adversary (as for the
            # mixture): without 0.370, 0.67 / 0.011, 0.99; 0.248, 0.21 / 0.006, 0.88; with 0.290, 0.78 / 0.023,
            # 0.97; 0.168, 0.78 / 0.027, 0.93
            dataclasses.replace(_FINE_TUNE, density="prior"),
        ),
        # Makhzani et al. 2015 §5: a categorical head y beside an 8-D style z, two adversaries (y against one-hot
        # draws, z against N(0, I)) and the semi-supervised phase on 1,000 labels; docs/semi-supervised.md. On
        # validation (accuracy of y; the encoder on the labels alone in brackets): 100 labels 0.763 (0.684), 1,000
        # labels 0.853 (0.841) in 8 epochs; a 4-D style 0.847; a consistency phase on the unlabelled images 0.833;
        # 14 epochs 0.852 (flat from the 4th). FixMatch (Sohn et al. 2020: y's guesses of confidence >= 0.95 on a
        # shifted copy as targets for a turned, sheared, cut-out one; a phase of its own), in the preset's 6
        # epochs: 1,000 labels 0.849 (threshold 0.8: 0.850), 100 labels 0.775; without the AAE's phases (the
        # labelled one and FixMatch's), 18 epochs: 0.854 (0.844): too little to keep. Labels spread from the labelled
        # images along the 20-nearest-HOG graph (scikit-learn's LabelSpreading, alpha 0.9; 0.84 of the unlabelled
        # training images' guesses right at 1,000 labels, 0.75 at 100) as weighted targets of a phase of their own
        # (Iscen et al. 2019; commit 394d2ee), 5 epochs: 1,000 labels, seeds 0 / 1, 0.863 / 0.856 against the
        # preset's 0.853 / 0.858 (each image also made lighter or darker: 0.863, seed 0); 100 labels 0.803 / 0.750
        # against 0.763 / 0.732: a gain only where the guesses beat what the labels alone teach, so not kept for 1,000.
        # Virtual adversarial training (Miyato et al. 2018; y kept where a worst-case nudge of each image's pixels,
        # L2 norm eps, would move it), seed 0, stopped early as far below the preset's course (0.82-0.85 by then):
        # in the labelled phase's loss, eps 1, 0.812 after 4 epochs; a phase of its own (Adam takes as long a step
        # whatever its weight), eps 0.5 / 2, 0.745 / 0.747 after 2 / 3. A deeper trunk (a 3x3 conv at full size,
        # then 64 and 128 channels): the labels alone 0.843 in 4 epochs (0.841); the AAE 0.825 after 1 epoch, which
        # took 277 s (4.4x the preset's). Every image of every phase shifted and mirrored, not only the labelled ones:
        # 0.846. Where the gap comes from: with no augmentation in the labelled phase, for both, 0.830 against 0.804
        # (+2.6, as the probe saw); shift-and-mirror lifts the labels alone by 3.7 points, the AAE by 2.3
        ModelPreset(
            "aae-semisupervised", "aae", "categorical", "gaussian", _CATEGORICAL, _CATEGORICAL_TRAIN, _FINE_TUNE,
            labels_per_class=100,
        ),
        # §6: the same model without labels and with 30 clusters. On validation (accuracy after mapping each
        # cluster to its majority class): 0.574 with the paper's adversaries alone, which left 16 clusters empty;
        # a term keeping the batch's mean y near uniform, weight 1: 0.660 (27 used), 3: 0.668 (all 30); a 4-D style
        # 0.635; y made invariant to shifts (a consistency phase) 0.539; FixMatch's self-labelling (as above, no
        # labels) collapsed onto 4 clusters, 0.10; IIC's mutual information of y over a lightly and a heavily
        # augmented copy (Ji et al. 2019) 0.509 beside the other phases, 0.474 alone. The neighbour phase (y agrees
        # with one of each image's nearest in pixel space, SCAN's consistency), seeds 0 / 1: without it 0.668 /
        # 0.683 in 6 epochs; with 10 neighbours 0.695 / 0.704 in 3 epochs, 20 neighbours 0.695 / 0.722 in 2 (3
        # epochs, seed 0: 0.704); 2 epochs without it 0.656 / 0.670, so the phase, not the shorter run, is the gain.
        # Without its own balance term it put everything in 3 clusters (0.295). It does not carry over to 16
        # clusters (seed 0, 2 epochs: 0.684 without, 0.607 with; looked at after the test figures, which agree,
        # docs/semi-supervised.md), nor to 1,000 labels (balance weight 1: 0.846 against the preset's 0.853).
        # Neighbours by HOG features instead of pixels (training.neighbours), seeds 0 / 1: 0.775 / 0.743 (10
        # neighbours 0.765 / 0.741, 30: 0.768 seed 0); 16 clusters, seed 0: 0.692 (0.684 without the phase); 1,000
        # labels (balance 1): 0.857 against 0.853, too little to keep. Looked at after the test figures: 3 epochs
        # 0.775 / 0.775 (about 70 s more, paid for below), the phase's rate 3e-3 0.760, balance weight 6
        # 0.761 (seed 0). Pixel neighbours kept only where mutual (each among the other's 20 nearest), seed 0: 0.717.
        # SCAN's self-labelling after the phase (3 epochs on confident y, threshold 0.99, shifted, turned, sheared,
        # cut-out copies), seed 0, from the pixel-neighbour start: 0.695 -> 0.632, merging 30 clusters into 16;
        # with a balance term 0.680
        # Each image of a neighbour pair made lighter or darker (its intensities times 0.5-1.5), seeds 0 / 1: 2
        # epochs 0.774 / 0.763 (0.775 / 0.743 without), 3 epochs 0.791 / 0.772 (0.775 / 0.775 without), seed 2
        # 0.794 (mean 0.786); times 0.3-1.7, 3 epochs, seed 0: 0.768. Neighbours by HOG and pixels together (50
        # principal components of each): 0.722 (seed 0, 2 epochs), though more share a class (84 % of 20, against 83)
        # At 1,000 labels, HOG neighbours with the brightness (balance 1): 0.852, against 0.853 without the phase
        ModelPreset(
            "aae-clusters", "aae", "categorical", "gaussian", {**_CATEGORICAL, "num_classes": 30},
            dataclasses.replace(_CATEGORICAL_TRAIN, epochs=3, category_balance=3.0, neighbours=20),
            # the third epoch is paid for, within the set's hour, by a second stage of 1 epoch and a critic of 2,
            # where the others run 3 and 4 (the critic learns this model's own clusters: no other's is reused)
            dataclasses.replace(_FINE_TUNE, epochs=1, auxiliary_epochs=2), labels_per_class=0,
        ),
    ]
}  # fmt: skip

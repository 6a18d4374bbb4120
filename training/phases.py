"""Each family's training phases, as data: a name, the loss, the modules it updates and their optimiser.

`training.loop` runs every phase in order on each mini-batch, whatever the family; what differs between
families is only the list built here:

| phase | loss | updates | who has it |
|---|---|---|---|
| reconstruction | reconstruction (+ KL; + the auxiliary classifier's loss on prior draws) | encoder, decoder | all |
| auxiliary | the auxiliary classifier's cross-entropy on real images | auxiliary classifier | `auxiliary_weight > 0` |
| discriminator | prior draws = real, codes = fake | discriminator | AAE |
| generator | the codes pass for prior draws | encoder | AAE |
| category discriminator | one-hot draws = real, y's softmax = fake | category discriminator | categorical AAE |
| category generator | y's softmax passes for a one-hot draw (+ batch mean near uniform) | encoder | categorical AAE |
| labelled | cross-entropy of y on a labelled mini-batch | encoder | categorical AAE given labels |
| neighbours | y agrees with a nearest neighbour's by HOG features (+ mean near uniform) | encoder | `neighbours > 0` |

The paper's (Makhzani et al. 2015) three phases per mini-batch are the reconstruction, the regularisation
(both adversaries, each with its generator step) and the semi-supervised one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models import AAE, Autoencoder, Classifier, Prior
from training.data import ImageData
from training.steps import (
    CategoryDiscriminatorStep,
    CategoryGeneratorStep,
    ClassifierStep,
    DiscriminatorStep,
    GeneratorStep,
    LabelledStep,
    NeighbourStep,
    ReconstructionStep,
)

ADVERSARIAL_BETAS = (0.5, 0.9)  # the usual choice for adversarial games: less momentum, fewer oscillations


@dataclass(frozen=True)
class Phase:
    name: str
    loss: nn.Module  # forward(Batch) -> (loss, stats)
    updates: tuple[nn.Module, ...]  # what its optimiser (Adam) steps
    learning_rate: float
    betas: tuple[float, float] = (0.9, 0.999)


def phases_for(
    model: Autoencoder,
    prior: Prior,
    *,
    learning_rate: float,
    discriminator_learning_rate: float,
    generator_learning_rate: float,
    auxiliary: Classifier | None = None,
    auxiliary_weight: float = 0.0,
    unlabelled_fraction: float = 0.0,
    labelled_learning_rate: float = 1e-3,
    category_balance: float = 0.0,
    labelled: ImageData | None = None,
    batch_size: int = 128,
    neighbours: tuple[ImageData, torch.Tensor] | None = None,
) -> list[Phase]:
    """The phases that train `model`, in the order they run on each mini-batch."""
    phases = [
        Phase(
            "reconstruction", ReconstructionStep(model, prior, auxiliary, auxiliary_weight),
            (model.encoder, model.decoder), learning_rate,
        ),
    ]  # fmt: skip
    if auxiliary is not None:
        phases.append(Phase("auxiliary", ClassifierStep(auxiliary), (auxiliary,), learning_rate))
    if isinstance(model, AAE):
        d_rate, g_rate, betas = discriminator_learning_rate, generator_learning_rate, ADVERSARIAL_BETAS
        phases += [
            Phase("discriminator", DiscriminatorStep(model, prior, unlabelled_fraction), (model.discriminator,), d_rate,
                  betas),
            Phase("generator", GeneratorStep(model, unlabelled_fraction), (model.encoder,), g_rate, betas),
        ]  # fmt: skip
        if model.classifies:
            phases += [
                Phase("category discriminator", CategoryDiscriminatorStep(model), (model.category_discriminator,),
                      d_rate, betas),
                Phase("category generator", CategoryGeneratorStep(model, category_balance), (model.encoder,), g_rate,
                      betas),
            ]  # fmt: skip
            if labelled is not None and len(labelled):
                phases.append(Phase("labelled", LabelledStep(model, labelled, batch_size), (model.encoder,),
                                    labelled_learning_rate))  # fmt: skip
            if neighbours is not None:
                phases.append(Phase("neighbours", NeighbourStep(model, *neighbours, category_balance), (model.encoder,),
                                    labelled_learning_rate))  # fmt: skip
    return phases

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

from models import AAE, Autoencoder, Classifier, ClassifierConfig, Prior
from training.config import TrainConfig
from training.data import ImageData
from training.neighbours import nearest_neighbours
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
    decays: bool = True  # its rate follows the run's cosine schedule; else it stays as it starts
    kept: tuple[nn.Module, ...] = ()  # modules trained only for this run: saved in its state, to resume


def phases_for(
    model: Autoencoder, prior: Prior, config: TrainConfig, data: ImageData, *, device: torch.device | str = "cpu"
) -> list[Phase]:
    """The phases that train `model` on `data` as `config` says, in the order they run on each mini-batch."""
    auxiliary = None
    if config.auxiliary_weight > 0:  # built here, after the loop has seeded torch: its weights follow the seed
        auxiliary = (
            Classifier(ClassifierConfig(image_shape=model.config.image_shape, num_classes=model.config.num_classes))
            .to(device)
            .train()
        )
    phases = [
        Phase(
            "reconstruction", ReconstructionStep(model, prior, auxiliary, config.auxiliary_weight),
            (model.encoder, model.decoder), config.learning_rate,
        ),
    ]  # fmt: skip
    if auxiliary is not None:
        phases.append(
            Phase("auxiliary", ClassifierStep(auxiliary), (auxiliary,), config.learning_rate, kept=(auxiliary,))
        )
    if not isinstance(model, AAE):
        return phases
    d_rate, g_rate, betas = config.discriminator_learning_rate, config.generator_learning_rate, ADVERSARIAL_BETAS
    unlabelled = config.unlabelled_fraction
    phases += [
        Phase("discriminator", DiscriminatorStep(model, prior, unlabelled), (model.discriminator,), d_rate, betas),
        Phase("generator", GeneratorStep(model, unlabelled), (model.encoder,), g_rate, betas),
    ]
    if not model.classifies:
        return phases
    phases += [
        Phase("category discriminator", CategoryDiscriminatorStep(model), (model.category_discriminator,), d_rate,
              betas),
        Phase("category generator", CategoryGeneratorStep(model, config.category_balance), (model.encoder,), g_rate,
              betas),
    ]  # fmt: skip
    labelled, rate = data.labelled(), config.labelled_learning_rate
    if len(labelled):
        phases.append(Phase("labelled", LabelledStep(model, labelled, config.batch_size), (model.encoder,), rate))
    if config.neighbours:
        neighbours = NeighbourStep(model, data, nearest_neighbours(data, config.neighbours), config.category_balance)
        phases.append(Phase("neighbours", neighbours, (model.encoder,), rate))
    return phases

"""A run's whole state beside its checkpoint, so that `--resume` continues as if it had never stopped.

After every epoch the loop hands over its state: each optimiser's moments and step counts, each
learning-rate scheduler, the auxiliary classifier's weights (its optimiser is among the optimisers),
and the random generators (torch's global one: dropout, a VAE's noise; the one drawing prior
samples). It is written atomically to NAME.resume beside NAME.safetensors (not a *.safetensors name,
so the service never takes it for a model): one safetensors file of the state's tensors, the rest of
its tree as JSON in the metadata. No pickle.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch

from models import tensor_tree
from models.files import write_atomically

_TREE = "training_state"


class ResumeError(ValueError):
    """The state file cannot be read: the message says which file and why."""


def state_path(checkpoint: Path) -> Path:
    return checkpoint.with_suffix(".resume")


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Write `state` (nested dicts, lists, tuples, numbers, strings, None and tensors) to `path` atomically."""
    layout, tensors = tensor_tree.split(state, lambda value: isinstance(value, torch.Tensor))
    # each its own contiguous storage on the CPU: safetensors wants that
    tensors = {name: tensor.detach().cpu().contiguous().clone() for name, tensor in tensors.items()}
    metadata = {_TREE: json.dumps(layout, allow_nan=True)}
    write_atomically(path, safetensors.torch.save(tensors, metadata=metadata))


def load_state(path: Path) -> dict[str, Any]:
    try:
        with safetensors.safe_open(str(path), framework="pt") as file:
            tensors = {name: file.get_tensor(name) for name in file.keys()}  # noqa: SIM118 (not a dict)
            layout = json.loads((file.metadata() or {})[_TREE])
    except Exception as error:  # safetensors' own errors, a missing entry, JSON that does not parse
        raise ResumeError(f"{path}: not a readable training state ({error!r})") from error

    state = tensor_tree.join(layout, tensors)
    if not isinstance(state, dict):
        raise ResumeError(f"{path}: the training state is not a mapping")
    return state

"""What a batch computes, where the weights live (the runner's thread or process, `service.inference`): codes,
images, or anomaly signals, in chunks of the model's largest batch."""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np
import torch
from torch import distributions

from models import Autoencoder
from models.anomaly import signals
from models.pixels import to_uint8, to_unit
from service.images import encode_png_base64
from service.messages import Batch, Decoded, Encoded, Output, Scored


class Loaded(NamedTuple):
    model: Autoencoder
    density: distributions.Distribution | None  # over its codes, for the anomaly signals; None: no closed form


def for_inference(model: Autoencoder) -> Autoencoder:
    """Eval mode, convolution weights channels-last: oneDNN's faster layout on CPU (vae /decode under load:
    ~175 -> ~145 µs of inference-process CPU a request, bench/serve.py). Values move by float rounding only.
    (`memory_format` is documented for Module.to but missing from its type stubs.)"""
    return model.eval().to(memory_format=torch.channels_last)  # type: ignore[call-overload]


@torch.inference_mode()
def run(model: Autoencoder, density: distributions.Distribution | None, batch: Batch) -> Output:
    """One forward pass over the whole batch (in chunks of max_batch_size if one request is larger)."""
    started = time.perf_counter()
    device = next(model.parameters()).device
    inputs = torch.from_numpy(batch.inputs)
    labels = torch.from_numpy(batch.labels) if batch.labels is not None else None
    outputs: list[tuple[torch.Tensor, ...]] = []
    for start in range(0, inputs.shape[0], batch.max_batch_size):
        chunk = inputs[start : start + batch.max_batch_size].to(device, non_blocking=True)
        chunk_labels = labels[start : start + batch.max_batch_size].to(device) if labels is not None else None
        if batch.operation == "encode":
            latents, log_variances, class_logits = model.encode(to_unit(chunk), chunk_labels)
            outputs.append((
                latents,
                *([log_variances] if log_variances is not None else []),
                *([torch.softmax(class_logits, dim=1)] if class_logits is not None else []),
            ))  # fmt: skip
        elif batch.operation == "score":
            found = signals(model, density, to_unit(chunk), chunk_labels)
            present = [each for each in (found.code_nll, found.negative_elbo) if each is not None]
            outputs.append((found.reconstruction, found.pixel_errors, *present))
        else:
            logits = model.decode(chunk.float(), chunk_labels)
            outputs.append((to_uint8(logits),))
    merged = [torch.cat(parts).cpu().numpy() for parts in zip(*outputs, strict=True)]
    offsets = np.cumsum([0, *batch.sizes])
    results: list[Encoded | Decoded | Scored] = []
    for index, png in enumerate(batch.png):
        pieces = [array[offsets[index] : offsets[index + 1]] for array in merged]
        if batch.operation == "encode":  # the log-variances where a VAE has them, class probabilities last
            spread = pieces[1] if len(pieces) > 1 and not model.classifies else None
            results.append(Encoded(pieces[0], spread, pieces[-1] if model.classifies else None))
        elif batch.operation == "score":  # the code's density where the model has one, the VAE's ELBO last
            extras: list[np.ndarray | None] = [*pieces[2:], None, None]
            code_nll, elbo = (extras[0], extras[1]) if density is not None else (None, extras[0])
            results.append(Scored(pieces[0], code_nll, elbo, pieces[1] if png else None))
        else:
            images = pieces[0]
            results.append(
                Decoded(None, [encode_png_base64(image) for image in images]) if png else Decoded(images, None)
            )
    memory = torch.cuda.memory_allocated(device) if device.type == "cuda" else None
    return Output(results, time.perf_counter() - started, memory)

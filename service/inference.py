"""The forward pass of a batch, run where the models live: a process of its own (the default) or a thread.

The batching workers of every model hand their batches to one executor per device. By default it is a
one-process pool: the models are loaded again in that process, and a batch crosses as numpy arrays
(one message per batch, not per request). The forward pass and the PNG encoding then never take the
event loop's GIL; in a thread they did, and the HTTP side slowed to about half of what it serves
without model work (bench/serve.py, docs/benchmarks.md). In a thread (AESERVE_INFERENCE_PROCESS=false)
the same functions run on the models of the serving process.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import torch

import models
from models import Autoencoder
from service.images import encode_png_base64

Operation = Literal["encode", "decode"]
_models: dict[str, Autoencoder] = {}  # in the inference process: name -> model on its device


class Encoded(NamedTuple):
    latents: np.ndarray  # (n, latent_dim) float32
    log_variances: np.ndarray | None  # (n, latent_dim) for VAEs


class Decoded(NamedTuple):
    images: np.ndarray  # (n, C, H, W) uint8
    pngs: list[str] | None  # base64 PNG per image, where asked for


class Batch(NamedTuple):
    """What crosses to the inference process: one model, one operation, the requests' rows in order."""

    model: str | Autoencoder  # the name in the inference process, or in a thread the model itself
    operation: Operation
    inputs: np.ndarray  # uint8 images (n, C, H, W) to encode, or float32 codes (n, latent_dim) to decode
    labels: np.ndarray | None  # (n,) int64 where the model takes labels
    sizes: list[int]  # rows per request
    png: list[bool]  # per request: also encode its images as PNG
    max_batch_size: int  # rows per forward pass


class Output(NamedTuple):
    results: list[Encoded | Decoded]  # one per request
    gpu_memory_bytes: int | None


def executor(device: torch.device, checkpoints: dict[str, Path], *, in_process: bool, threads: int | None) -> Executor:
    """The device's executor: one batch at a time, in a process of its own or in a thread of this one."""
    threads = threads or max(1, (os.cpu_count() or 1) - 1)  # leave a core to the event loop
    if not in_process:
        return ThreadPoolExecutor(1, thread_name_prefix=f"inference-{device}")
    pool = ProcessPoolExecutor(
        1,
        mp_context=multiprocessing.get_context("spawn"),  # fork would copy the event loop's threads; CUDA needs spawn
        initializer=load,
        initargs=({name: str(path) for name, path in checkpoints.items()}, str(device), threads),
    )
    pool.submit(os.getpid).result(timeout=300)  # start it and load the models now, not on the first request
    return pool


def load(checkpoints: dict[str, str], device: str, threads: int) -> None:
    """In the inference process: load the served checkpoints onto the device."""
    torch.set_num_threads(threads)
    for name, path in checkpoints.items():
        model = models.load(path, device).model
        assert isinstance(model, Autoencoder)
        _models[name] = model.eval()


@torch.inference_mode()
def run(batch: Batch) -> Output:
    """One forward pass over the whole batch (in chunks of max_batch_size if one request is larger)."""
    model = _models[batch.model] if isinstance(batch.model, str) else batch.model
    device = next(model.parameters()).device
    inputs = torch.from_numpy(batch.inputs)
    labels = torch.from_numpy(batch.labels) if batch.labels is not None else None
    outputs: list[tuple[torch.Tensor, ...]] = []
    for start in range(0, inputs.shape[0], batch.max_batch_size):
        chunk = inputs[start : start + batch.max_batch_size].to(device, non_blocking=True)
        chunk_labels = labels[start : start + batch.max_batch_size].to(device) if labels is not None else None
        if batch.operation == "encode":
            latents, log_variances = model.encode(chunk.float().div_(255), chunk_labels)
            outputs.append((latents,) if log_variances is None else (latents, log_variances))
        else:
            logits = model.decode(chunk.float(), chunk_labels)
            outputs.append((torch.sigmoid(logits).mul_(255).round_().to(torch.uint8),))
    merged = [torch.cat(parts).cpu().numpy() for parts in zip(*outputs, strict=True)]
    offsets = np.cumsum([0, *batch.sizes])
    results: list[Encoded | Decoded] = []
    for index, png in enumerate(batch.png):
        pieces = [array[offsets[index] : offsets[index + 1]] for array in merged]
        if batch.operation == "encode":
            results.append(Encoded(pieces[0], pieces[1] if len(pieces) > 1 else None))
        else:
            images = pieces[0]
            results.append(Decoded(images, [encode_png_base64(image) for image in images] if png else None))
    memory = torch.cuda.memory_allocated(device) if device.type == "cuda" else None
    return Output(results, memory)

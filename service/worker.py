"""The batching worker: one per model, no HTTP in sight.

Requests join the model's bounded queue. The worker takes the first waiting request, gathers more of
the same operation until `max_batch_size` images or `max_wait_s` have passed, and runs one forward
pass on the device's inference thread (one batch at a time per device, off the event loop). Where
requests want PNGs, the whole batch is encoded on the PNG threads while the next batch runs, so the
event loop hands off work once per batch, not once per request. Each request's future gets its
slice. Arrays cross this boundary as numpy; tensors stay inside.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import secrets
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np
import torch

from models import Autoencoder, Prior, draw_codes
from service.images import encode_png_base64
from service.metrics import Metrics

log = logging.getLogger(__name__)
Operation = Literal["encode", "decode"]


class Overloaded(Exception):
    """The model's queue is full: try again shortly."""


class TimedOut(Exception):
    """The request was not answered within the timeout."""


class ShuttingDown(Exception):
    """The worker no longer takes requests."""


class InferenceFailed(Exception):
    """The forward pass of the request's batch raised; the worker logged the cause."""


class Encoded(NamedTuple):
    latents: np.ndarray  # (n, latent_dim) float32
    log_variances: np.ndarray | None  # (n, latent_dim) for VAEs


class Decoded(NamedTuple):
    images: np.ndarray  # (n, C, H, W) uint8
    pngs: list[str] | None  # base64 PNG per image, where asked for


class Sampled(NamedTuple):
    latents: np.ndarray  # (n, latent_dim) float32
    labels: list[int] | None
    images: np.ndarray  # (n, C, H, W) uint8
    pngs: list[str] | None  # base64 PNG per image, where asked for
    seed: int


@dataclass(eq=False)
class _Job:
    operation: Operation
    inputs: torch.Tensor  # uint8 images (n, C, H, W) to encode, or float32 codes (n, latent_dim) to decode
    labels: torch.Tensor | None  # (n,) int64 where the operation takes labels
    future: asyncio.Future[object]
    png: bool = False  # decode: also encode each image as base64 PNG
    enqueued: float = field(default_factory=time.monotonic)

    @property
    def size(self) -> int:
        return self.inputs.shape[0]


class ModelWorker:
    def __init__(
        self,
        name: str,
        model: Autoencoder,
        prior: Prior | None,
        *,
        device: torch.device,
        executor: Executor,
        png_executor: Executor,
        metrics: Metrics,
        max_batch_size: int,
        max_wait_s: float,
        queue_size: int,
        timeout_s: float,
    ) -> None:
        self.name, self.model, self.prior, self.device = name, model, prior, device
        self._executor, self._png_executor, self._metrics = executor, png_executor, metrics
        self._queue_depth = metrics.queue_depth.labels(name)
        self.max_batch_size, self.max_wait_s, self.timeout_s = max_batch_size, max_wait_s, timeout_s
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(maxsize=queue_size)
        self._set_aside: collections.deque[_Job] = collections.deque()  # other operation, next batch
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._busy = False
        self._encoding: set[asyncio.Future[list[object]]] = set()  # batches on the PNG threads

    # lifecycle

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"worker-{self.name}")

    async def stop(self) -> None:
        """Refuse new requests, finish the admitted ones, then stop."""
        self._closing = True
        while (
            self._task is not None
            and not self._task.done()
            and (self._queue.qsize() or self._set_aside or self._busy or self._encoding)
        ):
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # the three operations

    async def encode(self, images: np.ndarray, labels: list[int] | None) -> Encoded:
        """(n, C, H, W) uint8 images -> codes; VAEs also give log-variances."""
        result = await self._submit("encode", torch.from_numpy(images), labels)
        assert isinstance(result, Encoded)
        return result

    async def decode(self, latents: np.ndarray, labels: list[int] | None, *, png: bool = False) -> Decoded:
        """(n, latent_dim) float32 codes -> (n, C, H, W) uint8 images, and their PNGs if `png`."""
        result = await self._submit("decode", torch.from_numpy(latents), labels, png=png)
        assert isinstance(result, Decoded)
        return result

    async def sample(self, n: int, labels: list[int] | None, seed: int | None, *, png: bool = False) -> Sampled:
        """n images from the prior (and their PNGs if `png`); the same seed gives the same images."""
        assert self.prior is not None, "sampling needs a prior"
        seed = secrets.randbits(63) if seed is None else seed
        generator = torch.Generator().manual_seed(seed)
        label_tensor = torch.tensor(labels, dtype=torch.int64) if labels is not None else None
        codes, drawn_labels = draw_codes(self.model, self.prior, n, label_tensor, generator)
        decoder_labels = (
            drawn_labels.tolist() if drawn_labels is not None and self.model.takes_labels_to_decode else None
        )
        decoded = await self.decode(codes.numpy(), decoder_labels, png=png)
        labels_out = drawn_labels.tolist() if drawn_labels is not None else None
        return Sampled(codes.numpy(), labels_out, decoded.images, decoded.pngs, seed)

    # internals

    async def _submit(
        self, operation: Operation, inputs: torch.Tensor, labels: list[int] | None, *, png: bool = False
    ) -> object:
        if self._closing:
            raise ShuttingDown(f"model {self.name} is shutting down")
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        label_tensor = torch.tensor(labels, dtype=torch.int64) if labels is not None else None
        try:
            self._queue.put_nowait(_Job(operation, inputs, label_tensor, future, png))
        except asyncio.QueueFull:
            self._metrics.rejected.labels(self.name, "queue_full").inc()
            raise Overloaded(f"model {self.name} has {self._queue.maxsize} requests waiting") from None
        self._queue_depth.set(self._queue.qsize())
        try:
            async with asyncio.timeout(self.timeout_s):  # on timeout the future is cancelled, so the job skipped
                return await future
        except TimeoutError:
            self._metrics.rejected.labels(self.name, "timeout").inc()
            raise TimedOut(f"model {self.name} did not answer within {self.timeout_s:g} s") from None

    async def _next_job(self, timeout: float | None) -> _Job | None:
        """The next job: at once if one waits, else within `timeout` seconds (None: however long)."""
        if self._set_aside:
            return self._set_aside.popleft()
        if not self._queue.empty():
            job = self._queue.get_nowait()
        elif timeout is not None and timeout <= 0:
            return None
        else:
            try:
                async with asyncio.timeout(timeout):
                    job = await self._queue.get()
            except TimeoutError:
                return None
        self._queue_depth.set(self._queue.qsize())
        return job

    async def _gather(self) -> list[_Job]:
        first = await self._next_job(None)
        assert first is not None
        batch, size = [first], first.size
        deadline = time.monotonic() + self.max_wait_s
        skipped: list[_Job] = []
        while size < self.max_batch_size:
            job = await self._next_job(deadline - time.monotonic())
            if job is None:
                break
            if job.operation != first.operation or size + job.size > self.max_batch_size:
                skipped.append(job)
                if job.operation == first.operation:
                    break  # the batch is full enough; this request starts the next one
                continue
            batch.append(job)
            size += job.size
        self._set_aside.extendleft(reversed(skipped))
        return [job for job in batch if not job.future.done()]  # drop requests that timed out meanwhile

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._gather()
            if not batch:
                continue
            self._busy = True
            try:
                started = time.monotonic()
                for job in batch:
                    self._metrics.queue_wait.labels(self.name).observe(started - job.enqueued)
                try:
                    results = await loop.run_in_executor(self._executor, self._forward, batch)
                except Exception as error:  # a failed batch fails each of its requests; logged once
                    log.exception(
                        "batch of %d %s requests failed on model %s", len(batch), batch[0].operation, self.name
                    )
                    for job in batch:
                        if not job.future.done():
                            job.future.set_exception(InferenceFailed(f"inference failed on model {self.name}: {error}"))
                    continue
                operation = batch[0].operation
                self._metrics.inference.labels(self.name, operation).observe(time.monotonic() - started)
                self._metrics.batch_size.labels(self.name, operation).observe(sum(job.size for job in batch))
                if any(job.png for job in batch):  # encoded on a PNG thread while the next batch runs
                    encoding = loop.run_in_executor(self._png_executor, _with_pngs, batch, results)
                    self._encoding.add(encoding)
                    encoding.add_done_callback(functools.partial(self._deliver_encoded, batch))
                else:
                    _deliver(batch, results)
            finally:
                self._busy = False

    def _deliver_encoded(self, batch: list[_Job], encoding: asyncio.Future[list[object]]) -> None:
        self._encoding.discard(encoding)
        error = encoding.exception() if not encoding.cancelled() else asyncio.CancelledError("PNG encoding cancelled")
        if error is None:
            _deliver(batch, encoding.result())
            return
        log.error("PNG encoding of a batch failed on model %s", self.name, exc_info=error)
        for job in batch:
            if not job.future.done():
                job.future.set_exception(InferenceFailed(f"encoding images failed on model {self.name}: {error}"))

    @torch.inference_mode()
    def _forward(self, batch: list[_Job]) -> list[object]:
        """One forward pass over the whole batch (in chunks of max_batch_size if one request is larger)."""
        inputs = torch.cat([job.inputs for job in batch])
        job_labels = [job.labels for job in batch if job.labels is not None]
        labels = torch.cat(job_labels) if job_labels else None  # a model takes labels for all or none
        outputs: list[tuple[torch.Tensor, ...]] = []
        for start in range(0, inputs.shape[0], self.max_batch_size):
            chunk = inputs[start : start + self.max_batch_size].to(self.device, non_blocking=True)
            chunk_labels = labels[start : start + self.max_batch_size].to(self.device) if labels is not None else None
            if batch[0].operation == "encode":
                encoding = self.model.encode(chunk.float().div_(255), chunk_labels)
                latents, log_variances = encoding
                outputs.append((latents,) if log_variances is None else (latents, log_variances))
            else:
                logits = self.model.decode(chunk.float(), chunk_labels)
                outputs.append((torch.sigmoid(logits).mul_(255).round_().to(torch.uint8),))
        merged = [torch.cat(parts).cpu().numpy() for parts in zip(*outputs, strict=True)]
        sizes = [job.size for job in batch]
        offsets = np.cumsum([0, *sizes])
        results: list[object] = []
        for index in range(len(batch)):
            pieces = [array[offsets[index] : offsets[index + 1]] for array in merged]
            if batch[0].operation == "encode":
                results.append(Encoded(pieces[0], pieces[1] if len(pieces) > 1 else None))
            else:
                results.append(Decoded(pieces[0], None))
        if self.device.type == "cuda":
            self._metrics.gpu_memory.labels(str(self.device)).set(torch.cuda.memory_allocated(self.device))
        return results


def _deliver(batch: list[_Job], results: list[object]) -> None:
    for job, result in zip(batch, results, strict=True):
        if not job.future.done():  # a request that timed out meanwhile is gone
            job.future.set_result(result)


def _with_pngs(batch: list[_Job], results: list[object]) -> list[object]:
    """On a PNG thread: the decoded results of requests that want PNGs get them, the whole batch at once."""
    return [
        result._replace(pngs=[encode_png_base64(image) for image in result.images])
        if job.png and isinstance(result, Decoded)
        else result
        for job, result in zip(batch, results, strict=True)
    ]

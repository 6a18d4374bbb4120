"""The batching worker: one per model version, no HTTP in sight.

Requests join the model's queue, which is bounded by work: by images waiting, and by the wait a new
request can expect (the images ahead of it times the seconds an image has taken lately); past either,
the request is refused at once with a Retry-After instead of queueing into its timeout. The worker takes
the first waiting request, gathers more of the same operation until `max_batch_size` images or
`max_wait_s` have passed, and hands the batch to the device's runner (`service.inference`), where the
forward pass and any PNG encoding run. Each request's future gets its slice. A request cancelled while
it waits (its client has gone) is dropped before its batch runs. Arrays cross this boundary as numpy.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import secrets
import time
from collections.abc import Callable
from concurrent.futures import BrokenExecutor
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch

from models import Autoencoder, Prior, draw_codes
from service.inference import Runner
from service.messages import Batch, Decoded, Encoded, Operation, Output
from service.metrics import Metrics

log = logging.getLogger(__name__)
# Batches handed to the runner at once: one running, the next ones already waiting there, so the device
# never idles while the busy event loop gets round to a result and the next batch. On 2 CPU cores, 1 ->
# 2 -> 8 took /decode at 64 connections from 2,130 to 2,780 to 3,390 requests/s (16: 3,535).
IN_FLIGHT = 8
WAITING_S = 0.05  # a request still waiting after this long is reported (`waiting`), once
# called with the request's future: cancelling it drops the request (if its batch has not been handed over)
Waiting = Callable[[asyncio.Future[object]], None] | None
__all__ = ["Decoded", "Encoded", "ModelWorker", "Sampled"]


class Overloaded(Exception):
    """Too much work waits for the model (or its device ran out of memory): try again after `retry_after` s."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TimedOut(Exception):
    """The request was not answered within the timeout."""


class ShuttingDown(Exception):
    """The worker no longer takes requests."""


class InferenceFailed(Exception):
    """The forward pass of the request's batch raised; the worker logged the cause."""


class Sampled(NamedTuple):
    latents: np.ndarray  # (n, latent_dim) float32
    labels: list[int] | None
    images: np.ndarray | None  # (n, C, H, W) uint8, unless PNGs were asked for
    pngs: list[str] | None  # base64 PNG per image, where asked for
    seed: int


@dataclass(eq=False)
class _Job:
    operation: Operation
    inputs: np.ndarray  # uint8 images (n, C, H, W) to encode, or float32 codes (n, latent_dim) to decode
    labels: list[int] | None  # one per row where the operation takes labels
    future: asyncio.Future[object]
    png: bool = False  # decode: also encode each image as base64 PNG
    waiting: Waiting = None  # called once if it still waits WAITING_S after admission
    enqueued: float = field(default_factory=time.monotonic)

    @property
    def size(self) -> int:
        return self.inputs.shape[0]


class ModelWorker:
    def __init__(
        self,
        name: str,
        model: Autoencoder,
        *,
        key: str,
        device: torch.device,
        runner: Runner,
        metrics: Metrics,
        max_batch_size: int,
        max_wait_s: float,
        max_queued_images: int,
        timeout_s: float,
    ) -> None:
        # `model` is the card (built on the meta device: config and flags, no weights); the runner holds the
        # network under `key`
        self.name, self.model, self.device, self.key = name, model, device, key
        self._runner, self._metrics = runner, metrics
        self.broken = False  # the runner can run nothing more (its process died): the service is not ready
        self.max_batch_size, self.max_wait_s, self.timeout_s = max_batch_size, max_wait_s, timeout_s
        self.max_queued_images = max_queued_images
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._waiting_images = 0  # in the queue and set aside
        self._running_images = 0  # in batches handed to the runner
        self._seconds_per_image: float | None = None  # as the queue sees them lately; None until a batch is done
        # read when scraped: setting a gauge takes a lock, twice a request
        metrics.queue_depth.labels(name).set_function(lambda: self._waiting_images)
        self._set_aside: collections.deque[_Job] = collections.deque()  # other operation, next batch
        self._task: asyncio.Task[None] | None = None
        self._expiring: asyncio.Task[None] | None = None
        self._admitted: collections.deque[_Job] = collections.deque()  # oldest first, for the timeout
        self._closing = False
        self._slots = asyncio.Semaphore(IN_FLIGHT)
        # and at most this many images at the runner: a request handed over can no longer be dropped if its
        # caller leaves, yet fewer than four large requests there left the device idle whenever the event
        # loop was busy (answering a flood of 503s, bench/overload.py)
        self._images_in_flight = 4 * IN_FLIGHT * max_batch_size
        self._last_done: float | None = None  # when the last batch came back
        self._room = asyncio.Event()  # set when a batch comes back
        self._in_flight: set[asyncio.Task[None]] = set()
        self._queue_wait = metrics.queue_wait.labels(name)

    # lifecycle

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"worker-{self.name}")
        self._expiring = asyncio.create_task(self._expire(), name=f"expire-{self.name}")

    async def stop(self) -> None:
        """Refuse new requests, finish the admitted ones, then stop."""
        self._closing = True
        while (
            self._task is not None
            and not self._task.done()
            and (self._queue.qsize() or self._set_aside or self._in_flight)
        ):
            await asyncio.sleep(0.01)
        for task in (self._task, self._expiring):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # the three operations

    # `waiting`, where given, is called once if the request is still waiting WAITING_S after it was admitted:
    # the HTTP side then starts watching for its client leaving (watching every request cost throughput)

    async def encode(self, images: np.ndarray, labels: list[int] | None, *, waiting: Waiting = None) -> Encoded:
        """(n, C, H, W) uint8 images -> codes; VAEs also give log-variances."""
        result = await self._submit("encode", images, labels, waiting=waiting)
        assert isinstance(result, Encoded)
        return result

    async def decode(
        self, latents: np.ndarray, labels: list[int] | None, *, png: bool = False, waiting: Waiting = None
    ) -> Decoded:
        """(n, latent_dim) float32 codes -> (n, C, H, W) uint8 images, or their PNGs if `png`."""
        result = await self._submit("decode", latents, labels, png=png, waiting=waiting)
        assert isinstance(result, Decoded)
        return result

    async def sample(
        self,
        n: int,
        labels: list[int] | None,
        seed: int | None,
        density: Prior,
        *,
        temperature: float = 1.0,
        png: bool = False,
        waiting: Waiting = None,
    ) -> Sampled:
        """n images drawn from `density` at `temperature` (or their PNGs if `png`); the same seed gives the same
        images."""
        seed = secrets.randbits(63) if seed is None else seed
        generator = torch.Generator().manual_seed(seed)
        label_tensor = torch.tensor(labels, dtype=torch.int64) if labels is not None else None
        codes, drawn_labels = draw_codes(self.model, density, n, label_tensor, generator, temperature)
        decoder_labels = (
            drawn_labels.tolist() if drawn_labels is not None and self.model.takes_labels_to_decode else None
        )
        decoded = await self.decode(codes.numpy(), decoder_labels, png=png, waiting=waiting)
        labels_out = drawn_labels.tolist() if drawn_labels is not None else None
        return Sampled(codes.numpy(), labels_out, decoded.images, decoded.pngs, seed)

    # internals

    async def _submit(
        self, operation: Operation, inputs: np.ndarray, labels: list[int] | None, *, png: bool = False,
        waiting: Waiting = None,
    ) -> object:  # fmt: skip
        if self._closing:
            raise ShuttingDown(f"model {self.name} is shutting down")
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        job = _Job(operation, inputs, labels, future, png, waiting)
        self._admit(job.size)
        self._queue.put_nowait(job)
        self._waiting_images += job.size
        self._admitted.append(job)
        try:
            return await future  # the watchdog (_expire) fails it with TimedOut past the timeout
        except asyncio.CancelledError:  # the caller gave up (its client has gone): dropped when its turn comes
            future.cancel()  # (if the awaiting task was cancelled rather than the future itself)
            raise

    def _admit(self, size: int) -> None:
        """Refuse a request of `size` images at once when the queue is full or its wait would pass the timeout."""
        ahead = self._waiting_images + self._running_images
        if self._waiting_images + size > self.max_queued_images:
            reason, why = "queue_full", f"{self._waiting_images} images wait for model {self.name}"
        elif (
            ahead and self._seconds_per_image is not None and (ahead + size) * self._seconds_per_image > self.timeout_s
        ):
            # (with nothing ahead it runs at once: refusing it would not make it faster later)
            reason = "expected_wait"
            why = f"model {self.name} would answer in ~{(ahead + size) * self._seconds_per_image:.1f} s"
        else:
            return
        self._metrics.rejected.labels(self.name, reason).inc()
        # until the work ahead has shrunk to what fits in the timeout again
        drain_s = (ahead + size) * (self._seconds_per_image or 0) - self.timeout_s
        raise Overloaded(f"{why}, over the {self.timeout_s:g} s timeout or the queue limit", max(1, math.ceil(drain_s)))

    async def _expire(self) -> None:
        """Tell requests still waiting after WAITING_S so (`waiting`), once; fail those older than the timeout
        with TimedOut (skipped if still queued). One timer for all of them: a timer per request cost the
        busy event loop one each, and so did a second list of them."""
        while True:
            await asyncio.sleep(min(self.timeout_s / 10, WAITING_S))
            now = time.monotonic()
            too_old = now - self.timeout_s
            while self._admitted and (self._admitted[0].future.done() or self._admitted[0].enqueued < too_old):
                job = self._admitted.popleft()
                if not job.future.done():
                    self._metrics.rejected.labels(self.name, "timeout").inc()
                    job.future.set_exception(TimedOut(f"model {self.name} did not answer within {self.timeout_s:g} s"))
            for job in self._admitted:  # oldest first: only the few waiting longer than WAITING_S are walked
                if job.enqueued > now - WAITING_S:
                    break
                if job.waiting is not None and not job.future.done():
                    job.waiting(job.future)
                    job.waiting = None  # once

    async def _next_job(self, timeout: float | None) -> _Job | None:
        """The next job: at once if one waits, else within `timeout` seconds (None: however long)."""
        if self._set_aside:
            job = self._set_aside.popleft()
        elif not self._queue.empty():
            job = self._queue.get_nowait()
        elif timeout is not None and timeout <= 0:
            return None
        else:
            try:
                async with asyncio.timeout(timeout):
                    job = await self._queue.get()
            except TimeoutError:
                return None
        self._waiting_images -= job.size
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
        self._waiting_images += sum(job.size for job in skipped)
        if cancelled := sum(job.future.cancelled() for job in batch):  # their callers have gone: not computed
            self._metrics.cancelled.labels(self.name).inc(cancelled)
        return [job for job in batch if not job.future.done()]  # drop requests timed out or cancelled meanwhile

    async def _run(self) -> None:
        while True:
            # a batch is gathered while the one before it runs: the next one waits at the runner, so the
            # device never idles through the hand-over (a round trip to the inference process)
            await self._slots.acquire()
            while self._running_images >= self._images_in_flight:
                self._room.clear()
                await self._room.wait()
            batch = await self._gather()
            if not batch:
                self._slots.release()
                continue
            self._running_images += sum(job.size for job in batch)
            task = asyncio.create_task(self._execute(batch))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def _execute(self, batch: list[_Job]) -> None:
        images = sum(job.size for job in batch)  # counted in _running_images when handed over
        try:
            started = time.monotonic()
            for job in batch:
                self._queue_wait.observe(started - job.enqueued)
            try:
                output: Output = await self._runner.run(self._batch(batch))
            except Exception as error:  # a failed batch fails each of its requests; logged once
                self._fail(batch, error)
                return
            operation = batch[0].operation
            self._metrics.inference.labels(self.name, operation).observe(time.monotonic() - started)
            self._metrics.batch_size.labels(self.name, operation).observe(images)
            # seconds an image takes, as the queue sees it: while other work was waiting, the time since the
            # last batch came back (the device's idle moments and other models on it count: they delay the
            # queue too); else the runner's own time. A moving average: it drifts with batch sizes and load.
            now = time.monotonic()
            backlog = self._waiting_images > 0 or self._running_images > images
            wall = now - self._last_done if backlog and self._last_done is not None else 0.0
            self._last_done = now
            recent = max(output.seconds, wall) / images
            previous = self._seconds_per_image
            self._seconds_per_image = recent if previous is None else 0.8 * previous + 0.2 * recent
            if output.gpu_memory_bytes is not None:
                self._metrics.gpu_memory.labels(str(self.device)).set(output.gpu_memory_bytes)
            for job, result in zip(batch, output.results, strict=True):
                if not job.future.done():  # a request that timed out meanwhile is gone
                    job.future.set_result(result)
        finally:
            self._running_images -= images
            self._room.set()
            self._slots.release()

    def _fail(self, batch: list[_Job], error: Exception) -> None:
        if isinstance(error, torch.cuda.OutOfMemoryError):  # this batch did not fit; the next ones may
            log.warning("model %s: the device ran out of memory on a batch of %d requests", self.name, len(batch))
            self._metrics.rejected.labels(self.name, "out_of_memory").inc()
            failure: Exception = Overloaded(f"the device ran out of memory running model {self.name}", 1)
        else:
            self.broken = self.broken or isinstance(error, BrokenExecutor)  # the inference process died
            log.error(
                "batch of %d %s requests failed on model %s: %s", len(batch), batch[0].operation, self.name, error
            )
            failure = InferenceFailed(f"inference failed on model {self.name}: {error}")
        for job in batch:
            if not job.future.done():
                job.future.set_exception(failure)

    def _batch(self, jobs: list[_Job]) -> Batch:
        """The jobs as one message: their rows stacked, in order."""
        labels = [label for job in jobs if job.labels is not None for label in job.labels]
        return Batch(
            model=self.key,
            operation=jobs[0].operation,
            inputs=np.concatenate([job.inputs for job in jobs]),
            labels=np.asarray(labels, dtype=np.int64) if labels else None,  # a model takes labels for all or none
            sizes=[job.size for job in jobs],
            png=[job.png for job in jobs],
            max_batch_size=self.max_batch_size,
        )

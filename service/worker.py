"""The batching worker: one per model version, no HTTP in sight.

Requests join the model's queue, which is bounded by work: by images waiting, and by the wait a new
request can expect (the images ahead of it times the seconds an image has taken lately); past either,
the request is refused at once with a Retry-After instead of queueing into its timeout. The worker gathers
the waiting requests into batches (`service.batches`) and hands each to the device's runner
(`service.inference`), where the forward pass and any PNG encoding run. Each request's future gets its
slice. A request whose caller leaves while it waits is dropped before its batch runs: for a request that
has waited WAITING_S, the worker awaits the `gone` its caller gave (watching every request cost
throughput). Arrays cross this boundary as numpy.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import BrokenExecutor

import numpy as np
import torch

from models import Autoencoder, Prior, draw_codes
from service.batches import Gone, Job, Pending
from service.errors import ClientGone, InferenceFailed, Overloaded, ShuttingDown, TimedOut
from service.inference import Runner
from service.messages import Batch, Decoded, Encoded, Operation, Output, Sampled, Scored
from service.metrics import Metrics

log = logging.getLogger(__name__)
# Batches handed to the runner at once: one running, the next ones already waiting there, so the device
# never idles while the busy event loop gets round to a result and the next batch. On 2 CPU cores, 1 ->
# 2 -> 8 took /decode at 64 connections from 2,130 to 2,780 to 3,390 requests/s (16: 3,535).
IN_FLIGHT = 8
WAITING_S = 0.05  # a request still waiting after this long is watched for its caller leaving
__all__ = ["Decoded", "Encoded", "ModelWorker", "Sampled"]


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
        self.pending = Pending()
        self._running_images = 0  # in batches handed to the runner
        self._seconds_per_image: float | None = None  # as the queue sees them lately; None until a batch is done
        # read when scraped: setting a gauge takes a lock, twice a request
        metrics.queue_depth.labels(name).set_function(lambda: self.pending.images)
        self._task: asyncio.Task[None] | None = None
        self._expiring: asyncio.Task[None] | None = None
        self._admitted: collections.deque[Job] = collections.deque()  # oldest first, for the timeout
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
        while self._task is not None and not self._task.done() and (self.pending or self._in_flight):
            await asyncio.sleep(0.01)
        for task in (self._task, self._expiring):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # the operations

    # `gone`, where given, resolves when the request's caller has left: the request is then dropped, and
    # ClientGone raised, if its batch has not been handed over

    async def encode(self, images: np.ndarray, labels: list[int] | None, *, gone: Gone = None) -> Encoded:
        """(n, C, H, W) uint8 images -> codes; VAEs also give log-variances."""
        result = await self._submit("encode", images, labels, gone=gone)
        assert isinstance(result, Encoded)
        return result

    async def score(self, images: np.ndarray, labels: list[int] | None, *, maps: bool, gone: Gone = None) -> Scored:
        """(n, C, H, W) uint8 images -> their anomaly signals (`models.anomaly`), and per-pixel maps if `maps`."""
        result = await self._submit("score", images, labels, png=maps, gone=gone)
        assert isinstance(result, Scored)
        return result

    async def decode(
        self, latents: np.ndarray, labels: list[int] | None, *, png: bool = False, gone: Gone = None
    ) -> Decoded:
        """(n, latent_dim) float32 codes -> (n, C, H, W) uint8 images, or their PNGs if `png`."""
        result = await self._submit("decode", latents, labels, png=png, gone=gone)
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
        gone: Gone = None,
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
        decoded = await self.decode(codes.numpy(), decoder_labels, png=png, gone=gone)
        labels_out = drawn_labels.tolist() if drawn_labels is not None else None
        return Sampled(codes.numpy(), labels_out, decoded.images, decoded.pngs, seed)

    # internals

    async def _submit(
        self, operation: Operation, inputs: np.ndarray, labels: list[int] | None, *, png: bool = False,
        gone: Gone = None,
    ) -> object:  # fmt: skip
        if self._closing:
            raise ShuttingDown(f"model {self.name} is shutting down")
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        job = Job(operation, inputs, labels, future, png, gone)
        self._admit(job.size)
        self.pending.put(job)
        self._admitted.append(job)
        try:
            return await future  # the watchdog (_expire) fails it with TimedOut past the timeout
        except asyncio.CancelledError:  # dropped when its turn comes
            future.cancel()  # (if the awaiting task was cancelled rather than the future itself)
            if job.left:
                raise ClientGone(f"the caller of a {operation} request on {self.name} has gone") from None
            raise  # the caller itself was cancelled (shutdown): let it through
        finally:
            if job.watch is not None:
                job.watch.cancel()
            job.gone = job.watch = None  # the job stays queued until the next sweep: let the caller go now

    def _admit(self, size: int) -> None:
        """Refuse a request of `size` images at once when the queue is full or its wait would pass the timeout."""
        ahead = self.pending.images + self._running_images
        if self.pending.images + size > self.max_queued_images:
            reason, why = "queue_full", f"{self.pending.images} images wait for model {self.name}"
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
        """Watch requests still waiting after WAITING_S for their caller leaving; fail those older than the timeout
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
                if job.gone is not None and job.watch is None and not job.future.done():
                    job.watch = asyncio.create_task(self._watch(job, job.gone))

    @staticmethod
    async def _watch(job: Job, gone: Callable[[], Awaitable[object]]) -> None:
        await gone()
        job.left = True
        job.future.cancel()

    async def _run(self) -> None:
        while True:
            # a batch is gathered while the one before it runs: the next one waits at the runner, so the
            # device never idles through the hand-over (a round trip to the inference process)
            await self._slots.acquire()
            while self._running_images >= self._images_in_flight:
                self._room.clear()
                await self._room.wait()
            batch = await self.pending.batch(self.max_batch_size, self.max_wait_s)
            if cancelled := sum(job.future.cancelled() for job in batch):  # their callers have gone: not computed
                self._metrics.cancelled.labels(self.name).inc(cancelled)
            batch = [job for job in batch if not job.future.done()]  # timed out or cancelled meanwhile: dropped
            if not batch:
                self._slots.release()
                continue
            self._running_images += sum(job.size for job in batch)
            task = asyncio.create_task(self._execute(batch))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def _execute(self, batch: list[Job]) -> None:
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
            backlog = self.pending.images > 0 or self._running_images > images
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

    def _fail(self, batch: list[Job], error: Exception) -> None:
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

    def _batch(self, jobs: list[Job]) -> Batch:
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

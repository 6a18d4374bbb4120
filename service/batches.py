"""The requests waiting for one model, and how they are gathered into batches: the first waiting request,
then more of the same operation until `max_batch_size` images or `max_wait_s` have passed. A request of the
other operation, or one too large for the batch, waits for the next batch, ahead of those that came after it.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

from service.messages import Operation

# resolves when the request's caller has left: the worker awaits it for requests that wait a while
Gone = Callable[[], Awaitable[object]] | None


@dataclass(eq=False)
class Job:
    operation: Operation
    inputs: np.ndarray  # uint8 images (n, C, H, W) to encode, or float32 codes (n, latent_dim) to decode
    labels: list[int] | None  # one per row where the operation takes labels
    future: asyncio.Future[object]
    png: bool = False  # decode: also encode each image as base64 PNG
    gone: Gone = None
    enqueued: float = field(default_factory=time.monotonic)
    watch: asyncio.Task[None] | None = None  # awaiting `gone`, once the request has waited a while
    left: bool = False  # its caller has gone

    @property
    def size(self) -> int:
        return self.inputs.shape[0]


class Pending:
    """The model's waiting requests, in order."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Job] = asyncio.Queue()
        self._set_aside: collections.deque[Job] = collections.deque()  # other operation, next batch
        self.images = 0  # waiting, set aside included

    def __len__(self) -> int:
        return self._queue.qsize() + len(self._set_aside)

    def put(self, job: Job) -> None:
        self._queue.put_nowait(job)
        self.images += job.size

    async def batch(self, max_batch_size: int, max_wait_s: float) -> list[Job]:
        """The next batch: waits for its first request, then gathers for up to `max_wait_s`."""
        first = await self._next(None)
        assert first is not None
        batch, size = [first], first.size
        deadline = time.monotonic() + max_wait_s
        skipped: list[Job] = []
        while size < max_batch_size:
            job = await self._next(deadline - time.monotonic())
            if job is None:
                break
            if job.operation != first.operation or size + job.size > max_batch_size:
                skipped.append(job)
                if job.operation == first.operation:
                    break  # the batch is full enough; this request starts the next one
                continue
            batch.append(job)
            size += job.size
        self._set_aside.extendleft(reversed(skipped))
        self.images += sum(job.size for job in skipped)
        return batch

    async def _next(self, timeout: float | None) -> Job | None:
        """The next request: at once if one waits, else within `timeout` seconds (None: however long)."""
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
        self.images -= job.size
        return job

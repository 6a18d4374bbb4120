"""The forward pass of a batch, run where the weights live: a process of its own (the default) or a thread.

The batching workers of every model hand their batches to one runner per device. The runner holds the
networks (the API process keeps only their cards: config, prior, what they take), loaded and unloaded
by key as the catalog changes. By default it is a process of its own and a batch crosses as arrays, one
message per batch, not per request: the forward pass and the PNG encoding then never take the event
loop's GIL; in a thread they did, and the HTTP side slowed to about half of what it serves without
model work (bench/serve.py, docs/benchmarks.md). In a thread (AESERVE_INFERENCE_PROCESS=false) the same
`handle` runs the same messages."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import ctypes
import itertools
import logging
import multiprocessing
import os
import signal
import socket
from concurrent.futures import BrokenExecutor, ThreadPoolExecutor

import numpy as np
import torch

import models
from models import Autoencoder
from models.anomaly import code_density
from service.forward import Loaded, for_inference, run
from service.messages import (
    HEADER,
    Batch,
    Failed,
    Load,
    Message,
    Output,
    Reply,
    Unload,
    pack,
    receive,
    send,
    unpack,
)

log = logging.getLogger(__name__)


class Runner(abc.ABC):
    """Where one device's forward passes run: models loaded and unloaded by key, one batch at a time.

    The two kinds differ only in how a message reaches `handle` and its reply comes back."""

    async def load(self, key: str, checkpoint: bytes) -> None:
        """Load the checkpoint file's bytes under `key` (a name and version: both versions live during a reload)."""
        _raise_failure(await self._call(Load(key, np.frombuffer(checkpoint, dtype=np.uint8))))

    async def unload(self, key: str) -> None:
        _raise_failure(await self._call(Unload(key)))

    async def run(self, batch: Batch) -> Output:
        reply = _raise_failure(await self._call(batch))
        assert isinstance(reply, Output)
        return reply

    @abc.abstractmethod
    async def _call(self, message: Message) -> Reply: ...

    @abc.abstractmethod
    async def close(self) -> None: ...


def _raise_failure(reply: Reply) -> Reply:
    if isinstance(reply, Failed):
        raise torch.cuda.OutOfMemoryError(reply.error) if reply.out_of_memory else RuntimeError(reply.error)
    return reply


class ThreadRunner(Runner):
    """One message at a time on a thread of this process, on models this runner holds."""

    def __init__(self, device: torch.device) -> None:
        self.device = str(device)
        self.executor = ThreadPoolExecutor(1, thread_name_prefix=f"inference-{device}")
        self._models: dict[str, Loaded] = {}

    async def _call(self, message: Message) -> Reply:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, handle, self._models, message, self.device)

    async def close(self) -> None:
        await asyncio.to_thread(self.executor.shutdown, wait=True)
        self._models.clear()


class ProcessRunner(Runner):
    """One message at a time in a process of its own, spoken to over a socket pair (`service.messages`).

    The event loop writes and reads the frames itself (asyncio streams): no helper thread in this process,
    whose GIL wait behind the busy event loop made every round trip through a ProcessPoolExecutor
    cost ~10 ms under load (against 0.2 ms idle).
    """

    def __init__(self, device: torch.device, threads: int) -> None:
        self._socket, theirs = socket.socketpair()
        context = multiprocessing.get_context("spawn")  # fork would copy the event loop's threads; CUDA needs spawn
        self.process = context.Process(
            target=_serve, args=(theirs, str(device), threads), name=f"aeserve-inference-{device}", daemon=True
        )
        self.process.start()
        theirs.close()
        self._socket.settimeout(300)  # starting torch there; then the event loop takes the socket over
        _, ready = receive(self._socket)
        if ready != "ready":
            self.process.join(10)
            raise RuntimeError(f"the inference process failed to start: {ready}")
        self._socket.setblocking(False)
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._opening = asyncio.Lock()
        self._pending: dict[int, asyncio.Future[Reply]] = {}
        self._ids = itertools.count(1)
        self._reading: asyncio.Task[None] | None = None
        self._dead: str | None = None

    async def _call(self, message: Message) -> Reply:
        if self._dead is not None:
            raise BrokenExecutor(self._dead)
        if self._streams is None:
            async with self._opening:  # the first messages can come together: one connection for all
                if self._streams is None:
                    self._streams = await asyncio.open_connection(sock=self._socket)
                    self._reading = asyncio.create_task(self._read(self._streams[0]), name="inference-results")
        key = next(self._ids)
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        data = pack(key, message)
        try:
            self._streams[1].write(HEADER.pack(len(data)) + data)
            await self._streams[1].drain()
        except ConnectionError as error:
            self._pending.pop(key, None)
            self._dead = self._dead or f"the inference process exited (code {self.process.exitcode}): {error!r}"
            raise BrokenExecutor(self._dead) from error
        return await future

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                (length,) = HEADER.unpack(await reader.readexactly(HEADER.size))
                key, reply = unpack(await reader.readexactly(length))
                future = self._pending.pop(key, None)
                if future is not None and not future.done():
                    future.set_result(reply)
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            self._dead = f"the inference process exited (code {self.process.exitcode}): {error!r}"
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(BrokenExecutor(self._dead))
            self._pending.clear()

    async def close(self) -> None:
        """Closing the socket tells the process to exit; it is killed if it has not within 10 s."""
        if self._streams is not None:
            self._streams[1].close()
        else:
            self._socket.close()
        await asyncio.to_thread(self.process.join, 10)
        if self.process.is_alive():
            self.process.kill()
        if self._reading is not None:
            self._reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reading


def runner(device: torch.device, *, own_process: bool, threads: int | None) -> Runner:
    """The device's runner: a process of its own (`own_process`), or a thread of this one."""
    if not own_process:
        return ThreadRunner(device)
    return ProcessRunner(device, threads or default_threads())


def default_threads() -> int:
    """Torch threads of the inference process unless set: every core but one, which the event loop keeps."""
    return max(1, (os.cpu_count() or 1) - 1)


def _serve(sock: socket.socket, device: str, threads: int) -> None:
    """The inference process: answer messages until the socket closes."""
    # Its life follows the socket: the API process drains, then closes it (or dies, which closes it too).
    # Ctrl+C or a SIGTERM to the whole process group must not end it before the drain is over.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    keep_freed_memory()
    torch.set_num_threads(threads)
    loaded: dict[str, Loaded] = {}
    send(sock, 0, "ready")
    while True:
        try:
            key, message = receive(sock)
        except EOFError:
            return
        send(sock, key, handle(loaded, message, device))


def handle(loaded: dict[str, Loaded], message: Message, device: str) -> Reply:
    """One message, on the models this runner holds; what it raises comes back as `Failed`."""
    try:
        if isinstance(message, Load):
            checkpoint = models.load(message.checkpoint.tobytes(), device)
            assert isinstance(checkpoint.model, Autoencoder), "the catalog loads autoencoders only"
            loaded[message.key] = Loaded(for_inference(checkpoint.model), code_density(checkpoint.density))
            return_freed_memory()
            return None
        if isinstance(message, Unload):
            loaded.pop(message.key, None)
            return_freed_memory()
            return None
        return run(*loaded[message.model], message)
    except Exception as error:
        out_of_memory = isinstance(error, torch.cuda.OutOfMemoryError)
        if out_of_memory and torch.cuda.is_available():
            torch.cuda.empty_cache()  # hand the failed batch's blocks back before the next one
        if not out_of_memory:
            log.exception("%s failed", type(message).__name__)  # the traceback stays where it happened
        return Failed(f"{type(error).__name__}: {error}", out_of_memory)


def keep_freed_memory() -> None:
    """glibc's malloc: keep freed memory for reuse instead of handing it back to the system each time.

    Every PNG takes zlib ~256 KB of state; between the forward passes' tensors, glibc returned it to the
    system (brk, munmap) and page-faulted it back for the next image: decode + PNG of a vae batch cost
    ~130 µs an image, ~100 with fixed thresholds (both must be set: setting either one alone turns off
    glibc's own adjustment of the other). Elsewhere (musl, macOS) nothing changes."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    libc.mallopt(m_trim_threshold, 64 << 20)  # keep up to 64 MB of free heap
    libc.mallopt(m_mmap_threshold, 32 << 20)  # allocations below 32 MB (glibc's maximum) come from the heap


def return_freed_memory() -> None:
    """Hand freed heap back to the system now (glibc's malloc_trim): loading a checkpoint makes copies of its
    bytes that are freed at once, and with `keep_freed_memory` glibc would keep them for good."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)

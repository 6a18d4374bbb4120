"""The served models: every checkpoint in the models folder, each at one version, with its worker.

`reload` makes the served set match the folder (at start, on POST /admin/reload, SIGHUP or a change the
watcher sees). Model names are the checkpoint file stems; requests look names up in this catalog and
never build a path from them, so nothing outside the models folder can be reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch
import watchfiles

import models
from models import Autoencoder, CheckpointError
from service import inference
from service.metrics import Metrics
from service.schemas import ReloadReport
from service.served import ServedModel
from service.settings import Settings
from service.worker import ModelWorker

log = logging.getLogger(__name__)
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def resolve_device(setting: str) -> torch.device:
    """ "auto" -> CUDA when available; a named CUDA device must exist."""
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(setting)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {setting!r} asked for, but CUDA is not available here")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {setting!r} asked for, but there are {torch.cuda.device_count()} CUDA devices")
    return device


def version_of(checkpoint: bytes) -> str:
    """A checkpoint's version: the start of its file's sha256, so any change to the file is a new version."""
    return hashlib.sha256(checkpoint).hexdigest()[:12]


class UnknownModel(LookupError):
    """No served model has that name; the message says which ones do."""


def _empty_folder_reason(folder: Path) -> str:
    where = folder.resolve()
    if not folder.is_dir():
        return f"the models folder {where} does not exist: point AESERVE_MODELS_DIR at a folder of *.safetensors"
    return f"no checkpoints (*.safetensors) in the models folder {where}: nothing to serve"


@dataclass
class Catalog:
    """What is served: the models folder as of the last (re)load, each model at one version."""

    settings: Settings
    metrics: Metrics
    device: torch.device
    served: dict[str, ServedModel] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # name -> why its file (or its newest file) is not served
    draining: bool = False
    empty_reason: str | None = None  # why nothing is served: no models folder, or no checkpoint in it
    png_executor: ThreadPoolExecutor = field(init=False)  # PNG coding of uploads and grids, in parallel
    runner: inference.Runner | None = None  # where the networks are and the batches run, one at a time
    _reloading: asyncio.Lock = field(default_factory=asyncio.Lock)
    _retiring: set[asyncio.Task[None]] = field(default_factory=set)
    _loads: Iterator[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.png_executor = ThreadPoolExecutor(self.settings.png_threads, thread_name_prefix="png")

    async def start(self) -> None:
        self.runner = inference.runner(
            self.device, own_process=self.settings.inference_process, threads=self.settings.torch_threads
        )
        await self.reload()

    async def reload(self) -> ReloadReport:
        """Make what is served match the folder: load added and changed checkpoints, retire removed ones.

        An unchanged file (same sha256) is left alone. A file that fails to load leaves its previous
        version serving and goes to `failed` with the reason. Requests keep being answered throughout:
        a replaced version takes no new requests and retires once the ones using it have finished."""
        async with self._reloading:
            folder = self.settings.models_dir
            found = sorted(folder.glob("*.safetensors"), key=lambda path: path.stem) if folder.is_dir() else []
            paths = {path.stem: path for path in found}
            self.empty_reason = _empty_folder_reason(folder) if not paths else None
            if self.empty_reason is not None:
                log.warning("%s", self.empty_reason)
            report = ReloadReport()
            for name, path in paths.items():
                current = self.served.get(name)
                try:
                    data = await asyncio.to_thread(path.read_bytes)  # read once: version, card, weights
                    version = version_of(data)
                    if current is not None and current.version == version:
                        self.failed.pop(name, None)
                        report.unchanged.append(name)
                        continue
                    loaded = await self._load(name, data, version)
                except (CheckpointError, OSError, RuntimeError) as error:  # OSError: a file this user cannot read
                    reason = str(error).replace(str(path), path.name)  # clients need no server paths
                    if current is not None:
                        reason += f" (version {current.version} is still served)"
                    log.error("not serving %s: %s", path.name, reason)
                    self.failed[name] = report.failed[name] = reason
                    continue
                self.failed.pop(name, None)
                self.served[name] = loaded
                (report.updated if current else report.added).append(name)
                if current is not None:
                    self._retire(current)
                log.info("serving %s %s (%s, %s) on %s", name, version, loaded.checkpoint.kind,
                         loaded.checkpoint.variant, self.device)  # fmt: skip
            for name in [name for name in self.served if name not in paths]:
                self._retire(self.served.pop(name))
                self.metrics.queue_depth.remove(name)
                report.removed.append(name)
            for name in [name for name in self.failed if name not in paths]:
                del self.failed[name]
            self.metrics.models_loaded.set(len(self.served))
            self.metrics.models_failed.set(len(self.failed))
            inference.return_freed_memory()  # the files' bytes, read and dropped
            if report.added or report.updated or report.removed or report.failed:
                log.info("models: %s", report.model_dump_json())
            return report

    async def watch(self, stop: asyncio.Event) -> None:
        """Reload whenever a checkpoint in the folder is written, moved or deleted, until `stop` is set.

        watchfiles groups a burst of events (a file being written) into one set, so a copy in progress
        may be seen half-written: it fails to load, the previous version keeps serving, and the event
        that ends the write reloads it again."""
        folder = self.settings.models_dir
        async for _ in watchfiles.awatch(
            folder, stop_event=stop, watch_filter=lambda _, path: path.endswith(".safetensors")
        ):  # fmt: skip
            await self.reload()

    async def _load(self, name: str, data: bytes, version: str) -> ServedModel:
        if not NAME_PATTERN.fullmatch(name):
            raise CheckpointError(f"{name}.safetensors: the name must match {NAME_PATTERN.pattern}")
        card = await asyncio.to_thread(models.load, data, weights=False)
        if not isinstance(card.model, Autoencoder) or card.prior is None:
            raise CheckpointError(f"{name}.safetensors: a {card.kind} checkpoint is not a servable autoencoder")
        assert self.runner is not None, "start() first"
        key = f"{name}@{version}#{next(self._loads)}"  # unique even when a file returns to an older version
        await self.runner.load(key, data)
        worker = ModelWorker(
            name, card.model, key=key, device=self.device, runner=self.runner, metrics=self.metrics,
            max_batch_size=self.settings.batch_size_for(self.device), max_wait_s=self.settings.max_wait_ms / 1000,
            max_queued_images=self.settings.max_queued_images, timeout_s=self.settings.request_timeout_s,
        )  # fmt: skip
        worker.start()
        return ServedModel(name, card, worker, version, key)

    def _retire(self, old: ServedModel) -> None:
        """Once no request uses `old` any more: stop its worker and free its network."""

        async def retire() -> None:
            while old.leases:  # requests that looked it up before the swap still submit to its worker
                await asyncio.sleep(0.05)
            await old.worker.stop()
            if self.runner is not None:
                with contextlib.suppress(Exception):  # a runner that died has nothing left to free
                    await self.runner.unload(old.key)
            log.info("retired %s %s", old.name, old.version)

        task = asyncio.create_task(retire(), name=f"retire-{old.name}-{old.version}")
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    def lookup(self, name: str | None) -> ServedModel:
        """The served model of that name (the default when None); UnknownModel saying what is served."""
        name = name or self.default_name()
        if name is None or name not in self.served:
            known = ", ".join(self.served) or "none"
            reason = f" (it failed to load: {self.failed[name]})" if name in self.failed else ""
            raise UnknownModel(f"unknown model {name!r}{reason}; served models: {known}")
        return self.served[name]

    async def close(self) -> None:
        """Stop taking requests, let admitted ones finish, stop the inference process or thread."""
        self.draining = True
        for served in self.served.values():
            await served.worker.stop()
        if self._retiring:
            await asyncio.gather(*self._retiring)
        if self.runner is not None:
            await self.runner.close()
        self.png_executor.shutdown(wait=True)

    @property
    def ready(self) -> bool:
        return bool(self.served) and not self.draining and not any(s.worker.broken for s in self.served.values())

    def default_name(self) -> str | None:
        if self.settings.default_model in self.served:
            return self.settings.default_model
        return next(iter(self.served), None)

"""`Client` (blocking) and `AsyncClient` (asyncio): the same calls, over one httpx connection pool each."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx
import numpy as np

from client import calls
from client.calls import Call, Classified, Encoded, Label, LatentMap, Model, Readiness, Sampled, Scored
from client.errors import APIError
from client.images import Images

T = TypeVar("T")
DEFAULT_URL = "http://127.0.0.1:8000"


def _options(url: str, token: str | None, timeout: float) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return {"base_url": url, "headers": headers, "timeout": timeout}


def _read(call: Call[T], response: httpx.Response) -> T:
    if response.is_success or (call.path == "/readyz" and response.status_code == 503):
        return call.read(response)
    raise APIError.from_response(response)


class Client:
    """The aeserve API, blocking. `model=None` means the service's default model.

    Use it as a context manager, or call `close()`, to release its connections.
    """

    def __init__(self, url: str = DEFAULT_URL, *, token: str | None = None, timeout: float = 60.0) -> None:
        self._http = httpx.Client(**_options(url, token, timeout))

    def _send(self, call: Call[T]) -> T:
        try:
            response = self._http.request(call.method, call.path, **call.options)
        except httpx.TransportError as error:
            raise APIError.from_transport(error) from error
        return _read(call, response)

    def ready(self) -> Readiness:
        return self._send(calls.ready())

    def models(self) -> list[Model]:
        return self._send(calls.models())

    def model(self, name: str) -> Model:
        return self._send(calls.model(name))

    def latent_map(self, model: str) -> LatentMap:
        """A 2-D model's test codes by class and draws from its prior."""
        return self._send(calls.latent_map(model))

    def sample(
        self, model: str | None = None, n: int = 1, label: Label | None = None, seed: int | None = None,
        sampler: str | None = None, temperature: float | None = None,
    ) -> Sampled:  # fmt: skip
        """`n` new images; `label` (index or class name) for conditional models; a seed repeats a draw;
        `sampler` "prior" draws from the family's prior instead of the fitted density ("ex_post");
        `temperature` below 1 draws images more typical of their class and less varied (the server's 1 if None)."""
        return self._send(calls.sample(model, n, label, seed, sampler, temperature))

    def encode(self, images: Images, model: str | None = None, labels: Sequence[Label] | None = None) -> Encoded:
        """Images (uint8 or [0, 1] floats, PIL images or file bytes) -> their codes (and, for a model with a
        categorical head, its class probabilities)."""
        return self._send(calls.encode(images, model, labels))

    def score(
        self, images: Images, model: str | None = None, labels: Sequence[Label] | None = None, *, maps: bool = False
    ) -> Scored:
        """Images -> how unlike the model's training images each is: its score, and where the model is calibrated
        a p-value and a flag; with `maps`, each image's per-pixel squared error."""
        return self._send(calls.score(images, model, labels, maps))

    def classify(self, images: Images, model: str | None = None) -> Classified:
        """Images -> class (or cluster) probabilities and the most probable one, for models that classify."""
        return self._send(calls.classify(images, model))

    def decode(
        self, latents: np.ndarray | Sequence[Sequence[float]], model: str | None = None,
        labels: Sequence[Label] | None = None,
    ) -> np.ndarray:  # fmt: skip
        """Codes (n, latent_dim) -> images (n, H, W) uint8, or (n, H, W, C) for colour models."""
        return self._send(calls.decode(latents, model, labels))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


class AsyncClient:
    """The aeserve API for asyncio: `Client`'s methods as coroutines."""

    def __init__(self, url: str = DEFAULT_URL, *, token: str | None = None, timeout: float = 60.0) -> None:
        self._http = httpx.AsyncClient(**_options(url, token, timeout))

    async def _send(self, call: Call[T]) -> T:
        try:
            response = await self._http.request(call.method, call.path, **call.options)
        except httpx.TransportError as error:
            raise APIError.from_transport(error) from error
        return _read(call, response)

    async def ready(self) -> Readiness:
        return await self._send(calls.ready())

    async def models(self) -> list[Model]:
        return await self._send(calls.models())

    async def model(self, name: str) -> Model:
        return await self._send(calls.model(name))

    async def latent_map(self, model: str) -> LatentMap:
        return await self._send(calls.latent_map(model))

    async def sample(
        self, model: str | None = None, n: int = 1, label: Label | None = None, seed: int | None = None,
        sampler: str | None = None, temperature: float | None = None,
    ) -> Sampled:  # fmt: skip
        return await self._send(calls.sample(model, n, label, seed, sampler, temperature))

    async def encode(self, images: Images, model: str | None = None, labels: Sequence[Label] | None = None) -> Encoded:
        return await self._send(calls.encode(images, model, labels))

    async def score(
        self, images: Images, model: str | None = None, labels: Sequence[Label] | None = None, *, maps: bool = False
    ) -> Scored:
        return await self._send(calls.score(images, model, labels, maps))

    async def classify(self, images: Images, model: str | None = None) -> Classified:
        return await self._send(calls.classify(images, model))

    async def decode(
        self, latents: np.ndarray | Sequence[Sequence[float]], model: str | None = None,
        labels: Sequence[Label] | None = None,
    ) -> np.ndarray:  # fmt: skip
        return await self._send(calls.decode(latents, model, labels))

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()

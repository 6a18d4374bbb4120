"""aeserve's Python client: the whole HTTP API as typed calls, images and latents as numpy arrays.

    from client import Client
    with Client("http://127.0.0.1:8000") as aeserve:
        bags = aeserve.sample("cvae", n=4, label="Bag", seed=7).images   # (4, 28, 28) uint8

`AsyncClient` has the same methods as coroutines. Every answer that is not a success raises
`APIError`, which carries the service's problem-details body. Needs httpx, numpy and Pillow only
(`pip install 'aeserve[client]'`): no torch, no server code.
"""

from client.calls import Classified, Encoded, LatentMap, Model, Readiness, Sampled, Scored
from client.clients import AsyncClient, Client
from client.errors import APIError
from client.images import to_pil

__all__ = [
    "APIError",
    "AsyncClient",
    "Classified",
    "Client",
    "Encoded",
    "LatentMap",
    "Model",
    "Readiness",
    "Sampled",
    "Scored",
    "to_pil",
]

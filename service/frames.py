"""What crosses between the API process and its inference process, and how: the messages, and frames of
an 8-byte length, a JSON header and the arrays' raw bytes. No pickle, even between our own processes."""

from __future__ import annotations

import json
import socket
import struct
from typing import Any, Literal, NamedTuple

import numpy as np

from models import Autoencoder

Operation = Literal["encode", "decode"]


class Encoded(NamedTuple):
    latents: np.ndarray  # (n, latent_dim) float32
    log_variances: np.ndarray | None  # (n, latent_dim) for VAEs


class Decoded(NamedTuple):
    # PNGs where asked for (the arrays then stay behind: unpickling them cost the event loop time), else arrays
    images: np.ndarray | None  # (n, C, H, W) uint8
    pngs: list[str] | None  # base64 PNG per image


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


HEADER = struct.Struct("!Q")


MESSAGES = {kind.__name__: kind for kind in (Batch, Output, Encoded, Decoded)}


def pack(key: int, payload: Any) -> bytes:
    """(key, payload) as a JSON header and the raw bytes of its arrays. Payloads are the NamedTuples
    above, lists, dicts, strings, numbers and numpy arrays."""
    arrays: list[np.ndarray] = []

    def tree(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            arrays.append(np.ascontiguousarray(value))
            return {"array": len(arrays) - 1, "dtype": value.dtype.str, "shape": list(value.shape)}
        if isinstance(value, tuple) and type(value).__name__ in MESSAGES:
            return {"message": type(value).__name__, "fields": [tree(field) for field in value]}
        if isinstance(value, list):
            return [tree(item) for item in value]
        if isinstance(value, dict):
            return {"dict": {name: tree(item) for name, item in value.items()}}
        return value

    header = json.dumps({"key": key, "payload": tree(payload), "bytes": [a.nbytes for a in arrays]}).encode()
    return HEADER.pack(len(header)) + header + b"".join(a.tobytes() for a in arrays)


def unpack(data: bytes) -> tuple[int, Any]:
    (length,) = HEADER.unpack_from(data)
    header = json.loads(data[HEADER.size : HEADER.size + length])
    body = memoryview(bytearray(data[HEADER.size + length :]))  # writable: torch.from_numpy wants that
    offsets = np.cumsum([0, *header["bytes"]])

    def value(node: Any) -> Any:
        if isinstance(node, list):
            return [value(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "array" in node:
            start, end = offsets[node["array"]], offsets[node["array"] + 1]
            return np.frombuffer(body[start:end], dtype=np.dtype(node["dtype"])).reshape(node["shape"])
        if "message" in node:
            return MESSAGES[node["message"]](*(value(field) for field in node["fields"]))
        return {name: value(item) for name, item in node["dict"].items()}

    return header["key"], value(header["payload"])


def send(sock: socket.socket, key: int, payload: Any) -> None:
    data = pack(key, payload)
    sock.sendall(HEADER.pack(len(data)) + data)


def receive(sock: socket.socket) -> tuple[int, Any]:
    """One frame, or EOFError when the other side has closed."""

    def exactly(size: int) -> bytes:
        chunks, left = [], size
        while left:
            chunk = sock.recv(min(left, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    (length,) = HEADER.unpack(exactly(HEADER.size))
    return unpack(exactly(length))

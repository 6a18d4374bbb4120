"""What crosses between the API process and its inference process: the messages, and their frames.

A frame is an 8-byte length, then one safetensors blob (its bytes API): the messages' arrays as tensors,
and the message itself, with the arrays replaced by their names, as JSON in one more uint8 tensor. No
pickle, even between our own processes, and no hand-written binary layout.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any, Literal, NamedTuple

import numpy as np
import safetensors
import safetensors.numpy

from models import tensor_tree

Operation = Literal["encode", "decode", "score"]


class Encoded(NamedTuple):
    latents: np.ndarray  # (n, latent_dim) float32
    log_variances: np.ndarray | None  # (n, latent_dim) for VAEs
    class_probabilities: np.ndarray | None = None  # (n, num_classes) float32 for models with a categorical head


class Decoded(NamedTuple):
    # PNGs where asked for (the arrays then stay behind), else the arrays
    images: np.ndarray | None  # (n, C, H, W) uint8
    pngs: list[str] | None  # base64 PNG per image


class Sampled(NamedTuple):
    latents: np.ndarray  # (n, latent_dim) float32
    labels: list[int] | None
    images: np.ndarray | None  # (n, C, H, W) uint8, unless PNGs were asked for
    pngs: list[str] | None  # base64 PNG per image, where asked for
    seed: int


class Scored(NamedTuple):
    """The anomaly signals of each image (`models.anomaly`), float32."""

    reconstruction: np.ndarray  # (n,) mean squared error per pixel
    code_nll: np.ndarray | None  # (n,) where the model's density has a closed form
    negative_elbo: np.ndarray | None  # (n,) VAEs
    maps: np.ndarray | None  # (n, C, H, W) squared error of each pixel, where asked for


class Batch(NamedTuple):
    """One model, one operation, the requests' rows in order."""

    model: str  # the key the runner loaded the model under
    operation: Operation
    inputs: np.ndarray  # uint8 images (n, C, H, W) to encode, or float32 codes (n, latent_dim) to decode
    labels: np.ndarray | None  # (n,) int64 where the model takes labels
    sizes: list[int]  # rows per request
    png: list[bool]  # per request: decode: also encode its images as PNG; score: also the per-pixel maps
    max_batch_size: int  # rows per forward pass


class Output(NamedTuple):
    results: list[Encoded | Decoded | Scored]  # one per request
    seconds: float  # the forward pass and PNG coding, as the runner measured it (admission estimates from it)
    gpu_memory_bytes: int | None


class Load(NamedTuple):
    """Load a checkpoint under `key`: the file's bytes travel, so the runner loads exactly what was hashed."""

    key: str
    checkpoint: np.ndarray  # uint8: the checkpoint file


class Unload(NamedTuple):
    key: str


class Failed(NamedTuple):
    """What a message raised over there, in words."""

    error: str
    out_of_memory: bool  # the device ran out of memory: that batch failed, the next may not


Message = Batch | Load | Unload
Reply = Output | Failed | None  # None: a Load or Unload done
HEADER = struct.Struct("!Q")
MESSAGES = {kind.__name__: kind for kind in (Batch, Output, Encoded, Decoded, Scored, Load, Unload, Failed)}
_FRAME = "frame"  # the name of the tensor holding the message's JSON


def pack(key: int, payload: Any) -> bytes:
    """(key, payload) as safetensors bytes. Payloads are the NamedTuples above, lists, strings, numbers,
    None and numpy arrays."""
    layout, arrays = tensor_tree.split(payload, lambda value: isinstance(value, np.ndarray), MESSAGES)
    arrays = {name: np.ascontiguousarray(array) for name, array in arrays.items()}
    frame = json.dumps({"key": key, "payload": layout}).encode()
    arrays[_FRAME] = np.frombuffer(frame, dtype=np.uint8)
    # safetensors' own serializer, given each array's address as safetensors.numpy.save gives it, but read
    # from __array_interface__: numpy's `.ctypes` builds an object per array, a cost the busy event loop
    # felt (py-spy). Native byte order is little-endian on every platform torch ships for.
    specs = {
        name: safetensors.TensorSpec(
            dtype=array.dtype.name, shape=array.shape, data_ptr=array.__array_interface__["data"][0],
            data_len=array.nbytes,
        )
        for name, array in arrays.items()
    }  # fmt: skip
    return bytes(safetensors.serialize(specs))  # the arrays stay alive until here


def unpack(data: bytes) -> tuple[int, Any]:
    arrays = safetensors.numpy.load(data)
    frame = json.loads(arrays.pop(_FRAME).tobytes())

    return frame["key"], tensor_tree.join(frame["payload"], arrays, MESSAGES)


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

"""The service's one settings class: every option is also an environment variable (prefix AESERVE_)."""

from __future__ import annotations

import re
from pathlib import Path

import torch
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AESERVE_", extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    models_dir: Path = Path("checkpoints")  # every *.safetensors here is served under its file stem
    device: str = "auto"  # auto (CUDA when there is one), cpu, cuda or cuda:N
    default_model: str = "cvae"  # the model used when a request names none

    # batching: one worker per model gathers requests into one forward pass
    # images per forward pass; unset: 32 on CPU, where small batches are as fast per image and keep the
    # pipeline flowing (256 took vae /decode at 64 connections from ~3,800 to ~3,100 requests/s), 256 on CUDA
    max_batch_size: int | None = Field(None, ge=1)

    def batch_size_for(self, device: torch.device) -> int:
        return self.max_batch_size or (256 if device.type == "cuda" else 32)

    # how long the first request of a batch waits for company. 0: none; requests that arrive while a batch
    # runs form the next one, which on 2 CPU cores gave 15-20% more throughput than 2 ms and a third of
    # the latency at low load (bench/serve.py)
    max_wait_ms: float = Field(0.0, ge=0)
    # admission by work: images waiting per model; beyond it, or when the wait a request can expect (the images
    # ahead of it times the recent seconds per image) passes the request timeout, 503 + Retry-After at once
    max_queued_images: int = Field(16384, ge=1)
    request_timeout_s: float = Field(30.0, gt=0)  # a request not answered by then gets 504
    # a request's headers and body must have arrived within this many seconds of its first byte, or the
    # connection gets 408 and is closed: clients that trickle bytes cannot hold connections and memory
    read_timeout_s: float = Field(15.0, gt=0)

    # per-request limits
    max_items: int = Field(4096, ge=1)  # images or latents in one request (n for /sample)
    max_body_bytes: int = Field(32 * 1024 * 1024, ge=1024)  # larger bodies get 413
    max_image_pixels: int = Field(4096 * 4096, ge=1)  # an upload decoding to more pixels is refused (bombs)

    # Ray Serve (service.ray_app): replicas of this whole app, each with its own workers
    ray_replicas: int = Field(1, ge=1)  # replicas at start (and the floor when autoscaling)
    ray_max_replicas: int = Field(1, ge=1)  # above ray_replicas, Ray autoscales between the two
    ray_target_ongoing_requests: float = Field(64, gt=0)  # per replica, what autoscaling aims for
    ray_gpus_per_replica: float = Field(0, ge=0)  # 1 on GPU nodes: one replica per GPU
    ray_max_ongoing_requests: int = Field(1024, ge=1)  # per replica; the app's own admission sheds beyond its work

    # when set, the API and /metrics need "Bearer TOKEN"; health, the page and the docs stay open
    # /admin/* needs it too; without a token, /admin/* answers clients on the loopback interface only
    auth_token: SecretStr | None = None
    # rescan the models folder when a *.safetensors in it changes (besides POST /admin/reload and SIGHUP)
    watch_models: bool = False
    png_threads: int = Field(4, ge=1)  # threads encoding and decoding PNGs off the event loop
    # inference in a process of its own per device (true), or in a thread of the serving process (false:
    # simpler to debug, but the forward pass and PNG encoding then share the event loop's GIL)
    inference_process: bool = True
    # torch's intra-op threads in the inference process: by default every core but one, which the event
    # loop keeps; inference threads on every core fight it for the CPU under load
    torch_threads: int | None = Field(None, ge=1)
    log_level: str = "info"

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", value):
            raise ValueError("device must be auto, cpu, cuda or cuda:N")
        return value

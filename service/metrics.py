"""Prometheus metrics, one registry per app so that several apps (tests) never share counters."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
disable_created_metrics()  # the *_created series only add noise to every scrape
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ("route", "model", "status")
        self.requests = Counter("aeserve_requests", "HTTP requests answered", labels, registry=self.registry)
        self.latency = Histogram(
            "aeserve_request_seconds", "HTTP request latency", labels, buckets=LATENCY_BUCKETS, registry=self.registry
        )
        self.queue_wait = Histogram(
            "aeserve_queue_wait_seconds", "time a request waited for its batch", ("model",),
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.batch_size = Histogram(
            "aeserve_batch_size", "images per forward pass", ("model", "operation"),
            buckets=BATCH_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.inference = Histogram(
            "aeserve_inference_seconds", "time a batch spends at the inference runner, queueing included",
            ("model", "operation"),
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.queue_depth = Gauge("aeserve_queue_depth", "images waiting per model", ("model",), registry=self.registry)
        self.rejected = Counter(
            "aeserve_rejected", "requests refused (503: queue full, expected wait over the timeout, device out "
            "of memory) or timed out (504)", ("model", "reason"), registry=self.registry,
        )  # fmt: skip
        self.cancelled = Counter(
            "aeserve_cancelled", "requests dropped before their batch ran: the client had gone", ("model",),
            registry=self.registry,
        )  # fmt: skip
        self.models_loaded = Gauge("aeserve_models_loaded", "models being served", registry=self.registry)
        self.models_failed = Gauge("aeserve_models_failed", "checkpoints that failed to load", registry=self.registry)
        self.gpu_memory = Gauge(
            "aeserve_gpu_memory_bytes", "CUDA memory allocated by this process", ("device",), registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

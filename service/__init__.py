"""aeserve's HTTP service: FastAPI routes over per-model batching workers."""

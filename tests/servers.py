"""The real `python -m service` process on a free port of 127.0.0.1, for tests that talk real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_service(
    models_dir: Path | str = "checkpoints", wait_for: str = "/readyz", **env: str
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Start the service, wait until `wait_for` answers 200, yield (base URL, process); kill it afterwards."""
    port = free_port()
    environment = {**os.environ, "AESERVE_DEVICE": "cpu", "AESERVE_LOG_LEVEL": "warning", **env}
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "--port", str(port), "--models-dir", str(models_dir)],
        cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {env['AESERVE_AUTH_TOKEN']}"} if "AESERVE_AUTH_TOKEN" in env else {}
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base + wait_for, headers=headers, timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the service did not become ready:\n{process.communicate()[0]}")
        time.sleep(0.2)
    try:
        yield base, process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

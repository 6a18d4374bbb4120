"""Clients that trickle their request a byte at a time are cut after the read timeout with 408 and a
closed connection, and cannot hold the service's capacity meanwhile."""

import socket
import time

import httpx
import pytest

from tests.servers import running_service

READ_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def server(tiny_models_dir):
    with running_service(tiny_models_dir, AESERVE_READ_TIMEOUT_S=str(READ_TIMEOUT_S)) as (base, _):
        yield base


def connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def trickle(sock: socket.socket, data: bytes, every_s: float = 0.2) -> float:
    """Send `data` a byte every `every_s` until the server closes; the seconds that took."""
    started = time.monotonic()
    for byte in data:
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            break
        time.sleep(every_s)
    return time.monotonic() - started


def answer(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: a-very-slow-client\r\n\r\n",  # headers
        b"POST /decode HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n"
        b'{"model": "tiny-vae", "latents": [[0.0, 0.5, -0.5, 1.0]]}   ',  # a body
    ],
    ids=["headers", "body"],
)
def test_a_request_trickled_byte_by_byte_is_cut_with_408_after_the_read_timeout(server, request_bytes):
    with connect(server) as sock:
        if b"POST" in request_bytes:  # the headers at once, then the body trickles
            head, body = request_bytes.split(b"\r\n\r\n", 1)
            sock.sendall(head + b"\r\n\r\n")
            request_bytes = body
        took = trickle(sock, request_bytes)
        received = answer(sock)
    assert received.startswith(b"HTTP/1.1 408 ")
    assert b"read timeout of 1 s" in received
    assert READ_TIMEOUT_S - 0.1 < took < READ_TIMEOUT_S + 1.5


def test_a_connection_that_sends_nothing_is_closed_too(server):
    with connect(server) as sock:
        started = time.monotonic()
        received = answer(sock)
    assert received.startswith(b"HTTP/1.1 408 ") and time.monotonic() - started < READ_TIMEOUT_S + 1.5


def test_trickling_clients_do_not_hold_capacity_and_prompt_clients_are_not_cut(server):
    slow = [connect(server) for _ in range(100)]
    for sock in slow:
        sock.sendall(b"POST /decode HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n{")
    with httpx.Client(base_url=server) as client:  # one kept-alive connection, several requests
        for _ in range(3):
            response = client.post("/decode", json={"model": "tiny-vae", "latents": [[0.0, 0.5, -0.5, 1.0]]})
            assert response.status_code == 200
            time.sleep(READ_TIMEOUT_S * 0.6)  # idle between requests is the keep-alive's business, not a read
    for sock in slow:
        sock.settimeout(READ_TIMEOUT_S + 2)
        assert answer(sock).startswith(b"HTTP/1.1 408 ")
        sock.close()


def metric(base: str, line_start: str) -> float:
    for line in httpx.get(f"{base}/metrics").text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.split()[-1])
    return 0.0


def test_clients_that_disconnect_while_waiting_are_not_computed_and_the_worker_keeps_serving():
    from concurrent.futures import ThreadPoolExecutor

    # batches of one image, so each big request is thousands of forward passes: two of them keep the worker
    # busy for seconds, one at the runner and one waiting, and what comes next waits behind them
    big_requests, big = 2, {"model": "vae", "n": 4096, "format": "png"}
    with running_service("checkpoints", AESERVE_MAX_BATCH_SIZE="1") as (base, _), ThreadPoolExecutor(2) as pool:
        running = [pool.submit(httpx.get, f"{base}/sample", params=big, timeout=60) for _ in range(big_requests)]
        deadline = time.monotonic() + 10
        while metric(base, 'aeserve_queue_depth{model="vae"}') < 4096:  # one handed over, one waiting
            assert time.monotonic() < deadline
            time.sleep(0.02)
        request = b"GET /sample?model=vae&n=64 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        for _ in range(20):
            with connect(base) as sock:  # sent, then gone before any answer
                sock.sendall(request)
        assert [f.result().status_code for f in running] == [200] * big_requests
        assert httpx.get(f"{base}/sample", params={"model": "vae", "n": 2}).status_code == 200
        assert httpx.get(f"{base}/readyz").status_code == 200
        cancelled = metric(base, 'aeserve_cancelled_total{model="vae"}')
        images = metric(base, 'aeserve_batch_size_sum{model="vae",operation="decode"}')
    assert cancelled == 20
    assert images == big_requests * 4096 + 2  # none of the 20 x 64 images of the clients that left was computed

"""Faults from outside, against the real service on 127.0.0.1: overload, clients that give up, clients
that trickle. Every figure from one run; results in docs/benchmarks/overload.json, tabled in
docs/reliability.md.

    .venv/bin/python bench/overload.py        # about 2 minutes

1. Overload: 256 connections asking GET /sample?model=vae&n=256 for 10 s (as the issue measured),
   with AESERVE_REQUEST_TIMEOUT_S=5 so that the 2-core machine is overloaded several times over.
   Patient clients (60 s timeout): how many got 200, 503 (shed, with Retry-After), anything else; the
   service's own latency of its 200s against the request timeout; resident memory of the service (both
   processes) after a 2 s warm-up of the same load, right after, and 5 s after.
2. Clients that give up: the same load with clients that leave after 2 s. The service's
   aeserve_cancelled_total counts the requests it dropped unseen; the images it computed are compared
   with the images the clients that stayed received.
3. Slow clients: 300 connections trickling a POST /decode body a byte a second for 40 s, while a
   prompt client keeps decoding: how many are still open after 10, 20 and 40 s (read timeout 15 s),
   and whether the prompt client was ever refused.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "benchmarks" / "overload.json"
LUA = ROOT / "bench" / "overload.lua"
REASONS = ("expected_wait", "queue_full", "out_of_memory", "timeout")
PORT = 8231
BASE = f"http://127.0.0.1:{PORT}"


@contextlib.contextmanager
def service(**env: str) -> Iterator[psutil.Process]:
    environment = {**os.environ, "AESERVE_DEVICE": "cpu", "AESERVE_LOG_LEVEL": "warning", **env}
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "--port", str(PORT)], cwd=ROOT, env=environment,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{BASE}/readyz", timeout=1).status_code == 200:
                    break
            assert process.poll() is None and time.monotonic() < deadline, "the service did not start"
            time.sleep(0.2)
        yield psutil.Process(process.pid)
    finally:
        process.terminate()
        process.wait(30)


def rss_mib(process: psutil.Process) -> dict[str, float]:
    """Resident MiB of the API process, of the inference process, and of both."""
    api = process.memory_info().rss / 2**20
    inference = sum(child.memory_info().rss for child in process.children(recursive=True)) / 2**20
    return {"api": round(api, 1), "inference": round(inference, 1), "total": round(api + inference, 1)}


def metric(name: str) -> float:
    text = httpx.get(f"{BASE}/metrics", timeout=10).text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


def hammer(connections: int, seconds: float, client_timeout: float) -> dict[str, Any]:
    """wrk: `connections` clients asking /sample?model=vae&n=256 back to back for `seconds`; a client that
    waits longer than `client_timeout` gives up (closes its connection) and asks again."""
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", f"{client_timeout:g}s", "-s", str(LUA),
        f"{BASE}/sample?model=vae&n=256",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "answers": {"200": figures["status_200"], "503": figures["status_503"], "other": figures["status_other"]},
        "client_gave_up": figures["errors"]["timeout"],
        "client_latency_ms": {key: round(figures[f"{key}_us"] / 1000) for key in ("p50", "p99", "max")},
    }


async def impatient(connections: int, seconds: float, patience_s: float) -> dict[str, Any]:
    """`connections` clients asking /sample?model=vae&n=256 back to back for `seconds`, each closing its
    connection when the answer has not come within `patience_s`. (wrk's --timeout only counts late
    answers and keeps waiting.) Raw sockets: an HTTP client library would take the CPU the service needs."""
    outcomes: Counter[str] = Counter()
    stop = time.monotonic() + seconds
    request = b"GET /sample?model=vae&n=256 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"

    async def one_client() -> None:
        while time.monotonic() < stop:
            reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
            try:
                writer.write(request)
                async with asyncio.timeout(patience_s):
                    answer = await reader.read()  # to EOF: the service closes after its answer
                outcomes[answer[9:12].decode()] += 1
            except TimeoutError:
                outcomes["gave up"] += 1
            finally:
                writer.close()

    await asyncio.gather(*(one_client() for _ in range(connections)))
    return {"answers": dict(outcomes)}


def counters(timeout_s: float) -> dict[str, float]:
    """The service's own counts that the overload runs report (differences are taken around a run)."""
    sample = 'model="vae",route="/sample"'
    return {
        "computed_images": metric('aeserve_batch_size_sum{model="vae"'),
        "cancelled_requests": metric("aeserve_cancelled_total"),
        "answered_200": metric(f'aeserve_request_seconds_bucket{{le="+Inf",{sample},status="200"}}'),
        "answered_200_within_request_timeout": metric(
            f'aeserve_request_seconds_bucket{{le="{timeout_s}",{sample},status="200"}}'
        ),
        "answered_5xx_other_than_503": metric(f'aeserve_requests_total{{{sample},status="5')
        - metric(f'aeserve_requests_total{{{sample},status="503"'),
        **{f"shed_{reason}": metric(f'aeserve_rejected_total{{model="vae",reason="{reason}"}}') for reason in REASONS},
    }


def overload(patient: bool) -> dict[str, Any]:
    timeout_s = 5.0
    with service(AESERVE_REQUEST_TIMEOUT_S=str(timeout_s)) as process:

        def load(seconds: float) -> dict[str, Any]:
            return hammer(256, seconds, 60) if patient else asyncio.run(impatient(256, seconds, 2.0))

        # warm-up: 2 s of the same load, so that "before" is the service's resident memory in use (its
        # allocators' pools grown, its estimate of seconds per image made), and "after" shows what remains
        load(2)
        time.sleep(2)
        before, counted = rss_mib(process), counters(timeout_s)
        result = load(10)
        right_after = rss_mib(process)
        time.sleep(5)
        after = counters(timeout_s)
        return {
            "request_timeout_s": timeout_s,
            **result,
            "server": {key: after[key] - counted[key] for key in after},
            "rss_mib": {"before": before, "right_after": right_after, "5_s_after": rss_mib(process)},
            "ready_after": httpx.get(f"{BASE}/readyz").status_code,
        }


def trickle(connections: int = 300, seconds: float = 40) -> dict[str, Any]:
    read_timeout_s = 15.0
    with service(AESERVE_READ_TIMEOUT_S=str(read_timeout_s)) as process:
        before = rss_mib(process)
        sockets = []
        for _ in range(connections):
            sock = socket.create_connection(("127.0.0.1", PORT))
            sock.sendall(
                b"POST /decode HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
            )
            sock.setblocking(False)
            sockets.append(sock)
        open_at: dict[str, int] = {}
        prompt: Counter[int] = Counter()
        started = time.monotonic()
        checkpoints = [10.0, 20.0, seconds]
        while checkpoints:
            for sock in sockets:  # one byte each, about a second apart
                with contextlib.suppress(OSError):
                    sock.send(b" ")
            response = httpx.post(f"{BASE}/decode", json={"model": "vae", "latents": [[0.0] * 10]}, timeout=10)
            prompt[response.status_code] += 1
            time.sleep(max(0.0, 1.0 - (time.monotonic() - started) % 1.0))
            elapsed = time.monotonic() - started
            if elapsed >= checkpoints[0]:
                open_at[f"{checkpoints.pop(0):g}_s"] = sum(_still_open(sock) for sock in sockets)
        for sock in sockets:
            sock.close()
        return {
            "connections": connections, "read_timeout_s": read_timeout_s, "still_open": open_at,
            "prompt_client_statuses": dict(prompt),
            "rss_mib": {"before": before, "after": rss_mib(process)},
        }  # fmt: skip


def _still_open(sock: socket.socket) -> bool:
    """Open unless the server has answered 408 and closed (EOF after its answer)."""
    try:
        while chunk := sock.recv(65536):
            if b" 408 " in chunk:
                continue
        return False  # EOF: closed by the server
    except BlockingIOError:
        return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    results = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "overload_patient_clients": overload(patient=True),
        "overload_clients_give_up_after_2_s": overload(patient=False),
        "slow_clients": trickle(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

"""Container benchmark: how long the image takes to build and start, how big it is, and what the container
serves against the same service on the host, every figure from one run.

Run (a Docker engine, wrk from Debian):
    apt-get install wrk && bash scripts/docker-engine.sh start
    .venv/bin/python bench/container.py        # prints the figures, writes docs/benchmarks/container.json

1. Cold build: scripts/image.sh --no-cache (no layer from before; the wheelhouse and the base image are
   kept: they are the host's, made once). Warm build: the same after a change to
   one source file, in a copy of the repository.
2. Size of aeserve:latest, and what takes its space.
3. Seconds from `docker run` (the compose file's hardening, a published port) to /readyz answering 200.
4. POST /decode on `vae`, one latent per request, at 64 connections (bench/load.lua through wrk): the
   service on the host, the container through a published port (docker-proxy), and the container on the
   host's network, each alone on the machine, taking turns for several rounds; each figure is the median
   round.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "benchmarks" / "container.json"
LUA = ROOT / "bench" / "load.lua"
IMAGE = "aeserve:latest"
MODEL, LATENT_DIM, CONNECTIONS = "vae", 10, 64
HARDENING = [
    "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true",
    "--user", "10001:10001",
]  # fmt: skip
SETTINGS = {"AESERVE_DEVICE": "cpu", "AESERVE_LOG_LEVEL": "warning"}


def run(*command: str, cwd: Path = ROOT) -> str:
    return subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True).stdout


def timed_build(cwd: Path, *options: str) -> float:
    started = time.perf_counter()
    run("bash", "scripts/image.sh", *options, cwd=cwd)
    return time.perf_counter() - started


def builds() -> dict[str, float]:
    cold = timed_build(ROOT, "--no-cache")  # no layer from before; the base image and the host's wheelhouse stay
    with tempfile.TemporaryDirectory() as copy:
        tree = Path(copy) / "aeserve"
        files = run("git", "ls-files").split()
        for name in files:
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, tree / name)
        shutil.copytree(ROOT / "build" / "image" / "wheels", tree / "build" / "image" / "wheels", copy_function=os.link)
        with (tree / "service" / "__init__.py").open("a") as source:
            source.write("# a source-only change\n")
        warm = timed_build(tree)
    run("bash", "scripts/image.sh")  # the tag back on this tree's image
    return {"cold_s": cold, "warm_after_a_source_change_s": warm}


def space() -> dict[str, Any]:
    listing = run(
        "docker", "run", "--rm", "--entrypoint", "sh", IMAGE, "-c",
        "du -sm /usr /app/checkpoints /opt/venv/lib/python3.11/site-packages/* | sort -n | tail -8",
    )  # fmt: skip
    parts = {path.split("/")[-1]: int(mb) for mb, path in (line.split() for line in listing.splitlines())}
    size = int(run("docker", "image", "inspect", "--format", "{{.Size}}", IMAGE))
    return {"image_bytes": size, "largest_parts_mb": parts}


def wait_ready(base: str, deadline_s: float = 120) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < deadline_s:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{base} was not ready in {deadline_s} s")


def container(port: int, network_host: bool) -> str:
    environment = [f"--env={k}={v}" for k, v in SETTINGS.items()]
    if network_host:
        where = ["--network", "host", "--env", "AESERVE_HOST=127.0.0.1", "--env", f"AESERVE_PORT={port}"]
    else:
        where = ["-p", f"127.0.0.1:{port}:8000"]
    return run("docker", "run", "-d", *HARDENING, *where, *environment, IMAGE).strip()


def seconds_to_ready(runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        name = container(8301, network_host=False)
        wait_ready("http://127.0.0.1:8301")
        seconds.append(time.perf_counter() - started)
        run("docker", "rm", "--force", name)
    return seconds


def wrk(base: str, seconds: float) -> dict[str, Any]:
    environment = {**os.environ, "BENCH_MODEL": MODEL, "BENCH_LATENT_DIM": str(LATENT_DIM)}
    command = [
        "wrk",
        "-t1",
        f"-c{CONNECTIONS}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        f"{base}/decode",
    ]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "requests_per_s": figures["requests"] / (figures["duration_us"] / 1e6),
        "p99_ms": figures["p99_us"] / 1000,
        "errors": figures["errors"],
    }


def throughput(seconds: float, warmup: float, rounds: int) -> dict[str, Any]:
    """Each round starts each side alone, warms it up, loads it, and stops it: no idle neighbour shares the cores."""

    def start(name: str) -> tuple[str, Any]:
        if name == "host":
            process = subprocess.Popen(
                [sys.executable, "-m", "service", "--port", "8302"], cwd=ROOT, env={**os.environ, **SETTINGS},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            return "http://127.0.0.1:8302", process
        return "http://127.0.0.1:8303", container(8303, network_host=name == "container_host_network")

    def stop(handle: Any) -> None:
        if isinstance(handle, str):
            run("docker", "rm", "--force", handle)
        else:
            handle.terminate()
            handle.wait()

    runs: dict[str, list[dict[str, Any]]] = {"host": [], "container_published_port": [], "container_host_network": []}
    for _ in range(rounds):  # taking turns: a slow spell of the machine weighs on every side alike
        for name, figures in runs.items():
            base, handle = start(name)
            try:
                wait_ready(base)
                wrk(base, warmup)
                figures.append(wrk(base, seconds))
            finally:
                stop(handle)
    result: dict[str, Any] = {}
    for name, figures in runs.items():
        ordered = sorted(figures, key=lambda f: f["requests_per_s"])
        errors = {kind: sum(f["errors"][kind] for f in figures) for kind in figures[0]["errors"]}
        result[name] = {**ordered[len(ordered) // 2], "errors": errors,
                        "rates_of_each_round": [round(f["requests_per_s"]) for f in figures]}  # fmt: skip
    for name in ("container_published_port", "container_host_network"):
        # each round's ratio, then the median: a slow spell of the machine falls on both sides of a ratio
        ratios = [
            side["requests_per_s"] / host["requests_per_s"] for side, host in zip(runs[name], runs["host"], strict=True)
        ]
        result[f"{name}_vs_host"] = statistics.median(ratios)
        result[f"{name}_vs_host_each_round"] = [round(ratio, 3) for ratio in ratios]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10, help="seconds of load per point and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-builds", action="store_true", help="measure the image as it is")
    args = parser.parse_args()
    for tool in ("docker", "wrk"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench/container.py needs {tool}: see the top of this file")
    figures: dict[str, Any] = {"machine": {"cores": os.cpu_count()}}
    if not args.skip_builds:
        figures["build"] = builds()
        print("build:", json.dumps(figures["build"]))
    figures["size"] = space()
    print("size:", json.dumps(figures["size"]))
    ready = seconds_to_ready(3)
    figures["seconds_to_ready"] = {"median": statistics.median(ready), "runs": ready}
    print("seconds to ready:", json.dumps(figures["seconds_to_ready"]))
    figures["decode_c64"] = throughput(args.seconds, warmup=3, rounds=args.rounds)
    print("decode at 64 connections:", json.dumps(figures["decode_c64"], indent=1))
    OUT.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""Serving benchmark: aeserve against its ceilings and against LitServe, every figure from one run.

Run (wrk from Debian, LitServe and psutil from the bench extra):
    apt-get install wrk && .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/serve.py            # prints tables and ratios,
                                               # writes docs/benchmarks/serve.json and serve.png

For one small (MLP) and one convolutional default model:
1. In-process ceiling: decode + PNG encoding of a batch, in this process, images/s at batch sizes
   1, 8, 64, 256; and /sample's in-process work for n=256 (prior draw + decode + PNG).
   The HTTP ceiling: the same app served the same way, answering a route that takes /decode's body and
   returns /decode's answer without model work (bench/ceiling_server.py).
2. aeserve (`python -m service`): POST /decode, one latent per request, at concurrency 1, 16 and 64,
   with the default settings (batching on) and with AESERVE_MAX_BATCH_SIZE=1 (off); GET /sample?n=256.
3. LitServe (bench/litserve_peer.py): the same checkpoint through the same `models/` code and PNG
   encoder, LitServe's dynamic batching at the same max batch size and wait.

Load comes from wrk (compiled C, one thread, bench/load.lua), for a fixed time after a warm-up at the
same concurrency. The HTTP ceiling and both aeserve setups run side by side and take turns, point by
point, for several rounds; each figure is the median round, so a slow spell of the machine weighs on
every side of a ratio alike. Each row reports the CPU the client and the server used (cores, from the OS): a
client far below one core is not what limits the rate.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import torch

import models
from models import draw_codes
from service.images import encode_png_base64
from service.inference import default_threads, for_inference, keep_freed_memory
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = ROOT / "checkpoints"
OUT_DIR = ROOT / "docs" / "benchmarks"
LUA = ROOT / "bench" / "load.lua"
MODELS = ("aae-mixture", "vae")  # a small MLP model and a convolutional one
CONCURRENCY = (1, 16, 64)
BATCHES = (1, 8, 64, 256)
SAMPLE_N = 256
INFERENCE_THREADS = Settings().torch_threads or default_threads()
PORTS = {"ceiling": 8201, "aeserve": 8202, "aeserve-unbatched": 8203, "litserve": 8204}  # litserve: +1 per model
TARGETS = {
    "vs_litserve_c64": 1.5,  # throughput ratio, with p99 no worse
    "vs_http_ceiling_c64": 0.8,
    "sample_vs_in_process": 0.7,
}


# helpers


def _python() -> str:
    return sys.executable


def _images_png(images: torch.Tensor) -> list[str]:
    array = torch.sigmoid(images).mul_(255).round_().to(torch.uint8).numpy()
    return [encode_png_base64(image) for image in array]


@torch.inference_mode()
def in_process_ceiling(name: str, seconds: float) -> dict[str, float]:
    """Images/s of decode + PNG encoding in this process, per batch size; and /sample's work at n=256."""
    # as the inference process runs: its allocator settings and its torch threads (every core but the
    # event loop's); with every core, the ceiling would count the one the service keeps for HTTP
    keep_freed_memory()
    torch.set_num_threads(INFERENCE_THREADS)
    checkpoint = models.load(CHECKPOINTS / f"{name}.safetensors", "cpu")
    model, prior = for_inference(checkpoint.model), checkpoint.prior  # as the service prepares it
    assert prior is not None
    generator = torch.Generator().manual_seed(0)
    rates: dict[str, float] = {}

    def rate(work: Any, batch: int) -> float:
        work()  # warm-up
        count, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            work()
            count += batch
        return count / elapsed

    for batch in BATCHES:
        latents = torch.randn(batch, model.config.latent_dim, generator=generator)
        rates[f"decode_png_batch_{batch}"] = rate(lambda latents=latents: _images_png(model.decode(latents)), batch)

    def sample() -> None:
        codes, _ = draw_codes(model, prior, SAMPLE_N, None, generator)
        _images_png(model.decode(codes))

    rates[f"sample_{SAMPLE_N}"] = rate(sample, SAMPLE_N)
    return rates


@contextlib.contextmanager
def server(
    command: list[str], env: dict[str, str], ready_url: str, log: Path, cwd: Path = ROOT
) -> Iterator[psutil.Process]:
    """Start a server process (in `cwd`), wait until `ready_url` answers 200, stop it with SIGTERM afterwards."""
    port = httpx.URL(ready_url).port
    with socket.socket() as probe:  # a server left over from an earlier run would answer in its place
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise RuntimeError(f"port {port} is taken: stop whatever listens there first")
    with log.open("w") as log_file:
        # a session of its own, so stopping it stops every process it started (LitServe runs several)
        process = subprocess.Popen(
            command, cwd=cwd, env={**os.environ, **env}, stdout=log_file, stderr=log_file, start_new_session=True
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"{command} exited with {process.returncode}; see {log}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(ready_url, timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{command} not ready within 120 s; see {log}")
                time.sleep(0.5)
            yield psutil.Process(process.pid)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            with contextlib.suppress(ProcessLookupError):  # children that outlived their parent
                os.killpg(process.pid, signal.SIGKILL)


def _cpu_seconds(process: psutil.Process) -> float:
    """CPU time of a server and every process it started (LitServe runs several)."""
    total = 0.0
    for each in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = each.cpu_times()
            total += times.user + times.system
    return total


def load(
    url: str, concurrency: int, seconds: float, warmup: float, env: dict[str, str], target: psutil.Process
) -> dict[str, float]:
    """wrk at `concurrency` connections for `seconds` after a warm-up: rate, latencies, errors, CPU."""

    def wrk(duration: float) -> dict[str, Any]:
        command = [
            "wrk", "-t1", f"-c{concurrency}", f"-d{duration:g}s", "--timeout", "10s", "-s", str(LUA), url,
        ]  # fmt: skip
        done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, check=True)
        return json.loads(done.stdout.strip().splitlines()[-1])

    wrk(warmup)
    client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before, started = _cpu_seconds(target), time.perf_counter()
    figures = wrk(seconds)
    wall = time.perf_counter() - started
    client_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = (client_after.ru_utime + client_after.ru_stime) - (client_before.ru_utime + client_before.ru_stime)
    return {
        "requests_per_s": figures["requests"] / (figures["duration_us"] / 1e6),
        "p50_ms": figures["p50_us"] / 1000,
        "p99_ms": figures["p99_us"] / 1000,
        "errors": sum(figures["errors"].values()),
        "requests": figures["requests"],
        "client_cpu_cores": client_cpu / wall,
        "server_cpu_cores": (_cpu_seconds(target) - server_before) / wall,
    }


def median(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median rate (its latencies and CPU belong to it), with every run's rate kept."""
    ordered = sorted(runs, key=lambda run: run["requests_per_s"])
    return {
        **ordered[len(ordered) // 2],
        "errors": sum(run["errors"] for run in runs),  # zero errors means in every round
        "rates_of_each_round": [round(run["requests_per_s"]) for run in runs],
    }


# the run


def measure(seconds: float, warmup: float, rounds: int, logs: Path) -> dict[str, Any]:
    defaults = Settings()
    results: dict[str, Any] = {name: {"points": []} for name in MODELS}

    def record(name: str, system: str, concurrency: int, figures: dict[str, float]) -> None:
        row = {"system": system, "concurrency": concurrency, **figures}
        results[name]["points"].append(row)
        print(
            f"{name:12s} {system:18s} c={concurrency:<3d} {figures['requests_per_s']:8.0f} req/s  "
            f"p50 {figures['p50_ms']:7.2f} ms  p99 {figures['p99_ms']:7.2f} ms  errors {figures['errors']:.0f}  "
            f"client {figures['client_cpu_cores']:.2f} / server {figures['server_cpu_cores']:.2f} cores",
            flush=True,
        )

    for name in MODELS:
        results[name]["in_process"] = in_process_ceiling(name, seconds=min(seconds, 3))
        latent_dim = models.load(CHECKPOINTS / f"{name}.safetensors", "cpu").model.config.latent_dim
        results[name]["latent_dim"] = latent_dim
        print(name, {key: round(value) for key, value in results[name]["in_process"].items()}, "images/s in process")

    def body(name: str, style: str) -> dict[str, str]:
        dim = results[name]["latent_dim"]
        return {"BENCH_METHOD": "POST", "BENCH_MODEL": name, "BENCH_LATENT_DIM": str(dim), "BENCH_BODY": style}

    aeserve_env = {"AESERVE_LOG_LEVEL": "warning", "AESERVE_MODELS_DIR": str(CHECKPOINTS)}
    setups = [
        ("http ceiling", [_python(), "bench/ceiling_server.py", "--port", str(PORTS["ceiling"])], aeserve_env,
         PORTS["ceiling"], "/bench/ceiling"),
        ("aeserve", [_python(), "-m", "service", "--port", str(PORTS["aeserve"])], aeserve_env,
         PORTS["aeserve"], "/decode"),
        ("aeserve unbatched", [_python(), "-m", "service", "--port", str(PORTS["aeserve-unbatched"])],
         {**aeserve_env, "AESERVE_MAX_BATCH_SIZE": "1"}, PORTS["aeserve-unbatched"], "/decode"),
    ]  # fmt: skip
    # The three are up together (an idle one takes no CPU) and take turns: `rounds` rounds of the same point,
    # each system once per round, and the median of each. A machine that slows down for a while then slows
    # every side of a ratio alike, not whichever system it happened to be measuring.
    with contextlib.ExitStack() as running:
        processes = {
            system: running.enter_context(
                server(command, env, f"http://127.0.0.1:{port}/readyz", logs / f"{system.replace(' ', '-')}.log")
            )
            for system, command, env, port, _ in setups
        }
        for name in MODELS:
            for concurrency in CONCURRENCY:
                taken: dict[str, list[dict[str, float]]] = {system: [] for system, *_ in setups}
                for _ in range(rounds):
                    for system, _, _, port, path in setups:
                        url = f"http://127.0.0.1:{port}{path}"
                        taken[system].append(
                            load(url, concurrency, seconds, warmup, body(name, "aeserve"), processes[system])
                        )
                for system, figures in taken.items():
                    record(name, system, concurrency, median(figures))
            url = f"http://127.0.0.1:{PORTS['aeserve']}/sample?model={name}&n={SAMPLE_N}"
            figures = load(url, 1, seconds, warmup, {"BENCH_METHOD": "GET"}, processes["aeserve"])
            figures["images_per_s"] = figures["requests_per_s"] * SAMPLE_N
            results[name]["sample"] = figures
            print(f"{name:12s} GET /sample?n={SAMPLE_N}: {figures['images_per_s']:.0f} images/s", flush=True)
    batch = defaults.batch_size_for(torch.device("cpu"))
    for index, name in enumerate(MODELS):
        port = PORTS["litserve"] + index
        command = [
            _python(), "bench/litserve_peer.py", str(CHECKPOINTS / f"{name}.safetensors"), "--port", str(port),
            "--max-batch-size", str(batch), "--batch-timeout-ms", str(defaults.max_wait_ms),
        ]  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        with server(command, {}, f"{base}/health", logs / f"litserve-{name}.log") as process:
            for concurrency in CONCURRENCY:
                figures = load(f"{base}/predict", concurrency, seconds, warmup, body(name, "litserve"), process)
                record(name, "litserve", concurrency, figures)
    return results


def ratios(results: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, result in results.items():
        point = {(row["system"], row["concurrency"]): row for row in result["points"]}
        ours = {c: point["aeserve", c] for c in CONCURRENCY}
        out[name] = {
            **{
                f"vs_litserve_c{c}": ours[c]["requests_per_s"] / point["litserve", c]["requests_per_s"]
                for c in CONCURRENCY
            },
            **{f"p99_vs_litserve_c{c}": ours[c]["p99_ms"] / point["litserve", c]["p99_ms"] for c in CONCURRENCY},
            **{
                f"batched_vs_unbatched_c{c}": ours[c]["requests_per_s"]
                / point["aeserve unbatched", c]["requests_per_s"]
                for c in CONCURRENCY
            },
            "vs_http_ceiling_c64": ours[64]["requests_per_s"] / point["http ceiling", 64]["requests_per_s"],
            "sample_vs_in_process": result["sample"]["images_per_s"] / result["in_process"][f"sample_{SAMPLE_N}"],
            "errors": sum(row["errors"] for row in result["points"]) + result["sample"]["errors"],
        }
        figures = out[name]
        figures["targets_met"] = {
            "vs_litserve_c64": figures["vs_litserve_c64"] >= TARGETS["vs_litserve_c64"]
            and figures["p99_vs_litserve_c64"] <= 1.0,
            "vs_http_ceiling_c64": figures["vs_http_ceiling_c64"] >= TARGETS["vs_http_ceiling_c64"],
            "sample_vs_in_process": figures["sample_vs_in_process"] >= TARGETS["sample_vs_in_process"],
            "zero_errors": figures["errors"] == 0,
        }
    return out


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, len(results), figsize=(5.5 * len(results), 7), squeeze=False)
    for column, (name, result) in enumerate(results.items()):
        for system in ("aeserve", "aeserve unbatched", "litserve", "http ceiling"):
            rows = [row for row in result["points"] if row["system"] == system]
            style = "--" if system == "http ceiling" else "-"
            x = [row["concurrency"] for row in rows]
            axes[0, column].plot(x, [row["requests_per_s"] for row in rows], style, marker="o", label=system)
            axes[1, column].plot(x, [row["p99_ms"] for row in rows], style, marker="o", label=system)
        axes[0, column].set_title(f"POST /decode, {name}: requests/s")
        axes[1, column].set_title(f"{name}: p99 latency (ms)")
        for row in range(2):
            axes[row, column].set_xscale("log", base=2)
            axes[row, column].set_xticks(CONCURRENCY, [str(c) for c in CONCURRENCY])
            axes[row, column].set_xlabel("concurrent connections (wrk)")
            axes[row, column].grid(alpha=0.3)
        axes[1, column].set_yscale("log")
    axes[0, 0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def machine() -> dict[str, Any]:
    version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": "cpu",
        "client": f"{version.strip()}, one thread",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6, help="measured seconds per point and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the ceiling and aeserve points, taking turns")
    parser.add_argument("--warmup", type=float, default=2, help="warm-up seconds per point")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="where serve.json and serve.png go")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install wrk")
    logs = Path(tempfile.mkdtemp(prefix="aeserve-bench-"))
    started = time.perf_counter()
    results = measure(args.seconds, args.warmup, args.rounds, logs)
    summary = ratios(results)
    print(json.dumps(summary, indent=2))
    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "machine": machine(),
        "seconds_per_point": args.seconds,
        "rounds": args.rounds,
        "warmup_seconds": args.warmup,
        "wall_seconds": round(time.perf_counter() - started),
        "settings": {
            "max_batch_size": Settings().batch_size_for(torch.device("cpu")),
            "max_wait_ms": Settings().max_wait_ms,
        },
        "targets": TARGETS,
        "results": results,
        "ratios": summary,
    }
    (args.out / "serve.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(results, args.out / "serve.png")
    print(f"wrote {args.out / 'serve.json'} and serve.png; server logs in {logs}")


if __name__ == "__main__":
    main()

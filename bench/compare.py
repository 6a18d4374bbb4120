"""aeserve at another git revision against this working tree, side by side on the same machine: the
resident memory of each process, and POST /decode throughput, the two taking turns.

    .venv/bin/python bench/compare.py --base 390af86      # about 3 minutes; wrk from apt

The base revision is checked out with `git worktree` into a temporary folder and started from there
(its own code, this checkout's virtual environment and checkpoints). For each model, each side gets
--rounds rounds of wrk at 64 connections (bench/load.lua: one random latent per request), alternating;
a figure is the median round. Results in docs/benchmarks/compare.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve import CHECKPOINTS, ROOT, load, median, server  # bench/ is not a package: its folder is on the path

OUT = ROOT / "docs" / "benchmarks" / "compare.json"
PORTS = {"base": 8241, "head": 8242}
MODELS = {"aae-mixture": 2, "vae": 10}  # name: latent size


@contextlib.contextmanager
def worktree(revision: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="aeserve-base-") as folder:
        path = Path(folder) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(path), revision], cwd=ROOT, check=True,
                       capture_output=True)  # fmt: skip
        try:
            yield path
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, check=True)


def memory(process: psutil.Process) -> dict[str, float]:
    """Resident MiB of the API process and of each process it started (the inference process)."""
    children = process.children(recursive=True)
    return {
        "api_process_mib": round(process.memory_info().rss / 2**20, 1),
        "inference_process_mib": round(sum(child.memory_info().rss for child in children) / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the git revision to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    results: dict[str, Any] = {"base": args.base, "head": head.stdout.strip() + (" + changes" if dirty else "")}
    logs = Path(tempfile.mkdtemp(prefix="aeserve-compare-"))
    with worktree(args.base) as base_tree, contextlib.ExitStack() as stack:
        processes = {}
        for side, cwd in [("base", base_tree), ("head", ROOT)]:
            command = [sys.executable, "-m", "service", "--port", str(PORTS[side]), "--models-dir", str(CHECKPOINTS)]
            env = {"AESERVE_DEVICE": "cpu", "AESERVE_LOG_LEVEL": "warning", "PYTHONPATH": str(cwd)}
            url = f"http://127.0.0.1:{PORTS[side]}/readyz"
            processes[side] = stack.enter_context(server(command, env, url, logs / f"{side}.log", cwd=cwd))
        time.sleep(2)
        results["memory_at_start"] = {side: memory(process) for side, process in processes.items()}
        for side in processes:  # every model once, so that each has run a batch
            for name in MODELS:
                httpx.get(f"http://127.0.0.1:{PORTS[side]}/sample", params={"model": name, "n": 64}, timeout=30)
        results["memory_after_a_request_per_model"] = {side: memory(process) for side, process in processes.items()}
        throughput: dict[str, Any] = {}
        for name, dim in MODELS.items():
            env = {"BENCH_METHOD": "POST", "BENCH_MODEL": name, "BENCH_LATENT_DIM": str(dim), "BENCH_BODY": "aeserve"}
            rounds: dict[str, list[dict[str, float]]] = {side: [] for side in processes}
            for _ in range(args.rounds):
                for side, process in processes.items():
                    url = f"http://127.0.0.1:{PORTS[side]}/decode"
                    rounds[side].append(load(url, 64, args.seconds, args.warmup, env, process))
            throughput[name] = {side: median(runs) for side, runs in rounds.items()}
            throughput[name]["head_over_base"] = round(
                throughput[name]["head"]["requests_per_s"] / throughput[name]["base"]["requests_per_s"], 3
            )
            print(name, throughput[name]["head_over_base"], flush=True)
        results["decode_c64"] = throughput
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
